import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import pino from 'pino';
import { openBackends, randomNodeId } from './backends.ts';
import { MemoryBroker } from './broker/memory-broker.ts';
import { RedisBroker } from './broker/redis-broker.ts';
import { loadConfig } from './config.ts';
import { openDatabase } from './db/database.ts';
import { LocalNodeDirectory } from './directory/local-node-directory.ts';
import { RedisNodeDirectory } from './directory/redis-node-directory.ts';
import { RedisSharedSecrets } from './directory/redis-shared-secrets.ts';
import { LocalSharedSecrets } from './directory/shared-secrets.ts';
import { MemoryPresenceStore } from './presence/memory-presence-store.ts';
import { RedisPresenceStore } from './presence/redis-presence-store.ts';
import { useTestRedis } from './test-support/test-redis.ts';

const redisUrl = useTestRedis();
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'plexus-backends-'));

after(async () => {
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const log = pino({ level: 'silent' });

test('with REDIS_URL every backend is the Redis one and each is handed the one node id', async () => {
  const nodeId = randomNodeId();
  const config = loadConfig({ DATA_DIR: dataDir, REDIS_URL: redisUrl(), LOG_LEVEL: 'silent' });
  const b = await openBackends(config, { nodeId, database: await openDatabase({ pgliteDir: null }) }, log);
  try {
    assert.ok(b.broker instanceof RedisBroker && b.presence instanceof RedisPresenceStore && b.directory instanceof RedisNodeDirectory && b.secrets instanceof RedisSharedSecrets);
    assert.deepEqual([b.nodeId, b.broker.nodeId, b.presence.nodeId, b.directory.nodeId], [nodeId, nodeId, nodeId, nodeId]);
  } finally {
    await b.close();
  }
});

test('without REDIS_URL every backend is in process, and the directory still lists this node under the node id', async () => {
  const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent' });
  const b = await openBackends(config, { database: await openDatabase({ pgliteDir: null }) }, log);
  try {
    assert.ok(b.broker instanceof MemoryBroker && b.presence instanceof MemoryPresenceStore && b.directory instanceof LocalNodeDirectory && b.secrets instanceof LocalSharedSecrets);
    assert.match(b.nodeId, /^[0-9a-f]{32}$/);
    assert.equal(b.directory.nodeId, b.nodeId);
  } finally {
    await b.close();
  }
});
