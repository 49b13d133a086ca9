import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { RedisSharedSecrets } from './redis-shared-secrets.ts';
import { LocalSharedSecrets } from './shared-secrets.ts';
import { useTestRedis } from '../test-support/test-redis.ts';

const redisUrl = useTestRedis();


/** Waits until `pred()` resolves true, asking Redis every 20 ms, failing after `timeoutMs`. */
async function eventually(pred: () => Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const hex = () => randomBytes(16).toString('hex');

test('every node agrees on the secret the first one proposed, under the key plexus:<name> by default', async () => {
  const keyPrefix = `plexus:test:${randomBytes(4).toString('hex')}:`;
  const [a, b] = [new RedisSharedSecrets({ url: redisUrl(), nodeId: hex(), keyPrefix }), new RedisSharedSecrets({ url: redisUrl(), nodeId: hex(), keyPrefix })];
  const raw = new Redis(redisUrl());
  try {
    assert.equal(await a.agree('session-secret', 'first'), 'first');
    assert.equal(await b.agree('session-secret', 'second'), 'first');
    assert.equal(await raw.get(`${keyPrefix}session-secret`), 'first');
    await assert.rejects(a.agree('Bad Name', 'x'), RangeError);
  } finally {
    await a.close();
    await b.close();
    await raw.del(`${keyPrefix}session-secret`);
    raw.disconnect();
  }
});

test('a node stores its agreed secret again when Redis lost it, so a node started later still agrees with it', async () => {
  const keyPrefix = `plexus:test:${randomBytes(4).toString('hex')}:`;
  const a = new RedisSharedSecrets({ url: redisUrl(), nodeId: hex(), keyPrefix, refreshMs: 50 });
  const raw = new Redis(redisUrl());
  try {
    assert.equal(await a.agree('session-secret', 'kept'), 'kept');
    const key = `${keyPrefix}session-secret`;
    await raw.del(key);
    await eventually(async () => (await raw.get(key)) === 'kept', 'the secret stored again');
    const late = new RedisSharedSecrets({ url: redisUrl(), nodeId: hex(), keyPrefix });
    assert.equal(await late.agree('session-secret', 'other'), 'kept');
    await late.close();
  } finally {
    await a.close();
    await raw.del(`${keyPrefix}session-secret`);
    raw.disconnect();
  }
});

test('LocalSharedSecrets agrees with its own candidate', async () => {
  const s = new LocalSharedSecrets();
  assert.equal(await s.agree('session-secret', 'mine'), 'mine');
  await s.close();
});
