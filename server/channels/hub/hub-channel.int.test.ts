/**
 * The room channel over a real socket: join shapes and errors, presence
 * diffs, the NAF relay with spawn checks, chat, and encode-once fan-out.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { RawClient } from '../../test-support/raw-client.ts';
import type { Frame } from '../../test-support/raw-client.ts';
import { createRoom, startTestServer } from '../../test-support/test-server.ts';
import type { TestServer } from '../../test-support/test-server.ts';

let srv: TestServer;
const clients: RawClient[] = [];

before(async () => {
  srv = await startTestServer();
});
after(async () => {
  for (const c of clients) c.close();
  await srv.stop();
});

interface Member {
  c: RawClient;
  jr: string;
  sessionId: string;
  reply: any;
}

async function newRoom(): Promise<string> {
  return `hub:${(await createRoom(srv.url, 'Channel test')).hubSid}`;
}

async function member(topic: string, name: string): Promise<Member> {
  const c = await RawClient.connect(srv.url);
  clients.push(c);
  const f = await c.join(topic, { profile: { displayName: name }, context: { mobile: false } });
  assert.equal(f[4].status, 'ok', JSON.stringify(f));
  await c.waitFor((x) => x[3] === 'presence_state');
  return { c, jr: f[0]!, sessionId: f[4].response.session_id, reply: f[4].response };
}

const isEvent = (event: string, pred: (p: any) => boolean = () => true) => (f: Frame) => f[3] === event && pred(f[4]);

test('the join reply carries the hub with permissions and counts, then presence_state lists the joiner', async () => {
  const topic = await newRoom();
  const a = await member(topic, 'Ann');
  const hub = a.reply.hubs[0];
  assert.equal(`hub:${hub.hub_id}`, topic);
  assert.equal(hub.name, 'Channel test');
  assert.equal(hub.slug, 'channel-test');
  assert.equal(hub.entry_mode, 'allow');
  assert.equal(hub.room_size, 24);
  assert.equal(hub.member_count, 0);
  assert.equal(hub.lobby_count, 0);
  assert.deepEqual(Object.keys(hub.member_permissions).sort(), ['fly', 'pin_objects', 'spawn_and_move_media', 'spawn_camera', 'spawn_drawing', 'spawn_emoji', 'text_chat', 'voice_chat']);
  const state = (await a.c.waitFor(isEvent('presence_state')))[4];
  const meta = state[a.sessionId].metas[0];
  assert.equal(meta.presence, 'lobby');
  assert.deepEqual(meta.profile, { displayName: 'Ann' });
  // A new room gives members voice and text chat only (Reticulum's default).
  assert.equal(meta.permissions.spawn_and_move_media, false);
  assert.equal(meta.permissions.voice_chat, true);
  assert.equal(typeof meta.phx_ref, 'string');
  const b = await member(topic, 'Ben');
  assert.equal(b.reply.hubs[0].lobby_count, 1);
  await a.c.waitFor(isEvent('presence_diff', (d) => !!d.joins[b.sessionId]));
});

test('joining a missing room fails with not_found, a closed room with closed', async () => {
  const c = await RawClient.connect(srv.url);
  clients.push(c);
  const missing = await c.join('hub:ZZZZZZZ', { profile: {}, context: {} });
  assert.deepEqual([missing[4].status, missing[4].response.reason], ['error', 'not_found']);
  const topic = await newRoom();
  await srv.server.database.knex('hubs').where({ hub_sid: topic.slice(4) }).update({ entry_mode: 'deny' });
  const closed = await c.join(topic, { profile: {}, context: {} });
  assert.deepEqual([closed[4].status, closed[4].response.reason], ['error', 'closed']);
});

test('entering and profile updates each arrive as ONE presence_diff with the leave and the join', async () => {
  const topic = await newRoom();
  const a = await member(topic, 'Ann');
  const b = await member(topic, 'Ben');
  await a.c.waitFor(isEvent('presence_diff', (d) => !!d.joins[b.sessionId]));
  const from = a.c.frames.length;
  b.c.push(b.jr, topic, 'events:entered', { entryDisplayType: 'Screen', userAgent: 'test' });
  const entered = (await a.c.waitFor(isEvent('presence_diff', (d) => d.joins[b.sessionId]?.metas[0].presence === 'room'), 5000, from))[4];
  assert.equal(entered.leaves[b.sessionId].metas[0].presence, 'lobby');
  assert.equal(entered.joins[b.sessionId].metas[0].phx_ref_prev, entered.leaves[b.sessionId].metas[0].phx_ref);
  b.c.push(b.jr, topic, 'events:profile_updated', { profile: { displayName: 'Benny' } });
  const renamed = (await a.c.waitFor(isEvent('presence_diff', (d) => d.joins[b.sessionId]?.metas[0].profile.displayName === 'Benny'), 5000, from))[4];
  assert.equal(renamed.leaves[b.sessionId].metas[0].profile.displayName, 'Ben');
  assert.equal(renamed.joins[b.sessionId].metas[0].presence, 'room');
  const diffs = a.c.frames.slice(from).filter(isEvent('presence_diff'));
  assert.equal(diffs.length, 2, 'no separate leave-only diff');
});

test('naf is relayed to everyone but the sender, with from_session_id', async () => {
  const topic = await newRoom();
  const [a, b, c] = [await member(topic, 'A'), await member(topic, 'B'), await member(topic, 'C')];
  const update = { dataType: 'u', data: { networkId: 'n1', owner: a.sessionId, creator: a.sessionId, lastOwnerTime: 5, template: '#box-media', persistent: false, parent: null, components: { '0': { x: 1, y: 2, z: 3 } }, isFirstSync: false } };
  const fromA = a.c.frames.length;
  a.c.push(a.jr, topic, 'naf', update);
  for (const m of [b, c]) {
    const f = await m.c.waitFor(isEvent('naf'));
    assert.deepEqual(f[4], { ...update, from_session_id: a.sessionId });
    assert.deepEqual([f[0], f[1]], [null, null]);
  }
  await a.c.waitFor(isEvent('presence_state'));
  const pingRef = a.c.push(null, 'phoenix', 'heartbeat', {});
  await a.c.reply(pingRef);
  assert.equal(a.c.frames.slice(fromA).filter(isEvent('naf')).length, 0, 'the sender does not get its own naf');
});

test('spawn first-syncs are checked by template suffix, and creator and owner are overwritten with the sender', async () => {
  const topic = await newRoom();
  // Members of this room may spawn media (new rooms only give voice and text chat).
  await srv.server.database.knex('hubs').where({ hub_sid: topic.slice(4) }).update({ member_permissions: 255 });
  const [a, b] = [await member(topic, 'A'), await member(topic, 'B')];
  const spawn = (template: string) => ({ dataType: 'u', data: { networkId: `s-${template}`, owner: 'someone-else', creator: 'someone-else', lastOwnerTime: 1, template, persistent: false, parent: null, components: {}, isFirstSync: true } });
  for (const template of ['#player-avatar', '#box-media']) {
    a.c.push(a.jr, topic, 'naf', spawn(template));
    const f = await b.c.waitFor(isEvent('naf', (p) => p.data.template === template));
    assert.equal(f[4].data.owner, a.sessionId);
    assert.equal(f[4].data.creator, a.sessionId);
  }
  const ref = a.c.push(a.jr, topic, 'naf', spawn('#rocket-launcher'));
  const denied = await a.c.reply(ref);
  assert.equal(denied[4].response.reason, 'spawn_denied');
  // the same check applies when the first sync comes inside nafr
  const nref = a.c.push(a.jr, topic, 'nafr', { naf: JSON.stringify(spawn('#rocket-launcher')) });
  assert.equal((await a.c.reply(nref))[4].response.reason, 'spawn_denied');
  await srv.server.database.knex('hubs').where({ hub_sid: topic.slice(4) }).update({ member_permissions: 0 });
  const c = await member(topic, 'C (joined after media was turned off)');
  const mref = c.c.push(c.jr, topic, 'naf', spawn('#other-media'));
  const noMedia = await c.c.reply(mref);
  assert.equal(noMedia[4].response.reason, 'spawn_denied');
  assert.equal(noMedia[4].response.permission, 'spawn_and_move_media');
  const bRef = b.c.push(null, 'phoenix', 'heartbeat', {});
  await b.c.reply(bRef);
  assert.equal(b.c.frames.filter(isEvent('naf', (p) => p.data.template?.startsWith('#rocket') || p.data.template === '#other-media')).length, 0);
});

test('an um carrying isFirstSync is refused', async () => {
  const topic = await newRoom();
  const a = await member(topic, 'A');
  const ref = a.c.push(a.jr, topic, 'naf', { dataType: 'um', data: { d: [{ networkId: 'x', isFirstSync: true, template: '#a-media' }] } });
  assert.equal((await a.c.reply(ref))[4].response.reason, 'invalid_payload');
});

test('nafr is relayed byte-for-byte without parsing; with isFirstSync it is checked and relayed as naf', async () => {
  const topic = await newRoom();
  const [a, b] = [await member(topic, 'A'), await member(topic, 'B')];
  const naf = '{"dataType":"um","data":{"d":[{"networkId":"n1","owner":"o","lastOwnerTime":3,"components":{"0":{"x":1.5}}}]}}';
  a.c.push(a.jr, topic, 'nafr', { naf });
  const f = await b.c.waitFor(isEvent('nafr'));
  assert.deepEqual(f[4], { naf, from_session_id: a.sessionId });
  const first = JSON.stringify({ dataType: 'u', data: { networkId: 'n2', owner: 'x', creator: 'x', lastOwnerTime: 1, template: '#player-avatar', persistent: false, components: {}, isFirstSync: true } });
  a.c.push(a.jr, topic, 'nafr', { naf: first });
  const g = await b.c.waitFor(isEvent('naf', (p) => p.data.networkId === 'n2'));
  assert.equal(g[4].data.owner, a.sessionId);
  assert.equal(g[4].from_session_id, a.sessionId);
});

test('every receiver of a broadcast gets the same bytes', async () => {
  const topic = await newRoom();
  const members = [await member(topic, 'A'), await member(topic, 'B'), await member(topic, 'C'), await member(topic, 'D')];
  const [a, ...others] = members;
  a.c.push(a.jr, topic, 'nafr', { naf: '{"dataType":"um","data":{"d":[]},"note":"same-bytes"}' });
  const raws: string[] = [];
  for (const m of others) {
    await m.c.waitFor(isEvent('nafr'));
    raws.push(m.c.rawFrames.find((r) => typeof r === 'string' && r.includes('same-bytes')) as string);
  }
  assert.equal(new Set(raws).size, 1);
  assert.ok(raws[0].startsWith(`[null,null,"${topic}","nafr",`));
});

test('chat messages reach everyone, the sender included, with the sender session_id', async () => {
  const topic = await newRoom();
  const [a, b] = [await member(topic, 'A'), await member(topic, 'B')];
  a.c.push(a.jr, topic, 'message', { type: 'chat', body: 'hello' });
  for (const m of [a, b]) {
    const f = await m.c.waitFor(isEvent('message'));
    assert.deepEqual(f[4], { type: 'chat', body: 'hello', session_id: a.sessionId });
  }
});

test('leaving, or closing the socket, removes the member from presence', async () => {
  const topic = await newRoom();
  const [a, b, c] = [await member(topic, 'A'), await member(topic, 'B'), await member(topic, 'C')];
  const ref = b.c.push(b.jr, topic, 'phx_leave', {});
  assert.equal((await b.c.reply(ref))[4].status, 'ok');
  await b.c.waitFor(isEvent('phx_close'));
  await a.c.waitFor(isEvent('presence_diff', (d) => !!d.leaves[b.sessionId] && !d.joins[b.sessionId]));
  c.c.close();
  await a.c.waitFor(isEvent('presence_diff', (d) => !!d.leaves[c.sessionId] && !d.joins[c.sessionId]));
});

test('a second join of the same topic closes the old channel with its join_ref first', async () => {
  const topic = await newRoom();
  const a = await member(topic, 'A');
  const second = await a.c.join(topic, { profile: { displayName: 'A again' }, context: {} });
  assert.equal(second[4].status, 'ok');
  const close = a.c.frames.find(isEvent('phx_close'));
  assert.ok(close);
  assert.equal(close[0], a.jr);
  assert.ok(a.c.frames.indexOf(close) < a.c.frames.indexOf(second));
});

test('a socket that closes right after its join leaves no ghost in presence', async () => {
  const topic = await newRoom();
  const a = await member(topic, 'Watcher');
  for (let i = 0; i < 5; i++) {
    const c = await RawClient.connect(srv.url);
    c.push('1', topic, 'phx_join', { profile: { displayName: `ghost ${i}` }, context: {} }, '1');
    c.close();
    await c.waitClose();
  }
  const deadline = Date.now() + 5000;
  while (srv.server.connectionCount() > clients.filter((x) => x.closeCode === null).length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  // a later join goes through the same queue of presence work, so the ghosts' work is done by then
  const late = await member(topic, 'Late');
  const state = (await late.c.waitFor(isEvent('presence_state')))[4];
  assert.deepEqual(Object.keys(state).sort(), [a.sessionId, late.sessionId].sort());
});

test('the nafr fast path relays the same value as the general path, and an isFirstSync spelled with \\u escapes is still checked', async () => {
  const topic = await newRoom();
  const [a, b] = [await member(topic, 'A'), await member(topic, 'B')];
  const naf = JSON.stringify({ dataType: 'um', data: { d: [{ networkId: 'é"\\/\n', components: { '0': { x: 1 } } }] } });
  // compact (fast path) and spaced-out (general path) frames carry the same value to B
  a.c.sendRaw(JSON.stringify([a.jr, a.c.ref(), topic, 'nafr', { naf }]));
  a.c.sendRaw(`[ ${JSON.stringify(a.jr)}, ${JSON.stringify(a.c.ref())}, ${JSON.stringify(topic)}, "nafr", {"naf": ${JSON.stringify(naf)}} ]`);
  await b.c.waitFor((f) => b.c.frames.filter((x) => x[3] === 'nafr').length >= 2 && f[3] === 'nafr');
  const relayed = b.c.frames.filter((x) => x[3] === 'nafr').map((x) => x[4]);
  assert.deepEqual(relayed, [{ naf, from_session_id: a.sessionId }, { naf, from_session_id: a.sessionId }]);
  // "isFirstSync" hidden behind a \u escape must not bypass the spawn check
  const sneaky = JSON.stringify({ dataType: 'u', data: { networkId: 'z', owner: 'x', creator: 'x', lastOwnerTime: 1, template: '#rocket-launcher', persistent: false, components: {}, isFirstSync: true } });
  const literal = JSON.stringify(sneaky).replace('isFirstSync', '\\u0069sFirstSync');
  const ref = a.c.ref();
  a.c.sendRaw(`[${JSON.stringify(a.jr)},"${ref}",${JSON.stringify(topic)},"nafr",{"naf":${literal}}]`);
  assert.equal((await a.c.reply(ref))[4].response.reason, 'spawn_denied');
});

test('frames sent at once on a socket that resumes with a session_token wait for the token check and are handled in order', async () => {
  const topic = await newRoom();
  const watcher = await member(topic, 'Watcher');
  const first = await member(topic, 'Resumer');
  first.c.close();
  await first.c.waitClose();
  const c = await RawClient.connect(srv.url, `&session_token=${encodeURIComponent(first.reply.session_token)}`);
  clients.push(c);
  // No waiting between frames: the socket may still be verifying its token when they arrive.
  const hb = c.push(null, 'phoenix', 'heartbeat', {});
  const join = c.push('7', topic, 'phx_join', { profile: { displayName: 'Resumer' }, context: {} }, '7');
  c.push('7', topic, 'message', { type: 'chat', body: 'back again' });
  const chat = await watcher.c.waitFor(isEvent('message', (p) => p.body === 'back again'));
  assert.equal(chat[4].session_id, first.sessionId);
  const replies = c.frames.filter((f) => f[3] === 'phx_reply').map((f) => f[1]);
  assert.deepEqual(replies.slice(0, 2), [hb, join]);
  assert.equal(c.frames.find((f) => f[1] === join)![4].response.session_id, first.sessionId);
  assert.equal(c.closeCode, null);
});

test('a socket with an invalid session_token gets a new session', async () => {
  const topic = await newRoom();
  const c = await RawClient.connect(srv.url, '&session_token=not-a-token');
  clients.push(c);
  const f = await c.join(topic, { profile: {}, context: {} });
  assert.equal(f[4].status, 'ok');
  assert.match(f[4].response.session_id, /^[0-9a-f-]{36}$/);
});
