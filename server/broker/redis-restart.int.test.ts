/**
 * Redis restarted under load: two nodes share a room while clients on node 1
 * stream `nafr` updates to clients on node 2 through Redis. Redis is stopped
 * and started again (it keeps no data, as a Redis without persistence). No
 * node crashes, no client is dropped, cross-node delivery resumes within 5 s
 * of Redis answering again, and cluster presence is whole again (each node
 * writes its own entries back).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RedisServer } from '../../ops/dev/redis.ts';
import { startClusterServices, type ClusterServices } from '../test-support/cluster-services.ts';
import { waitUntil } from '../test-support/phoenix-client.ts';
import { presenceView, RawClient, type Frame } from '../test-support/raw-client.ts';
import { createRoom, startTestServer, type TestServer } from '../test-support/test-server.ts';
import type { RedisBroker } from './redis-broker.ts';

let services: ClusterServices;
let redis: RedisServer;
let node1: TestServer;
let node2: TestServer;
const clients: RawClient[] = [];

before(async () => {
  // A Redis of its own: this test restarts it.
  services = await startClusterServices({ ownRedis: true });
  redis = services.redis!;
  node1 = await startTestServer({ databaseUrl: services.databaseUrl, env: { REDIS_URL: redis.url } });
  node2 = await startTestServer({ databaseUrl: services.databaseUrl, env: { REDIS_URL: redis.url } });
});

after(async () => {
  for (const c of clients) c.close();
  await node1?.stop();
  await node2?.stop();
  await services?.stop();
});

const SENDERS = 6;
const RECEIVERS = 4;
const HZ = 50;

async function member(node: TestServer, topic: string, name: string): Promise<{ c: RawClient; jr: string; sessionId: string }> {
  const c = await RawClient.connect(node.url);
  clients.push(c);
  const f = await c.join(topic, { profile: { displayName: name }, context: {} });
  assert.equal(f[4].status, 'ok', JSON.stringify(f));
  await c.waitFor((x) => x[3] === 'presence_state');
  return { c, jr: f[0]!, sessionId: f[4].response.session_id };
}

/** Send time (ms since epoch) carried in a nafr's naf string, or null. */
function sentAt(f: Frame): number | null {
  if (f[3] !== 'nafr' || typeof f[4]?.naf !== 'string') return null;
  const m = /"t":(\d+)/.exec(f[4].naf);
  return m ? Number(m[1]) : null;
}

test('Redis restarted under load: no node crashes, no client is dropped, cross-node delivery resumes within 5 s', async () => {
  const topic = `hub:${(await createRoom(node1.url, 'Redis restart')).hubSid}`;
  const senders: Array<Awaited<ReturnType<typeof member>>> = [];
  for (let i = 0; i < SENDERS; i++) senders.push(await member(node1, topic, `sender ${i}`));
  const receivers: Array<Awaited<ReturnType<typeof member>>> = [];
  for (let i = 0; i < RECEIVERS; i++) receivers.push(await member(node2, topic, `receiver ${i}`));
  await (node1.server.broker as RedisBroker).synced();
  await (node2.server.broker as RedisBroker).synced();

  let seq = 0;
  const timer = setInterval(() => {
    for (const s of senders) {
      const naf = JSON.stringify({ dataType: 'u', data: { networkId: `n-${s.sessionId}`, owner: s.sessionId, lastOwnerTime: 1, components: { 0: { seq: seq++ } } }, t: Date.now() });
      s.c.push(s.jr, topic, 'nafr', { naf });
    }
  }, 1000 / HZ);
  try {
    // Traffic flows across nodes before the restart.
    const start = Date.now();
    await receivers[0]!.c.waitFor((f) => (sentAt(f) ?? 0) > start, 5000, receivers[0]!.c.frames.length);

    await redis.halt();
    await new Promise((r) => setTimeout(r, 1000));
    await redis.start();
    const up = Date.now();
    // Delivery resumes: every receiver on node 2 gets a nafr sent on node 1 after Redis came back.
    const marks = receivers.map((r) => r.c.frames.length);
    for (const [i, r] of receivers.entries()) await r.c.waitFor((f) => (sentAt(f) ?? 0) > up, Math.max(1, up + 5000 - Date.now()), marks[i]);
    const resumedMs = Date.now() - up;
    assert.ok(resumedMs < 5000, `cross-node delivery resumed ${resumedMs} ms after Redis came back`);
    process.stdout.write(`# cross-node delivery resumed ${resumedMs} ms after Redis answered again\n`);
  } finally {
    clearInterval(timer);
  }

  // Nobody was dropped and both nodes report healthy again.
  await waitUntil(() => node1.server.connectionCount() === SENDERS && node2.server.connectionCount() === RECEIVERS, 2000, 'every socket still open');
  for (const c of clients) assert.equal(c.closeCode, null, 'no socket was closed');
  for (const node of [node1, node2]) {
    const deadline = Date.now() + 5000;
    let status = '';
    while (Date.now() < deadline && status !== 'ok') {
      status = ((await (await fetch(`${node.url}/health`)).json()) as { status: string }).status;
      if (status !== 'ok') await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status, 'ok');
  }

  // The restarted Redis kept nothing, yet presence is whole again within 5 s: each node wrote its own members back.
  const everyone = [...senders, ...receivers].map((m) => m.sessionId);
  const deadline = Date.now() + 5000;
  for (;;) {
    const late = await member(node2, topic, 'late joiner');
    const listed = Object.keys(late.c.frames.find((f) => f[3] === 'presence_state')![4]);
    late.c.close();
    if (everyone.every((id) => listed.includes(id))) break;
    assert.ok(Date.now() < deadline, `presence after the restart lists ${listed.length} of ${everyone.length + 1} members`);
    await new Promise((r) => setTimeout(r, 250));
  }
  // And the directory lists both nodes again.
  const meta = (await (await fetch(`${node2.url}/api/v1/meta`)).json()) as { nodes: Array<{ phx_port: string }> };
  for (const node of [node1, node2]) assert.ok(meta.nodes.some((n) => n.phx_port === String(node.server.port)));
});

test('members who join or leave while Redis is away are seen by the other node once it is back; joins work during the outage', async () => {
  const topic = `hub:${(await createRoom(node1.url, 'Outage presence')).hubSid}`;
  const x = await member(node1, topic, 'X on node 1');
  const y = await member(node2, topic, 'Y on node 2');
  const z = await member(node2, topic, 'Z on node 2, leaves during the outage');
  const keys = (c: RawClient) => [...presenceView(c.frames).keys()].sort();
  await waitUntil(() => keys(x.c).length === 3 && keys(y.c).length === 3, 5000, 'everyone sees everyone');

  await redis.halt();
  await waitUntil(() => !node1.server.broker.status().connected && !node2.server.broker.status().connected, 10_000, 'both nodes notice the outage');
  // A join on node 1 works while Redis is away; its presence_state lists node 1's members.
  const j = await member(node1, topic, 'J joins node 1 during the outage');
  assert.deepEqual(keys(j.c), [x.sessionId, j.sessionId].sort());
  z.c.close();
  await y.c.waitFor((f) => f[3] === 'presence_diff' && !!f[4].leaves[z.sessionId], 5000);

  await redis.start();
  const up = Date.now();
  // Within a few seconds every client, on either node, sees the same three people: X, Y and J.
  const expected = [x.sessionId, y.sessionId, j.sessionId].sort();
  for (const c of [x.c, y.c, j.c]) await waitUntil(() => JSON.stringify(keys(c)) === JSON.stringify(expected), 10_000, 'presence repaired after the outage');
  process.stdout.write(`# presence repaired on every client ${Date.now() - up} ms after Redis returned\n`);
  // And the new member's messages cross nodes again.
  j.c.push(j.jr, topic, 'message', { type: 'chat', body: 'joined during the outage' });
  await y.c.waitFor((f) => f[3] === 'message' && f[4].body === 'joined during the outage', 5000);
});
