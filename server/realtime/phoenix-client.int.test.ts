/**
 * The server driven by the official `phoenix` npm client (1.8.x): join,
 * reply, push, leave, heartbeat, Presence, and rejoin after a restart.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Presence } from 'phoenix';
import type { Socket } from 'phoenix';
import { openDatabase } from '../db/database.ts';
import { nextEvent, phoenixSocket, receiveError, receiveOk, waitUntil } from '../test-support/phoenix-client.ts';
import { createRoom, startTestServer } from '../test-support/test-server.ts';
import type { TestServer } from '../test-support/test-server.ts';

/** What phoenix.js hands to onMessage callbacks. */
interface PhxMessage {
  topic: string;
  event: string;
  payload: unknown;
}

const joinParams = (name: string) => ({ profile: { displayName: name }, context: { mobile: false, embed: false, hmd: false } });

let srv: TestServer;
let hubSid: string;
const sockets: Socket[] = [];
function connect(params: Record<string, unknown> | (() => Record<string, unknown>) = {}, heartbeatMs?: number): Socket {
  const s = phoenixSocket(srv.socketUrl, params, heartbeatMs);
  s.connect();
  sockets.push(s);
  return s;
}

before(async () => {
  srv = await startTestServer();
  hubSid = (await createRoom(srv.url)).hubSid;
});
after(async () => {
  for (const s of sockets) s.disconnect();
  await srv.stop();
});

test('joining a room replies ok with the hub, a session_id and a session_token', async () => {
  const ch = connect().channel(`hub:${hubSid}`, joinParams('Ann'));
  const reply = await receiveOk<any>(ch.join());
  assert.equal(reply.hubs[0].hub_id, hubSid);
  assert.match(reply.session_id, /^[0-9a-f-]{36}$/);
  assert.equal(typeof reply.session_token, 'string');
  assert.equal(reply.hubs[0].room_size, 24);
  // Reticulum's member permissions of a new room: voice and text chat only.
  assert.equal(reply.hubs[0].member_permissions.spawn_and_move_media, false);
  assert.equal(reply.hubs[0].member_permissions.text_chat, true);
  await receiveOk(ch.leave());
});

test('a push gets its reply, and a chat message reaches everyone with the sender session_id', async () => {
  const a = connect().channel(`hub:${hubSid}`, joinParams('A'));
  const b = connect().channel(`hub:${hubSid}`, joinParams('B'));
  const aJoin = await receiveOk<any>(a.join());
  await receiveOk(b.join());
  const atB = nextEvent(b, 'message');
  const atA = nextEvent(a, 'message');
  a.push('message', { type: 'chat', body: 'hi there' });
  for (const m of await Promise.all([atA, atB])) {
    assert.deepEqual(m, { type: 'chat', body: 'hi there', session_id: aJoin.session_id });
  }
  const err = await receiveError<any>(a.push('no_such_event', {}));
  assert.equal(err.reason, 'unknown_event');
  await receiveOk(a.leave());
  await receiveOk(b.leave());
});

test('leaving replies ok, and the server then stops delivering that topic to the socket', async () => {
  const socket = connect();
  const ch = socket.channel(`hub:${hubSid}`, joinParams('Leaver'));
  await receiveOk(ch.join());
  await receiveOk(ch.leave());
  assert.equal(ch.state, 'closed');
  const other = connect().channel(`hub:${hubSid}`, joinParams('Other'));
  await receiveOk(other.join());
  const frames: string[] = [];
  socket.onMessage((m) => void frames.push((m as PhxMessage).event));
  other.push('message', { type: 'chat', body: 'anyone?' });
  await nextEvent(other, 'message');
  assert.deepEqual(frames.filter((e) => e === 'message'), []);
  await receiveOk(other.leave());
});

test('heartbeats on the phoenix topic are answered', async () => {
  const socket = connect({}, 100);
  let replies = 0;
  socket.onMessage((msg) => {
    const m = msg as PhxMessage;
    if (m.topic === 'phoenix' && m.event === 'phx_reply' && (m.payload as { status: string }).status === 'ok') replies++;
  });
  await waitUntil(() => replies >= 2, 5000, 'two heartbeat replies');
  assert.equal(socket.isConnected(), true);
});

test('Presence lists both members; entering is one change, not a leave; leaving removes the member', async () => {
  const a = connect().channel(`hub:${hubSid}`, joinParams('Pia'));
  const presence = new Presence(a);
  const leaves: string[] = [];
  presence.onLeave((key, current) => {
    if (!current || current.metas.length === 0) leaves.push(key as string);
  });
  await receiveOk(a.join());
  const b = connect().channel(`hub:${hubSid}`, joinParams('Quin'));
  const bJoin = await receiveOk<any>(b.join());
  const bKey: string = bJoin.session_id;
  await waitUntil(() => presence.list().length === 2, 5000, 'two members');
  const meta = (): any => presence.list((key: string, p: any) => (key === bKey ? p.metas[0] : null)).find(Boolean);
  assert.equal(meta().presence, 'lobby');
  assert.deepEqual(meta().profile, { displayName: 'Quin' });
  assert.deepEqual(meta().roles, { owner: false, creator: false, signed_in: false });
  b.push('events:entered', { entryDisplayType: 'Screen' });
  b.push('events:profile_updated', { profile: { displayName: 'Quinn' } });
  await waitUntil(() => meta()?.profile?.displayName === 'Quinn', 5000, 'profile update');
  assert.equal(meta().presence, 'room');
  assert.equal(leaves.length, 0, `unexpected leaves: ${leaves.join(", ")}`);
  await receiveOk(b.leave());
  await waitUntil(() => leaves.includes(bKey), 5000, 'B to leave');
  assert.equal(presence.list().length, 1);
  await receiveOk(a.leave());
});

test('after a server restart the client reconnects, rejoins and keeps its session_id through the session_token', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'plexus-restart-'));
  const pgliteDir = path.join(dataDir, 'pglite');
  let node = await startTestServer({ dataDir, database: await openDatabase({ pgliteDir }) });
  const room = await createRoom(node.url);
  let token: string | null = null;
  const socket = phoenixSocket(node.socketUrl, () => (token ? { session_token: token } : {}));
  socket.connect();
  const ch = socket.channel(`hub:${room.hubSid}`, joinParams('Stayer'));
  const joins: any[] = [];
  ch.join().receive('ok', (r: any) => {
    joins.push(r);
    token = r.session_token;
  });
  try {
    await waitUntil(() => joins.length === 1, 5000, 'first join');
    await node.stop({ keepDataDir: true });
    node = await startTestServer({ dataDir, database: await openDatabase({ pgliteDir }) });
    // The restarted node listens on a new port: the old one is held by TIME_WAIT sockets
    // (uWS does not set SO_REUSEADDR). Point the client there, as Hubs does when
    // /api/v1/meta names another host after a socket error.
    (socket as unknown as { endPoint: string }).endPoint = `${node.socketUrl}/websocket`;
    await waitUntil(() => joins.length === 2, 10000, 'rejoin after restart');
    assert.equal(joins[1].session_id, joins[0].session_id);
    assert.equal(joins[1].hubs[0].hub_id, room.hubSid);
  } finally {
    socket.disconnect();
    await node.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
