/**
 * Hung dependencies: a PostgreSQL and a Redis of this test's own are frozen
 * with SIGSTOP (connections open, nothing answered). A join that needs the
 * frozen one gets an error reply `unavailable` within the timeout instead of
 * hanging; heartbeats on the same socket are answered meanwhile; /health
 * says so; and everything works again after SIGCONT.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startPostgres, type PostgresServer } from '../../ops/dev/postgres.ts';
import { startRedis, type RedisServer } from '../../ops/dev/redis.ts';
import { RawClient, joinRoom, type Frame } from '../test-support/raw-client.ts';
import { createRoom, startTestServer, type TestServer } from '../test-support/test-server.ts';

const DB_TIMEOUT_MS = 1500;
const REDIS_TIMEOUT_MS = 1000;
/** Waits allowed on top of a timeout (a loaded 2-core machine). */
const MARGIN_MS = 4000;

let pg: PostgresServer;
let redis: RedisServer;
let node: TestServer;
const clients: RawClient[] = [];

before(async () => {
  // Servers of its own: this test freezes them (never the shared ones).
  [pg, redis] = await Promise.all([startPostgres(), startRedis()]);
  node = await startTestServer({ databaseUrl: pg.url, env: { REDIS_URL: redis.url, DB_TIMEOUT_MS: String(DB_TIMEOUT_MS), REDIS_TIMEOUT_MS: String(REDIS_TIMEOUT_MS) } });
});

after(async () => {
  pg?.thaw();
  redis?.thaw();
  for (const c of clients) c.close();
  await node?.stop();
  await Promise.all([pg?.stop(), redis?.stop()]);
});

async function health(): Promise<{ code: number; body: { status: string; database_ok: boolean; broker: { connected: boolean } } }> {
  const res = await fetch(`${node.url}/health`);
  return { code: res.status, body: (await res.json()) as { status: string; database_ok: boolean; broker: { connected: boolean } } };
}

/** Polls /health (each answer is an event) until its status is `status`. */
async function healthIs(status: string, timeoutMs: number): Promise<{ code: number }> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const h = await health();
    if (h.body.status === status) return h;
    last = h.body.status;
  }
  throw new Error(`/health stayed "${last}", expected "${status}" within ${timeoutMs} ms`);
}

/** Sends a join and a heartbeat right behind it; returns both replies in arrival order. */
async function joinWithHeartbeat(c: RawClient, topic: string, waitMs: number): Promise<{ join: Frame; heartbeat: Frame; order: string[] }> {
  const joinRef = c.ref();
  c.push(joinRef, topic, 'phx_join', { profile: { displayName: 'x' }, context: {} }, joinRef);
  const hbRef = c.push(null, 'phoenix', 'heartbeat', {});
  const [join, heartbeat] = await Promise.all([c.reply(joinRef, waitMs), c.reply(hbRef, waitMs)]);
  const order = c.frames.filter((f) => f[3] === 'phx_reply' && (f[1] === joinRef || f[1] === hbRef)).map((f) => (f[1] === joinRef ? 'join' : 'heartbeat'));
  return { join, heartbeat, order };
}

test('with PostgreSQL frozen a join gets "unavailable" within the timeout, heartbeats are answered meanwhile, /health is 503; all recovers after SIGCONT', async () => {
  await healthIs('ok', 10_000);
  const topic = `hub:${(await createRoom(node.url)).hubSid}`;
  const a = await joinRoom(node.url, topic, {}, { track: clients });

  pg.freeze();
  try {
    const b = await RawClient.connect(node.url);
    clients.push(b);
    const { join, heartbeat, order } = await joinWithHeartbeat(b, topic, DB_TIMEOUT_MS + MARGIN_MS);
    assert.equal(join[4].status, 'error', JSON.stringify(join));
    assert.equal(join[4].response.reason, 'unavailable');
    assert.match(join[4].response.message, /database did not answer within 1500 ms/);
    assert.equal(heartbeat[4].status, 'ok');
    assert.deepEqual(order, ['heartbeat', 'join'], 'the heartbeat is answered while the join waits for the database');

    const h = await healthIs('unavailable', MARGIN_MS);
    assert.equal(h.code, 503);
    // REST too: creating a room answers 503 unavailable instead of hanging.
    const created = await fetch(`${node.url}/api/v1/hubs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ hub: { name: 'frozen' } }), signal: AbortSignal.timeout(DB_TIMEOUT_MS + MARGIN_MS) });
    assert.equal(created.status, 503);
    assert.equal(((await created.json()) as { error: { code: string } }).error.code, 'unavailable');
    // The member already in the room keeps chatting (no database needed).
    a.c.push(a.jr, topic, 'message', { type: 'chat', body: 'during the freeze' });
    await a.c.waitFor((f) => f[3] === 'message' && f[4].body === 'during the freeze');
  } finally {
    pg.thaw();
  }

  assert.equal((await healthIs('ok', DB_TIMEOUT_MS + MARGIN_MS)).code, 200);
  const c = await joinRoom(node.url, topic, {}, { track: clients });
  assert.ok(c.sessionId);
  assert.equal(a.c.closeCode, null);
});

test('with Redis frozen a join still succeeds within the timeout (presence local to the node), heartbeats are answered, /health is degraded; all recovers after SIGCONT', async () => {
  await healthIs('ok', 10_000);
  const topic = `hub:${(await createRoom(node.url)).hubSid}`;
  const a = await joinRoom(node.url, topic, {}, { track: clients });

  redis.freeze();
  let b: RawClient;
  try {
    b = await RawClient.connect(node.url);
    clients.push(b);
    const { join, heartbeat, order } = await joinWithHeartbeat(b, topic, REDIS_TIMEOUT_MS + MARGIN_MS);
    assert.equal(join[4].status, 'ok', JSON.stringify(join));
    assert.equal(heartbeat[4].status, 'ok');
    assert.deepEqual(order, ['heartbeat', 'join']);
    // presence_state comes without another wait on Redis: the store knows it does not answer.
    const state = await b.waitFor((f) => f[3] === 'presence_state', REDIS_TIMEOUT_MS + MARGIN_MS);
    assert.ok(Object.keys(state[4]).includes(a.sessionId));

    const h = await healthIs('degraded', REDIS_TIMEOUT_MS + MARGIN_MS);
    assert.equal(h.code, 200, 'a node without Redis still serves its rooms');
    // Local fan-out still works.
    a.c.push(a.jr, topic, 'message', { type: 'chat', body: 'redis frozen' });
    await b.waitFor((f) => f[3] === 'message' && f[4].body === 'redis frozen');
  } finally {
    redis.thaw();
  }

  await healthIs('ok', 10_000);
  // Presence in Redis is whole again: a late joiner sees both members.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const late = await joinRoom(node.url, topic, {}, { track: clients });
    const listed = Object.keys(late.c.frames.find((f) => f[3] === 'presence_state')![4]);
    late.c.close();
    if (listed.length === 3) break;
    assert.ok(Date.now() < deadline, `presence after the freeze lists ${listed.length} of 3`);
  }
  assert.equal(a.c.closeCode, null);
  assert.equal(b!.closeCode, null);
});
