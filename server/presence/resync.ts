import type { Logger } from 'pino';
import { encodeBroadcast } from '../protocol/phoenix-codec.ts';
import type { PresenceStore } from './presence-store.ts';

/** Wait after reconnecting to Redis before resending presence_state: one presence heartbeat (3 s), so other nodes have restored theirs. */
export const PRESENCE_RESYNC_DELAY_MS = 3000;

/** What {@link startPresenceResync} works with. */
export interface PresenceResyncOptions {
  presence: Pick<PresenceStore, 'list' | 'onResync'>;
  /** The topics this node's sockets are joined to now (Fanout's `localTopics`). */
  localTopics: () => Iterable<string>;
  /** Writes a frame to this node's sockets on a topic (the transport's `publishLocal`). */
  publishLocal: (topic: string, frame: string) => void;
  log: Pick<Logger, 'warn'>;
  /** Default {@link PRESENCE_RESYNC_DELAY_MS}. */
  delayMs?: number;
}

/**
 * The presence resync policy. After a Redis outage, diffs made on other nodes
 * meanwhile never reached this node's clients: each time the store reports a
 * resync ({@link PresenceStore.onResync}), wait `delayMs` (every node has had
 * a heartbeat to restore its members), then send every local `hub:` topic its
 * whole `presence_state` again (phoenix.js Presence turns a new
 * presence_state into the joins and leaves it missed). A topic whose list
 * fails is logged and skipped. A store without `onResync` never resyncs.
 * @returns `stop()`: cancels pending resyncs; none is sent after it
 */
export function startPresenceResync(opts: PresenceResyncOptions): { stop(): void } {
  const delayMs = opts.delayMs ?? PRESENCE_RESYNC_DELAY_MS;
  const timers = new Set<NodeJS.Timeout>();
  let stopped = false;
  const resend = () => {
    for (const topic of opts.localTopics()) {
      if (!topic.startsWith('hub:')) continue;
      opts.presence
        .list(topic)
        .then((entries) => {
          if (!stopped) opts.publishLocal(topic, encodeBroadcast(topic, 'presence_state', entries));
        })
        .catch((err: Error) => opts.log.warn({ err: err.message, topic }, 'presence resync failed'));
    }
  };
  opts.presence.onResync?.(() => {
    if (stopped) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!stopped) resend();
    }, delayMs);
    timers.add(timer);
  });
  return {
    stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}
