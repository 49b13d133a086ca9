/**
 * Signing in inside a room, in process (channel-case.ts): `sign_in` admits an account
 * only as the join would (disabled and banned accounts are refused), and the
 * creator assignment token is spent by the first account that claims it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { channelSuite, type ChannelClient } from '../../test-support/channel-case.ts';
import { decodeJwt } from 'jose';
import { findOrCreateAccount, setAccountState } from '../../db/accounts.ts';
import { callIn, joinRoom, type Frame, type RoomMember } from '../../test-support/raw-client.ts';

const suite = channelSuite({ accountTokens: true, env: { KICK_BAN_SECONDS: '600' } });
const { clients } = suite;

async function newAccount(): Promise<{ accountId: string; token: string }> {
  const account = await findOrCreateAccount(suite.node.server.database.knex, `hash-${randomBytes(6).toString('hex')}`, false);
  return { accountId: account.accountId, token: await suite.tokens.issue(account.accountId) };
}

const join = (topic: string, params: Record<string, unknown> = {}): Promise<RoomMember<ChannelClient>> => joinRoom(suite.node, topic, params, { track: clients });
const call = callIn;

/** The latest presence meta of `key` in the frames `c` received. */
function metaOf(c: ChannelClient, key: string): Record<string, any> | undefined {
  let meta: Record<string, any> | undefined;
  for (const f of c.frames) {
    if (f[3] === 'presence_state') meta = f[4][key]?.metas.at(-1);
    else if (f[3] === 'presence_diff') {
      if (f[4].leaves[key]) meta = undefined;
      if (f[4].joins[key]) meta = f[4].joins[key].metas.at(-1);
    }
  }
  return meta;
}

const rolesChanged = (key: string, creator: boolean) => (f: Frame) => f[3] === 'presence_diff' && f[4].joins[key]?.metas[0].roles.creator === creator;

async function hubRow(hubSid: string): Promise<{ created_by_account_id: string | number | null; creator_assignment_token_hash: string | null }> {
  return suite.node.server.database.knex('hubs').where({ hub_sid: hubSid }).first('created_by_account_id', 'creator_assignment_token_hash');
}

test('a kicked signed-in account that comes back as a new anonymous session may stay, but its sign_in answers join_denied with banned_until and changes nothing', async () => {
  const { hubSid, creatorAssignmentToken } = await suite.node.createRoom();
  const topic = `hub:${hubSid}`;
  const owner = await join(topic, { creator_assignment_token: creatorAssignmentToken });
  const account = await newAccount();
  const victim = await join(topic, { auth_token: account.token });
  assert.equal((await call(owner, topic, 'kick', { session_id: victim.sessionId }))[4].status, 'ok');
  assert.equal(await victim.c.waitClose(), 4003);
  // Without its session token the person is someone new to the room (README: ban accounts by signing in)...
  const back = await join(topic);
  assert.notEqual(back.sessionId, victim.sessionId);
  // ...until it says which account it is.
  const signIn = await call(back, topic, 'sign_in', { token: account.token });
  assert.equal(signIn[4].status, 'error', JSON.stringify(signIn));
  assert.equal(signIn[4].response.reason, 'join_denied');
  assert.ok(Date.parse(signIn[4].response.banned_until) > Date.now());
  const perms = decodeJwt((await call(back, topic, 'refresh_perms_token', {}))[4].response.perms_token);
  assert.equal(perms.account_id, '', 'still anonymous');
  assert.equal(metaOf(owner.c, back.sessionId)?.roles.signed_in, false);
  // The door says the same to the account.
  const again = await suite.node.connect();
  clients.push(again);
  assert.equal((await again.join(topic, { profile: {}, context: {}, auth_token: account.token }))[4].response.reason, 'join_denied');
});

test('a disabled account is refused with join_denied at the join (as Reticulum) and by sign_in, where the member stays anonymous', async () => {
  const { hubSid } = await suite.node.createRoom();
  const topic = `hub:${hubSid}`;
  const account = await newAccount();
  assert.equal(await setAccountState(suite.node.server.database.knex, account.accountId, 'disabled'), true);
  const c = await suite.node.connect();
  clients.push(c);
  const j = await c.join(topic, { profile: {}, context: {}, auth_token: account.token });
  assert.deepEqual([j[4].status, j[4].response.reason], ['error', 'join_denied']);
  const anon = await join(topic);
  const signIn = await call(anon, topic, 'sign_in', { token: account.token });
  assert.deepEqual([signIn[4].status, signIn[4].response.reason], ['error', 'join_denied']);
  assert.equal(decodeJwt((await call(anon, topic, 'refresh_perms_token', {}))[4].response.perms_token).account_id, '');
  // A bad token is still sign_in_failed.
  assert.equal((await call(anon, topic, 'sign_in', { token: 'not.a.token' }))[4].response.reason, 'sign_in_failed');
});

test('the creator assignment token is spent by the first account that claims it: a second account\'s claim changes nothing, the first may send it again, PATCH refuses it', async () => {
  const { hubSid, creatorAssignmentToken } = await suite.node.createRoom();
  const topic = `hub:${hubSid}`;
  const first = await newAccount();
  const second = await newAccount();
  const a = await join(topic);
  const claim = await call(a, topic, 'sign_in', { token: first.token, creator_assignment_token: creatorAssignmentToken });
  assert.equal(claim[4].status, 'ok', JSON.stringify(claim));
  assert.equal(decodeJwt(claim[4].response.perms_token).update_roles, true);
  const claimed = await hubRow(hubSid);
  assert.deepEqual([String(claimed.created_by_account_id), claimed.creator_assignment_token_hash], [first.accountId, null]);
  // The second account's sign_in succeeds (the stale token is ignored, as Reticulum) but does not take the room.
  const b = await join(topic);
  const takeover = await call(b, topic, 'sign_in', { token: second.token, creator_assignment_token: creatorAssignmentToken });
  assert.equal(takeover[4].status, 'ok', JSON.stringify(takeover));
  const p = decodeJwt(takeover[4].response.perms_token);
  assert.deepEqual([p.account_id, p.update_roles, p.update_hub], [second.accountId, false, false]);
  assert.equal(String((await hubRow(hubSid)).created_by_account_id), first.accountId);
  assert.equal((await call(b, topic, 'update_hub', { name: 'Taken' }))[4].response.reason, 'permission_denied');
  // The creator's page keeps the token and sends it at every sign-in: that still works.
  const again = await call(a, topic, 'sign_in', { token: first.token, creator_assignment_token: creatorAssignmentToken });
  assert.equal(decodeJwt(again[4].response.perms_token).update_roles, true);
  const patch = await suite.node.fetch(`${suite.node.url}/api/v1/hubs/${hubSid}`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${creatorAssignmentToken}` },
    body: JSON.stringify({ hub: { name: 'Patched' } }),
  });
  assert.equal(patch.status, 401);
});

test('a session that joined with the creator_assignment_token is creator until an account claims the room: then it gets permissions_updated, loses the role, and a rejoin with the spent token gets in as a member', async () => {
  const { hubSid, creatorAssignmentToken } = await suite.node.createRoom();
  const topic = `hub:${hubSid}`;
  const holder = await join(topic, { creator_assignment_token: creatorAssignmentToken });
  assert.equal(metaOf(holder.c, holder.sessionId)?.roles.creator, true);
  const claimer = await newAccount();
  // The claiming account is also in the room on another device: that session becomes creator too.
  const otherDevice = await join(topic, { auth_token: claimer.token });
  assert.equal(metaOf(otherDevice.c, otherDevice.sessionId)?.roles.creator, false);
  const c = await join(topic);
  assert.equal((await call(c, topic, 'sign_in', { token: claimer.token, creator_assignment_token: creatorAssignmentToken }))[4].status, 'ok');
  await holder.c.waitFor((f) => f[3] === 'permissions_updated');
  await holder.c.waitFor(rolesChanged(holder.sessionId, false));
  assert.deepEqual(metaOf(c.c, holder.sessionId)?.roles, { owner: false, creator: false, signed_in: false });
  await otherDevice.c.waitFor(rolesChanged(otherDevice.sessionId, true));
  assert.equal(metaOf(holder.c, c.sessionId)?.roles.creator, true);
  const denied = await call(holder, topic, 'update_hub', { name: 'Mine' });
  assert.deepEqual([denied[4].response.reason, denied[4].response.permission], ['permission_denied', 'update_hub']);
  // The page kept the token: its next join still gets in, without the role.
  const rejoin = await join(topic, { creator_assignment_token: creatorAssignmentToken });
  assert.deepEqual(metaOf(rejoin.c, rejoin.sessionId)?.roles, { owner: false, creator: false, signed_in: false });
  assert.equal(decodeJwt((await call(rejoin, topic, 'refresh_perms_token', {}))[4].response.perms_token).kick_users, false);
});
