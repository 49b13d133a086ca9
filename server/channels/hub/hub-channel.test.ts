/**
 * The room channel in process (test-support/channel-case.ts): join shapes and errors, presence
 * diffs, the NAF relay with spawn checks, chat, and encode-once fan-out.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { channelSuite, type ChannelClient } from '../../test-support/channel-case.ts';
import type { Frame } from '../../test-support/raw-client.ts';

const suite = channelSuite();
const { clients } = suite;

interface Member {
  c: ChannelClient;
  jr: string;
  sessionId: string;
  reply: any;
}

async function newRoom(): Promise<string> {
  return `hub:${(await suite.node.createRoom('Channel test')).hubSid}`;
}

async function member(topic: string, name: string): Promise<Member> {
  const c = await suite.node.connect();
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
  const c = await suite.node.connect();
  clients.push(c);
  const missing = await c.join('hub:ZZZZZZZ', { profile: {}, context: {} });
  assert.deepEqual([missing[4].status, missing[4].response.reason], ['error', 'not_found']);
  const topic = await newRoom();
  await suite.node.server.database.knex('hubs').where({ hub_sid: topic.slice(4) }).update({ entry_mode: 'deny' });
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
  await suite.node.server.database.knex('hubs').where({ hub_sid: topic.slice(4) }).update({ member_permissions: 255 });
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
  await suite.node.server.database.knex('hubs').where({ hub_sid: topic.slice(4) }).update({ member_permissions: 0 });
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
    const c = await suite.node.connect();
    c.push('1', topic, 'phx_join', { profile: { displayName: `ghost ${i}` }, context: {} }, '1');
    c.close();
    await c.waitClose();
  }
  const deadline = Date.now() + 5000;
  while (suite.node.server.connectionCount() > clients.filter((x) => x.closeCode === null).length && Date.now() < deadline) {
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
  const c = await suite.node.connect(`&session_token=${encodeURIComponent(first.reply.session_token)}`);
  clients.push(c);
  // No waiting between frames: the socket may still be verifying its token when they arrive.
  const hb = c.push(null, 'phoenix', 'heartbeat', {});
  const join = c.push('7', topic, 'phx_join', { profile: { displayName: 'Resumer' }, context: {} }, '7');
  c.push('7', topic, 'message', { type: 'chat', body: 'back again' });
  const chat = await watcher.c.waitFor(isEvent('message', (p) => p.body === 'back again'));
  assert.equal(chat[4].session_id, first.sessionId);
  // The watcher's socket may be written before this one: wait for this socket's own copy of the chat.
  await c.waitFor(isEvent('message', (p) => p.body === 'back again'));
  const replies = c.frames.filter((f) => f[3] === 'phx_reply').map((f) => f[1]);
  assert.deepEqual(replies.slice(0, 2), [hb, join]);
  const joinAt = c.frames.findIndex((f) => f[1] === join);
  const chatAt = c.frames.findIndex((f) => f[3] === 'message');
  assert.ok(joinAt >= 0 && joinAt < chatAt, 'the join reply comes before the chat it allowed');
  assert.equal(c.frames.find((f) => f[1] === join)![4].response.session_id, first.sessionId);
  assert.equal(c.closeCode, null);
});

test('a socket with an invalid session_token gets a new session', async () => {
  const topic = await newRoom();
  const c = await suite.node.connect('&session_token=not-a-token');
  clients.push(c);
  const f = await c.join(topic, { profile: {}, context: {} });
  assert.equal(f[4].status, 'ok');
  assert.match(f[4].response.session_id, /^[0-9a-f-]{36}$/);
});

// Hostile first syncs: whatever the encoding, a first sync that a receiving
// client's JSON.parse would see goes through the spawn check, and what is
// relayed is the checked object.

/** A `u` first sync as NAF builds it, with a forged creator and owner. */
const firstSync = (networkId: string, template: string | undefined, extra: Record<string, unknown> = {}) => ({
  dataType: 'u',
  data: { networkId, owner: 'forged-owner', creator: 'forged-creator', lastOwnerTime: 1, ...(template === undefined ? {} : { template }), persistent: false, parent: null, components: {}, isFirstSync: true, ...extra },
});

/** Every first sync m's NAF would see: `u` data and `um` elements with a truthy isFirstSync, nafr strings parsed as the client does. */
function firstSyncsSeenBy(m: Member): any[] {
  const seen: any[] = [];
  for (const f of m.c.frames) {
    let envelope: any;
    if (f[3] === 'naf') envelope = f[4];
    else if (f[3] === 'nafr') {
      try {
        envelope = JSON.parse(f[4].naf);
      } catch {
        continue;
      }
    } else continue;
    if (envelope?.dataType === 'u' && envelope.data?.isFirstSync) seen.push(envelope.data);
    if (envelope?.dataType === 'um' && envelope.data?.d) for (const e of Object.values(envelope.data.d) as any[]) if (e?.isFirstSync) seen.push(e);
  }
  return seen;
}

/** Sends `raw` (a whole frame, whose ref is `ref`) then a heartbeat; returns the frame's reply, or undefined when it got none. */
async function sendRawOrSilence(m: Member, ref: string, raw: string): Promise<Frame | undefined> {
  m.c.sendRaw(raw);
  const beat = m.c.push(null, 'phoenix', 'heartbeat', {});
  await m.c.reply(beat);
  return m.c.frames.find((f) => f[1] === ref && f[3] === 'phx_reply');
}

/** A sends a marker nafr and B waits for it: the fan-out keeps each sender's order, so all A sent before has reached B. */
async function settled(a: Member, b: Member, topic: string): Promise<void> {
  const id = `marker-${a.c.ref()}`;
  a.c.push(a.jr, topic, 'nafr', { naf: JSON.stringify({ dataType: 'marker', data: { id } }) });
  await b.c.waitFor(isEvent('nafr', (p) => p.naf.includes(id)));
}

/** A nafr frame around the string literal `literal` (JSON text, quotes included), compact (fast path) or spaced out (general path). */
function nafrFrame(m: Member, ref: string, topic: string, literal: string, spaced: boolean): string {
  return spaced
    ? `[ ${JSON.stringify(m.jr)} , ${JSON.stringify(ref)} , ${JSON.stringify(topic)} , "nafr" , { "naf" : ${literal} } ]`
    : `[${JSON.stringify(m.jr)},${JSON.stringify(ref)},${JSON.stringify(topic)},"nafr",{"naf":${literal}}]`;
}

/** A room whose members may spawn nothing but avatars, with an anonymous sender A and a receiver B. */
async function lockedRoom(): Promise<{ topic: string; a: Member; b: Member }> {
  const topic = await newRoom();
  await suite.node.server.database.knex('hubs').where({ hub_sid: topic.slice(4) }).update({ member_permissions: 0 });
  return { topic, a: await member(topic, 'A'), b: await member(topic, 'B') };
}

/** The inner naf text of `envelope` with the isFirstSync key spelled `is\u0046irstSync`. */
const escapedKeyText = (envelope: unknown) => JSON.stringify(envelope).replace('"isFirstSync"', '"is\\u0046irstSync"');

for (const spaced of [false, true]) {
  const path = spaced ? 'the general path (spaced-out frame)' : 'the fast path (compact frame)';
  test(`on ${path}, a nafr whose inner JSON spells isFirstSync with a \\u escape is spawn-checked and never reaches others`, async () => {
    const { topic, a, b } = await lockedRoom();
    for (const [id, template] of [['esc-media', '#x-media'], ['esc-unknown', '#rocket-launcher']] as const) {
      const ref = a.c.ref();
      const literal = JSON.stringify(escapedKeyText(firstSync(id, template)));
      assert.ok(literal.includes('is\\\\u0046irstSync'));
      const reply = await sendRawOrSilence(a, ref, nafrFrame(a, ref, topic, literal, spaced));
      assert.equal(reply?.[4].response.reason, 'spawn_denied', `${template}: ${JSON.stringify(reply)}`);
    }
    await settled(a, b, topic);
    assert.deepEqual(firstSyncsSeenBy(b), []);
  });
}

test('a nafr whose literal escapes the escape (\\u005cu0046 decodes to \\u0046, which JSON.parse reads as F) is spawn-checked', async () => {
  const { topic, a, b } = await lockedRoom();
  const variants = [
    JSON.stringify(escapedKeyText(firstSync('dbl-1', '#x-media'))).replace('is\\\\u0046', 'is\\u005cu0046'),
    JSON.stringify(escapedKeyText(firstSync('dbl-2', '#x-media'))).replace('is\\\\u0046', 'is\\u005c\\u0075\\u0030046'),
    JSON.stringify(escapedKeyText(firstSync('dbl-3', '#x-media'))).replace('is\\\\u0046', 'is\\\\\\u00750046'),
  ];
  for (const literal of variants) {
    assert.equal(JSON.parse(JSON.parse(literal)).data.isFirstSync, true, literal);
    const ref = a.c.ref();
    const reply = await sendRawOrSilence(a, ref, nafrFrame(a, ref, topic, literal, false));
    assert.equal(reply?.[4].response.reason, 'spawn_denied', `${literal}: ${JSON.stringify(reply)}`);
  }
  await settled(a, b, topic);
  assert.deepEqual(firstSyncsSeenBy(b), []);
});

test('with duplicate isFirstSync keys the last one counts, as in JSON.parse, for naf and for nafr', async () => {
  const { topic, a, b } = await lockedRoom();
  const text = (id: string, second: string) =>
    `{"dataType":"u","data":{"networkId":"${id}","isFirstSync":false,"owner":"x","creator":"x","lastOwnerTime":1,"template":"#x-media","persistent":false,"components":{},${second}:true}}`;
  const cases = [
    ['dup-nafr', (ref: string) => nafrFrame(a, ref, topic, JSON.stringify(text('dup-nafr', '"isFirstSync"')), false)],
    ['dup-nafr-escaped', (ref: string) => nafrFrame(a, ref, topic, JSON.stringify(text('dup-nafr-escaped', '"is\\u0046irstSync"')), false)],
    ['dup-naf', (ref: string) => `[${JSON.stringify(a.jr)},${JSON.stringify(ref)},${JSON.stringify(topic)},"naf",${text('dup-naf', '"isFirstSync"')}]`],
    ['dup-naf-escaped', (ref: string) => `[${JSON.stringify(a.jr)},${JSON.stringify(ref)},${JSON.stringify(topic)},"naf",${text('dup-naf-escaped', '"is\\u0046irstSync"')}]`],
  ] as const;
  for (const [id, frame] of cases) {
    const ref = a.c.ref();
    const reply = await sendRawOrSilence(a, ref, frame(ref));
    assert.equal(reply?.[4].response.reason, 'spawn_denied', `${id}: ${JSON.stringify(reply)}`);
  }
  await settled(a, b, topic);
  assert.deepEqual(firstSyncsSeenBy(b), []);
});

test('an um carrying a first sync inside nafr is refused however isFirstSync is spelled', async () => {
  const { topic, a, b } = await lockedRoom();
  const um = { dataType: 'um', data: { d: [{ networkId: 'um-ok', owner: 'o', lastOwnerTime: 2, components: {} }, { networkId: 'um-spawn', owner: 'o', creator: 'o', lastOwnerTime: 2, template: '#rocket-launcher', persistent: false, components: {}, isFirstSync: true }] } };
  for (const literal of [JSON.stringify(JSON.stringify(um)), JSON.stringify(escapedKeyText(um))]) {
    const ref = a.c.ref();
    const reply = await sendRawOrSilence(a, ref, nafrFrame(a, ref, topic, literal, false));
    assert.equal(reply?.[4].response.reason, 'invalid_payload', `${literal}: ${JSON.stringify(reply)}`);
  }
  await settled(a, b, topic);
  assert.deepEqual(firstSyncsSeenBy(b), []);
});

test('an allowed first sync with an escaped key is relayed as the checked object: naf, creator and owner the sender', async () => {
  const topic = await newRoom();
  const [a, b] = [await member(topic, 'A'), await member(topic, 'B')];
  const ref = a.c.ref();
  const reply = await sendRawOrSilence(a, ref, nafrFrame(a, ref, topic, JSON.stringify(escapedKeyText(firstSync('esc-avatar', '#player-avatar'))), false));
  assert.equal(reply, undefined, 'relayed, not answered');
  await settled(a, b, topic);
  const seen = firstSyncsSeenBy(b);
  assert.equal(seen.length, 1);
  assert.deepEqual([seen[0].networkId, seen[0].creator, seen[0].owner], ['esc-avatar', a.sessionId, a.sessionId]);
  assert.equal(b.c.frames.filter(isEvent('nafr', (p) => p.naf.includes('esc-avatar'))).length, 0, 'never the original string');
});

test('a first sync without a template is refused', async () => {
  const topic = await newRoom();
  const [a, b] = [await member(topic, 'A'), await member(topic, 'B')];
  for (const [event, payload] of [['naf', firstSync('no-template', undefined)], ['nafr', { naf: JSON.stringify(firstSync('no-template-r', undefined)) }]] as const) {
    const ref = a.c.ref();
    const reply = await sendRawOrSilence(a, ref, JSON.stringify([a.jr, ref, topic, event, payload]));
    assert.equal(reply?.[4].response.reason, 'spawn_denied', `${event}: ${JSON.stringify(reply)}`);
  }
  await settled(a, b, topic);
  assert.deepEqual(firstSyncsSeenBy(b), []);
});

test('a persistent first sync is checked by template like any spawn: unknown templates and missing permissions are refused', async () => {
  const { topic, a, b } = await lockedRoom();
  for (const [id, template, permission] of [['p-unknown', '#rocket-launcher', undefined], ['p-media', '#x-media', 'spawn_and_move_media']] as const) {
    for (const event of ['naf', 'nafr'] as const) {
      const envelope = firstSync(`${id}-${event}`, template, { persistent: true });
      const payload = event === 'naf' ? envelope : { naf: JSON.stringify(envelope) };
      const ref = a.c.ref();
      const reply = await sendRawOrSilence(a, ref, JSON.stringify([a.jr, ref, topic, event, payload]));
      assert.equal(reply?.[4].response.reason, 'spawn_denied', `${template} by ${event}: ${JSON.stringify(reply)}`);
      assert.equal(reply?.[4].response.permission, permission);
    }
  }
  await settled(a, b, topic);
  assert.deepEqual(firstSyncsSeenBy(b), []);
});

test('a persistent first sync is relayed with creator and owner set to the sender, never the forged ones', async () => {
  const topic = await newRoom();
  // New rooms let members chat only (Reticulum's default): allow spawning media here.
  await suite.node.server.database.knex('hubs').where({ hub_sid: topic.slice(4) }).update({ member_permissions: 255 });
  const [a, b] = [await member(topic, 'A'), await member(topic, 'B')];
  a.c.push(a.jr, topic, 'naf', firstSync('pinned-box', '#box-media', { persistent: true }));
  a.c.push(a.jr, topic, 'nafr', { naf: JSON.stringify(firstSync('pinned-box-r', '#box-media', { persistent: true })) });
  await settled(a, b, topic);
  const seen = firstSyncsSeenBy(b);
  assert.deepEqual(
    seen.map((d) => [d.networkId, d.persistent, d.creator, d.owner]),
    [
      ['pinned-box', true, a.sessionId, a.sessionId],
      ['pinned-box-r', true, a.sessionId, a.sessionId],
    ],
  );
});

// Object keys: receiving NAF clients look dataType, networkId and parent up in
// plain objects (naf-first-sync.ts), so an Object.prototype property name
// there would make every receiver throw or misbehave.

/** A `[join_ref, ref, topic, "naf", envelope]` frame. */
const nafFrame = (m: Member, ref: string, topic: string, envelope: unknown) => JSON.stringify([m.jr, ref, topic, 'naf', envelope]);

test('a naf or nafr whose dataType, networkId or parent is an Object.prototype property name is refused and never reaches others', async () => {
  const topic = await newRoom();
  const [a, b] = [await member(topic, 'A'), await member(topic, 'B')];
  const um = (networkId: string, tag: string) => ({ dataType: 'um', data: { d: [{ networkId, owner: 'o', lastOwnerTime: 1, components: { '0': { tag } } }] } });
  const cases: Array<[string, (ref: string) => string]> = [
    ['naf dataType __proto__', (ref) => nafFrame(a, ref, topic, { dataType: '__proto__', data: { tag: 'hostile-1' } })],
    ['nafr dataType __proto__', (ref) => nafrFrame(a, ref, topic, JSON.stringify(JSON.stringify({ dataType: '__proto__', data: { tag: 'hostile-2' } })), false)],
    ['nafr um networkId __proto__', (ref) => nafrFrame(a, ref, topic, JSON.stringify(JSON.stringify(um('__proto__', 'hostile-3'))), false)],
    ['nafr um networkId constructor', (ref) => nafrFrame(a, ref, topic, JSON.stringify(JSON.stringify(um('constructor', 'hostile-4'))), false)],
    ['nafr um networkId valueOf, spaced', (ref) => nafrFrame(a, ref, topic, JSON.stringify(JSON.stringify(um('valueOf', 'hostile-5'))), true)],
    ['nafr r networkId hasOwnProperty', (ref) => nafrFrame(a, ref, topic, JSON.stringify(JSON.stringify({ dataType: 'r', data: { networkId: 'hasOwnProperty', tag: 'hostile-6' } })), false)],
    ['nafr u networkId toString', (ref) => nafrFrame(a, ref, topic, JSON.stringify(JSON.stringify({ dataType: 'u', data: { networkId: 'toString', owner: 'o', lastOwnerTime: 1, components: { '0': { tag: 'hostile-7' } } } })), false)],
    ['nafr um networkId __proto__ spelled with \\u', (ref) => nafrFrame(a, ref, topic, JSON.stringify(JSON.stringify(um('__proto__', 'hostile-8')).replace('"__proto__"', '"\\u005f_proto__"')), false)],
    ['naf first sync parent constructor', (ref) => nafFrame(a, ref, topic, firstSync('hostile-9', '#player-avatar', { parent: 'constructor' }))],
    ['nafr first sync parent __proto__', (ref) => nafrFrame(a, ref, topic, JSON.stringify(JSON.stringify(firstSync('hostile-10', '#player-avatar', { parent: '__proto__' }))), false)],
  ];
  for (const [name, frame] of cases) {
    const ref = a.c.ref();
    const reply = await sendRawOrSilence(a, ref, frame(ref));
    assert.equal(reply?.[4].response.reason, 'invalid_payload', `${name}: ${JSON.stringify(reply)}`);
    assert.match(reply![4].response.message, /Object\.prototype/, name);
  }
  await settled(a, b, topic);
  assert.deepEqual(b.c.frames.filter((f) => JSON.stringify(f).includes('hostile-')), []);
});

test('ordinary NAF traffic, ids that merely contain such names included, still takes the nafr fast path', async () => {
  const topic = await newRoom();
  const [a, b] = [await member(topic, 'A'), await member(topic, 'B')];
  const envelopes = [
    { dataType: 'um', data: { d: [{ networkId: 'abc123x', owner: 'o', lastOwnerTime: 1, components: { '0': { tag: 'ok/1' } } }, { networkId: 'naf-xyz', owner: 'o', lastOwnerTime: 2, components: { '1': null } }] } },
    { dataType: 'u', data: { networkId: 'scene-3kd9a', owner: 'scene', lastOwnerTime: -1, template: '#static-media', persistent: true, parent: 'naf-parent', components: { '0': { tag: 'ok/2' } } } },
    { dataType: 'r', data: { networkId: 'my-constructor', tag: 'ok/3' } },
    { dataType: 'icr', data: { networkId: 'toStringy', tag: 'ok/4' } },
  ];
  for (const envelope of envelopes) {
    // JSON.stringify never writes "\/": a relayed frame that still has it was spliced unparsed.
    const literal = JSON.stringify(JSON.stringify(envelope)).replace('/', '\\/');
    a.c.sendRaw(nafrFrame(a, a.c.ref(), topic, literal, false));
    const want = `[null,null,${JSON.stringify(topic)},"nafr",{"naf":${literal},"from_session_id":${JSON.stringify(a.sessionId)}}]`;
    await b.c.waitFor(() => b.c.rawFrames.includes(want));
  }
});
