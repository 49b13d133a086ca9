/**
 * A node whose Redis goes away keeps serving its local rooms, says so on
 * /health ("degraded"), and reports "ok" again by itself once Redis is back.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startRedis, type RedisServer } from '../../ops/dev/redis.ts';
import { waitUntil } from '../test-support/phoenix-client.ts';
import { RawClient } from '../test-support/raw-client.ts';
import { createRoom, startTestServer, type TestServer } from '../test-support/test-server.ts';

let redis: RedisServer;
let node: TestServer;
const clients: RawClient[] = [];

before(async () => {
  // A Redis of its own: this test stops it.
  redis = await startRedis();
  node = await startTestServer({ env: { REDIS_URL: redis.url } });
});
after(async () => {
  for (const c of clients) c.close();
  await node?.stop();
  await redis?.stop();
});

async function health(): Promise<{ status: string; broker: { connected: boolean } }> {
  return (await (await fetch(`${node.url}/health`)).json()) as { status: string; broker: { connected: boolean } };
}

async function healthIs(status: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    last = (await health()).status;
    if (last === status) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`/health stayed "${last}", expected "${status}" within ${timeoutMs} ms`);
}

test('while Redis is down the node serves its local room and reports degraded; it recovers by itself', async () => {
  await healthIs('ok', 5000);
  const topic = `hub:${(await createRoom(node.url)).hubSid}`;
  const [a, b] = [await RawClient.connect(node.url), await RawClient.connect(node.url)];
  clients.push(a, b);
  const jrA = (await a.join(topic, { profile: {}, context: {} }))[0]!;
  await b.join(topic, { profile: {}, context: {} });

  await redis.halt();
  await healthIs('degraded', 10_000);
  assert.equal((await health()).broker.connected, false);
  a.push(jrA, topic, 'message', { type: 'chat', body: 'during the outage' });
  await b.waitFor((f) => f[3] === 'message' && f[4].body === 'during the outage');

  await redis.start();
  await healthIs('ok', 5000);
  a.push(jrA, topic, 'message', { type: 'chat', body: 'after the outage' });
  await b.waitFor((f) => f[3] === 'message' && f[4].body === 'after the outage');
  await waitUntil(() => node.server.connectionCount() === 2, 1000, 'both sockets still open');
});
