/**
 * Moderation over the real socket on a two-node cluster: blocks filter naf,
 * nafr and message between two sessions only; kick closes the target's
 * socket on whichever node it is and keeps it out; mute reaches the target
 * only; each needs its permission.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startClusterServices, type ClusterServices } from '../../test-support/cluster-services.ts';
import { callIn, joinRoom, RawClient, type Frame, type RoomMember } from '../../test-support/raw-client.ts';
import { createRoom, startTestServer, type TestServer } from '../../test-support/test-server.ts';
import type { RedisBroker } from '../../broker/redis-broker.ts';

let services: ClusterServices;
let node1: TestServer;
let node2: TestServer;
const clients: RawClient[] = [];

before(async () => {
  services = await startClusterServices();
  node1 = await startTestServer({ databaseUrl: services.databaseUrl, env: { REDIS_URL: services.redisUrl, KICK_BAN_SECONDS: '60' } });
  node2 = await startTestServer({ databaseUrl: services.databaseUrl, env: { REDIS_URL: services.redisUrl, KICK_BAN_SECONDS: '60' } });
});

after(async () => {
  for (const c of clients) c.close();
  await node1?.stop();
  await node2?.stop();
  await services?.stop();
});

type Member = RoomMember;

const join = (node: TestServer, topic: string, params: Record<string, unknown> = {}): Promise<Member> => joinRoom(node.url, topic, params, { track: clients });

async function synced(): Promise<void> {
  await (node1.server.broker as RedisBroker).synced();
  await (node2.server.broker as RedisBroker).synced();
}

const call = callIn;

const chatFrom = (sessionId: string, body: string) => (f: Frame) => f[3] === 'message' && f[4].session_id === sessionId && f[4].body === body;
const nafrFrom = (sessionId: string, marker: string) => (f: Frame) => f[3] === 'nafr' && f[4].from_session_id === sessionId && String(f[4].naf).includes(marker);

test('after A blocks B, neither gets the other\'s chat, naf or nafr, on either node, while C gets both; unblock restores it', async () => {
  const { hubSid } = await createRoom(node1.url);
  const topic = `hub:${hubSid}`;
  const a = await join(node1, topic);
  const b = await join(node2, topic);
  const c1 = await join(node1, topic);
  const c2 = await join(node2, topic);
  await synced();
  assert.equal((await call(a, topic, 'block', { session_id: b.sessionId }))[4].status, 'ok');
  const naf = (marker: string) => JSON.stringify({ dataType: 'um', data: { d: [{ networkId: marker, owner: 'x', lastOwnerTime: 1, components: {} }] } });
  for (const [from, tag] of [[a, 'A'], [b, 'B']] as const) {
    from.c.push(from.jr, topic, 'message', { type: 'chat', body: `hi from ${tag}` });
    from.c.push(from.jr, topic, 'nafr', { naf: naf(`nafr-${tag}`) });
    from.c.push(from.jr, topic, 'naf', { dataType: 'u', data: { networkId: `naf-${tag}`, owner: from.sessionId, lastOwnerTime: 1, components: {} } });
  }
  // C on both nodes receives everything from both.
  for (const c of [c1, c2]) {
    await c.c.waitFor(chatFrom(a.sessionId, 'hi from A'));
    await c.c.waitFor(chatFrom(b.sessionId, 'hi from B'));
    await c.c.waitFor(nafrFrom(a.sessionId, 'nafr-A'));
    await c.c.waitFor(nafrFrom(b.sessionId, 'nafr-B'));
    await c.c.waitFor((f) => f[3] === 'naf' && f[4].data?.networkId === 'naf-B');
  }
  // A marker sent after the blocked frames, on the same path: once it arrives, the blocked ones would have too.
  b.c.push(b.jr, topic, 'message', { type: 'chat', body: 'B after' });
  a.c.push(a.jr, topic, 'message', { type: 'chat', body: 'A after' });
  await c1.c.waitFor(chatFrom(b.sessionId, 'B after'));
  await a.c.waitFor(chatFrom(a.sessionId, 'A after'));
  await b.c.waitFor(chatFrom(b.sessionId, 'B after'));
  await new Promise((r) => setTimeout(r, 300));
  const fromB = a.c.frames.filter((f) => (f[4]?.session_id ?? f[4]?.from_session_id) === b.sessionId && ['message', 'naf', 'nafr'].includes(f[3]));
  const fromA = b.c.frames.filter((f) => (f[4]?.session_id ?? f[4]?.from_session_id) === a.sessionId && ['message', 'naf', 'nafr'].includes(f[3]));
  assert.deepEqual(fromB, [], 'A got frames from B');
  assert.deepEqual(fromA, [], 'B got frames from A');

  assert.equal((await call(a, topic, 'unblock', { session_id: b.sessionId }))[4].status, 'ok');
  b.c.push(b.jr, topic, 'message', { type: 'chat', body: 'B unblocked' });
  a.c.push(a.jr, topic, 'message', { type: 'chat', body: 'A unblocked' });
  await a.c.waitFor(chatFrom(b.sessionId, 'B unblocked'));
  await b.c.waitFor(chatFrom(a.sessionId, 'A unblocked'));
});

test('the creator kicks a member on the other node: it is told, its socket closes with 4003, and its rejoin is refused until the ban ends', async () => {
  const { hubSid, creatorAssignmentToken } = await createRoom(node1.url);
  const topic = `hub:${hubSid}`;
  const owner = await join(node1, topic, { creator_assignment_token: creatorAssignmentToken });
  const target = await join(node2, topic);
  const other = await join(node2, topic);
  await synced();
  // An ordinary member may not kick.
  const denied = await call(other, topic, 'kick', { session_id: target.sessionId });
  assert.equal(denied[4].response.reason, 'permission_denied');
  assert.equal(denied[4].response.permission, 'kick_users');
  const reply = await call(owner, topic, 'kick', { session_id: target.sessionId });
  assert.equal(reply[4].status, 'ok', JSON.stringify(reply));
  const kicked = await target.c.waitFor((f) => f[3] === 'kicked');
  assert.equal(kicked[4].session_id, target.sessionId);
  assert.equal(await target.c.waitClose(), 4003);
  // The others see it leave.
  await other.c.waitFor((f) => f[3] === 'presence_diff' && Object.keys(f[4].leaves).includes(target.sessionId));
  // Same session (token), either node: refused. (The reconnect to node 2 right after the kick also caught
  // uWebSockets 20.30 closing sockets upgraded asynchronously, 1006 without a reply; see SocketHandlers.authorize.)
  for (const node of [node1, node2]) {
    const again = await RawClient.connect(node.url, `&session_token=${encodeURIComponent(target.sessionToken)}`);
    clients.push(again);
    const f = await again.join(topic, { profile: {}, context: {} });
    assert.equal(f[4].status, 'error');
    assert.equal(f[4].response.reason, 'join_denied');
    assert.ok(Date.parse(f[4].response.banned_until) > Date.now() + 50_000);
  }
  assert.equal(other.c.closeCode, null);
});

test('mute reaches the target only and withdraws its voice_chat permission; members cannot mute', async () => {
  const { hubSid, creatorAssignmentToken } = await createRoom(node1.url);
  const topic = `hub:${hubSid}`;
  const owner = await join(node1, topic, { creator_assignment_token: creatorAssignmentToken });
  const target = await join(node2, topic);
  const other = await join(node1, topic);
  await synced();
  assert.equal((await call(other, topic, 'mute', { session_id: target.sessionId }))[4].response.permission, 'mute_users');
  assert.equal((await call(owner, topic, 'mute', { session_id: target.sessionId }))[4].status, 'ok');
  await target.c.waitFor((f) => f[3] === 'mute' && f[4].session_id === target.sessionId);
  const diff = await other.c.waitFor((f) => f[3] === 'presence_diff' && f[4].joins[target.sessionId]);
  assert.equal(diff[4].joins[target.sessionId].metas[0].permissions.voice_chat, false);
  assert.equal(other.c.frames.some((f) => f[3] === 'mute'), false);
  assert.equal(owner.c.frames.some((f) => f[3] === 'mute'), false);
});

test('moderation payloads are validated, and targets must be in the room', async () => {
  const { hubSid, creatorAssignmentToken } = await createRoom(node1.url);
  const topic = `hub:${hubSid}`;
  const owner = await join(node1, topic, { creator_assignment_token: creatorAssignmentToken });
  assert.equal((await call(owner, topic, 'kick', {}))[4].response.reason, 'invalid_payload');
  assert.equal((await call(owner, topic, 'kick', { session_id: 'nobody' }))[4].response.reason, 'not_found');
  assert.equal((await call(owner, topic, 'block', { session_id: owner.sessionId }))[4].response.reason, 'invalid_payload');
  const anon = await join(node2, topic);
  await synced();
  assert.equal((await call(owner, topic, 'add_owner', { session_id: anon.sessionId }))[4].response.reason, 'not_signed_in');
  assert.equal((await call(anon, topic, 'add_owner', { session_id: owner.sessionId }))[4].response.permission, 'update_roles');
});
