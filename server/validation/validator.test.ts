import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Type } from '@sinclair/typebox';
import { createAjv } from '../channels/hub/schemas.ts';
import { compile, describeErrors, jsonBounds, jsonObject, nullable, sharedAjv } from './validator.ts';

test('a compiled validator narrows the value to the schema type, so the caller reads fields without a cast', () => {
  const valid = compile(Type.Object({ hub_id: Type.String({ maxLength: 8 }), size: Type.Optional(nullable(Type.Integer({ minimum: 0 }))) }));
  const payload: unknown = { hub_id: 'abc', size: null };
  assert.ok(valid(payload));
  const id: string = payload.hub_id;
  const size: number | null | undefined = payload.size;
  assert.deepEqual([id, size], ['abc', null]);
  assert.equal(valid({ hub_id: 'abcdefghi' }), false);
  assert.equal(describeErrors(valid.errors), 'payload.hub_id must NOT have more than 8 characters');
});

test('nullable writes the type list, so a wrong type still reads as one line', () => {
  const schema = nullable(Type.String({ maxLength: 64 }));
  assert.deepEqual(JSON.parse(JSON.stringify(schema)), { maxLength: 64, type: ['string', 'null'] });
  const valid = compile(Type.Object({ hub_id: schema }));
  assert.equal(valid({ hub_id: 5 }), false);
  assert.equal(describeErrors(valid.errors), 'payload.hub_id must be string,null');
});

test('the one ajv instance knows jsonBounds, and createAjv hands out that same instance', () => {
  assert.equal(createAjv(), sharedAjv());
  assert.equal(createAjv({ verbose: true }), sharedAjv());
  const valid = compile(Type.Object({ data: jsonObject(jsonBounds({ maxDepth: 2, maxBytes: 20 })) }));
  assert.ok(valid({ data: { a: {} } }));
  assert.equal(valid({ data: { a: { b: {} } } }), false);
  assert.match(describeErrors(valid.errors), /^payload\.data is nested deeper than 2 levels/);
  assert.equal(valid({ data: { a: 'x'.repeat(30) } }), false);
  assert.match(describeErrors(valid.errors), /^payload\.data is over 20 bytes of JSON/);
});

test('errors are verbose: each keeps the schema that refused the value (the hub schemas name rules by it)', () => {
  const inner = { not: { enum: ['__proto__'] } };
  const valid = sharedAjv().compile({ type: 'object', properties: { k: inner } });
  assert.equal(valid({ k: '__proto__' }), false);
  assert.equal(valid.errors?.[0]?.schema, inner.not);
});
