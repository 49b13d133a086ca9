/**
 * A node's drain and shutdown sequence (PlexusServer.close): the node leaves
 * the directory, tells `ret` members to move, gives them the grace period,
 * stops listening, closes what is left, ends the sessions and closes its
 * backends.
 */
import { RET_TOPIC } from './channels/ret/ret-channel.ts';
import type { NodeDirectory } from './directory/node-directory.ts';
import { CloseCodes, CloseReasons } from './errors.ts';
import { encodeBroadcast } from './protocol/phoenix-codec.ts';

/**
 * The sessions of the sockets open on this node. Shutdown waits on its
 * event (the last one closed) rather than polling a count.
 */
export class OpenSessions<S extends { end(): Promise<void> }> {
  private readonly sessions = new Set<S>();
  private emptyWaiters: Array<() => void> = [];

  get size(): number {
    return this.sessions.size;
  }
  add(session: S): void {
    this.sessions.add(session);
  }
  /** Forgets a session whose socket closed; the last one wakes {@link untilEmpty}. */
  delete(session: S): void {
    if (!this.sessions.delete(session) || this.sessions.size > 0) return;
    const waiters = this.emptyWaiters;
    this.emptyWaiters = [];
    for (const w of waiters) w();
  }
  /** Resolves true once no session is open (at once when none is), false after `timeoutMs`. */
  untilEmpty(timeoutMs: number): Promise<boolean> {
    if (this.sessions.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.emptyWaiters = this.emptyWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      this.emptyWaiters.push(done);
    });
  }
  /** Ends every session still listed. */
  async endAll(): Promise<void> {
    await Promise.all([...this.sessions].map((s) => s.end()));
  }
}

/** What {@link shutdownNode} works on. */
export interface ShutdownParts {
  /** Stops this node's own timers (presence resync, directory polling). */
  stopTimers(): void;
  /** Marks the node draining: new sockets are refused (503 node_draining), its directory entry says draining. */
  markDraining(): void;
  directory: Pick<NodeDirectory, 'refresh'>;
  fanout: { localSubscribers(topic: string): number };
  transport: { publishLocal(topic: string, frame: string): void; stopListening(): void; closeAll(code: number, reason: string): void };
  sessions: OpenSessions<{ end(): Promise<void> }>;
  /** Longest wait for `ret` members to leave after the ret-deploy notice, ms (`shutdownGraceSeconds`). */
  graceMs: number;
  /** Sent as `ret_version` in the notice. */
  version: string;
  /** Closes presence, directory, broker, limits and database. */
  closeBackends(): Promise<void>;
}

/**
 * Drains and stops a node. HTTP keeps answering while it drains, so clients
 * told to move can still ask this node's /api/v1/meta where to go; if
 * sockets are joined to `ret`, a `notice` `{event: "ret-deploy", ret_version,
 * ret_pool: "default"}` is pushed there (as Reticulum does before a deploy)
 * and the node waits until the last socket closed or `graceMs` passed. Then
 * it stops listening, closes every socket left with 1001 (clients reconnect
 * elsewhere), ends the sessions and closes the backends.
 */
export async function shutdownNode(p: ShutdownParts): Promise<void> {
  p.stopTimers();
  p.markDraining();
  await p.directory.refresh();
  if (p.fanout.localSubscribers(RET_TOPIC) > 0) {
    p.transport.publishLocal(RET_TOPIC, encodeBroadcast(RET_TOPIC, 'notice', { event: 'ret-deploy', ret_version: p.version, ret_pool: 'default' }));
    await p.sessions.untilEmpty(p.graceMs);
  }
  p.transport.stopListening();
  p.transport.closeAll(CloseCodes.GOING_AWAY, CloseReasons.GOING_AWAY);
  await p.sessions.endAll();
  await p.closeBackends();
}
