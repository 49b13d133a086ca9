import assert from 'node:assert/strict';
import { test } from 'node:test';
import { burstSpec, MemoryRateLimits } from './rate-limits.ts';
import { rateLimitsContract } from './rate-limits-contract.ts';

rateLimitsContract('MemoryRateLimits', async (n) => {
  const limits = new MemoryRateLimits();
  return Array.from({ length: n }, () => limits);
});

test('burstSpec turns a rate per minute and a burst into fixed windows with the same average', () => {
  assert.deepEqual(burstSpec('x', 30, 10), { name: 'x', points: 10, durationSeconds: 20 });
  assert.deepEqual(burstSpec('x', 600, 1), { name: 'x', points: 1, durationSeconds: 1 });
  // A lifted limit (tests and the bench set a huge burst) stays within what timers can wait.
  assert.equal(burstSpec('x', 1, 1_000_000).durationSeconds, 86_400);
});

test('a bad spec is refused with a message naming it', () => {
  assert.throws(() => new MemoryRateLimits().limiter({ name: 'Bad Name', points: 1, durationSeconds: 1 }), /limit name/);
  assert.throws(() => new MemoryRateLimits().limiter({ name: 'ok', points: 0, durationSeconds: 1 }), /points/);
});
