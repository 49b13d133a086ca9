/**
 * room_size is enforced by the server when members enter (lobby → room,
 * `events:entered`), atomically across the nodes of a cluster.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startClusterServices, type ClusterServices } from '../../test-support/cluster-services.ts';
import { joinRoom, RawClient, type Frame, type RoomMember } from '../../test-support/raw-client.ts';
import { startTestServer, type TestServer } from '../../test-support/test-server.ts';

let services: ClusterServices;
let node1: TestServer;
let node2: TestServer;
const clients: RawClient[] = [];

before(async () => {
  services = await startClusterServices();
  node1 = await startTestServer({ databaseUrl: services.databaseUrl, env: { REDIS_URL: services.redisUrl } });
  node2 = await startTestServer({ databaseUrl: services.databaseUrl, env: { REDIS_URL: services.redisUrl } });
});

after(async () => {
  for (const c of clients) c.close();
  await node1?.stop();
  await node2?.stop();
  await services?.stop();
});

async function createSizedRoom(roomSize: number): Promise<{ hubSid: string; creatorAssignmentToken: string }> {
  const res = await fetch(`${node1.url}/api/v1/hubs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ hub: { name: 'Small room', room_size: roomSize } }) });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { hub_id: string; creator_assignment_token: string };
  return { hubSid: body.hub_id, creatorAssignmentToken: body.creator_assignment_token };
}

const joinLobby = (node: TestServer, topic: string, params: Record<string, unknown> = {}): Promise<RoomMember> => joinRoom(node.url, topic, params, { track: clients });

function enter(m: { c: RawClient; jr: string }, topic: string): Promise<Frame> {
  const ref = m.c.push(m.jr, topic, 'events:entered', { entryDisplayType: 'Screen' });
  return m.c.reply(ref, 15_000);
}

async function inRoom(node: TestServer, topic: string): Promise<number> {
  const watcher = await joinLobby(node, topic);
  const state = await watcher.c.waitFor((x: Frame) => x[3] === 'presence_state');
  return Object.values(state[4] as Record<string, { metas: Array<{ presence: string }> }>).filter((e) => e.metas.some((m) => m.presence === 'room')).length;
}

test('of 50 members entering at once through two nodes, exactly room_size get in and the rest are told room_full', async () => {
  const roomSize = 12;
  const { hubSid } = await createSizedRoom(roomSize);
  const topic = `hub:${hubSid}`;
  const members = await Promise.all(Array.from({ length: 50 }, (_, i) => joinLobby(i % 2 === 0 ? node1 : node2, topic)));
  const replies = await Promise.all(members.map((m) => enter(m, topic)));
  const admitted = replies.filter((f) => f[4].status === 'ok');
  const refused = replies.filter((f) => f[4].status === 'error');
  assert.equal(admitted.length, roomSize);
  assert.equal(refused.length, 50 - roomSize);
  for (const f of refused) {
    assert.equal(f[4].response.reason, 'room_full');
    assert.equal(f[4].response.room_size, roomSize);
  }
  assert.equal(await inRoom(node1, topic), roomSize);
  assert.equal(await inRoom(node2, topic), roomSize);
});

test('a seat freed by a leave can be taken, and the room creator (an owner) enters a full room', async () => {
  const { hubSid, creatorAssignmentToken } = await createSizedRoom(2);
  const topic = `hub:${hubSid}`;
  const a = await joinLobby(node1, topic);
  const b = await joinLobby(node2, topic);
  const c = await joinLobby(node2, topic);
  assert.equal((await enter(a, topic))[4].status, 'ok');
  assert.equal((await enter(b, topic))[4].status, 'ok');
  assert.equal((await enter(c, topic))[4].response.reason, 'room_full');
  const creator = await joinLobby(node1, topic, { creator_assignment_token: creatorAssignmentToken });
  assert.equal((await enter(creator, topic))[4].status, 'ok');
  // The creator counts as a member in the room once inside: after b leaves, 2 are in (a, creator).
  const leaveRef = b.c.push(b.jr, topic, 'phx_leave', {});
  await b.c.reply(leaveRef);
  assert.equal((await enter(c, topic))[4].response.reason, 'room_full', 'the creator took a seat, so the room is still full');
  const leaveA = a.c.push(a.jr, topic, 'phx_leave', {});
  await a.c.reply(leaveA);
  assert.equal((await enter(c, topic))[4].status, 'ok');
});
