import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { newPhxRef } from '../protocol/presence-diff.ts';
import type { PresenceDiff, PresenceEntries, PresenceMeta } from '../protocol/presence-diff.ts';
import type { NewPresenceMeta, PresenceStore } from './presence-store.ts';

/** Options of {@link RedisPresenceStore}. */
export interface RedisPresenceStoreOptions {
  /** Redis URL, as for RedisBroker. */
  url: string;
  /** Prefix of every Redis key this store uses. Default `plexus:`. */
  keyPrefix?: string;
  /** This node's id: 32 hex digits (use the RedisBroker's `nodeId`). Default: random. */
  nodeId?: string;
  /** Lifetime of this node's liveness key in ms. Default 10000. */
  ttlMs?: number;
  /** Interval of the heartbeat (refresh liveness, reap dead nodes) in ms. Default 3000. */
  heartbeatMs?: number;
  /** Called with errors of the heartbeat and the connection. Default: ignored. */
  onError?: (err: Error) => void;
}

/** One stored entry: its presence key and its meta (with phx_ref). */
interface Stored {
  key: string;
  meta: PresenceMeta;
}

/**
 * Removes every entry of node ARGV[2] (key prefix ARGV[1]) and returns them as
 * a flat list `topic, json, topic, json, …`. Unless ARGV[3] is `'1'` (this
 * node closing), does nothing while the node's liveness key exists. Being one
 * script, it runs atomically: when two nodes reap the same dead node, the
 * second finds nothing, so each entry is returned exactly once.
 */
const REAP = `
local prefix, node, force = ARGV[1], ARGV[2], ARGV[3]
if force ~= '1' and redis.call('EXISTS', prefix .. 'node:' .. node) == 1 then return {} end
local topicsKey = prefix .. 'topics:' .. node
local topics = redis.call('SMEMBERS', topicsKey)
local out = {}
local pfx = node .. '|'
for _, t in ipairs(topics) do
  local h = prefix .. 'p:' .. t
  local all = redis.call('HGETALL', h)
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, #pfx) == pfx then
      redis.call('HDEL', h, all[i])
      out[#out + 1] = t
      out[#out + 1] = all[i + 1]
    end
  end
end
redis.call('DEL', topicsKey)
redis.call('SREM', prefix .. 'nodes', node)
return out
`;

/** HGET + HDEL of KEYS[1] field ARGV[1]; returns the old value or nil. */
const TAKE = `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then redis.call('HDEL', KEYS[1], ARGV[1]) end
return v
`;

/** Replaces field ARGV[1] of KEYS[1] by field ARGV[2] = ARGV[3], only if ARGV[1] exists; returns the old value or nil. */
const REPLACE = `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return nil end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
return v
`;

/**
 * A {@link PresenceStore} shared by the nodes of a cluster through Redis:
 * `list(topic)` returns the members on every node.
 *
 * Keys (all under `keyPrefix`):
 * - `p:<topic>`: a hash per topic; field `<nodeId>|<key>|<phx_ref>`, value
 *   the JSON of `{key, meta}`.
 * - `node:<nodeId>`: this node's liveness key, set with a TTL (`ttlMs`) and
 *   refreshed by a heartbeat every `heartbeatMs`.
 * - `topics:<nodeId>`: the topics this node has (or had) entries in.
 * - `nodes`: every node that has tracked something and not been reaped.
 *
 * Death: a node whose liveness key has expired is dead. `list` ignores its
 * entries straight away (but does not delete them: the reaper must still
 * see them to announce the leaves). On every heartbeat each node runs
 * {@link reapDeadNodes}: for every other node in `nodes` without a liveness
 * key, one Lua script deletes its entries and returns them. The script is
 * atomic, so when several survivors race exactly one gets the entries; that
 * node emits one leave diff per topic to the {@link onRemoteLeaves} handlers,
 * whose job is to broadcast them. A killed node's members therefore leave
 * everyone's presence within `ttlMs + heartbeatMs`.
 *
 * Limits: the scripts touch keys they do not declare, so this needs a single
 * Redis (or a primary with replicas), not Redis Cluster. A node that was only
 * paused past its TTL (not killed) gets its liveness back on its next
 * heartbeat, but entries reaped meanwhile are gone (its clients should rejoin).
 */
export class RedisPresenceStore implements PresenceStore {
  /** This node's id (32 hex digits). */
  readonly nodeId: string;
  private readonly prefix: string;
  private readonly ttlMs: number;
  private readonly redis: Redis;
  private readonly timer: NodeJS.Timeout;
  private readonly handlers: Array<(topic: string, diff: PresenceDiff) => void> = [];
  private readonly onError: (err: Error) => void;
  private closed = false;
  private beating: Promise<void> | null = null;
  /** This node's own entries (hash key → field → value), written again to Redis after a reconnect. */
  private readonly own = new Map<string, Map<string, string>>();
  private connectedOnce = false;

  /** Connects, sets the liveness key and starts the heartbeat. */
  constructor(opts: RedisPresenceStoreOptions) {
    this.nodeId = opts.nodeId ?? randomBytes(16).toString('hex');
    if (!/^[0-9a-f]{32}$/.test(this.nodeId)) throw new Error('nodeId must be 32 lowercase hex digits');
    this.prefix = opts.keyPrefix ?? 'plexus:';
    this.ttlMs = opts.ttlMs ?? 10_000;
    this.onError = opts.onError ?? (() => {});
    // Reconnect at least every second while Redis is away (ioredis's default backs off to 2 s).
    this.redis = new Redis(opts.url, { connectionName: `plexus-presence-${this.nodeId}`, retryStrategy: (times: number) => Math.min(50 * times, 1000) });
    this.redis.on('error', (err: Error) => this.onError(err));
    // A restarted Redis may have lost everything (no persistence): write our liveness and entries again.
    this.redis.on('ready', () => {
      if (this.connectedOnce) void this.restore().catch((e: Error) => this.onError(e));
      this.connectedOnce = true;
    });
    // Queued first on the connection, so it precedes any track().
    void this.redis.set(this.livenessKey(this.nodeId), '1', 'PX', this.ttlMs).catch((e: Error) => this.onError(e));
    this.timer = setInterval(() => void this.heartbeat(), opts.heartbeatMs ?? 3000);
    this.timer.unref();
  }

  /** Adds a meta for `key` on `topic` with a fresh phx_ref. */
  async track(topic: string, key: string, meta: NewPresenceMeta): Promise<PresenceMeta> {
    const full: PresenceMeta = { ...meta, phx_ref: newPhxRef() };
    const value = JSON.stringify({ key, meta: full } satisfies Stored);
    this.remember(topic, this.field(key, full.phx_ref), value);
    await this.redis
      .multi()
      .hset(this.topicKey(topic), this.field(key, full.phx_ref), value)
      .sadd(this.prefix + 'topics:' + this.nodeId, topic)
      .sadd(this.prefix + 'nodes', this.nodeId)
      .exec();
    return full;
  }

  /** Replaces this node's meta `phxRef` of `key` atomically; null when it is not tracked here. */
  async update(topic: string, key: string, phxRef: string, meta: NewPresenceMeta): Promise<{ old: PresenceMeta; meta: PresenceMeta } | null> {
    const full: PresenceMeta = { ...meta, phx_ref: newPhxRef() };
    const value = JSON.stringify({ key, meta: full } satisfies Stored);
    const old = (await this.redis.eval(REPLACE, 1, this.topicKey(topic), this.field(key, phxRef), this.field(key, full.phx_ref), value)) as string | null;
    if (old === null) return null;
    this.forget(topic, this.field(key, phxRef));
    this.remember(topic, this.field(key, full.phx_ref), value);
    return { old: (JSON.parse(old) as Stored).meta, meta: full };
  }

  /** Removes this node's meta `phxRef` of `key`; returns it, or null when it is not tracked here. */
  async untrack(topic: string, key: string, phxRef: string): Promise<PresenceMeta | null> {
    this.forget(topic, this.field(key, phxRef));
    const old = (await this.redis.eval(TAKE, 1, this.topicKey(topic), this.field(key, phxRef))) as string | null;
    return old === null ? null : (JSON.parse(old) as Stored).meta;
  }

  /** Everyone on `topic` on every live node (entries of nodes whose liveness key expired are left out). */
  async list(topic: string): Promise<PresenceEntries> {
    const all = await this.redis.hgetall(this.topicKey(topic));
    const fields = Object.keys(all);
    const nodes = [...new Set(fields.map((f) => f.slice(0, f.indexOf('|'))))];
    const alive = new Set<string>();
    if (nodes.length > 0) {
      const pipe = this.redis.pipeline();
      for (const n of nodes) pipe.exists(this.livenessKey(n));
      const res = (await pipe.exec()) ?? [];
      nodes.forEach((n, i) => {
        if (n === this.nodeId || Number(res[i]?.[1]) === 1) alive.add(n);
      });
    }
    const out: PresenceEntries = {};
    for (const f of fields) {
      if (!alive.has(f.slice(0, f.indexOf('|')))) continue;
      const { key, meta } = JSON.parse(all[f]!) as Stored;
      (out[key] ??= { metas: [] }).metas.push(meta);
    }
    return out;
  }

  /** Registers a handler for the leave diffs of dead nodes' members that this node reaped (see the class doc). */
  onRemoteLeaves(handler: (topic: string, diff: PresenceDiff) => void): void {
    this.handlers.push(handler);
  }

  /**
   * Deletes the entries of every other node whose liveness key is gone and
   * returns their leave diffs, one per topic. Atomic per dead node: of
   * several nodes reaping at once, each entry goes to exactly one. Does not
   * call the {@link onRemoteLeaves} handlers (the heartbeat does).
   */
  async reapDeadNodes(): Promise<Array<{ topic: string; diff: PresenceDiff }>> {
    const nodes = await this.redis.smembers(this.prefix + 'nodes');
    const others = nodes.filter((n) => n !== this.nodeId);
    if (others.length === 0) return [];
    const pipe = this.redis.pipeline();
    for (const n of others) pipe.exists(this.livenessKey(n));
    const res = (await pipe.exec()) ?? [];
    const byTopic = new Map<string, PresenceDiff>();
    for (let i = 0; i < others.length; i++) {
      if (Number(res[i]?.[1]) === 1) continue;
      const flat = (await this.redis.eval(REAP, 0, this.prefix, others[i]!, '0')) as string[];
      for (let j = 0; j < flat.length; j += 2) {
        const topic = flat[j]!;
        const { key, meta } = JSON.parse(flat[j + 1]!) as Stored;
        let diff = byTopic.get(topic);
        if (!diff) byTopic.set(topic, (diff = { joins: {}, leaves: {} }));
        (diff.leaves[key] ??= { metas: [] }).metas.push(meta);
      }
    }
    return [...byTopic].map(([topic, diff]) => ({ topic, diff }));
  }

  /**
   * Writes this node's liveness key and every entry it holds to Redis again,
   * as after a Redis restart that lost them. Idempotent.
   */
  async restore(): Promise<void> {
    if (this.closed) return;
    const m = this.redis.multi().set(this.livenessKey(this.nodeId), '1', 'PX', this.ttlMs);
    for (const [topic, fields] of this.own) {
      if (fields.size === 0) continue;
      m.hset(this.topicKey(topic), Object.fromEntries(fields)).sadd(this.prefix + 'topics:' + this.nodeId, topic);
    }
    if (this.own.size > 0) m.sadd(this.prefix + 'nodes', this.nodeId);
    await m.exec();
  }

  private remember(topic: string, field: string, value: string): void {
    let fields = this.own.get(topic);
    if (!fields) this.own.set(topic, (fields = new Map()));
    fields.set(field, value);
  }

  private forget(topic: string, field: string): void {
    const fields = this.own.get(topic);
    if (!fields) return;
    fields.delete(field);
    if (fields.size === 0) this.own.delete(topic);
  }

  /** One heartbeat: refresh the liveness key, then reap and emit. Runs one at a time. */
  async heartbeat(): Promise<void> {
    if (this.closed || this.beating) return this.beating ?? undefined;
    this.beating = (async () => {
      try {
        await this.redis.set(this.livenessKey(this.nodeId), '1', 'PX', this.ttlMs);
        const reaped = await this.reapDeadNodes();
        if (this.closed) return;
        for (const { topic, diff } of reaped) {
          for (const h of this.handlers) {
            try {
              h(topic, diff);
            } catch (err) {
              this.onError(err as Error);
            }
          }
        }
      } catch (err) {
        this.onError(err as Error);
      } finally {
        this.beating = null;
      }
    })();
    return this.beating;
  }

  /**
   * Stops the heartbeat, removes every entry of this node and its liveness
   * key, and closes the connection. The caller announces its own members'
   * leaves (nothing is emitted here).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await this.beating;
    try {
      await this.redis.eval(REAP, 0, this.prefix, this.nodeId, '1');
      await this.redis.del(this.livenessKey(this.nodeId));
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }

  /**
   * Test hook simulating a kill: stops the heartbeat and drops the
   * connection without removing anything, so the entries stay until the
   * liveness key expires and another node reaps them.
   */
  destroyWithoutCleanup(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.redis.disconnect();
  }

  private topicKey(topic: string): string {
    return this.prefix + 'p:' + topic;
  }

  private livenessKey(nodeId: string): string {
    return this.prefix + 'node:' + nodeId;
  }

  private field(key: string, phxRef: string): string {
    return `${this.nodeId}|${key}|${phxRef}`;
  }
}
