/**
 * Reticulum's test/ret_web/channels/entity_test.exs ported to Plexus in process
 * (channel-case.ts): saved entity state (bitECS) and its refusals. The rooms use
 * Reticulum's restrictive member permissions (voice_chat and text_chat only,
 * its default without `permissive_rooms`), so only owners may write; an owner
 * row is written directly, as Reticulum's tests insert a HubRoleMembership.
 * The cases about uploaded files are listed in docs/reticulum-tests.md.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { channelSuite, type ChannelClient } from '../../test-support/channel-case.ts';
import { findOrCreateAccount } from '../../db/accounts.ts';
import { HubRepository } from '../../db/hub-repository.ts';
import type { HubRecord } from '../../db/hubs.ts';
import { callIn, joinRoom, type RoomMember } from '../../test-support/raw-client.ts';

const suite = channelSuite({ accountTokens: true });
const { clients } = suite;

const db = () => suite.node.server.database.knex;
const hubs = () => new HubRepository(suite.node.server.database);
const call = callIn;
/** Reticulum's restrictive member permissions: voice_chat (64) and text_chat (128). */
const RESTRICTIVE = 64 | 128;

async function createHub(): Promise<{ hub: HubRecord; topic: string }> {
  const { hubSid } = await suite.node.createRoom('Test Hub');
  const hub = (await hubs().findBySid(hubSid))!;
  await hubs().update(hub.id, { memberPermissions: RESTRICTIVE });
  return { hub, topic: `hub:${hubSid}` };
}

async function createAccount(): Promise<{ accountId: string; token: string }> {
  const account = await findOrCreateAccount(db(), `entity-${randomBytes(6).toString('hex')}`, false);
  return { accountId: account.accountId, token: await suite.tokens.issue(account.accountId) };
}

/** A signed-in member; with `owner`, the account first gets an owner row (HubRoleMembership). */
async function joinAs(room: { hub: HubRecord; topic: string }, opts: { owner?: boolean; anonymous?: boolean } = {}): Promise<RoomMember<ChannelClient>> {
  if (opts.anonymous) return joinRoom(suite.node, room.topic, {}, { track: clients });
  const account = await createAccount();
  if (opts.owner) await hubs().addOwner(room.hub.id, account.accountId);
  return joinRoom(suite.node, room.topic, { auth_token: account.token }, { track: clients });
}

/** A media entity as the Hubs client saves it: the root's transform and a child's PDF page. */
function mediaEntity(nid: string, page: number) {
  return {
    nid,
    create_message: { version: 1, networkId: nid, prefabName: 'media', initialData: { src: `https://example.org/${nid}.pdf`, recenter: true, resize: true } },
    updates: [
      { root_nid: nid, nid, update_message: { nid, lastOwnerTime: 10, timestamp: 11, owner: 'someone', data: { 'networked-transform': { version: 1, data: { position: [1, 2, 3] } } } } },
      { root_nid: nid, nid: `${nid}.0`, update_message: { nid: `${nid}.0`, lastOwnerTime: 12, timestamp: 13, owner: 'someone', data: { 'networked-pdf': { version: 1, data: { pageNumber: page } } } } },
    ],
  };
}

const pageOf = (entity: { update_messages: Array<{ data: Record<string, { data: { pageNumber?: number } }> }> }) => entity.update_messages[1]!.data['networked-pdf']!.data.pageNumber;

test('entity_test: "list_entity_states"', async () => {
  const room = await createHub();
  const m = await joinAs(room, { anonymous: true });
  const f = await call(m, room.topic, 'list_entities', {});
  assert.deepEqual([f[4].status, f[4].response], ['ok', { data: [] }]);
});

test('entity_test: "save_entity_state creates an entity state"', async () => {
  const room = await createHub();
  const m = await joinAs(room, { owner: true });
  const payload = mediaEntity('ent1abc', 2);
  assert.equal((await call(m, room.topic, 'save_entity_state', payload))[4].status, 'ok');
  const listed = (await call(m, room.topic, 'list_entities', {}))[4].response.data;
  assert.equal(listed.length, 1);
  assert.equal(listed[0].create_message.networkId, payload.nid);
  assert.deepEqual(listed[0].create_message, payload.create_message);
  assert.deepEqual(listed[0].update_messages, payload.updates.map((u) => u.update_message));
});

test('entity_test: "save_entity_state is denied if not logged in"', async () => {
  const room = await createHub();
  const m = await joinAs(room, { anonymous: true });
  const f = await call(m, room.topic, 'save_entity_state', mediaEntity('ent1abc', 2));
  assert.deepEqual([f[4].status, f[4].response.reason], ['error', 'not_logged_in']);
});

test('entity_test: "save_entity_state is denied if account lacks pin permissions"', async () => {
  const room = await createHub();
  const m = await joinAs(room);
  const f = await call(m, room.topic, 'save_entity_state', mediaEntity('ent1abc', 2));
  assert.deepEqual([f[4].status, f[4].response.reason], ['error', 'unauthorized']);
  assert.deepEqual((await call(m, room.topic, 'list_entities', {}))[4].response.data, []);
});

test('entity_test: "update_entity_state overwrites previous entity state"', async () => {
  const room = await createHub();
  const m = await joinAs(room, { owner: true });
  const saved = mediaEntity('ent1abc', 2);
  assert.equal((await call(m, room.topic, 'save_entity_state', saved))[4].status, 'ok');
  assert.equal(pageOf((await call(m, room.topic, 'list_entities', {}))[4].response.data[0]), 2);
  const update = { root_nid: saved.nid, nid: `${saved.nid}.0`, update_message: { nid: `${saved.nid}.0`, lastOwnerTime: 20, timestamp: 21, owner: 'someone', data: { 'networked-pdf': { version: 1, data: { pageNumber: 1 } } } } };
  assert.equal((await call(m, room.topic, 'update_entity_state', update))[4].status, 'ok');
  assert.equal(pageOf((await call(m, room.topic, 'list_entities', {}))[4].response.data[0]), 1);
});

test('entity_test: "delete_entity_state replies with error if entity does not exist"', async () => {
  const room = await createHub();
  const m = await joinAs(room, { owner: true });
  const f = await call(m, room.topic, 'delete_entity_state', { nid: 'non_existent_nid' });
  assert.deepEqual([f[4].status, f[4].response.reason], ['error', 'entity_state_does_not_exist']);
});

test('entity_test: "delete_entity_state replies with error if not authorized"', async () => {
  const room = await createHub();
  const m = await joinAs(room, { anonymous: true });
  const f = await call(m, room.topic, 'delete_entity_state', { nid: 'ent1abc' });
  assert.deepEqual([f[4].status, f[4].response.reason], ['error', 'not_logged_in']);
});

test('entity_test: "delete_entity_state deletes the entity with the matching nid"', async () => {
  const room = await createHub();
  const m = await joinAs(room, { owner: true });
  const first = mediaEntity('ent1abc', 2);
  const second = { ...mediaEntity('ent2xyz', 5), updates: mediaEntity('ent2xyz', 5).updates.slice(0, 1) };
  assert.equal((await call(m, room.topic, 'save_entity_state', first))[4].status, 'ok');
  assert.equal((await call(m, room.topic, 'save_entity_state', second))[4].status, 'ok');
  assert.equal((await call(m, room.topic, 'delete_entity_state', { nid: first.nid }))[4].status, 'ok');
  const listed = (await call(m, room.topic, 'list_entities', {}))[4].response.data;
  assert.equal(listed.length, 1);
  assert.notEqual(listed[0].create_message.networkId, first.nid);
  assert.equal(listed[0].create_message.networkId, second.nid);
  assert.deepEqual(listed[0].create_message, second.create_message);
});
