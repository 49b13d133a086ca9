import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkJsonBounds, jsonBytes, jsonDepth } from './json-bounds.ts';

/** `levels` arrays inside each other, parsed from text (JSON.stringify could not build the deep ones). */
const deep = (levels: number): unknown => JSON.parse('['.repeat(levels) + ']'.repeat(levels));

test('depth counts objects and arrays: scalars 0, {} 1, {"a": [1]} 2', () => {
  assert.equal(jsonDepth('x'), 0);
  assert.equal(jsonDepth(null), 0);
  assert.equal(jsonDepth({}), 1);
  assert.equal(jsonDepth({ a: [1], b: { c: {} } }), 3);
  assert.equal(jsonDepth(deep(40)), 40);
});

test('a value nested 1,000,000 levels deep is measured without overflowing the stack, stopping past the limit', () => {
  const v = deep(1_000_000);
  assert.equal(jsonDepth(v, 32), 33);
  assert.deepEqual(checkJsonBounds(v, 32, 1024), { kind: 'depth', limit: 32 });
});

test('bytes are those of JSON.stringify in UTF-8, keys, escapes and non-ASCII included', () => {
  for (const v of [
    {},
    [],
    { a: 1, b: [true, false, null, -1.5e-7], 'ké"y': 'välue\n\u0001', nested: { x: [[], {}] } },
    ['😀', 123456789, 0.1],
    'plain',
    { __proto__: 1, constructor: 'c' },
    JSON.parse('{"__proto__": {"x": 1}}'),
  ]) {
    assert.equal(jsonBytes(v), Buffer.byteLength(JSON.stringify(v)), JSON.stringify(v));
  }
  assert.equal(jsonBytes({ a: undefined, b: 1 }), Buffer.byteLength(JSON.stringify({ a: undefined, b: 1 })));
});

test('size is checked only within the depth bound, and counting stops once past the limit', () => {
  assert.equal(checkJsonBounds({ s: 'x'.repeat(100) }, 32, 100)?.kind, 'bytes');
  assert.equal(checkJsonBounds({ s: 'x'.repeat(10) }, 32, 100), null);
  const many = Array.from({ length: 10_000 }, () => ({ k: 'xxxxxxxx' }));
  const partial = jsonBytes(many, 50);
  assert.ok(partial > 50 && partial < jsonBytes(many), `${partial}`);
});
