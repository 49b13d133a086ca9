/**
 * Room rules in process (channel-case.ts): owners change the room (update_hub,
 * update_scene, close_hub, invites), everyone gets hub_refresh and the new
 * permissions at once, and members are refused without changing anything.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { channelSuite, type ChannelClient } from '../../test-support/channel-case.ts';
import { callIn, joinRoom, type Frame, type RoomMember } from '../../test-support/raw-client.ts';

const suite = channelSuite();
const { clients } = suite;

type Member = RoomMember<ChannelClient>;

async function tryJoin(topic: string, params: Record<string, unknown> = {}): Promise<{ c: ChannelClient; reply: Frame }> {
  const c = await suite.node.connect();
  clients.push(c);
  return { c, reply: await c.join(topic, { profile: { displayName: 'x' }, context: {}, ...params }) };
}

const join = (topic: string, params: Record<string, unknown> = {}): Promise<Member> => joinRoom(suite.node, topic, params, { track: clients });
const call = callIn;

async function hubRow(hubSid: string): Promise<Record<string, any>> {
  const res = await suite.node.fetch(`${suite.node.url}/api/v1/hubs/${hubSid}`);
  return ((await res.json()) as { hubs: Array<Record<string, any>> }).hubs[0]!;
}

test('the creator updates the room: everyone gets hub_refresh with the stale fields, and a withdrawn text_chat is enforced at once', async () => {
  const { hubSid, creatorAssignmentToken } = await suite.node.createRoom('Before');
  const topic = `hub:${hubSid}`;
  const owner = await join(topic, { creator_assignment_token: creatorAssignmentToken });
  const member = await join(topic);
  member.c.push(member.jr, topic, 'message', { type: 'chat', body: 'allowed' });
  await owner.c.waitFor((f) => f[3] === 'message' && f[4].body === 'allowed');
  const reply = await call(owner, topic, 'update_hub', { name: 'After', description: 'A quiet room', member_permissions: { text_chat: false }, room_size: 10 });
  assert.equal(reply[4].status, 'ok', JSON.stringify(reply));
  for (const m of [owner, member]) {
    const refresh = await m.c.waitFor((f) => f[3] === 'hub_refresh');
    assert.deepEqual([...refresh[4].stale_fields].sort(), ['description', 'member_permissions', 'name', 'room_size']);
    assert.equal(refresh[4].hubs[0].name, 'After');
    assert.equal(refresh[4].hubs[0].member_permissions.text_chat, false);
    assert.equal(refresh[4].hubs[0].member_permissions.voice_chat, true, 'flags not given keep their value');
    assert.equal(refresh[4].session_id, owner.sessionId);
  }
  // The member's presence meta now says text_chat: false, and the server refuses its messages.
  await owner.c.waitFor((f) => f[3] === 'presence_diff' && f[4].joins[member.sessionId]?.metas[0].permissions.text_chat === false);
  const denied = await call(member, topic, 'message', { type: 'chat', body: 'refused' });
  assert.equal(denied[4].response.reason, 'permission_denied');
  assert.equal(denied[4].response.permission, 'text_chat');
  // The owner keeps every permission.
  owner.c.push(owner.jr, topic, 'message', { type: 'chat', body: 'owner speaks' });
  await member.c.waitFor((f) => f[3] === 'message' && f[4].body === 'owner speaks');
  assert.equal(member.c.frames.some((f) => f[3] === 'message' && f[4].body === 'refused'), false);
  const row = await hubRow(hubSid);
  assert.equal(row.name, 'After');
  assert.equal(row.description, 'A quiet room');
  assert.equal(row.room_size, 10);
});

test('a member cannot change the room: update_hub, update_scene and close_hub are refused, invites answer {} as in Reticulum, and nothing changes', async () => {
  const { hubSid } = await suite.node.createRoom('Untouched');
  const topic = `hub:${hubSid}`;
  const member = await join(topic);
  for (const [event, payload, permission] of [
    ['update_hub', { name: 'Hacked' }, 'update_hub'],
    ['update_scene', { url: 'https://example.com/scene.glb' }, 'update_hub'],
    ['close_hub', {}, 'close_hub'],
  ] as const) {
    const f = await call(member, topic, event, payload);
    assert.equal(f[4].status, 'error', event);
    assert.equal(f[4].response.reason, 'permission_denied', event);
    assert.equal(f[4].response.permission, permission, event);
  }
  for (const [event, payload] of [
    ['fetch_invite', {}],
    ['revoke_invite', { hub_invite_id: 'abc' }],
  ] as const) {
    const f = await call(member, topic, event, payload);
    assert.deepEqual([f[4].status, f[4].response], ['ok', {}], event);
  }
  assert.equal((await suite.node.server.database.knex('hub_invites').join('hubs', 'hubs.hub_id', 'hub_invites.hub_id').where('hubs.hub_sid', hubSid).select('hub_invite_id')).length, 0, 'no invite was made');
  const row = await hubRow(hubSid);
  assert.equal(row.name, 'Untouched');
  assert.equal(row.entry_mode, 'allow');
  assert.equal(row.scene, null);
  assert.equal(member.c.frames.some((f) => f[3] === 'hub_refresh'), false);
});

test('invite-only rooms admit joins with the active invite only; revoking it makes a new one; owners need none', async () => {
  const { hubSid, creatorAssignmentToken } = await suite.node.createRoom('Private');
  const topic = `hub:${hubSid}`;
  const owner = await join(topic, { creator_assignment_token: creatorAssignmentToken });
  assert.equal((await call(owner, topic, 'update_hub', { entry_mode: 'invite' }))[4].status, 'ok');
  const invite = (await call(owner, topic, 'fetch_invite', {}))[4].response.hub_invite_id as string;
  assert.ok(invite);
  assert.equal((await call(owner, topic, 'fetch_invite', {}))[4].response.hub_invite_id, invite, 'one active invite');
  assert.equal((await tryJoin(topic)).reply[4].response.reason, 'join_denied');
  assert.equal((await tryJoin(topic, { hub_invite_id: 'wrong' })).reply[4].response.reason, 'join_denied');
  assert.equal((await tryJoin(topic, { hub_invite_id: invite })).reply[4].status, 'ok');
  const fresh = (await call(owner, topic, 'revoke_invite', { hub_invite_id: invite }))[4].response.hub_invite_id as string;
  assert.notEqual(fresh, invite);
  assert.equal((await tryJoin(topic, { hub_invite_id: invite })).reply[4].response.reason, 'join_denied');
  assert.equal((await tryJoin(topic, { hub_invite_id: fresh })).reply[4].status, 'ok');
  // Revoking the old invite again is ignored ({}): the active one stays.
  const stale = await call(owner, topic, 'revoke_invite', { hub_invite_id: invite });
  assert.deepEqual([stale[4].status, stale[4].response], ['ok', {}]);
  assert.equal((await call(owner, topic, 'fetch_invite', {}))[4].response.hub_invite_id, fresh);
  assert.equal((await tryJoin(topic, { hub_invite_id: fresh })).reply[4].status, 'ok');
  assert.equal((await tryJoin(topic, { creator_assignment_token: creatorAssignmentToken })).reply[4].status, 'ok');
});

test('update_scene and close_hub refresh the room; after close_hub new joins get closed', async () => {
  const { hubSid, creatorAssignmentToken } = await suite.node.createRoom('Closing');
  const topic = `hub:${hubSid}`;
  const owner = await join(topic, { creator_assignment_token: creatorAssignmentToken });
  const member = await join(topic);
  assert.equal((await call(owner, topic, 'update_scene', { url: 'ftp://nope' }))[4].response.reason, 'invalid_payload');
  assert.equal((await call(owner, topic, 'update_scene', { url: 'https://example.com/scene.glb' }))[4].status, 'ok');
  const scene = await member.c.waitFor((f) => f[3] === 'hub_refresh' && f[4].stale_fields.includes('scene'));
  assert.deepEqual(scene[4].hubs[0].scene, { url: 'https://example.com/scene.glb' });
  assert.equal((await call(owner, topic, 'close_hub', {}))[4].status, 'ok');
  await member.c.waitFor((f) => f[3] === 'hub_refresh' && f[4].stale_fields.includes('entry_mode'));
  assert.equal((await tryJoin(topic)).reply[4].response.reason, 'closed');
});

test('bad update_hub payloads are refused and change nothing', async () => {
  const { hubSid, creatorAssignmentToken } = await suite.node.createRoom('Strict');
  const topic = `hub:${hubSid}`;
  const owner = await join(topic, { creator_assignment_token: creatorAssignmentToken });
  for (const payload of [{ name: '' }, { room_size: 51 }, { entry_mode: 'deny' }, { member_permissions: { fly: 'yes' } }, { nonsense: 1 }, { user_data: { big: 'x'.repeat(20_000) } }]) {
    const f = await call(owner, topic, 'update_hub', payload);
    assert.equal(f[4].response.reason, 'invalid_payload', JSON.stringify(payload));
  }
  // allow_promotion needs update_hub_promotion (admins), which a creator does not have.
  assert.equal((await call(owner, topic, 'update_hub', { allow_promotion: true }))[4].response.permission, 'update_hub_promotion');
  assert.equal((await hubRow(hubSid)).name, 'Strict');
});

test('NUL characters in update_hub, update_scene, revoke_invite and the join\'s hub_invite_id are refused (PostgreSQL cannot store them) and change nothing', async () => {
  const { hubSid, creatorAssignmentToken } = await suite.node.createRoom('No NUL');
  const topic = `hub:${hubSid}`;
  const owner = await join(topic, { creator_assignment_token: creatorAssignmentToken });
  for (const [event, payload] of [
    ['update_hub', { name: 'a\u0000b' }],
    ['update_hub', { description: '\u0000' }],
    ['update_hub', { user_data: { note: 'x\u0000' } }],
    ['update_hub', { user_data: { ['k\u0000']: true } }],
    ['update_scene', { url: 'https://example.com/\u0000.glb' }],
    ['revoke_invite', { hub_invite_id: 'abc\u0000' }],
  ] as const) {
    const f = await call(owner, topic, event, payload);
    assert.equal(f[4].response.reason, 'invalid_payload', `${event} ${JSON.stringify(payload)}`);
    assert.match(f[4].response.message, /NUL/);
  }
  const row = await hubRow(hubSid);
  assert.equal(row.name, 'No NUL');
  assert.equal(row.description, null);
  assert.equal(row.scene, null);
  assert.equal((await call(owner, topic, 'update_hub', { entry_mode: 'invite' }))[4].status, 'ok');
  const refused = await tryJoin(topic, { hub_invite_id: 'x\u0000' });
  assert.equal(refused.reply[4].response.reason, 'invalid_payload');
  // The owner is still in the room and its channel still answers.
  assert.equal((await call(owner, topic, 'fetch_invite', {}))[4].status, 'ok');
});
