import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeText } from './phoenix-codec.ts';
import { scanFrame, scanStringLiteral } from './frame-scan.ts';

const bytes = (s: string) => Buffer.from(s, 'utf8');

test('a compact frame scans into the same header as the full decoder reads, with the payload bytes located', () => {
  const text = JSON.stringify(['3', '17', 'hub:AbCdEfG', 'nafr', { naf: '{"dataType":"um","data":{"d":["é✓"]}}' }]);
  const b = bytes(text);
  const s = scanFrame(b);
  const d = decodeText(text);
  assert.ok(s && d.ok);
  assert.deepEqual([s.joinRef, s.ref, s.topic, s.event], [d.message.joinRef, d.message.ref, d.message.topic, d.message.event]);
  assert.deepEqual(JSON.parse(b.subarray(s.payloadStart, s.payloadEnd).toString('utf8')), d.message.payload);
});

test('null refs and escaped or non-ASCII header strings are read like JSON.parse reads them', () => {
  const s = scanFrame(bytes('[null,null,"hub:\\u0041b","év\\"t",{}]'));
  assert.ok(s);
  assert.deepEqual([s.joinRef, s.ref, s.topic, s.event], [null, null, 'hub:Ab', 'év"t']);
});

test('frames not in compact form are left to the full decoder', () => {
  for (const text of ['[ "1","2","t","e",{}]', '["1","2","t","e",{}] ', '{"a":1}', '["1",2,"t","e",{}]', '["1","2","","e",{}]', '["1","2","t"]', '', '[', '["1","2","t","e\u0001",{}]', `["1","2","${'x'.repeat(256)}","e",{}]`, '[nul,"2","t","e",{}]']) {
    assert.equal(scanFrame(bytes(text)), null, text);
  }
});

test('string literals are accepted exactly when JSON accepts them', () => {
  const cases = ['"plain"', '"esc \\" \\\\ \\/ \\b \\f \\n \\r \\t"', '"\\u00e9\\uD83D\\ude00"', '"bad \\x"', '"raw \n newline"', '"\\u12"', '"\\u12', '"unterminated', '"tab\there"', '"ünïcödé ✓ 😀"'];
  for (const c of cases) {
    let jsonOk: boolean;
    try {
      JSON.parse(c);
      jsonOk = true;
    } catch {
      jsonOk = false;
    }
    const b = bytes(c);
    assert.equal(scanStringLiteral(b, 0) === b.length, jsonOk, c);
  }
  assert.equal(scanStringLiteral(bytes('"ok" trailing'), 0), 4);
});

test('random strings round-trip: the scanner accepts every literal JSON.stringify makes, to its last byte', () => {
  for (let i = 0; i < 2000; i++) {
    const chars = Array.from({ length: 1 + (i % 40) }, () => String.fromCodePoint(Math.floor(Math.random() * 0x1ffff) % 0xd800));
    const literal = bytes(JSON.stringify(chars.join('')));
    assert.equal(scanStringLiteral(literal, 0), literal.length);
  }
});
