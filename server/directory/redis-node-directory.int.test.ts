import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { directoryContract } from './directory-contract.ts';
import { RedisNodeDirectory } from './redis-node-directory.ts';
import { useTestRedis } from '../test-support/test-redis.ts';

const redisUrl = useTestRedis();


const hex = () => randomBytes(16).toString('hex');
/** A key prefix of its own, so tests never see each other's entries. */
const freshPrefix = () => `plexus:test:${randomBytes(4).toString('hex')}:`;

directoryContract(
  'RedisNodeDirectory',
  async (n) => {
    const keyPrefix = freshPrefix();
    const nodes = Array.from({ length: n }, () => new RedisNodeDirectory({ url: redisUrl(), nodeId: hex(), keyPrefix }));
    return {
      nodes,
      dispose: async () => {
        for (const d of nodes) await d.close();
      },
    };
  },
  3,
);

test('RedisNodeDirectory skips malformed entries and forgets ids whose entry expired', async () => {
  const keyPrefix = freshPrefix();
  const dir = new RedisNodeDirectory({ url: redisUrl(), nodeId: hex(), keyPrefix });
  const raw = new Redis(redisUrl());
  const [bad, gone] = [hex(), hex()];
  try {
    await raw.multi().set(`${keyPrefix}dir:node:${bad}`, '{"id":1}').sadd(`${keyPrefix}dir:nodes`, bad, gone).exec();
    dir.start(() => ({ phx_host: 'h', phx_port: '1', connections: 0, draining: false }));
    assert.deepEqual((await dir.nodes()).map((n) => n.id), [dir.nodeId]);
    assert.deepEqual((await raw.smembers(`${keyPrefix}dir:nodes`)).sort(), [bad, dir.nodeId].sort());
  } finally {
    await dir.close();
    await raw.del(`${keyPrefix}dir:node:${bad}`, `${keyPrefix}dir:nodes`);
    raw.disconnect();
  }
});
