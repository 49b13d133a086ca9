/**
 * Free-form payload fields are bounded in depth and size in process
 * (channel-case.ts): a deeply nested profile, context, message body, naf data, glTF
 * node, entity message or user_data is refused with invalid_payload and
 * changes nothing; the room's presence keeps working for later joiners and
 * the offender's leave is still seen.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { channelSuite, type ChannelClient } from '../../test-support/channel-case.ts';
import { callIn, chatMarker, joinRoom, presenceView, type Frame, type RoomMember } from '../../test-support/raw-client.ts';

const suite = channelSuite();
const { clients } = suite;

const join = (topic: string, params: Record<string, unknown> = {}): Promise<RoomMember<ChannelClient>> => joinRoom(suite.node, topic, params, { track: clients });

/** `{"a": [[[...]]]}` with `levels` levels in all (the object counts as one). As JSON, 2 bytes a level. */
function nested(levels: number): Record<string, unknown> {
  let v: unknown = [];
  for (let i = 2; i < levels; i++) v = [v];
  return { a: v };
}

/** {@link nested} as JSON text, built without JSON.stringify (which overflows the stack on a few thousand levels). */
function nestedJson(levels: number): string {
  return '{"a":' + '['.repeat(levels - 1) + ']'.repeat(levels - 1) + '}';
}

/** Sends a push whose payload is the JSON text `payload`, as is; returns the ref. */
function pushText(c: ChannelClient, joinRef: string | null, topic: string, event: string, payload: string): string {
  const ref = c.ref();
  c.sendRaw(JSON.stringify([joinRef, ref, topic, event, '@']).replace('"@"', payload));
  return ref;
}

function refused(f: Frame, pattern: RegExp): void {
  assert.equal(f[4].status, 'error', JSON.stringify(f).slice(0, 300));
  assert.equal(f[4].response.reason, 'invalid_payload');
  assert.match(f[4].response.message, pattern);
}

/** Joins with the JSON text `params` as the join payload. */
async function tryJoin(topic: string, params: string): Promise<{ c: ChannelClient; reply: Frame }> {
  const c = await suite.node.connect();
  clients.push(c);
  const ref = pushText(c, '1', topic, 'phx_join', params);
  return { c, reply: await c.reply(ref) };
}

/** A chat message from `m` reaches `to`: frames sent before it have been handled. */
const marker = chatMarker;

test('a join whose profile or context is nested 8,000 (or 40) levels deep is refused with invalid_payload, and later joiners still get presence_state', async () => {
  const topic = `hub:${(await suite.node.createRoom()).hubSid}`;
  const watcher = await join(topic);
  const before = watcher.c.frames.length;
  for (const params of [
    `{"profile":${nestedJson(8000)},"context":{}}`,
    `{"profile":{},"context":${nestedJson(8000)}}`,
    JSON.stringify({ profile: nested(40), context: {} }),
    JSON.stringify({ profile: {}, context: { deep: nested(40) } }),
  ]) {
    const { c, reply } = await tryJoin(topic, params);
    refused(reply, /nested deeper than (32|64) levels/);
    c.close();
  }
  const late = await join(topic);
  const state = late.c.frames.find((f) => f[3] === 'presence_state')![4];
  assert.deepEqual(Object.keys(state).sort(), [watcher.sessionId, late.sessionId].sort());
  await marker(late, watcher, topic);
  assert.equal(watcher.c.frames.slice(before).filter((f) => f[3] === 'presence_diff' && !f[4].joins[late.sessionId]).length, 0);
});

test('a profile_updated with a deeply nested profile is refused with invalid_payload, the stored profile is unchanged and the member\'s leave is still broadcast', async () => {
  const topic = `hub:${(await suite.node.createRoom()).hubSid}`;
  const watcher = await join(topic);
  const attacker = await join(topic, { profile: { displayName: 'Mallory' } });
  await watcher.c.waitFor((f) => f[3] === 'presence_diff' && !!f[4].joins[attacker.sessionId]);
  const before = watcher.c.frames.length;
  refused(await attacker.c.reply(pushText(attacker.c, attacker.jr, topic, 'events:profile_updated', `{"profile":${nestedJson(8000)}}`)), /nested deeper than 64 levels/);
  refused(await callIn(attacker, topic, 'events:profile_updated', { profile: nested(40) }), /payload\.profile is nested deeper than 32 levels/);
  await marker(attacker, watcher, topic);
  assert.equal(watcher.c.frames.slice(before).filter((f) => f[3] === 'presence_diff').length, 0);
  const late = await join(topic);
  const state = late.c.frames.find((f) => f[3] === 'presence_state')![4];
  assert.deepEqual(state[attacker.sessionId].metas[0].profile, { displayName: 'Mallory' });
  attacker.c.close();
  await watcher.c.waitFor((f) => f[3] === 'presence_diff' && !!f[4].leaves[attacker.sessionId]);
  assert.equal(presenceView(watcher.c.frames).has(attacker.sessionId), false);
});

test('a message body, naf data or nafr first sync nested over 32 levels, or a body over 16 KiB, is refused and not relayed', async () => {
  const topic = `hub:${(await suite.node.createRoom()).hubSid}`;
  const a = await join(topic);
  const b = await join(topic);
  const before = b.c.frames.length;
  refused(await callIn(a, topic, 'message', { type: 'chat', body: nested(40) }), /payload\.body is nested deeper than 32 levels/);
  refused(await callIn(a, topic, 'message', { type: 'chat', body: 'x'.repeat(17 * 1024) }), /payload\.body is over 16384 bytes/);
  refused(await callIn(a, topic, 'naf', { dataType: 'u', data: { networkId: 'n1', owner: a.sessionId, lastOwnerTime: 1, components: nested(40) } }), /payload\.data is nested deeper than 32 levels/);
  const firstSync = JSON.stringify({ dataType: 'u', data: { networkId: 'n2', owner: a.sessionId, isFirstSync: true, persistent: false, template: '#x-avatar', components: nested(40) } });
  refused(await callIn(a, topic, 'nafr', { naf: firstSync }), /nested deeper than 32 levels/);
  await marker(a, b, topic);
  assert.deepEqual(b.c.frames.slice(before).filter((f) => ['naf', 'nafr'].includes(f[3]) || (f[3] === 'message' && !String(f[4].body).startsWith('marker'))), []);
});

test('deeply nested glTF nodes, entity messages and user_data are refused with invalid_payload and nothing is stored', async () => {
  const { hubSid, creatorAssignmentToken } = await suite.node.createRoom();
  const topic = `hub:${hubSid}`;
  const owner = await join(topic, { creator_assignment_token: creatorAssignmentToken });
  refused(await callIn(owner, topic, 'pin', { id: 'p1', gltf_node: { name: 'p1', extensions: nested(40) } }), /payload\.gltf_node is nested deeper than 32 levels/);
  refused(await callIn(owner, topic, 'save_entity_state', { nid: 'e1', create_message: nested(40) }), /payload\.create_message is nested deeper than 32 levels/);
  refused(await callIn(owner, topic, 'update_hub', { user_data: nested(40) }), /payload\.user_data is nested deeper than 32 levels/);
  refused(await owner.c.reply(pushText(owner.c, owner.jr, topic, 'update_hub', `{"user_data":${nestedJson(8000)}}`)), /nested deeper than 64 levels/);
  assert.deepEqual((await callIn(owner, topic, 'list_entities', {}))[4].response.data, []);
  const gltf = (await (await suite.node.fetch(`${suite.node.url}/${hubSid}/objects.gltf`)).json()) as { nodes: unknown[] };
  assert.deepEqual(gltf.nodes, []);
  const hub = ((await (await suite.node.fetch(`${suite.node.url}/api/v1/hubs/${hubSid}`)).json()) as { hubs: Array<{ user_data: unknown }> }).hubs[0]!;
  assert.equal(hub.user_data ?? null, null);
  // The REST PATCH takes the same fields through the same schema.
  const res = await suite.node.fetch(`${suite.node.url}/api/v1/hubs/${hubSid}`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${creatorAssignmentToken}` },
    body: `{"hub":{"user_data":${nestedJson(8000)}}}`,
  });
  assert.equal(res.status, 422);
  assert.match(((await res.json()) as { error: { message: string } }).error.message, /user_data is nested deeper than 32 levels/);
});

test('a push whose payload is nested deeper than 64 levels gets invalid_payload with its ref, whatever the event, and the socket stays usable', async () => {
  const topic = `hub:${(await suite.node.createRoom()).hubSid}`;
  const a = await join(topic);
  for (const event of ['launch_rockets', 'events:entered', 'message']) {
    // 30,000 levels: 60 KB, under the 64 KiB frame limit.
    refused(await a.c.reply(pushText(a.c, a.jr, topic, event, nestedJson(30_000))), /nested deeper than 64 levels/);
  }
  const hb = a.c.push(null, 'phoenix', 'heartbeat', {});
  assert.equal((await a.c.reply(hb))[4].status, 'ok');
});
