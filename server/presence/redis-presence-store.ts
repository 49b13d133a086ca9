import { randomBytes } from 'node:crypto';
import { Redis, type ChainableCommander } from 'ioredis';
import { newPhxRef } from '../protocol/presence-diff.ts';
import type { PresenceDiff, PresenceEntries, PresenceMeta } from '../protocol/presence-diff.ts';
import type { NewPresenceMeta, PresenceStore } from './presence-store.ts';
import { isRedisTimeout } from '../broker/redis-broker.ts';

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
  /**
   * Longest wait for one Redis command, in ms (ioredis `commandTimeout`).
   * Default 2000. After a command times out the store acts as during an
   * outage (this node's members only) until a heartbeat is answered; then it
   * restores its entries and calls the {@link RedisPresenceStore.onResync} handlers.
   */
  commandTimeoutMs?: number;
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

/**
 * Replaces field ARGV[3] of hash KEYS[1] by field ARGV[4] = ARGV[5] only when
 * fewer than ARGV[6] presence keys other than ARGV[2] have a live meta with
 * presence "room" (liveness keys `ARGV[1] .. 'node:' .. nodeId`). Returns
 * 'ok', 'full', or 'gone' when the old field is missing. Atomic, so
 * concurrent entries on several nodes never exceed the limit.
 */
const UPDATE_IF_ROOM_BELOW = `
local prefix, key, oldField, newField, value, limit = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
if redis.call('HEXISTS', KEYS[1], oldField) == 0 then return 'gone' end
local all = redis.call('HGETALL', KEYS[1])
local alive, inRoom, seen = {}, 0, {}
for i = 1, #all, 2 do
  local field = all[i]
  local bar = string.find(field, '|', 1, true)
  local node = string.sub(field, 1, bar - 1)
  if alive[node] == nil then alive[node] = redis.call('EXISTS', prefix .. 'node:' .. node) == 1 end
  if alive[node] then
    local entry = cjson.decode(all[i + 1])
    if entry.key ~= key and not seen[entry.key] and entry.meta.presence == 'room' then
      seen[entry.key] = true
      inRoom = inRoom + 1
    end
  end
end
if inRoom >= limit then return 'full' end
redis.call('HDEL', KEYS[1], oldField)
redis.call('HSET', KEYS[1], newField, value)
return 'ok'
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
 * Redis outages: each node keeps its own entries in memory as the truth and
 * mirrors changes to Redis while it is reachable. While it is not, `track`,
 * `update` and `untrack` act on this node only and `list` returns this
 * node's members, so local rooms keep working. On every (re)connection
 * {@link restore} rewrites this node's entries in Redis atomically (a Redis
 * restarted without persistence gets them back; a node reaped meanwhile
 * reappears) and the {@link onResync} handlers are called, so the caller can
 * resend `presence_state` to its clients. A Redis that keeps its
 * connection open but does not answer (frozen, overloaded) is treated the
 * same once a command has waited `commandTimeoutMs`: local until a
 * heartbeat gets an answer, then restore and resync.
 *
 * Limits: the scripts touch keys they do not declare, so this needs a single
 * Redis (or a primary with replicas), not Redis Cluster.
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
  /** This node's own entries (topic → field → value): the truth, which Redis mirrors while it is reachable. */
  private readonly own = new Map<string, Map<string, string>>();
  private readonly resyncHandlers: Array<() => void> = [];
  /** False until the first connection: before it, writes wait in ioredis's queue instead of being left to restore(). */
  private everReady = false;
  /** Set when a command timed out; cleared (with a restore) when a heartbeat is answered. */
  private unresponsive = false;

  /** Connects, sets the liveness key and starts the heartbeat. */
  constructor(opts: RedisPresenceStoreOptions) {
    this.nodeId = opts.nodeId ?? randomBytes(16).toString('hex');
    if (!/^[0-9a-f]{32}$/.test(this.nodeId)) throw new Error('nodeId must be 32 lowercase hex digits');
    this.prefix = opts.keyPrefix ?? 'plexus:';
    this.ttlMs = opts.ttlMs ?? 10_000;
    this.onError = opts.onError ?? (() => {});
    // Reconnect at least every second while Redis is away (ioredis's default backs off to 2 s).
    this.redis = new Redis(opts.url, {
      connectionName: `plexus-presence-${this.nodeId}`,
      retryStrategy: (times: number) => Math.min(50 * times, 1000),
      commandTimeout: opts.commandTimeoutMs ?? 2000,
    });
    this.redis.on('error', (err: Error) => this.onError(err));
    // On every (re)connection make Redis hold exactly this node's entries: a restarted Redis may have
    // lost them, and while it was away members came and went here without reaching it.
    this.redis.on('ready', () => {
      const reconnect = this.everReady;
      this.everReady = true;
      void this.restore(reconnect).catch((e: Error) => this.onError(e));
    });
    // Queued first on the connection, so it precedes any track().
    void this.redis.set(this.livenessKey(this.nodeId), '1', 'PX', this.ttlMs).catch((e: Error) => this.onError(e));
    this.timer = setInterval(() => void this.heartbeat(), opts.heartbeatMs ?? 3000);
    this.timer.unref();
  }

  /**
   * Adds a meta for `key` on `topic` with a fresh phx_ref. While Redis is
   * unreachable the entry is kept here only (other nodes learn it when Redis returns).
   */
  async track(topic: string, key: string, meta: NewPresenceMeta): Promise<PresenceMeta> {
    const full: PresenceMeta = { ...meta, phx_ref: newPhxRef() };
    const field = this.field(key, full.phx_ref);
    const value = JSON.stringify({ key, meta: full } satisfies Stored);
    this.remember(topic, field, value);
    await this.mirror((m) => m.hset(this.topicKey(topic), field, value).sadd(this.prefix + 'topics:' + this.nodeId, topic).sadd(this.prefix + 'nodes', this.nodeId));
    return full;
  }

  /** Replaces this node's meta `phxRef` of `key`; null when it is not tracked here. */
  async update(topic: string, key: string, phxRef: string, meta: NewPresenceMeta): Promise<{ old: PresenceMeta; meta: PresenceMeta } | null> {
    const oldField = this.field(key, phxRef);
    const oldValue = this.own.get(topic)?.get(oldField);
    if (oldValue === undefined) return null;
    const full: PresenceMeta = { ...meta, phx_ref: newPhxRef() };
    const field = this.field(key, full.phx_ref);
    const value = JSON.stringify({ key, meta: full } satisfies Stored);
    this.forget(topic, oldField);
    this.remember(topic, field, value);
    await this.mirror((m) => m.hdel(this.topicKey(topic), oldField).hset(this.topicKey(topic), field, value));
    return { old: (JSON.parse(oldValue) as Stored).meta, meta: full };
  }

  /**
   * {@link update} under a room limit, decided atomically in Redis (one Lua
   * script over the topic's hash). While Redis is unreachable the limit is
   * checked against this node's members only.
   */
  async updateIfRoomBelow(topic: string, key: string, phxRef: string, meta: NewPresenceMeta, limit: number): Promise<{ old: PresenceMeta; meta: PresenceMeta } | 'full' | null> {
    const oldField = this.field(key, phxRef);
    const oldValue = this.own.get(topic)?.get(oldField);
    if (oldValue === undefined) return null;
    if (!this.reachable()) {
      const others = Object.entries(this.listOwn(topic)).filter(([k, e]) => k !== key && e.metas.some((m) => m.presence === 'room'));
      if (others.length >= limit) return 'full';
      return this.update(topic, key, phxRef, meta);
    }
    const full: PresenceMeta = { ...meta, phx_ref: newPhxRef() };
    const field = this.field(key, full.phx_ref);
    const value = JSON.stringify({ key, meta: full } satisfies Stored);
    let result: string;
    try {
      result = (await this.redis.eval(UPDATE_IF_ROOM_BELOW, 1, this.topicKey(topic), this.prefix, key, oldField, field, value, String(limit))) as string;
    } catch (err) {
      if (!this.noteTimeout(err)) throw err;
      // Redis stopped answering: decide on this node's members, as during an outage (restore() fixes Redis later).
      return this.updateIfRoomBelow(topic, key, phxRef, meta, limit);
    }
    if (result === 'full') return 'full';
    // 'gone': Redis lost the entry (restarted); this node's copy is the truth, restore() puts it back.
    if (this.own.get(topic)?.get(oldField) === undefined) return null;
    this.forget(topic, oldField);
    this.remember(topic, field, value);
    if (result === 'gone') await this.mirror((m) => m.hset(this.topicKey(topic), field, value));
    return { old: (JSON.parse(oldValue) as Stored).meta, meta: full };
  }

  /** Removes this node's meta `phxRef` of `key`; returns it, or null when it is not tracked here. */
  async untrack(topic: string, key: string, phxRef: string): Promise<PresenceMeta | null> {
    const field = this.field(key, phxRef);
    const oldValue = this.own.get(topic)?.get(field);
    if (oldValue === undefined) return null;
    this.forget(topic, field);
    await this.mirror((m) => m.hdel(this.topicKey(topic), field));
    return (JSON.parse(oldValue) as Stored).meta;
  }

  /**
   * Applies a change to Redis when it is reachable. Failures are reported, not
   * thrown: the next reconnection's {@link restore} writes the truth again.
   */
  private async mirror(build: (m: ChainableCommander) => ChainableCommander): Promise<void> {
    if (this.closed || !this.reachable()) return;
    try {
      await build(this.redis.multi()).exec();
    } catch (err) {
      this.noteTimeout(err);
      this.onError(err as Error);
    }
  }

  /** False while Redis is known not to answer (disconnected after the first connection, or a command timed out). */
  private reachable(): boolean {
    return !this.everReady || (this.redis.status === 'ready' && !this.unresponsive);
  }

  /** Marks Redis unresponsive when `err` is a command timeout; returns whether it was. */
  private noteTimeout(err: unknown): boolean {
    if (!isRedisTimeout(err)) return false;
    if (!this.unresponsive) {
      this.unresponsive = true;
      this.onError(new Error('Redis did not answer in time; presence is local to this node until it does'));
    }
    return true;
  }

  /**
   * Everyone on `topic` on every live node (entries of nodes whose liveness
   * key expired are left out). While Redis is unreachable: this node's members only.
   */
  async list(topic: string): Promise<PresenceEntries> {
    if (!this.reachable()) return this.listOwn(topic);
    let all: Record<string, string>;
    const alive = new Set<string>();
    try {
      all = await this.redis.hgetall(this.topicKey(topic));
      const nodes = [...new Set(Object.keys(all).map((f) => f.slice(0, f.indexOf('|'))))];
      if (nodes.length > 0) {
        const pipe = this.redis.pipeline();
        for (const n of nodes) pipe.exists(this.livenessKey(n));
        const res = (await pipe.exec()) ?? [];
        nodes.forEach((n, i) => {
          if (n === this.nodeId || Number(res[i]?.[1]) === 1) alive.add(n);
        });
      }
    } catch (err) {
      this.noteTimeout(err);
      this.onError(err as Error);
      return this.listOwn(topic);
    }
    const fields = Object.keys(all);
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
   * Makes Redis hold exactly this node's entries, atomically: removes every
   * entry Redis has for this node, writes back the ones this node holds, and
   * sets its liveness key. Runs on every (re)connection; after a reconnection
   * (`notify`) it then tells the {@link onResync} handlers. Idempotent.
   */
  async restore(notify = true): Promise<void> {
    if (this.closed) return;
    const m = this.redis.multi().eval(REAP, 0, this.prefix, this.nodeId, '1').set(this.livenessKey(this.nodeId), '1', 'PX', this.ttlMs);
    for (const [topic, fields] of this.own) {
      m.hset(this.topicKey(topic), Object.fromEntries(fields)).sadd(this.prefix + 'topics:' + this.nodeId, topic);
    }
    if (this.own.size > 0) m.sadd(this.prefix + 'nodes', this.nodeId);
    await m.exec();
    if (!notify) return;
    for (const h of this.resyncHandlers) {
      try {
        h();
      } catch (err) {
        this.onError(err as Error);
      }
    }
  }

  /**
   * Registers a handler called after this node reconnected to Redis and
   * restored its entries: other nodes' members may have come and gone
   * meanwhile without a diff reaching this node, so the caller should send
   * its clients a fresh `presence_state` (once every node has had time to
   * restore, about one heartbeat).
   */
  onResync(handler: () => void): void {
    this.resyncHandlers.push(handler);
  }

  private listOwn(topic: string): PresenceEntries {
    const out: PresenceEntries = {};
    for (const value of this.own.get(topic)?.values() ?? []) {
      const { key, meta } = JSON.parse(value) as Stored;
      (out[key] ??= { metas: [] }).metas.push(meta);
    }
    return out;
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
        if (this.unresponsive) {
          // Redis answers again: whatever was written while it did not (or not at all) is made right.
          this.unresponsive = false;
          await this.restore(true);
        }
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
        this.noteTimeout(err);
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
