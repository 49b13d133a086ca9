import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

/**
 * A node as the directory lists it: where clients reach it (Reticulum's
 * `/api/v1/meta` fields `phx_host`, `phx_port`) and how loaded it is.
 */
export interface NodeInfo {
  /** Node id (the broker's `nodeId`). */
  id: string;
  /** Host name or IP address clients connect to, e.g. `node1.example.com`. */
  phx_host: string;
  /** Port clients connect to, as a decimal string (Reticulum sends a string), e.g. `"443"`. */
  phx_port: string;
  /** Open WebSocket connections at the last heartbeat. */
  connections: number;
  /** True once the node has begun shutting down: it must not be handed to clients. */
  draining: boolean;
}

/** What a node reports about itself at each heartbeat. */
export type SelfReport = () => Omit<NodeInfo, 'id'>;

/**
 * The set of live nodes of a cluster. Each node registers itself and
 * refreshes its entry by heartbeat; an entry that is not refreshed expires.
 */
export interface NodeDirectory {
  /** This node's id. */
  readonly nodeId: string;
  /** Starts registering this node (immediately, then every heartbeat) with what `report` returns. */
  start(report: SelfReport): void;
  /** Re-registers now (e.g. right after this node starts draining). Never throws. */
  refresh(): Promise<void>;
  /**
   * Every live node, this one included when it has started. Never throws: when
   * the directory cannot be read, resolves with this node alone.
   */
  nodes(): Promise<NodeInfo[]>;
  /** Stops the heartbeat and removes this node's entry. */
  close(): Promise<void>;
}

/** The directory of a single node (no Redis): only this node. */
export class LocalNodeDirectory implements NodeDirectory {
  private report: SelfReport | null = null;
  constructor(readonly nodeId: string = randomBytes(16).toString('hex')) {}
  start(report: SelfReport): void {
    this.report = report;
  }
  async refresh(): Promise<void> {}
  async nodes(): Promise<NodeInfo[]> {
    return this.report ? [{ id: this.nodeId, ...this.report() }] : [];
  }
  async close(): Promise<void> {
    this.report = null;
  }
}

/** Options of {@link RedisNodeDirectory}. */
export interface RedisNodeDirectoryOptions {
  /** Redis URL, as for RedisBroker. */
  url: string;
  /** This node's id (use the broker's `nodeId`). */
  nodeId: string;
  /** Prefix of every Redis key used. Default `plexus:`. */
  keyPrefix?: string;
  /** Heartbeat interval in ms. Default 2000. */
  heartbeatMs?: number;
  /** Lifetime of an entry that is not refreshed, in ms. Default 6000 (three heartbeats). */
  ttlMs?: number;
  /** Called with connection and heartbeat errors. Default: ignored. */
  onError?: (err: Error) => void;
  /** Longest wait for one Redis command, in ms (ioredis `commandTimeout`); past it `nodes()` answers with this node alone. Default 2000. */
  commandTimeoutMs?: number;
}

/**
 * The node directory of a cluster, in Redis.
 *
 * Keys (under `keyPrefix`):
 * - `dir:node:<id>`: the JSON of the node's {@link NodeInfo}, set with a TTL
 *   (`ttlMs`) and rewritten every `heartbeatMs`. Expiry is decided by Redis's
 *   clock, so nodes' clocks need not agree.
 * - `dir:nodes`: the set of ids that have registered; ids whose entry has
 *   expired are removed from it when the directory is read.
 * - `session-secret`: the cluster's shared session-token secret (see
 *   {@link agreeOnSecret}); each node that agreed on it writes it again (NX)
 *   at every heartbeat, so a Redis restart without persistence does not
 *   let a newly started node pick a different one.
 *
 * A node killed with SIGKILL stays listed for at most `ttlMs`; a node that
 * closes cleanly removes itself at once.
 */
export class RedisNodeDirectory implements NodeDirectory {
  readonly nodeId: string;
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly ttlMs: number;
  private readonly heartbeatMs: number;
  private readonly onError: (err: Error) => void;
  private report: SelfReport | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  /** The agreed session secret, stored again (NX) at each heartbeat in case Redis lost it. */
  private secret: string | null = null;

  /** Connects (in the background; commands wait for the connection). */
  constructor(opts: RedisNodeDirectoryOptions) {
    this.nodeId = opts.nodeId;
    this.prefix = opts.keyPrefix ?? 'plexus:';
    this.heartbeatMs = opts.heartbeatMs ?? 2000;
    this.ttlMs = opts.ttlMs ?? 6000;
    if (this.ttlMs <= this.heartbeatMs) throw new Error('ttlMs must be longer than heartbeatMs');
    this.onError = opts.onError ?? (() => {});
    this.redis = new Redis(opts.url, {
      connectionName: `plexus-dir-${this.nodeId}`,
      maxRetriesPerRequest: 1,
      retryStrategy: (times: number) => Math.min(50 * times, 1000),
      commandTimeout: opts.commandTimeoutMs ?? 2000,
    });
    this.redis.on('error', (err: Error) => this.onError(err));
    // After a reconnect (Redis may have restarted empty), register again at once rather than at the next heartbeat.
    this.redis.on('ready', () => void this.refresh());
  }

  start(report: SelfReport): void {
    this.report = report;
    void this.refresh();
    this.timer ??= setInterval(() => void this.refresh(), this.heartbeatMs);
    this.timer.unref();
  }

  async refresh(): Promise<void> {
    if (!this.report || this.closed) return;
    const entry: NodeInfo = { id: this.nodeId, ...this.report() };
    try {
      const m = this.redis.multi().set(this.entryKey(this.nodeId), JSON.stringify(entry), 'PX', this.ttlMs).sadd(this.prefix + 'dir:nodes', this.nodeId);
      if (this.secret) m.set(this.prefix + 'session-secret', this.secret, 'NX');
      await m.exec();
    } catch (err) {
      this.onError(err as Error);
    }
  }

  async nodes(): Promise<NodeInfo[]> {
    const self: NodeInfo[] = this.report && !this.closed ? [{ id: this.nodeId, ...this.report() }] : [];
    try {
      const ids = await this.redis.smembers(this.prefix + 'dir:nodes');
      const others = ids.filter((id) => id !== this.nodeId);
      if (others.length === 0) return self;
      const values = await this.redis.mget(others.map((id) => this.entryKey(id)));
      const out = [...self];
      const expired: string[] = [];
      values.forEach((v, i) => {
        if (v === null) {
          expired.push(others[i]!);
          return;
        }
        const info = parseNodeInfo(v);
        if (info) out.push(info);
      });
      if (expired.length > 0) await this.redis.srem(this.prefix + 'dir:nodes', ...expired);
      return out;
    } catch (err) {
      this.onError(err as Error);
      return self;
    }
  }

  /**
   * Makes every node of the cluster sign session tokens with one secret:
   * stores `candidate` as the cluster's secret unless one is stored already
   * (SET NX), and returns the stored one.
   * @throws when Redis does not answer within `timeoutMs` (default 10000)
   */
  async agreeOnSecret(candidate: string, timeoutMs = 10_000): Promise<string> {
    const key = this.prefix + 'session-secret';
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis did not answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([
        (async () => {
          await this.redis.set(key, candidate, 'NX');
          const stored = await this.redis.get(key);
          if (!stored) throw new Error('the shared session secret vanished from Redis');
          this.secret = stored;
          return stored;
        })(),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    try {
      if (this.redis.status === 'ready') {
        await this.redis.multi().del(this.entryKey(this.nodeId)).srem(this.prefix + 'dir:nodes', this.nodeId).exec();
      }
    } catch (err) {
      this.onError(err as Error);
    }
    this.redis.disconnect();
  }

  private entryKey(id: string): string {
    return this.prefix + 'dir:node:' + id;
  }
}

/** Parses a stored entry; null when it is not a well-formed {@link NodeInfo}. */
function parseNodeInfo(text: string): NodeInfo | null {
  try {
    const v = JSON.parse(text) as Partial<NodeInfo>;
    if (typeof v.id !== 'string' || typeof v.phx_host !== 'string' || typeof v.phx_port !== 'string') return null;
    return { id: v.id, phx_host: v.phx_host, phx_port: v.phx_port, connections: Number(v.connections) || 0, draining: v.draining === true };
  } catch {
    return null;
  }
}

/**
 * The node a client should connect to: this node when it is serving normally
 * (the request reached it, so it is alive, and whatever balanced the request
 * chose it), otherwise the non-draining node with the fewest connections;
 * null when there is none.
 * @param selfHealthy false while this node is draining or cut off from Redis
 */
export function chooseNode(nodes: NodeInfo[], selfId: string, selfHealthy: boolean): NodeInfo | null {
  const self = nodes.find((n) => n.id === selfId);
  if (self && selfHealthy && !self.draining) return self;
  let best: NodeInfo | null = null;
  for (const n of nodes) {
    if (n.id === selfId || n.draining) continue;
    if (!best || n.connections < best.connections) best = n;
  }
  return best;
}
