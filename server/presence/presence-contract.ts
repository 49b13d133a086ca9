/**
 * The contract every {@link PresenceStore} implementation passes (DESIGN.md:
 * "every implementation passes one shared contract suite"). Used by
 * memory-presence-store.test.ts and redis-presence-store.int.test.ts.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { PresenceEntries, PresenceMeta } from '../protocol/presence-diff.ts';
import type { PresenceStore } from './presence-store.ts';

/** A fresh store sharing nothing with earlier ones, and how to dispose of it. */
export interface PresenceFixture {
  store: PresenceStore;
  /** Closes whatever the test did not. */
  dispose(): Promise<void>;
}

/** Makes a fresh {@link PresenceFixture}. */
export type PresenceStoreFactory = () => Promise<PresenceFixture>;

/** `list` output with each key's metas sorted by phx_ref (stores need not keep an order). */
export function sorted(entries: PresenceEntries): PresenceEntries {
  const out: PresenceEntries = {};
  for (const k of Object.keys(entries).sort()) {
    out[k] = { metas: [...entries[k]!.metas].sort((a, b) => (a.phx_ref < b.phx_ref ? -1 : a.phx_ref > b.phx_ref ? 1 : 0)) };
  }
  return out;
}

/** `{key: {metas}}` from metas, sorted like {@link sorted}. */
function entries(...pairs: Array<[string, PresenceMeta]>): PresenceEntries {
  const out: PresenceEntries = {};
  for (const [k, m] of pairs) (out[k] ??= { metas: [] }).metas.push(m);
  return sorted(out);
}

/**
 * Registers the presence store contract tests (node:test) under `describe(name)`.
 * @param name e.g. `'MemoryPresenceStore'`
 * @param factory makes a fresh store per test
 */
export function presenceContract(name: string, factory: PresenceStoreFactory): void {
  describe(`${name} contract`, () => {
    const fixtures: PresenceFixture[] = [];
    const make = async () => {
      const f = await factory();
      fixtures.push(f);
      return f.store;
    };
    after(async () => {
      for (const f of fixtures) await f.dispose();
    });

    trackUpdateUntrackTests(make);
    topicsAndCapacityTests(make);
  });
}

/** Makes a fresh store that is disposed of after the suite. */
type MakeStore = () => Promise<PresenceStore>;

/** Registers the contract tests of track, update and untrack on one topic. */
function trackUpdateUntrackTests(make: MakeStore): void {
  test('track returns the meta with a fresh phx_ref, and list shows it', async () => {
    const s = await make();
    const a = await s.track('hub:a', 'sess1', { profile: { displayName: 'Ann' }, presence: 'room' });
    const b = await s.track('hub:a', 'sess2', { presence: 'lobby' });
    assert.equal(typeof a.phx_ref, 'string');
    assert.ok(a.phx_ref.length > 0);
    assert.notEqual(a.phx_ref, b.phx_ref);
    assert.deepEqual(a.profile, { displayName: 'Ann' });
    assert.deepEqual(sorted(await s.list('hub:a')), entries(['sess1', a], ['sess2', b]));
  });

  test('one key may hold two metas (two sockets of one session)', async () => {
    const s = await make();
    const a = await s.track('hub:a', 'sess1', { n: 1 });
    const b = await s.track('hub:a', 'sess1', { n: 2 });
    assert.notEqual(a.phx_ref, b.phx_ref);
    assert.deepEqual(sorted(await s.list('hub:a')), entries(['sess1', a], ['sess1', b]));
    assert.deepEqual(await s.untrack('hub:a', 'sess1', a.phx_ref), a);
    assert.deepEqual(await s.list('hub:a'), entries(['sess1', b]));
  });

  test('update replaces the meta under a new phx_ref and returns the old one', async () => {
    const s = await make();
    const a = await s.track('hub:a', 'sess1', { presence: 'lobby' });
    const r = await s.update('hub:a', 'sess1', a.phx_ref, { presence: 'room' });
    assert.ok(r);
    assert.deepEqual(r.old, a);
    assert.equal(r.meta.presence, 'room');
    assert.notEqual(r.meta.phx_ref, a.phx_ref);
    assert.deepEqual(await s.list('hub:a'), entries(['sess1', r.meta]));
  });

  test('update and untrack of an unknown phx_ref return null and change nothing', async () => {
    const s = await make();
    const a = await s.track('hub:a', 'sess1', { x: 1 });
    assert.equal(await s.update('hub:a', 'sess1', 'nope', { x: 2 }), null);
    assert.equal(await s.untrack('hub:a', 'sess1', 'nope'), null);
    assert.equal(await s.update('hub:a', 'other', a.phx_ref, { x: 2 }), null);
    assert.equal(await s.untrack('hub:b', 'sess1', a.phx_ref), null);
    assert.deepEqual(await s.list('hub:a'), entries(['sess1', a]));
    assert.deepEqual(await s.list('hub:b'), {});
  });

  test('untrack removes the meta and returns it; a second untrack returns null', async () => {
    const s = await make();
    const a = await s.track('hub:a', 'sess1', { x: 1 });
    assert.deepEqual(await s.untrack('hub:a', 'sess1', a.phx_ref), a);
    assert.deepEqual(await s.list('hub:a'), {});
    assert.equal(await s.untrack('hub:a', 'sess1', a.phx_ref), null);
  });
}

/** Registers the contract tests of independent topics and of updateIfRoomBelow's room limit. */
function topicsAndCapacityTests(make: MakeStore): void {
  test('topics are independent, and an empty topic lists as {}', async () => {
    const s = await make();
    assert.deepEqual(await s.list('hub:empty'), {});
    const a = await s.track('hub:a', 'sess1', { t: 'a' });
    const b = await s.track('hub:b', 'sess1', { t: 'b' });
    assert.deepEqual(await s.list('hub:a'), entries(['sess1', a]));
    assert.deepEqual(await s.list('hub:b'), entries(['sess1', b]));
    await s.untrack('hub:a', 'sess1', a.phx_ref);
    assert.deepEqual(await s.list('hub:a'), {});
    assert.deepEqual(await s.list('hub:b'), entries(['sess1', b]));
  });

  test('updateIfRoomBelow lets keys into the room until the limit, refuses the next with full, and never counts the key itself', async () => {
    const s = await make();
    const metas = await Promise.all(['k1', 'k2', 'k3'].map((k) => s.track('hub:cap', k, { presence: 'lobby' })));
    const enter = (k: string, ref: string) => s.updateIfRoomBelow('hub:cap', k, ref, { presence: 'room' }, 2);
    const r1 = await enter('k1', metas[0]!.phx_ref);
    assert.ok(r1 && r1 !== 'full');
    const r2 = await enter('k2', metas[1]!.phx_ref);
    assert.ok(r2 && r2 !== 'full');
    assert.equal(await enter('k3', metas[2]!.phx_ref), 'full');
    // The refused key is unchanged: still in the lobby under its old phx_ref.
    assert.deepEqual((await s.list('hub:cap')).k3, { metas: [metas[2]] });
    // A key already in the room may update its meta at the limit (it does not count itself).
    const again = await s.updateIfRoomBelow('hub:cap', 'k1', (r1 as { meta: { phx_ref: string } }).meta.phx_ref, { presence: 'room', typing: true }, 2);
    assert.ok(again && again !== 'full');
    // A leave frees a seat.
    await s.untrack('hub:cap', 'k2', (r2 as { meta: { phx_ref: string } }).meta.phx_ref);
    const r3 = await enter('k3', metas[2]!.phx_ref);
    assert.ok(r3 && r3 !== 'full');
    assert.equal(await s.updateIfRoomBelow('hub:cap', 'k9', 'nope', { presence: 'room' }, 2), null);
  });

  test('updateIfRoomBelow under 30 concurrent entries admits exactly the limit', async () => {
    const s = await make();
    const metas = await Promise.all(Array.from({ length: 30 }, (_, i) => s.track('hub:race', `r${i}`, { presence: 'lobby' })));
    const results = await Promise.all(metas.map((m, i) => s.updateIfRoomBelow('hub:race', `r${i}`, m.phx_ref, { presence: 'room' }, 7)));
    assert.equal(results.filter((r) => r && r !== 'full').length, 7);
    assert.equal(results.filter((r) => r === 'full').length, 23);
    const inRoom = Object.values(await s.list('hub:race')).filter((e) => e.metas.some((m) => m.presence === 'room'));
    assert.equal(inRoom.length, 7);
  });
}
