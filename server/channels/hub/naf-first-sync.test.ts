/**
 * The "may hold a first sync" tests of nafr payloads, against random JSON
 * written with random escapes at both levels (the naf text and the frame's
 * string literal), duplicate keys included: whenever JSON.parse would yield
 * an isFirstSync key, or a string (key or value) that is an Object.prototype
 * name, both tests say so; what NAF and Hubs send needs no check.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nafrLiteralNeedsCheck, nafTextNeedsCheck, OBJECT_PROTOTYPE_NAMES } from './naf-first-sync.ts';
import { prng } from '../../test-support/prng.ts';

const hex4 = (c: string, upper: boolean): string => {
  const h = c.charCodeAt(0).toString(16).padStart(4, '0');
  return upper ? h.toUpperCase() : h;
};

/** A JSON string literal for `s`, each character written out or escaped at random (always valid JSON). */
function literal(s: string, rnd: () => number, p: number): string {
  let out = '"';
  for (const c of s) {
    const code = c.codePointAt(0)!;
    if (code > 0xffff) {
      out += c;
      continue;
    }
    if (c === '"' || c === '\\' || code < 0x20 || rnd() < p) {
      const short = c === '"' ? '\\"' : c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '/' ? '\\/' : null;
      out += short && rnd() < 0.5 ? short : `\\u${hex4(c, rnd() < 0.5)}`;
    } else {
      out += c;
    }
  }
  return out + '"';
}

const KEYS = ['isFirstSync', 'networkId', 'owner', 'creator', 'template', 'persistent', 'components', 'd', 'x', 'isfirstsync', 'isFirstSyn', 'IsFirstSync'];

/** Strings near the Object.prototype names: the names, and ids that merely contain or resemble them. */
const NAME_KEYS = [...OBJECT_PROTOTYPE_NAMES, 'networkId', 'dataType', 'parent', 'constructor-1', 'my__proto__', 'tostring', '__proto_', 'valueOf ', 'naf-xyz'];

/** Random JSON text: objects with (sometimes duplicate) keys, arrays, scalars, every string written with random escapes. */
function randomJson(rnd: () => number, depth: number, p: number, keys: readonly string[] = KEYS): string {
  const r = rnd();
  if (depth <= 0 || r < 0.3) {
    const s = rnd();
    if (s < 0.25) return rnd() < 0.5 ? 'true' : 'false';
    if (s < 0.5) return String(Math.floor(rnd() * 1000) / 10);
    if (s < 0.6) return 'null';
    return literal(keys[Math.floor(rnd() * keys.length)]! + (rnd() < 0.3 ? 'é"\\/\n' : ''), rnd, p);
  }
  if (r < 0.45) {
    const n = Math.floor(rnd() * 4);
    return `[${Array.from({ length: n }, () => randomJson(rnd, depth - 1, p, keys)).join(',')}]`;
  }
  const n = Math.floor(rnd() * 5);
  const members = Array.from({ length: n }, () => `${literal(keys[Math.floor(rnd() * keys.length)]!, rnd, p)}:${randomJson(rnd, depth - 1, p, keys)}`);
  return `{${members.join(',')}}`;
}

function hasKeyDeep(v: unknown, key: string): boolean {
  if (Array.isArray(v)) return v.some((x) => hasKeyDeep(x, key));
  if (v && typeof v === 'object') return Object.entries(v).some(([k, x]) => k === key || hasKeyDeep(x, key));
  return false;
}

test('whenever JSON.parse of a naf text yields an isFirstSync key, both tests see that it may', () => {
  const seed = Number(process.env.FUZZ_SEED ?? 20240601);
  const rnd = prng(seed);
  let withKey = 0;
  for (let i = 0; i < 20000; i++) {
    const text = randomJson(rnd, 4, rnd() < 0.5 ? 0 : rnd() * 0.5);
    const parsed = JSON.parse(text) as unknown;
    // The frame's literal for the text, with its own random escapes.
    const lit = literal(text, rnd, rnd() < 0.5 ? 0 : rnd() * 0.5);
    assert.equal(JSON.parse(lit), text, 'the literal decodes to the text');
    const frame = Buffer.from(`{"naf":${lit}}`);
    const has = hasKeyDeep(parsed, 'isFirstSync');
    if (!has) continue;
    withKey++;
    assert.ok(nafTextNeedsCheck(text), `seed ${seed}, case ${i}: text ${text}`);
    assert.ok(nafrLiteralNeedsCheck(frame, 7, frame.length - 1), `seed ${seed}, case ${i}: literal ${lit}`);
  }
  assert.ok(withKey > 1000, `enough cases carry the key (${withKey})`);
});

test('what the NAF transport sends as nafr (JSON.stringify without isFirstSync keys) needs no parse', () => {
  const envelope = { dataType: 'um', data: { d: [{ networkId: 'é"\\/\n\t', owner: 'o', components: { '0': { x: 1.5 } } }] } };
  const text = JSON.stringify(envelope);
  const frame = Buffer.from(JSON.stringify({ naf: text }));
  assert.equal(nafTextNeedsCheck(text), false);
  assert.equal(nafrLiteralNeedsCheck(frame, 7, frame.length - 1), false);
});

function hasStringDeep(v: unknown, names: ReadonlySet<string>): boolean {
  if (typeof v === 'string') return names.has(v);
  if (Array.isArray(v)) return v.some((x) => hasStringDeep(x, names));
  if (v && typeof v === 'object') return Object.entries(v).some(([k, x]) => names.has(k) || hasStringDeep(x, names));
  return false;
}

test('whenever JSON.parse of a naf text yields an Object.prototype name as a key or a string, both tests see that it may', () => {
  assert.ok(OBJECT_PROTOTYPE_NAMES.includes('__proto__') && OBJECT_PROTOTYPE_NAMES.includes('constructor') && OBJECT_PROTOTYPE_NAMES.includes('hasOwnProperty'));
  const names = new Set(OBJECT_PROTOTYPE_NAMES);
  const seed = Number(process.env.FUZZ_SEED ?? 20240602);
  const rnd = prng(seed);
  let withName = 0;
  for (let i = 0; i < 20000; i++) {
    const text = randomJson(rnd, 4, rnd() < 0.5 ? 0 : rnd() * 0.5, NAME_KEYS);
    const lit = literal(text, rnd, rnd() < 0.5 ? 0 : rnd() * 0.5);
    const frame = Buffer.from(`{"naf":${lit}}`);
    if (!hasStringDeep(JSON.parse(text), names)) continue;
    withName++;
    assert.ok(nafTextNeedsCheck(text), `seed ${seed}, case ${i}: text ${text}`);
    assert.ok(nafrLiteralNeedsCheck(frame, 7, frame.length - 1), `seed ${seed}, case ${i}: literal ${lit}`);
  }
  assert.ok(withName > 1000, `enough cases carry a name (${withName})`);
});

test('ordinary NAF and Hubs traffic (random, naf- and scene- ids, custom dataTypes, names inside longer ids) needs no parse', () => {
  const envelopes = [
    { dataType: 'um', data: { d: [{ networkId: 'k3j9x2a', owner: 'b2c1', lastOwnerTime: 1716400000123.4, template: '#remote-avatar', persistent: false, parent: null, components: { '0': { x: 1, y: 2, z: 3 }, '1': null } }] } },
    { dataType: 'u', data: { networkId: 'scene-4fj2k', owner: 'scene', creator: '', lastOwnerTime: -1, template: '#static-media', persistent: true, parent: 'naf-xyz', components: { '2': { src: 'https://example.org/a.glb' } } } },
    { dataType: 'r', data: { networkId: 'naf-constructor-1' } },
    { dataType: 'icr', data: { networkId: 'toStringy', text: 'a __proto__ word, valueOf it' } },
  ];
  for (const envelope of envelopes) {
    const text = JSON.stringify(envelope);
    const frame = Buffer.from(JSON.stringify({ naf: text }));
    assert.equal(nafTextNeedsCheck(text), false, text);
    assert.equal(nafrLiteralNeedsCheck(frame, 7, frame.length - 1), false, text);
  }
});
