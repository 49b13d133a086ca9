import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import type { PresenceDiff } from '../protocol/presence-diff.ts';
import { presenceContract, sorted } from './presence-contract.ts';
import { RedisPresenceStore, type RedisPresenceStoreOptions } from './redis-presence-store.ts';
import { useTestRedis } from '../test-support/test-redis.ts';

const redisUrl = useTestRedis();


/** A key prefix of its own, so tests never see each other's entries. */
const freshPrefix = () => `plexus:test:${randomBytes(4).toString('hex')}:`;

presenceContract('RedisPresenceStore', async () => {
  const store = new RedisPresenceStore({ url: redisUrl(), keyPrefix: freshPrefix() });
  return { store, dispose: () => store.close() };
});

/** Waits until `pred()` resolves true, polling every 20 ms, failing after `timeoutMs`. */
async function eventually(pred: () => Promise<boolean> | boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('RedisPresenceStore as a cluster', () => {
  const open: RedisPresenceStore[] = [];
  const node = (prefix: string, extra: Partial<RedisPresenceStoreOptions> = {}) => {
    const s = new RedisPresenceStore({ url: redisUrl(), keyPrefix: prefix, ...extra });
    open.push(s);
    return s;
  };
  after(async () => {
    for (const s of open) await s.close();
  });

  sharingAndReapingTests(node);
  deadNodeAndCloseTests(node);
});

/** Opens a store on `prefix` that is closed after the suite. */
type OpenNode = (prefix: string, extra?: Partial<RedisPresenceStoreOptions>) => RedisPresenceStore;

/** Registers the tests of members shared by two nodes and of a killed node's members being reaped. */
function sharingAndReapingTests(node: OpenNode): void {
  test('two nodes on one Redis see each other\'s members in list', async () => {
    const p = freshPrefix();
    const [a, b] = [node(p), node(p)];
    const ma = await a.track('hub:x', 'sa', { on: 'a' });
    const mb = await b.track('hub:x', 'sb', { on: 'b' });
    const expected = sorted({ sa: { metas: [ma] }, sb: { metas: [mb] } });
    assert.deepEqual(sorted(await a.list('hub:x')), expected);
    assert.deepEqual(sorted(await b.list('hub:x')), expected);
    assert.equal(await b.untrack('hub:x', 'sa', ma.phx_ref), null, 'a node cannot untrack another node\'s meta');
  });

  test('a killed node\'s members are reaped within TTL + heartbeat, with one leave diff emitted exactly once by the two survivors', async () => {
    const p = freshPrefix();
    const opts = { ttlMs: 2000, heartbeatMs: 500 };
    const [dead, s1, s2] = [node(p, opts), node(p, opts), node(p, opts)];
    const got: Array<{ by: string; topic: string; diff: PresenceDiff }> = [];
    s1.onRemoteLeaves((topic, diff) => got.push({ by: 's1', topic, diff }));
    s2.onRemoteLeaves((topic, diff) => got.push({ by: 's2', topic, diff }));
    const d1 = await dead.track('hub:k', 'u1', { n: 1 });
    const d2 = await dead.track('hub:k', 'u1', { n: 2 });
    const d3 = await dead.track('hub:other', 'u2', { n: 3 });
    const alive = await s1.track('hub:k', 'u3', { n: 4 });
    assert.equal(Object.keys(await s2.list('hub:k')).length, 2);

    dead.destroyWithoutCleanup();
    // TTL + one heartbeat, plus 1.5 s of slack for a loaded CI machine.
    await eventually(() => got.length >= 2, 'leave diffs for both topics', 2000 + 500 + 1500);
    // Let both survivors run a few more heartbeats: nothing more may arrive.
    await Promise.all([s1.heartbeat(), s2.heartbeat()]);
    await Promise.all([s1.heartbeat(), s2.heartbeat()]);
    assert.equal(got.length, 2, JSON.stringify(got));
    const byTopic = Object.fromEntries(got.map((g) => [g.topic, g.diff]));
    assert.deepEqual(byTopic['hub:k']!.joins, {});
    assert.deepEqual(sorted(byTopic['hub:k']!.leaves), sorted({ u1: { metas: [d1, d2] } }));
    assert.deepEqual(byTopic['hub:other'], { joins: {}, leaves: { u2: { metas: [d3] } } });
    assert.deepEqual(await s2.list('hub:k'), { u3: { metas: [alive] } });
    assert.deepEqual(await s1.list('hub:other'), {});
    const admin = new Redis(redisUrl());
    try {
      assert.deepEqual(await admin.hkeys(`${p}p:hub:other`), []);
    } finally {
      admin.disconnect();
    }
  });
}

/** Registers the tests of list ignoring a dead node before reaping, racing reapers, and close(). */
function deadNodeAndCloseTests(node: OpenNode): void {
  test('list ignores a dead node\'s entries as soon as its liveness key expires, before any reaping; two racing reapers get them once', async () => {
    const p = freshPrefix();
    const dead = node(p, { ttlMs: 1000, heartbeatMs: 60_000 });
    const other = node(p, { heartbeatMs: 60_000 });
    await dead.track('hub:l', 'u', {});
    assert.equal(Object.keys(await other.list('hub:l')).length, 1);
    dead.destroyWithoutCleanup();
    await eventually(async () => Object.keys(await other.list('hub:l')).length === 0, 'the dead node to drop out of list', 3000);
    // The entries are still there for the reaper to announce; of two reapers racing, exactly one gets them.
    const third = node(p, { heartbeatMs: 60_000 });
    const [r1, r2] = await Promise.all([other.reapDeadNodes(), third.reapDeadNodes()]);
    const reaped = [...r1, ...r2];
    assert.equal(reaped.length, 1, JSON.stringify([r1, r2]));
    assert.equal(reaped[0]!.topic, 'hub:l');
    assert.deepEqual(Object.keys(reaped[0]!.diff.leaves), ['u']);
    assert.deepEqual(await other.reapDeadNodes(), []);
  });

  test('close() removes the node\'s entries, and nobody reaps them afterwards', async () => {
    const p = freshPrefix();
    const [a, b] = [node(p, { heartbeatMs: 60_000 }), node(p, { heartbeatMs: 60_000 })];
    await a.track('hub:c', 'u', {});
    await a.track('hub:d', 'u', {});
    const mb = await b.track('hub:c', 'v', {});
    await a.close();
    assert.deepEqual(await b.list('hub:c'), { v: { metas: [mb] } });
    assert.deepEqual(await b.list('hub:d'), {});
    assert.deepEqual(await b.reapDeadNodes(), []);
  });
}
