/**
 * What one client may hold on a node, over real sockets: open sockets per
 * IP (MAX_CONNECTIONS_PER_IP, 429 at upgrade), channels per socket
 * (MAX_CHANNELS_PER_SOCKET, default 8), the size of its presence meta
 * (PRESENCE_META_MAX_BYTES) and the rate of its meta updates
 * (PRESENCE_UPDATE_*), each refused with a clear error and without
 * disturbing the others.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import WebSocket from 'ws';
import { callIn, joinRoom, RawClient, type RoomMember } from '../test-support/raw-client.ts';
import { createRoom, startTestServer, type TestServer } from '../test-support/test-server.ts';

const servers: TestServer[] = [];
const clients: RawClient[] = [];
const sockets: WebSocket[] = [];

after(async () => {
  for (const c of clients) c.close();
  for (const ws of sockets) ws.terminate();
  for (const s of servers) await s.stop();
});

async function start(env: Record<string, string> = {}): Promise<TestServer> {
  const s = await startTestServer({ env });
  servers.push(s);
  return s;
}

type Attempt = { open: true; ws: WebSocket } | { open: false; status: number; body: any };

/** Tries one socket (from `localAddress`, with extra headers); resolves once it opened or was refused. */
function attempt(url: string, opts: { localAddress?: string; headers?: Record<string, string> } = {}): Promise<Attempt> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/socket/websocket?vsn=2.0.0`, opts);
  sockets.push(ws);
  return new Promise((resolve, reject) => {
    ws.on('open', () => resolve({ open: true, ws }));
    ws.on('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ open: false, status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    ws.on('error', (err) => {
      if (!String(err.message).includes('Unexpected server response')) reject(err);
    });
  });
}

function closed(ws: WebSocket): Promise<void> {
  return new Promise((resolve) => {
    ws.once('close', () => resolve());
    ws.close();
  });
}

test('past MAX_CONNECTIONS_PER_IP open sockets, an upgrade from that IP gets 429 too_many_connections; other IPs still connect, and a closed socket makes room', async () => {
  const node = await start({ MAX_CONNECTIONS_PER_IP: '3' });
  const results = await Promise.all(Array.from({ length: 6 }, () => attempt(node.url)));
  const opened = results.filter((r): r is Extract<Attempt, { open: true }> => r.open);
  const refusedOnes = results.filter((r): r is Extract<Attempt, { open: false }> => !r.open);
  assert.equal(opened.length, 3);
  for (const r of refusedOnes) {
    assert.equal(r.status, 429);
    assert.equal(r.body.error.code, 'too_many_connections');
    assert.match(r.body.error.message, /at most 3 open sockets per IP/);
  }
  const elsewhere = await attempt(node.url, { localAddress: '127.0.0.2' });
  assert.equal(elsewhere.open, true);
  await closed(opened[0]!.ws);
  assert.equal((await attempt(node.url)).open, true);
  assert.equal((await attempt(node.url)).open, false);
});

test('with TRUST_PROXY the per-IP cap counts the address the proxy saw (the right-most X-Forwarded-For entry it did not add), not one the client made up', async () => {
  const node = await start({ MAX_CONNECTIONS_PER_IP: '1', TRUST_PROXY: 'true' });
  assert.equal((await attempt(node.url, { headers: { 'x-forwarded-for': '198.51.100.7' } })).open, true);
  assert.equal((await attempt(node.url, { headers: { 'x-forwarded-for': '198.51.100.8, 10.0.0.1' } })).open, true);
  // A made-up first entry in front of the same address is still that address.
  const spoofed = await attempt(node.url, { headers: { 'x-forwarded-for': '203.0.113.99, 198.51.100.7' } });
  assert.deepEqual(spoofed.open ? 'opened' : [spoofed.status, spoofed.body.error.code], [429, 'too_many_connections']);
  const again = await attempt(node.url, { headers: { 'x-forwarded-for': '198.51.100.7' } });
  assert.deepEqual(again.open ? 'opened' : [again.status, again.body.error.code], [429, 'too_many_connections']);
});

test('a socket may join at most 8 channels by default; the 9th join is refused and the others keep working', async () => {
  const node = await start();
  const c = await RawClient.connect(node.url);
  clients.push(c);
  const topics = [];
  for (let i = 0; i < 9; i++) topics.push(`hub:${(await createRoom(node.url)).hubSid}`);
  for (const topic of topics.slice(0, 8)) assert.equal((await c.join(topic, { profile: {}, context: {} }))[4].status, 'ok', topic);
  const ninth = await c.join(topics[8]!, { profile: {}, context: {} });
  assert.equal(ninth[4].status, 'error');
  assert.equal(ninth[4].response.reason, 'too many channels joined');
  assert.match(ninth[4].response.message, /at most 8 channels/);
  const state = await RawClient.connect(node.url);
  clients.push(state);
  const watcher = await state.join(topics[8]!, { profile: {}, context: {} });
  assert.equal(watcher[4].status, 'ok');
});

test('a profile and context over PRESENCE_META_MAX_BYTES together are refused at join and in profile_updated, with nothing stored or broadcast', async () => {
  const node = await start({ PRESENCE_META_MAX_BYTES: '1024' });
  const topic = `hub:${(await createRoom(node.url)).hubSid}`;
  const watcher = await joinRoom(node.url, topic, {}, { track: clients });
  const c = await RawClient.connect(node.url);
  clients.push(c);
  for (const params of [
    { profile: { displayName: 'x'.repeat(1100) }, context: {} },
    { profile: { displayName: 'x'.repeat(600) }, context: { note: 'y'.repeat(600) } },
  ]) {
    const f = await c.join(topic, params);
    assert.equal(f[4].status, 'error');
    assert.equal(f[4].response.reason, 'invalid_payload');
    assert.match(f[4].response.message, /over 1024 bytes of JSON \(PRESENCE_META_MAX_BYTES\)/);
  }
  const member = await joinRoom(node.url, topic, { profile: { displayName: 'Ok' }, context: { note: 'y'.repeat(600) } }, { track: clients });
  await watcher.c.waitFor((f) => f[3] === 'presence_diff' && !!f[4].joins[member.sessionId]);
  const before = watcher.c.frames.length;
  const f = await callIn(member, topic, 'events:profile_updated', { profile: { displayName: 'x'.repeat(600) } });
  assert.equal(f[4].response.reason, 'invalid_payload');
  assert.match(f[4].response.message, /PRESENCE_META_MAX_BYTES/);
  // A small update still goes through: the refused one changed nothing.
  member.c.push(member.jr, topic, 'events:profile_updated', { profile: { displayName: 'Still ok' } });
  const diff = await watcher.c.waitFor((x) => x[3] === 'presence_diff' && !!x[4].joins[member.sessionId], 5000, before);
  assert.equal(diff[4].joins[member.sessionId].metas[0].profile.displayName, 'Still ok');
  assert.equal(diff[4].leaves[member.sessionId].metas[0].profile.displayName, 'Ok');
});

test('a member sending profile updates and flags at 50 a second gets rate_limited past its burst, others see at most the burst in diffs, and another member is not limited', async () => {
  const node = await start({ PRESENCE_UPDATE_RATE_PER_SECOND: '5', PRESENCE_UPDATE_BURST: '10' });
  const topic = `hub:${(await createRoom(node.url)).hubSid}`;
  const watcher = await joinRoom(node.url, topic, {}, { track: clients });
  const noisy: RoomMember = await joinRoom(node.url, topic, {}, { track: clients });
  const calm: RoomMember = await joinRoom(node.url, topic, {}, { track: clients });
  await watcher.c.waitFor((f) => f[3] === 'presence_diff' && !!f[4].joins[calm.sessionId]);
  const before = watcher.c.frames.length;
  const refs: string[] = [];
  for (let i = 0; i < 50; i++) {
    refs.push(noisy.c.push(noisy.jr, topic, i % 2 ? 'events:raise_hand' : 'events:profile_updated', i % 2 ? {} : { profile: { displayName: `n${i}` } }));
  }
  // A chat message after the updates: once the watcher has it, every update was handled.
  noisy.c.push(noisy.jr, topic, 'message', { type: 'chat', body: 'done' });
  await watcher.c.waitFor((f) => f[3] === 'message' && f[4].body === 'done', 5000, before);
  const limited = noisy.c.frames.filter((f) => f[3] === 'phx_reply' && refs.includes(f[1]!) && f[4].response?.reason === 'rate_limited');
  assert.ok(limited.length >= 35, `${limited.length} rate_limited replies`);
  assert.match(limited[0]![4].response.message, /at most 5 a second \(bursts of 10/);
  const diffs = watcher.c.frames.slice(before).filter((f) => f[3] === 'presence_diff' && f[4].joins[noisy.sessionId]);
  assert.ok(diffs.length >= 10 && diffs.length <= 15, `${diffs.length} diffs of the noisy member`);
  calm.c.push(calm.jr, topic, 'events:profile_updated', { profile: { displayName: 'calm' } });
  await watcher.c.waitFor((f) => f[3] === 'presence_diff' && f[4].joins[calm.sessionId]?.metas[0].profile.displayName === 'calm', 5000, before);
});
