import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeText } from './phoenix-codec.ts';
import { scanFrame, scanStringLiteral } from './frame-scan.ts';

test('a compact frame scans into the same header as the full decoder reads, with the payload as text', () => {
  const text = JSON.stringify(['3', '17', 'hub:AbCdEfG', 'nafr', { naf: '{"dataType":"um","data":{"d":[]}}' }]);
  const s = scanFrame(text);
  const d = decodeText(text);
  assert.ok(s && d.ok);
  assert.deepEqual([s.joinRef, s.ref, s.topic, s.event], [d.message.joinRef, d.message.ref, d.message.topic, d.message.event]);
  assert.deepEqual(JSON.parse(s.payloadText), d.message.payload);
});

test('null refs and escaped header strings are read like JSON.parse reads them', () => {
  const s = scanFrame('[null,null,"hub:\\u0041b","ev\\"t",{}]');
  assert.deepEqual(s, { joinRef: null, ref: null, topic: 'hub:Ab', event: 'ev"t', payloadText: '{}' });
});

test('frames not in compact form are left to the full decoder', () => {
  for (const text of ['[ "1","2","t","e",{}]', '["1","2","t","e",{}] ', '{"a":1}', '["1",2,"t","e",{}]', '["1","2","","e",{}]', '["1","2","t"]', '', '["1","2","t","e\u0001",{}]', `["1","2","${'x'.repeat(256)}","e",{}]`]) {
    assert.equal(scanFrame(text), null, text);
  }
});

test('string literals are accepted exactly when JSON accepts them', () => {
  const cases = ['"plain"', '"esc \\" \\\\ \\/ \\b \\f \\n \\r \\t"', '"\\u00e9\\uD83D\\ude00"', '"bad \\x"', '"raw \n newline"', '"\\u12"', '"unterminated', '"ok" trailing', '"tab\there"'];
  for (const c of cases) {
    let jsonOk: boolean;
    let end = -1;
    try {
      JSON.parse(c.slice(0, scanStringLiteral(c, 0) > 0 ? scanStringLiteral(c, 0) : c.length));
      jsonOk = true;
    } catch {
      jsonOk = false;
    }
    end = scanStringLiteral(c, 0);
    assert.equal(end > 0, jsonOk, c);
  }
  assert.equal(scanStringLiteral('"ok" trailing', 0), 4);
});

test('random strings round-trip: a literal the scanner accepts parses to the original', () => {
  for (let i = 0; i < 2000; i++) {
    const chars = Array.from({ length: 1 + (i % 40) }, () => String.fromCharCode(Math.floor(Math.random() * 0x3000)));
    const original = chars.join('');
    const literal = JSON.stringify(original);
    assert.equal(scanStringLiteral(literal, 0), literal.length);
    assert.equal(JSON.parse(literal), original);
  }
});
