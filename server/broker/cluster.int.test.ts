/**
 * Three Plexus nodes in one process, one PostgreSQL database, fanning out
 * through Redis (REDIS_URL): room messages sent on one node reach clients
 * of the same room on the others, each node subscribes once per topic,
 * presence (RedisPresenceStore) is cluster-wide, the node directory answers
 * `/api/v1/meta`, and a session resumes on another node.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { startClusterServices, type ClusterServices } from '../test-support/cluster-services.ts';
import { presenceView, RawClient, type Frame } from '../test-support/raw-client.ts';
import { createRoom, startTestServer, type TestServer } from '../test-support/test-server.ts';
import { RedisBroker } from './redis-broker.ts';

let services: ClusterServices;
let node1: TestServer;
let node2: TestServer;
let node3: TestServer;
let redisUrl: string;
const clients: RawClient[] = [];

before(async () => {
  services = await startClusterServices();
  redisUrl = services.redisUrl;
  // The first node migrates the database; the others start on the migrated one.
  node1 = await startTestServer({ databaseUrl: services.databaseUrl, env: { REDIS_URL: redisUrl } });
  node2 = await startTestServer({ databaseUrl: services.databaseUrl, env: { REDIS_URL: redisUrl } });
  node3 = await startTestServer({ databaseUrl: services.databaseUrl, env: { REDIS_URL: redisUrl } });
});

after(async () => {
  for (const c of clients) c.close();
  await node1?.stop();
  await node2?.stop();
  await node3?.stop();
  await services?.stop();
});

const isEvent = (event: string) => (f: Frame) => f[3] === event;

async function member(baseUrl: string, topic: string, name: string, query = ''): Promise<{ c: RawClient; jr: string; sessionId: string; sessionToken: string }> {
  const c = await RawClient.connect(baseUrl, query);
  clients.push(c);
  const f = await c.join(topic, { profile: { displayName: name }, context: { mobile: false } });
  assert.equal(f[4].status, 'ok', JSON.stringify(f));
  await c.waitFor(isEvent('presence_state'));
  return { c, jr: f[0]!, sessionId: f[4].response.session_id, sessionToken: f[4].response.session_token };
}

async function synced(...nodes: TestServer[]): Promise<void> {
  for (const n of nodes) await (n.server.broker as RedisBroker).synced();
}

async function meta(node: TestServer): Promise<{ res: Response; body: { phx_host: string; phx_port: string; nodes: Array<{ phx_host: string; phx_port: string }> } }> {
  const res = await fetch(`${node.url}/api/v1/meta`);
  return { res, body: (await res.json()) as never };
}

const portOf = (n: TestServer) => String(n.server.port);

test('with REDIS_URL set, each node uses a RedisBroker with a different node id', () => {
  assert.ok(node1.server.broker instanceof RedisBroker);
  assert.ok(node2.server.broker instanceof RedisBroker);
  assert.ok(node3.server.broker instanceof RedisBroker);
  assert.equal(new Set([node1, node2, node3].map((n) => n.server.broker.nodeId)).size, 3);
});

test('three nodes in one room: messages and presence cross every node, and each node subscribes to the room once (PUBSUB NUMSUB)', async () => {
  const topic = `hub:${(await createRoom(node1.url, 'Three nodes')).hubSid}`;
  const admin = new Redis(redisUrl);
  try {
    const numsub = async () => Number(((await admin.call('PUBSUB', 'NUMSUB', `plexus:t:${topic}`)) as [string, number])[1]);
    const members = [];
    for (const node of [node1, node2, node3]) {
      for (const name of ['first', 'second']) {
        members.push(await member(node.url, topic, `${name} on :${node.server.port}`));
        await synced(node1, node2, node3);
      }
    }
    // Six members, two per node, and three subscriptions: one per node.
    assert.equal(await numsub(), 3);
    // The last member to join saw everyone in presence_state, whichever node they are on.
    const last = members[5]!;
    const state = last.c.frames.find(isEvent('presence_state'))![4];
    assert.deepEqual(Object.keys(state).sort(), members.map((m) => m.sessionId).sort());

    // A message from node 3 reaches every member on every node exactly once.
    last.c.push(last.jr, topic, 'message', { type: 'chat', body: 'from node 3' });
    for (const m of members) await m.c.waitFor((f) => f[3] === 'message' && f[4].body === 'from node 3');
    const nafr = '{"dataType":"u","data":{"networkId":"three","owner":"o","lastOwnerTime":1,"components":{}}}';
    members[0]!.c.push(members[0]!.jr, topic, 'nafr', { naf: nafr });
    for (const m of members.slice(1)) await m.c.waitFor((f) => f[3] === 'nafr' && f[4].naf === nafr);
    await new Promise((r) => setTimeout(r, 100));
    for (const m of members) assert.equal(m.c.frames.filter((f) => f[3] === 'message' && f[4].body === 'from node 3').length, 1);
    assert.equal(members[0]!.c.frames.filter((f) => f[3] === 'nafr').length, 0, 'the sender does not get its own nafr');

    // Node 3's members leave: everyone else sees both leaves, and node 3 unsubscribes from the room.
    members[4]!.c.close();
    members[5]!.c.close();
    for (const gone of [members[4]!, members[5]!]) {
      await members[0]!.c.waitFor((f) => f[3] === 'presence_diff' && !!f[4].leaves[gone.sessionId]);
      await members[2]!.c.waitFor((f) => f[3] === 'presence_diff' && !!f[4].leaves[gone.sessionId]);
    }
    const deadline = Date.now() + 5000;
    while ((await numsub()) !== 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await numsub(), 2);
  } finally {
    admin.disconnect();
  }
});

test('/api/v1/meta lists every live node, names the node asked, and allows any origin', async () => {
  const expected = [node1, node2, node3].map((n) => ({ phx_host: '127.0.0.1', phx_port: portOf(n) }));
  for (const node of [node1, node2, node3]) {
    const { res, body } = await meta(node);
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    // The node asked is alive and serving, so it names itself.
    assert.deepEqual([body.phx_host, body.phx_port], ['127.0.0.1', portOf(node)]);
    // Other test files may run nodes on the same Redis; ours must all be there.
    for (const e of expected) assert.ok(body.nodes.some((n) => n.phx_host === e.phx_host && n.phx_port === e.phx_port), `${JSON.stringify(e)} in ${JSON.stringify(body.nodes)}`);
  }
});

test('a session resumes on another node: reconnecting to node 2 with the session_token from node 1 keeps the session_id', async () => {
  const topic = `hub:${(await createRoom(node1.url, 'Resume elsewhere')).hubSid}`;
  const watcher = await member(node3.url, topic, 'Watcher on node 3');
  await synced(node3);
  const a = await member(node1.url, topic, 'A');
  assert.ok(a.sessionToken, 'the join reply carries a session_token');
  await watcher.c.waitFor((f) => f[3] === 'presence_diff' && !!f[4].joins[a.sessionId]);
  a.c.close();
  await watcher.c.waitFor((f) => f[3] === 'presence_diff' && !!f[4].leaves[a.sessionId]);

  const again = await member(node2.url, topic, 'A', `&session_token=${encodeURIComponent(a.sessionToken)}`);
  assert.equal(again.sessionId, a.sessionId);
  const joinsOfA = () => watcher.c.frames.filter((f) => f[3] === 'presence_diff' && !!f[4].joins[a.sessionId]).length;
  await watcher.c.waitFor(() => joinsOfA() === 2);
  const diffsAboutA = watcher.c.frames.filter((f) => f[3] === 'presence_diff' && (f[4].joins[a.sessionId] || f[4].leaves[a.sessionId]));
  assert.equal(diffsAboutA.length, 3, 'join on node 1, leave, join on node 2: one diff each');
  // The watcher's view has exactly one entry for A.
  assert.equal(presenceView(watcher.c.frames).get(a.sessionId)?.length, 1);

  // A token that does not verify gets a fresh session_id, not an error.
  const stranger = await member(node2.url, topic, 'Forger', '&session_token=not-a-token');
  assert.notEqual(stranger.sessionId, a.sessionId);
});

test('a draining node is not handed out by /api/v1/meta, answers meta itself, refuses new sockets; a node that has shut down is not listed', async () => {
  const extra = await startTestServer({ databaseUrl: services.databaseUrl, env: { REDIS_URL: redisUrl, SHUTDOWN_GRACE_SECONDS: '3' } });
  const port = portOf(extra);
  assert.ok((await meta(node1)).body.nodes.some((n) => n.phx_port === port));
  // A client on `ret` keeps the node draining (it waits for the client to move) for up to 3 s.
  const c = await RawClient.connect(extra.url);
  clients.push(c);
  assert.equal((await c.join('ret', { hub_id: 'none' }))[4].status, 'ok');
  const stopping = extra.stop();
  await c.waitFor((f) => f[3] === 'notice' && f[4].event === 'ret-deploy');
  const fromOther = (await meta(node1)).body;
  assert.ok(!fromOther.nodes.some((n) => n.phx_port === port), 'a draining node is not listed');
  assert.notEqual(fromOther.phx_port, port);
  // The draining node still answers meta, naming another node, so its clients learn where to go...
  const fromDraining = (await meta(extra)).body;
  assert.notEqual(fromDraining.phx_port, port);
  assert.ok(fromDraining.nodes.length > 0 && !fromDraining.nodes.some((n) => n.phx_port === port));
  // ...but it takes no new sockets.
  await assert.rejects(RawClient.connect(extra.url), /503/);
  await stopping;
  assert.ok(!(await meta(node1)).body.nodes.some((n) => n.phx_port === port), 'a closed node is not listed');
});
