import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openDatabase, type Database } from '../db/database.ts';
import { HubRepository } from '../db/hub-repository.ts';
import { MemoryPresenceStore } from '../presence/memory-presence-store.ts';
import { ErrorCodes } from '../errors.ts';
import { Admission } from './admission.ts';
import { countPresence } from './room-view.ts';
import { Rooms, roomTopic } from './rooms.ts';

let database: Database;
let hubs: HubRepository;

before(async () => {
  database = await openDatabase({ pgliteDir: null });
  hubs = new HubRepository(database);
});
after(() => database.close());

function meta(presence: 'room' | 'lobby') {
  return { presence, profile: {}, context: {}, roles: {}, permissions: {} };
}

test('a room view carries the counts of its presence: members in the room and in the lobby, latest meta of each session', async () => {
  const presence = new MemoryPresenceStore();
  const rooms = new Rooms({ hubs, presence, defaultRoomSize: 24, broadcast: () => {} });
  const { hub } = await hubs.create({ name: 'Counted' });
  const topic = roomTopic(hub.hubSid);
  const a = await presence.track(topic, 'a', meta('lobby'));
  await presence.update(topic, 'a', a.phx_ref, meta('room'));
  await presence.track(topic, 'b', meta('lobby'));
  await presence.track(topic, 'c', meta('room'));
  assert.deepEqual(await rooms.counts(hub.hubSid), { memberCount: 2, lobbyCount: 1 });
  const view = await rooms.view(hub, { url: 'http://x/y' });
  assert.equal(view.member_count, 2);
  assert.equal(view.lobby_count, 1);
  assert.equal(view.room_size, 24, 'the default room_size when the room has none');
  assert.equal(view.url, 'http://x/y');
  assert.equal(view.embed_token, null, 'no embed token unless the reader may embed');
  assert.equal((await rooms.view(hub, { embeddable: true })).embed_token, hub.embedToken);
  assert.deepEqual(countPresence({}), { memberCount: 0, lobbyCount: 0 });
});

test('refresh reloads the members first, then broadcasts hub_refresh with the room as stored and the stale fields', async () => {
  const presence = new MemoryPresenceStore();
  const calls: string[] = [];
  const sent: Array<{ topic: string; event: string; payload: Record<string, unknown> }> = [];
  const rooms = new Rooms({
    hubs,
    presence,
    defaultRoomSize: 24,
    broadcast: (topic, event, payload) => {
      calls.push('broadcast');
      sent.push({ topic, event, payload });
    },
    reloadMembers: async (topic) => void calls.push(`reload ${topic}`),
  });
  const { hub } = await hubs.create({ name: 'Before' });
  await hubs.update(hub.id, { name: 'After' });
  await rooms.refresh(hub.hubSid, ['name'], 'session-1');
  assert.deepEqual(calls, [`reload hub:${hub.hubSid}`, 'broadcast']);
  assert.equal(sent[0]!.topic, `hub:${hub.hubSid}`);
  assert.equal(sent[0]!.event, 'hub_refresh');
  const hubsSent = sent[0]!.payload.hubs as Array<Record<string, unknown>>;
  assert.equal(hubsSent[0]!.name, 'After');
  assert.equal(sent[0]!.payload.session_id, 'session-1');
  assert.deepEqual(sent[0]!.payload.stale_fields, ['name']);
  await rooms.refresh('Zzzzzzz', ['name']);
  assert.equal(sent.length, 1, 'nothing is broadcast for a room that is gone');
});

test('admission refuses a missing or closed room, a disabled account, a ban in force and an invite-only room without its invite', async () => {
  let requireAccount = false;
  const admission = new Admission({ hubs, appConfig: { flag: async () => requireAccount } });
  assert.equal((await admission.openRoom('Nothere') as { refusal: { reason: string } }).refusal.reason, ErrorCodes.HUB_NOT_FOUND);
  const { hub } = await hubs.create({ name: 'Door' });
  assert.equal((await admission.openRoom(hub.hubSid) as { hub: { id: string } }).hub.id, hub.id);
  await hubs.update(hub.id, { entryMode: 'deny' });
  assert.equal((await admission.openRoom(hub.hubSid) as { refusal: { reason: string } }).refusal.reason, ErrorCodes.HUB_CLOSED);

  assert.equal(await admission.accountRequired(null), null);
  requireAccount = true;
  assert.equal((await admission.accountRequired(null))?.reason, ErrorCodes.JOIN_DENIED);
  assert.equal(await admission.accountRequired({ accountId: '1', isAdmin: false, disabled: false }), null);

  assert.equal(await admission.memberRefusal(hub, 's1', null), null);
  assert.equal((await admission.memberRefusal(hub, 's1', { accountId: '1', isAdmin: false, disabled: true }))?.reason, ErrorCodes.JOIN_DENIED);
  const until = new Date(Date.now() + 60_000);
  await hubs.ban(hub.id, { sessionId: 's2', until });
  const banned = await admission.memberRefusal(hub, 's2', null);
  assert.equal(banned?.reason, ErrorCodes.JOIN_DENIED);
  assert.deepEqual(banned?.details, { banned_until: until.toISOString() });

  const { hub: invited } = await hubs.create({ name: 'Invite only' });
  await hubs.update(invited.id, { entryMode: 'invite' });
  const inviteOnly = (await hubs.findBySid(invited.hubSid))!;
  const invite = await hubs.activeInvite(inviteOnly.id);
  assert.equal((await admission.inviteRefusal(inviteOnly, false, null))?.reason, ErrorCodes.JOIN_DENIED);
  assert.equal((await admission.inviteRefusal(inviteOnly, false, 'wrong'))?.reason, ErrorCodes.JOIN_DENIED);
  assert.equal(await admission.inviteRefusal(inviteOnly, false, invite), null);
  assert.equal(await admission.inviteRefusal(inviteOnly, true, null), null, 'owners come in without an invite');
  assert.deepEqual(admission.roomFull(8).details, { room_size: 8 });
  assert.equal(admission.sizeApplies(true), false);
});
