/**
 * Losing a node: two real node processes share Redis and PostgreSQL; node 1
 * is killed with SIGKILL (no cleanup at all). Its members leave everyone's
 * presence within 15 s, and its clients, doing what the web client does
 * (ask `/api/v1/meta` of the nodes they know, reconnect with their
 * `session_token`), rejoin through node 2 with the same `session_id`.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startServer, type RunningServer } from '../../e2e/harness.ts';
import { startClusterServices, type ClusterServices } from '../test-support/cluster-services.ts';
import { presenceView, RawClient } from '../test-support/raw-client.ts';
import { createRoom } from '../test-support/test-server.ts';

let services: ClusterServices;
let node1: RunningServer;
let node2: RunningServer;
const clients: RawClient[] = [];

interface Meta {
  phx_host: string;
  phx_port: string;
  nodes: Array<{ phx_host: string; phx_port: string }>;
}

before(async () => {
  services = await startClusterServices();
  const env = { REDIS_URL: services.redisUrl, DATABASE_URL: services.databaseUrl, SHUTDOWN_GRACE_SECONDS: '0' };
  // One after the other: the first migrates the database.
  node1 = await startServer({ env });
  node2 = await startServer({ env });
});

after(async () => {
  for (const c of clients) c.close();
  await node1?.stop(2000);
  await node2?.stop(2000);
  await services?.stop();
});

async function member(baseUrl: string, topic: string, name: string, query = ''): Promise<{ c: RawClient; jr: string; sessionId: string; sessionToken: string; phxRef: () => string }> {
  const c = await RawClient.connect(baseUrl, query);
  clients.push(c);
  const f = await c.join(topic, { profile: { displayName: name }, context: {} });
  assert.equal(f[4].status, 'ok', JSON.stringify(f));
  const jr = f[0]!;
  const sessionId = f[4].response.session_id as string;
  await c.waitFor((x) => x[3] === 'presence_state');
  c.push(jr, topic, 'events:entered', { entryDisplayType: 'Screen' });
  // Our own meta in the room, from the diff we receive about ourselves.
  const entered = await c.waitFor((x) => x[3] === 'presence_diff' && x[4].joins[sessionId]?.metas.some((m: { presence: string }) => m.presence === 'room'));
  const ref = entered[4].joins[sessionId].metas[0].phx_ref as string;
  return { c, jr, sessionId, sessionToken: f[4].response.session_token, phxRef: () => ref };
}

/** `/api/v1/meta` of the first node in `urls` that answers, as the web client asks after a socket error. */
async function askMeta(urls: string[]): Promise<{ from: string; meta: Meta }> {
  for (const url of urls) {
    try {
      const res = await fetch(`${url}/api/v1/meta`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return { from: url, meta: (await res.json()) as Meta };
    } catch {
      // a dead node: try the next one
    }
  }
  throw new Error(`no node answered /api/v1/meta: ${urls.join(', ')}`);
}

test('kill -9 of a node: its members leave presence within 15 s, and its client rejoins through the other node with the same session_id', async () => {
  const topic = `hub:${(await createRoom(node1.url, 'Losing a node')).hubSid}`;
  const b = await member(node2.url, topic, 'B on node 2');
  const a = await member(node1.url, topic, 'A on node 1');
  const c = await member(node1.url, topic, 'C on node 1, does not come back');
  await b.c.waitFor(() => presenceView(b.c.frames).has(a.sessionId) && presenceView(b.c.frames).has(c.sessionId), 5000);

  // The client learns the cluster's nodes from meta before anything goes wrong.
  const known = (await askMeta([node1.url])).meta.nodes.map((n) => `http://${n.phx_host}:${n.phx_port}`);
  assert.ok(known.includes(node2.url), `node 2 is in ${JSON.stringify(known)}`);

  const killedAt = Date.now();
  node1.kill('SIGKILL');
  await node1.exited;
  await a.c.waitFor(() => a.c.closeCode !== null, 5000);

  // A: the page's node (node 1) is gone, so ask the other known nodes; the answer names node 2.
  const { from, meta } = await askMeta([node1.url, ...known.filter((u) => u !== node1.url)]);
  assert.equal(from, node2.url);
  const target = `http://${meta.phx_host}:${meta.phx_port}`;
  assert.equal(target, node2.url, 'meta names the surviving node');
  const a2 = await member(target, topic, 'A on node 1', `&session_token=${encodeURIComponent(a.sessionToken)}`);
  assert.equal(a2.sessionId, a.sessionId, 'same session_id on the other node');

  // Node 1's metas leave B's presence (reaped by node 2) within 15 s of the kill.
  await b.c.waitFor(() => {
    const view = presenceView(b.c.frames);
    return !view.has(c.sessionId) && !(view.get(a.sessionId) ?? []).includes(a.phxRef());
  }, 20_000);
  const leftAfterMs = Date.now() - killedAt;
  process.stdout.write(`# node 1's members left presence ${leftAfterMs} ms after kill -9\n`);
  assert.ok(leftAfterMs <= 15_000, `members of the killed node left presence after ${leftAfterMs} ms (limit 15 000)`);

  // B sees A once: the meta from node 2 only.
  const view = presenceView(b.c.frames);
  assert.deepEqual(view.get(a.sessionId), [a2.phxRef()]);
  assert.deepEqual([...view.keys()].sort(), [a.sessionId, b.sessionId].sort());
  // A's own view after rejoining agrees.
  await a2.c.waitFor(() => !presenceView(a2.c.frames).has(c.sessionId), 5000);
  assert.deepEqual([...presenceView(a2.c.frames).keys()].sort(), [a.sessionId, b.sessionId].sort());

  // The room goes on through node 2.
  a2.c.push(a2.jr, topic, 'message', { type: 'chat', body: 'back through node 2' });
  const got = await b.c.waitFor((f) => f[3] === 'message' && f[4].body === 'back through node 2', 5000);
  assert.equal(got[4].session_id, a.sessionId);

  // The directory no longer names the dead node.
  const after = (await askMeta([node2.url])).meta;
  assert.ok(!after.nodes.some((n) => `http://${n.phx_host}:${n.phx_port}` === node1.url), `node 1 is gone from ${JSON.stringify(after.nodes)}`);
});
