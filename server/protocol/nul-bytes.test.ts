import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findNul } from './nul-bytes.ts';

test('findNul names the first string or key holding U+0000, and nothing for clean values', () => {
  assert.equal(findNul({ hub: { name: 'ok', user_data: { list: [1, 'a', null] } } }), null);
  assert.equal(findNul({ hub: { name: 'a\u0000b' } }, 'body'), 'body.hub.name');
  assert.equal(findNul({ d: [{ x: 'y' }, { z: '\u0000' }] }), 'payload.d[1].z');
  assert.equal(findNul({ ok: { 'bad\u0000key': 1 } }), 'payload.ok["bad\\u0000key"]');
  assert.equal(findNul('\u0000', 'q'), 'q');
  assert.equal(findNul(42), null);
});

test('findNul walks any depth without recursion', () => {
  let deep: unknown = 'x\u0000';
  for (let i = 0; i < 100_000; i++) deep = [deep];
  assert.match(findNul(deep) ?? '', /^payload(\[0\])+$/);
});
