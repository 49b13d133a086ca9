import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyDiff, isEmptyDiff, joinDiff, leaveDiff, newPhxRef, updateDiff } from './presence-diff.ts';
import type { PresenceEntries } from './presence-diff.ts';

const a1 = { phx_ref: 'r1', presence: 'lobby' };
const a2 = { phx_ref: 'r2', presence: 'room' };

test('a join diff adds the key with its meta', () => {
  assert.deepEqual(applyDiff({}, joinDiff('a', a1)), { a: { metas: [a1] } });
});

test('a leave diff of the last meta removes the key', () => {
  assert.deepEqual(applyDiff({ a: { metas: [a1] } }, leaveDiff('a', a1)), {});
});

test('an update is one diff with the old meta leaving and the new one joining with phx_ref_prev', () => {
  const diff = updateDiff('a', a1, a2);
  assert.deepEqual(diff.leaves, { a: { metas: [a1] } });
  assert.deepEqual(diff.joins, { a: { metas: [{ ...a2, phx_ref_prev: 'r1' }] } });
  const after = applyDiff({ a: { metas: [a1] } }, diff);
  assert.deepEqual(after, { a: { metas: [{ ...a2, phx_ref_prev: 'r1' }] } });
});

test('applying a diff keeps other metas of the key and does not mutate the input', () => {
  const state: PresenceEntries = { a: { metas: [{ phx_ref: 'x' }, a1] } };
  const after = applyDiff(state, updateDiff('a', a1, a2));
  assert.deepEqual(after.a.metas.map((m) => m.phx_ref), ['x', 'r2']);
  assert.deepEqual(state.a.metas.map((m) => m.phx_ref), ['x', 'r1']);
});

test('isEmptyDiff tells an empty diff from one with a join or a leave', () => {
  assert.equal(isEmptyDiff({ joins: {}, leaves: {} }), true);
  assert.equal(isEmptyDiff(joinDiff('a', a1)), false);
  assert.equal(isEmptyDiff(leaveDiff('a', a1)), false);
});

test('phx_refs are unique', () => {
  const refs = new Set(Array.from({ length: 1000 }, newPhxRef));
  assert.equal(refs.size, 1000);
});
