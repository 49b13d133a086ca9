/**
 * Two Plexus nodes in one process, one PostgreSQL database, fanning out
 * through Redis (REDIS_URL): room messages sent on one node reach a client
 * of the same room on the other, and presence (RedisPresenceStore) is
 * cluster-wide.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createTestDatabase, startPostgres, type PostgresServer } from '../../ops/dev/postgres.ts';
import { startRedis, type RedisServer } from '../../ops/dev/redis.ts';
import { RawClient, type Frame } from '../test-support/raw-client.ts';
import { createRoom, startTestServer, type TestServer } from '../test-support/test-server.ts';
import { RedisBroker } from './redis-broker.ts';

let pgServer: PostgresServer | null = null;
let redisServer: RedisServer | null = null;
let db: { url: string; drop(): Promise<void> };
let node1: TestServer;
let node2: TestServer;
const clients: RawClient[] = [];

before(async () => {
  let pgUrl = process.env.TEST_DATABASE_URL;
  if (!pgUrl) {
    pgServer = await startPostgres();
    pgUrl = pgServer.url;
  }
  let redisUrl = process.env.TEST_REDIS_URL;
  if (!redisUrl) {
    redisServer = await startRedis();
    redisUrl = redisServer.url;
  }
  db = await createTestDatabase(pgUrl);
  // The first node migrates the database; the second starts on the migrated one.
  node1 = await startTestServer({ databaseUrl: db.url, env: { REDIS_URL: redisUrl } });
  node2 = await startTestServer({ databaseUrl: db.url, env: { REDIS_URL: redisUrl } });
});

after(async () => {
  for (const c of clients) c.close();
  await node1?.stop();
  await node2?.stop();
  await db?.drop();
  await redisServer?.stop();
  await pgServer?.stop();
});

const isEvent = (event: string) => (f: Frame) => f[3] === event;

async function member(baseUrl: string, topic: string, name: string): Promise<{ c: RawClient; jr: string; sessionId: string }> {
  const c = await RawClient.connect(baseUrl);
  clients.push(c);
  const f = await c.join(topic, { profile: { displayName: name }, context: { mobile: false } });
  assert.equal(f[4].status, 'ok', JSON.stringify(f));
  await c.waitFor(isEvent('presence_state'));
  return { c, jr: f[0]!, sessionId: f[4].response.session_id };
}

test('with REDIS_URL set, each node uses a RedisBroker with a different node id', () => {
  assert.ok(node1.server.broker instanceof RedisBroker);
  assert.ok(node2.server.broker instanceof RedisBroker);
  assert.notEqual(node1.server.broker.nodeId, node2.server.broker.nodeId);
});

test('a nafr and a chat message sent on node 1 reach a client of the same room on node 2', async () => {
  const topic = `hub:${(await createRoom(node1.url, 'Two nodes')).hubSid}`;
  const a = await member(node1.url, topic, 'A on node 1');
  const b = await member(node2.url, topic, 'B on node 2');
  // Each node's Redis SUBSCRIBE for the room goes out on its first member's join; wait for Redis to acknowledge them.
  await (node1.server.broker as RedisBroker).synced();
  await (node2.server.broker as RedisBroker).synced();

  const naf = '{"dataType":"um","data":{"d":[{"networkId":"n1","owner":"o","lastOwnerTime":3,"components":{"0":{"x":1.5}}}]}}';
  a.c.push(a.jr, topic, 'nafr', { naf });
  const f = await b.c.waitFor(isEvent('nafr'));
  assert.deepEqual(f[4], { naf, from_session_id: a.sessionId });

  a.c.push(a.jr, topic, 'message', { type: 'chat', body: 'hello across nodes' });
  const m = await b.c.waitFor(isEvent('message'));
  assert.deepEqual(m[4], { type: 'chat', body: 'hello across nodes', session_id: a.sessionId });
  // The sender gets its chat message once, locally, not a second time back through Redis.
  await a.c.waitFor(isEvent('message'));
  b.c.push(b.jr, topic, 'message', { type: 'chat', body: 'reply from node 2' });
  await a.c.waitFor((x) => x[3] === 'message' && x[4].body === 'reply from node 2');
  assert.equal(a.c.frames.filter((x) => x[3] === 'message' && x[4].body === 'hello across nodes').length, 1);
  assert.equal(b.c.frames.filter((x) => x[3] === 'nafr').length, 1);
});

test('presence is cluster-wide: presence_state on node 2 lists the member on node 1, and joins and leaves cross nodes', async () => {
  const topic = `hub:${(await createRoom(node1.url, 'Presence across nodes')).hubSid}`;
  const a = await member(node1.url, topic, 'A on node 1');
  await (node1.server.broker as RedisBroker).synced();
  const b = await member(node2.url, topic, 'B on node 2');
  const state = b.c.frames.find(isEvent('presence_state'))![4];
  assert.deepEqual(Object.keys(state).sort(), [a.sessionId, b.sessionId].sort());
  assert.equal(state[a.sessionId].metas[0].profile.displayName, 'A on node 1');
  await a.c.waitFor((f) => f[3] === 'presence_diff' && !!f[4].joins[b.sessionId]);
  await (node2.server.broker as RedisBroker).synced();
  b.c.push(b.jr, topic, 'events:entered', { entryDisplayType: 'Screen' });
  await a.c.waitFor((f) => f[3] === 'presence_diff' && f[4].joins[b.sessionId]?.metas[0].presence === 'room');
  b.c.close();
  await a.c.waitFor((f) => f[3] === 'presence_diff' && !!f[4].leaves[b.sessionId] && !f[4].joins[b.sessionId]);
});
