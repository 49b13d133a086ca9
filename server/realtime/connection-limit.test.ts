import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConnectionsPerKey } from './connection-limit.ts';

test('a key may open up to max connections; closing one makes room again and a key with none is forgotten', () => {
  const limit = new ConnectionsPerKey(2);
  assert.ok(limit.allows('10.0.0.1'));
  limit.add('10.0.0.1');
  limit.add('10.0.0.1');
  assert.equal(limit.allows('10.0.0.1'), false);
  assert.ok(limit.allows('10.0.0.2'));
  limit.remove('10.0.0.1');
  assert.ok(limit.allows('10.0.0.1'));
  limit.remove('10.0.0.1');
  limit.remove('10.0.0.1');
  assert.equal(limit.count('10.0.0.1'), 0);
  assert.equal(limit.size, 0);
});

test('keys named like Object.prototype members are ordinary keys', () => {
  const limit = new ConnectionsPerKey(1);
  assert.ok(limit.allows('__proto__'));
  limit.add('__proto__');
  assert.equal(limit.allows('__proto__'), false);
  assert.ok(limit.allows('constructor'));
});
