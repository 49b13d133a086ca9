import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyedRateLimiter, TokenBucket } from './rate-limit.ts';

test('a bucket allows its burst at once, then one event per 1/perSecond seconds', () => {
  let now = 0;
  const b = new TokenBucket(10, 3, () => now);
  assert.deepEqual([b.take(), b.take(), b.take(), b.take()], [true, true, true, false]);
  assert.equal(b.waitMs(), 100);
  now += 50;
  assert.equal(b.take(), false);
  now += 50;
  assert.equal(b.take(), true);
  now += 10_000;
  assert.deepEqual([b.take(), b.take(), b.take(), b.take()], [true, true, true, false], 'refill stops at the burst');
});

test('bad bucket settings are refused', () => {
  assert.throws(() => new TokenBucket(0, 1), RangeError);
  assert.throws(() => new TokenBucket(1, 0), RangeError);
});

test('keyed limiter keeps keys apart, says how long to wait, and forgets the least recently used key when full', () => {
  let now = 0;
  const l = new KeyedRateLimiter(1 / 60, 2, 2, () => now);
  assert.equal(l.take('a'), 0);
  assert.equal(l.take('a'), 0);
  assert.equal(l.take('a'), 60);
  assert.equal(l.take('b'), 0);
  assert.equal(l.take('c'), 0, 'a third key evicts the least recently used (a)');
  assert.equal(l.size, 2);
  assert.equal(l.take('a'), 0, 'a starts again full');
  now += 30_000;
  assert.equal(l.take('a'), 0);
  assert.equal(l.take('a'), 30);
});
