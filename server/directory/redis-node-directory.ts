import { Redis } from 'ioredis';
import type { NodeDirectory, NodeInfo, SelfReport } from './node-directory.ts';

/** Options of {@link RedisNodeDirectory}. */
export interface RedisNodeDirectoryOptions {
  /** Redis URL, as for RedisBroker. */
  url: string;
  /** This node's id: the one id the node hands to each of its Redis parts. */
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
      await this.redis.multi().set(this.entryKey(this.nodeId), JSON.stringify(entry), 'PX', this.ttlMs).sadd(this.prefix + 'dir:nodes', this.nodeId).exec();
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
