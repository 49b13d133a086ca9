import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeNafEvent, decodeNafrEvent, encodeNafPush, hasFirstSync } from './naf-transport.ts';

const entity = (isFirstSync: boolean) => ({
  networkId: 'abc1234',
  owner: 'me',
  creator: 'me',
  lastOwnerTime: 1716400000123.5,
  template: '#box-media',
  persistent: false,
  parent: null,
  components: { '0': { x: 1, y: 2, z: 3 } },
  isFirstSync,
});

test('a first-sync "u" goes out as naf with the envelope as an object', () => {
  const push = encodeNafPush('u', entity(true));
  assert.equal(push.event, 'naf');
  assert.deepEqual(push.payload, { dataType: 'u', data: entity(true) });
});

test('a targeted first sync keeps its clientId in the envelope', () => {
  const push = encodeNafPush('u', entity(true), 'them');
  assert.equal(push.event, 'naf');
  assert.equal((push.payload as { clientId?: string }).clientId, 'them');
});

test('an "um" with any first-sync element goes out as naf', () => {
  assert.equal(encodeNafPush('um', { d: [entity(false), entity(true)] }).event, 'naf');
});

test('everything else goes out as nafr with a JSON string and no isFirstSync keys', () => {
  const push = encodeNafPush('um', { d: [entity(false), entity(false)] });
  assert.equal(push.event, 'nafr');
  const naf = (push.payload as { naf: string }).naf;
  assert.ok(!naf.includes('isFirstSync'));
  const { isFirstSync: _ignored, ...rest } = entity(false);
  assert.deepEqual(JSON.parse(naf), { dataType: 'um', data: { d: [rest, rest] } });
  assert.equal(encodeNafPush('r', { networkId: 'abc1234' }).event, 'nafr');
});

test('the push is a snapshot: later changes to the data do not leak into it', () => {
  const data = entity(true);
  const push = encodeNafPush('u', data);
  data.components['0'] = { x: 9, y: 9, z: 9 };
  assert.deepEqual((push.payload as { data: { components: unknown } }).data.components, { '0': { x: 1, y: 2, z: 3 } });
});

test('hasFirstSync is false for payloads that are not objects', () => {
  assert.equal(hasFirstSync('u', null), false);
  assert.equal(hasFirstSync('um', { d: 'nope' }), false);
});

test('incoming naf and nafr events decode to sender, dataType and data', () => {
  assert.deepEqual(decodeNafEvent({ dataType: 'u', data: { a: 1 }, from_session_id: 's1' }), {
    fromSessionId: 's1',
    dataType: 'u',
    data: { a: 1 },
  });
  assert.deepEqual(decodeNafrEvent({ naf: JSON.stringify({ dataType: 'um', data: { d: [] } }), from_session_id: 's2' }), {
    fromSessionId: 's2',
    dataType: 'um',
    data: { d: [] },
  });
});

test('malformed incoming events decode to null', () => {
  assert.equal(decodeNafEvent({ dataType: 'u' }), null);
  assert.equal(decodeNafrEvent({ naf: '{not json', from_session_id: 's' }), null);
  assert.equal(decodeNafrEvent({ naf: '{"data":1}', from_session_id: 's' }), null);
  assert.equal(decodeNafrEvent(null), null);
});
