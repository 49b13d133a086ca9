/**
 * Reticulum's own room tests, ported to Plexus in process (channel-case.ts):
 * test/ret_web/channels/hub_channel_test.exs and the cases of
 * test/ret/hub_test.exs that a client can observe (join replies, perms
 * tokens, presence roles, the HTTP API). Each test is named after the
 * Reticulum test it ports; docs/reticulum-tests.md lists the cases left out
 * and why. Setup that Reticulum's tests do in the database (an invite-only
 * room, a revoked invite, an assigned creator, an owner row) is done here
 * with Plexus's repository functions too.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { channelSuite, type ChannelClient } from '../../test-support/channel-case.ts';
import { decodeJwt } from 'jose';
import { findOrCreateAccount, setAccountState } from '../../db/accounts.ts';
import { HubRepository } from '../../db/hub-repository.ts';
import type { HubRecord } from '../../db/hubs.ts';
import { callIn, joinRoom, type Frame, type RoomMember } from '../../test-support/raw-client.ts';

const suite = channelSuite({ accountTokens: true });
const { clients } = suite;

const db = () => suite.node.server.database.knex;
const hubs = () => new HubRepository(suite.node.server.database);
const call = callIn;

/** Reticulum's create_account: a fresh account and an auth token for it. */
async function createAccount(prefix: string): Promise<{ accountId: string; token: string }> {
  const account = await findOrCreateAccount(db(), `${prefix}-${randomBytes(6).toString('hex')}`, false);
  return { accountId: account.accountId, token: await suite.tokens.issue(account.accountId) };
}

/** Reticulum's create_hub: a room (through the API) and its record. */
async function createHub(): Promise<{ hub: HubRecord; topic: string; creatorAssignmentToken: string }> {
  const { hubSid, creatorAssignmentToken } = await suite.node.createRoom('Test Hub');
  return { hub: (await hubs().findBySid(hubSid))!, topic: `hub:${hubSid}`, creatorAssignmentToken };
}

/** Reticulum's create_invite_only_hub: entry mode invite and its active invite. */
async function createInviteOnlyHub(): Promise<{ hub: HubRecord; topic: string; creatorAssignmentToken: string; invite: string }> {
  const made = await createHub();
  await hubs().update(made.hub.id, { entryMode: 'invite' });
  return { ...made, invite: await hubs().activeInvite(made.hub.id) };
}

/** Reticulum's assign_creator. */
async function assignCreator(room: { hub: HubRecord; creatorAssignmentToken: string }, account: { accountId: string }): Promise<void> {
  assert.equal(await hubs().claimCreatorAssignment(room.hub.id, room.creatorAssignmentToken, account.accountId), true);
}

/** Joins with Reticulum's default join params plus `params`; returns the reply frame (ok or error). */
async function tryJoin(topic: string, params: Record<string, unknown> = {}): Promise<{ reply: Frame; c: ChannelClient }> {
  const c = await suite.node.connect();
  clients.push(c);
  return { reply: await c.join(topic, { profile: {}, context: {}, ...params }), c };
}

const join = (topic: string, params: Record<string, unknown> = {}): Promise<RoomMember<ChannelClient>> => joinRoom(suite.node, topic, params, { track: clients });

async function permsOf(m: RoomMember<ChannelClient>, topic: string): Promise<Record<string, unknown>> {
  const f = await call(m, topic, 'refresh_perms_token', {});
  return decodeJwt(f[4].response.perms_token as string);
}

const pick = (o: Record<string, unknown>, keys: string[]) => Object.fromEntries(keys.map((k) => [k, o[k]]));
const HUB_TEST_PERMS = ['join_hub', 'update_hub', 'close_hub', 'mute_users', 'amplify_audio'];

async function createdBy(hub: HubRecord): Promise<string | null> {
  return (await hubs().findBySid(hub.hubSid))!.createdByAccountId;
}

// --- test/ret_web/channels/hub_channel_test.exs -----------------------------

test('hub_channel_test: "joining hub works"', async () => {
  const { topic } = await createHub();
  const { reply } = await tryJoin(topic);
  assert.equal(reply[4].status, 'ok');
  assert.equal(typeof reply[4].response.session_id, 'string');
});

test('hub_channel_test: "joining hub does not work if account is disabled"', async () => {
  const { topic } = await createHub();
  const disabled = await createAccount('disabled_account');
  await setAccountState(db(), disabled.accountId, 'disabled');
  const { reply } = await tryJoin(topic, { auth_token: disabled.token });
  assert.deepEqual([reply[4].status, reply[4].response.reason], ['error', 'join_denied']);
});

test('hub_channel_test: "joining hub registers in presence"', async () => {
  const { topic } = await createHub();
  const { reply, c } = await tryJoin(topic);
  const state = await c.waitFor((f) => f[3] === 'presence_state');
  assert.ok(state[4][reply[4].response.session_id]);
});

test('hub_channel_test: "join is denied when joining without an invite"', async () => {
  const { topic } = await createInviteOnlyHub();
  assert.equal((await tryJoin(topic)).reply[4].response.reason, 'join_denied');
});

test('hub_channel_test: "join is denied when joining with an invalid invite"', async () => {
  const { topic } = await createInviteOnlyHub();
  assert.equal((await tryJoin(topic, { hub_invite_id: 'invalid_invite_id' })).reply[4].response.reason, 'join_denied');
});

test('hub_channel_test: "join is denied when joining with a revoked invite"', async () => {
  const { hub, topic, invite } = await createInviteOnlyHub();
  assert.ok(await hubs().revokeInvite(hub.id, invite));
  assert.equal((await tryJoin(topic, { hub_invite_id: invite })).reply[4].response.reason, 'join_denied');
});

test('hub_channel_test: "join is denied when joining with a mismatched invite"', async () => {
  const one = await createInviteOnlyHub();
  const two = await createInviteOnlyHub();
  assert.equal((await tryJoin(one.topic, { hub_invite_id: two.invite })).reply[4].response.reason, 'join_denied');
});

test('hub_channel_test: "revoke cannot be performed by an anonymous user"', async () => {
  const { topic, invite } = await createInviteOnlyHub();
  const anon = await join(topic, { hub_invite_id: invite });
  const revoke = await call(anon, topic, 'revoke_invite', { hub_invite_id: invite });
  assert.deepEqual([revoke[4].status, revoke[4].response], ['ok', {}]);
  assert.equal((await tryJoin(topic, { hub_invite_id: 'invalid_invite_id' })).reply[4].response.reason, 'join_denied');
  assert.equal((await tryJoin(topic, { hub_invite_id: invite })).reply[4].status, 'ok');
});

test('hub_channel_test: "revoke is keyed to hub"', async () => {
  const one = await createInviteOnlyHub();
  const two = await createInviteOnlyHub();
  const accountOne = await createAccount('account_one');
  await assignCreator(one, accountOne);
  const creator = await join(one.topic, { auth_token: accountOne.token });
  const revoke = await call(creator, one.topic, 'revoke_invite', { hub_invite_id: two.invite });
  assert.equal(revoke[4].status, 'ok');
  assert.equal(Object.keys(revoke[4].response).length, 0, 'a revoke that is ignored answers an empty payload');
  assert.equal((await tryJoin(two.topic, { hub_invite_id: 'invalid_invite_id' })).reply[4].response.reason, 'join_denied');
  assert.equal((await tryJoin(two.topic, { hub_invite_id: two.invite })).reply[4].status, 'ok');
});

test('hub_channel_test: "revoke can be performed by hub creator"', async () => {
  const room = await createInviteOnlyHub();
  const account = await createAccount('test_account');
  await assignCreator(room, account);
  const creator = await join(room.topic, { auth_token: account.token });
  const revoke = await call(creator, room.topic, 'revoke_invite', { hub_invite_id: room.invite });
  assert.equal(revoke[4].status, 'ok');
  assert.equal(typeof revoke[4].response.hub_invite_id, 'string');
  assert.notEqual(revoke[4].response.hub_invite_id, room.invite);
});

test('hub_channel_test: "join is allowed on an invite-only hub with a correct invite id"', async () => {
  const { topic, invite } = await createInviteOnlyHub();
  assert.equal((await tryJoin(topic, { hub_invite_id: invite })).reply[4].status, 'ok');
});

// --- test/ret/hub_test.exs (what a client observes) -------------------------

test('hub_test: "should deny permissions for non-creator"', async () => {
  const { topic } = await createHub();
  const nonCreator = await createAccount('non-creator');
  const m = await join(topic, { auth_token: nonCreator.token });
  assert.deepEqual(pick(await permsOf(m, topic), HUB_TEST_PERMS), { join_hub: true, update_hub: false, close_hub: false, mute_users: false, amplify_audio: false });
});

test('hub_test: "should deny permissions for anon"', async () => {
  const { topic } = await createHub();
  const m = await join(topic);
  assert.deepEqual(pick(await permsOf(m, topic), HUB_TEST_PERMS), { join_hub: true, update_hub: false, close_hub: false, mute_users: false, amplify_audio: false });
});

test('hub_test: "should deny entry for closed hub, allow entry for re-opened hub"', async () => {
  const { hub, topic, creatorAssignmentToken } = await createHub();
  assert.equal((await permsOf(await join(topic), topic)).join_hub, true);
  await hubs().update(hub.id, { entryMode: 'deny' });
  assert.equal((await tryJoin(topic)).reply[4].response.reason, 'closed');
  const reopen = await suite.node.fetch(`${suite.node.url}/api/v1/hubs/${hub.hubSid}`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${creatorAssignmentToken}` },
    body: JSON.stringify({ hub: { entry_mode: 'allow' } }),
  });
  assert.equal(reopen.status, 200, await reopen.text());
  assert.equal((await permsOf(await join(topic), topic)).join_hub, true);
});

test('hub_test: "should grant permssions for hub creator"', async () => {
  const room = await createHub();
  const account = await createAccount('test');
  await assignCreator(room, account);
  const m = await join(room.topic, { auth_token: account.token });
  assert.deepEqual(pick(await permsOf(m, room.topic), HUB_TEST_PERMS), { join_hub: true, update_hub: true, close_hub: true, mute_users: true, amplify_audio: true });
});

test('hub_test: "should have creator assignment token if no account assigned"', async () => {
  const res = await suite.node.fetch(`${suite.node.url}/api/v1/hubs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ hub: { name: 'Test Hub' } }) });
  const body = (await res.json()) as { hub_id: string; creator_assignment_token: string | null };
  assert.match(body.creator_assignment_token ?? '', /^[0-9a-f]{32}$/);
  const m = await join(`hub:${body.hub_id}`, { creator_assignment_token: body.creator_assignment_token });
  assert.equal((await permsOf(m, `hub:${body.hub_id}`)).update_roles, true, 'the token is this room\'s');
});

test('hub_test: "should have embed token"', async () => {
  const res = await suite.node.fetch(`${suite.node.url}/api/v1/hubs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ hub: { name: 'Test Hub' } }) });
  const body = (await res.json()) as { hub_id: string; embed_token: string | null };
  assert.match(body.embed_token ?? '', /^[0-9a-f]{32,64}$/);
  assert.equal((await hubs().findBySid(body.hub_id))?.embedToken, body.embed_token);
});

test('hub_test: "should not have creator assignment token if account assigned"', async () => {
  const account = await createAccount('test');
  const res = await suite.node.fetch(`${suite.node.url}/api/v1/hubs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `bearer: ${account.token}` },
    body: JSON.stringify({ hub: { name: 'Test Hub' } }),
  });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { hub_id: string; creator_assignment_token: string | null };
  assert.equal(body.creator_assignment_token, null);
  const hub = (await hubs().findBySid(body.hub_id))!;
  assert.equal(hub.createdByAccountId, account.accountId);
  const row = await db()('hubs').where({ hub_id: hub.id }).first('creator_assignment_token_hash');
  assert.equal(row.creator_assignment_token_hash, null);
});

test('hub_test: "should allow creator assignment if token is correct"', async () => {
  const { hub, topic, creatorAssignmentToken } = await createHub();
  const account = await createAccount('test');
  const m = await join(topic);
  assert.equal((await call(m, topic, 'sign_in', { token: account.token, creator_assignment_token: creatorAssignmentToken }))[4].status, 'ok');
  assert.equal(await createdBy(hub), account.accountId);
});

test('hub_test: "show disallow creator assignment if token is incorrect"', async () => {
  const { hub, topic } = await createHub();
  const account = await createAccount('test');
  const m = await join(topic);
  assert.equal((await call(m, topic, 'sign_in', { token: account.token, creator_assignment_token: 'bad token' }))[4].status, 'ok');
  assert.equal(await createdBy(hub), null);
});

test('hub_test: "show disallow creator assignment if token is already used"', async () => {
  const { hub, topic, creatorAssignmentToken } = await createHub();
  const account = await createAccount('test');
  const account2 = await createAccount('test2');
  const m = await join(topic);
  assert.equal((await call(m, topic, 'sign_in', { token: account.token, creator_assignment_token: creatorAssignmentToken }))[4].status, 'ok');
  const m2 = await join(topic);
  assert.equal((await call(m2, topic, 'sign_in', { token: account2.token, creator_assignment_token: creatorAssignmentToken }))[4].status, 'ok');
  assert.equal((await call(m2, topic, 'sign_in', { token: account2.token, creator_assignment_token: null }))[4].status, 'ok');
  assert.equal(await createdBy(hub), account.accountId);
});

test('hub_test: "hub permissions map can be converted to bit field integer"', async () => {
  const { hub, topic, creatorAssignmentToken } = await createHub();
  const creator = await join(topic, { creator_assignment_token: creatorAssignmentToken });
  // Plexus merges a partial map into the current flags, so the other flags are sent as false.
  const flags = { spawn_and_move_media: true, spawn_camera: false, spawn_drawing: false, pin_objects: false, spawn_emoji: false, fly: false, voice_chat: false, text_chat: false };
  assert.equal((await call(creator, topic, 'update_hub', { member_permissions: flags }))[4].status, 'ok');
  assert.equal((await hubs().findBySid(hub.hubSid))!.memberPermissions, 1);
});

test('hub_test: "invalid hub permissions map cannot be converted to bit field integer"', async () => {
  const { hub, topic, creatorAssignmentToken } = await createHub();
  const before = hub.memberPermissions;
  const creator = await join(topic, { creator_assignment_token: creatorAssignmentToken });
  assert.equal((await call(creator, topic, 'update_hub', { member_permissions: { fake_permission: false } }))[4].response.reason, 'invalid_payload');
  assert.equal((await hubs().findBySid(hub.hubSid))!.memberPermissions, before, 'nothing changed');
});

test('hub_test: "hub permissions bit field integer can be queried for a permission"', async () => {
  const { hub, topic } = await createHub();
  await hubs().update(hub.id, { memberPermissions: 1 });
  const { reply } = await tryJoin(topic);
  const perms = reply[4].response.hubs[0].member_permissions;
  assert.equal(perms.spawn_and_move_media, true);
  assert.equal(perms.pin_objects, false);
});

test('hub_test: "hubs can assign new owners"', async () => {
  const room = await createHub();
  const account = await createAccount('test');
  const account2 = await createAccount('test2');
  await assignCreator(room, account);
  const creator = await join(room.topic, { auth_token: account.token });
  const other = await join(room.topic, { auth_token: account2.token });
  assert.deepEqual([(await permsOf(creator, room.topic)).update_hub, (await permsOf(other, room.topic)).update_hub], [true, false]);
  assert.equal((await call(creator, room.topic, 'add_owner', { session_id: other.sessionId }))[4].status, 'ok');
  await other.c.waitFor((f) => f[3] === 'permissions_updated');
  assert.deepEqual([(await permsOf(creator, room.topic)).update_hub, (await permsOf(other, room.topic)).update_hub], [true, true]);
  assert.equal((await call(creator, room.topic, 'remove_owner', { session_id: other.sessionId }))[4].status, 'ok');
  // One node: the reply comes once the target's member has applied the change.
  assert.deepEqual([(await permsOf(creator, room.topic)).update_hub, (await permsOf(other, room.topic)).update_hub], [true, false]);
});

test('hub_test: "adding creator as owner has no side effects"', async () => {
  const room = await createHub();
  const account = await createAccount('test');
  await assignCreator(room, account);
  // The creator's own session cannot be its target; its second device can.
  const device1 = await join(room.topic, { auth_token: account.token });
  const device2 = await join(room.topic, { auth_token: account.token });
  assert.equal((await call(device1, room.topic, 'add_owner', { session_id: device2.sessionId }))[4].status, 'ok');
  assert.deepEqual(await db()('hub_role_memberships').where({ hub_id: room.hub.id }).select('account_id'), []);
  assert.equal((await permsOf(device2, room.topic)).update_roles, true);
});

test('hub_test: "double adding the same account doesn\'t fail"', async () => {
  const room = await createHub();
  const account = await createAccount('test');
  const account2 = await createAccount('test2');
  await assignCreator(room, account);
  const creator = await join(room.topic, { auth_token: account.token });
  const other = await join(room.topic, { auth_token: account2.token });
  for (let i = 0; i < 3; i++) assert.equal((await call(creator, room.topic, 'add_owner', { session_id: other.sessionId }))[4].status, 'ok');
  const rows = await db()('hub_role_memberships').where({ hub_id: room.hub.id }).select('account_id');
  assert.deepEqual(rows.map((r) => String(r.account_id)), [account2.accountId]);
});
