import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decodeBinary,
  decodeText,
  encodeBinaryBroadcast,
  encodeBinaryPush,
  encodeBinaryReply,
  encodeBroadcast,
  encodeReply,
  encodeText,
  MAX_PAYLOAD_DEPTH,
} from './phoenix-codec.ts';

test('a V2 text frame decodes into join_ref, ref, topic, event and payload', () => {
  const r = decodeText('["1","2","hub:abc","naf",{"a":1}]');
  assert.deepEqual(r, { ok: true, message: { joinRef: '1', ref: '2', topic: 'hub:abc', event: 'naf', payload: { a: 1 } } });
});

test('a null payload decodes as an empty object, as Hubs phoenix.js 1.5 sends it', () => {
  const r = decodeText('["1","2","hub:abc","sign_out",null]');
  assert.ok(r.ok);
  assert.deepEqual(r.message.payload, {});
});

test('extra trailing elements are ignored like the Phoenix decoder does', () => {
  const r = decodeText('[null,"7","phoenix","heartbeat",{},"extra"]');
  assert.ok(r.ok);
  assert.equal(r.message.event, 'heartbeat');
});

test('a payload nested deeper than MAX_PAYLOAD_DEPTH is refused with invalid_payload, keeping the refs and topic; 64 levels pass', () => {
  const frame = (levels: number) => `["1","2","hub:abc","message",${'['.repeat(levels)}${']'.repeat(levels)}]`;
  assert.equal(MAX_PAYLOAD_DEPTH, 64);
  assert.ok(decodeText(frame(64)).ok);
  for (const levels of [65, 8000, 200_000]) {
    const r = decodeText(frame(levels));
    assert.ok(!r.ok);
    assert.deepEqual([r.error.code, r.error.joinRef, r.error.ref, r.error.topic], ['invalid_payload', '1', '2', 'hub:abc']);
    assert.match(r.error.message, /nested deeper than 64 levels/);
  }
});

const badTexts: Array<[string, string, string]> = [
  ['not JSON', '{nope', 'frame_not_json'],
  ['JSON but not an array', '{"topic":"x"}', 'frame_not_array'],
  ['an array of four', '[null,"1","hub:x","naf"]', 'frame_bad_arity'],
  ['a numeric ref', '[null,1,"hub:x","naf",{}]', 'frame_bad_field'],
  ['an empty topic', '[null,"1","","naf",{}]', 'frame_bad_field'],
  ['a numeric event', '[null,"1","hub:x",5,{}]', 'frame_bad_field'],
  ['a topic over 255 characters', `[null,"1","${'x'.repeat(256)}","naf",{}]`, 'frame_bad_field'],
];
for (const [name, text, code] of badTexts) {
  test(`a text frame that is ${name} is rejected with ${code}`, () => {
    const r = decodeText(text);
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.error.code, code);
  });
}

test('a decode error keeps the ref and topic it could read so the error can be replied to', () => {
  const r = decodeText('["1","9","hub:x",42,{}]');
  assert.ok(!r.ok);
  assert.equal(r.error.ref, '9');
  assert.equal(r.error.topic, 'hub:x');
});

test('text encoders produce exactly the V2 arrays', () => {
  assert.equal(encodeText('1', null, 'hub:x', 'presence_state', {}), '["1",null,"hub:x","presence_state",{}]');
  assert.equal(encodeReply('1', '5', 'hub:x', 'ok', { a: 1 }), '["1","5","hub:x","phx_reply",{"status":"ok","response":{"a":1}}]');
  assert.equal(encodeBroadcast('hub:x', 'nafr', { naf: 's' }), '[null,null,"hub:x","nafr",{"naf":"s"}]');
});

function clientBinaryPush(joinRef: string, ref: string, topic: string, event: string, payload: Uint8Array): Uint8Array {
  const enc = new TextEncoder();
  const f = [joinRef, ref, topic, event].map((s) => enc.encode(s));
  const out = new Uint8Array(5 + f.reduce((n, x) => n + x.length, 0) + payload.length);
  out[0] = 0;
  f.forEach((x, i) => (out[1 + i] = x.length));
  let o = 5;
  for (const x of f) {
    out.set(x, o);
    o += x.length;
  }
  out.set(payload, o);
  return out;
}

test('a binary client push decodes with its payload bytes intact', () => {
  const payload = new Uint8Array([1, 2, 3, 255]);
  const r = decodeBinary(clientBinaryPush('12', '13', 'hub:é', 'bin', payload));
  assert.ok(r.ok);
  assert.equal(r.message.joinRef, '12');
  assert.equal(r.message.ref, '13');
  assert.equal(r.message.topic, 'hub:é');
  assert.equal(r.message.event, 'bin');
  assert.deepEqual([...(r.message.payload as Uint8Array)], [1, 2, 3, 255]);
});

test('binary garbage is rejected, never thrown', () => {
  for (const bytes of [new Uint8Array([]), new Uint8Array([0, 200, 1, 1, 1, 65]), new Uint8Array([7, 0, 0, 0, 0]), new Uint8Array([0, 1, 0, 1, 1, 0xff, 0x41, 0x42])]) {
    const r = decodeBinary(bytes);
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.error.code, 'frame_bad_binary');
  }
});

test('binary server frames follow the kind 0, 1 and 2 layouts', () => {
  const p = new Uint8Array([9, 8]);
  assert.deepEqual([...encodeBinaryPush('1', 't', 'e', p)], [0, 1, 1, 1, 49, 116, 101, 9, 8]);
  assert.deepEqual([...encodeBinaryReply('1', '2', 't', 'ok', p)], [1, 1, 1, 1, 2, 49, 50, 116, 111, 107, 9, 8]);
  assert.deepEqual([...encodeBinaryBroadcast('t', 'e', p)], [2, 1, 1, 116, 101, 9, 8]);
  assert.throws(() => encodeBinaryBroadcast('x'.repeat(256), 'e', p), RangeError);
});
