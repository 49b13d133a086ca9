/** RedisRateLimits against a real Redis (TEST_REDIS_URL, else one started here): the shared contract, and the in-memory fallback while Redis is unreachable. */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { rateLimitsContract } from './rate-limits-contract.ts';
import { RedisRateLimits } from './redis-rate-limits.ts';
import { useTestRedis } from '../test-support/test-redis.ts';

const redisUrl = useTestRedis();

rateLimitsContract('RedisRateLimits', async (n) => {
  const nodes = Array.from({ length: n }, () => new RedisRateLimits({ url: redisUrl() }));
  await Promise.all(nodes.map((r) => r.ready(10_000)));
  return nodes;
});

test('while Redis is unreachable each limiter still counts, in memory', async () => {
  // A port nothing listens on: take a free one and close it again.
  const port = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const limits = new RedisRateLimits({ url: `redis://127.0.0.1:${port}` });
  try {
    const l = limits.limiter({ name: 'outage', points: 2, durationSeconds: 60 });
    assert.deepEqual([await l.take('k'), await l.take('k')], [0, 0]);
    assert.ok((await l.take('k')) >= 1);
  } finally {
    await limits.close();
  }
});
