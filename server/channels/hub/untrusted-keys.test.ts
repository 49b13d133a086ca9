/**
 * Strings from clients that name Object.prototype's members (`__proto__`,
 * `constructor`, `toString`...) are ordinary unknown names: as moderation
 * targets they are not in the room (not_found, nothing changes), as event
 * names they are unknown events.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { channelSuite, type ChannelClient } from '../../test-support/channel-case.ts';
import { callIn, chatMarker, joinRoom, type RoomMember } from '../../test-support/raw-client.ts';

const suite = channelSuite();
const { clients } = suite;

const join = (topic: string, params: Record<string, unknown> = {}): Promise<RoomMember<ChannelClient>> => joinRoom(suite.node, topic, params, { track: clients });

const PROTOTYPE_NAMES = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf', '__defineGetter__'];

/** A chat message from `m` reaches `to`: every frame `m` sent before it has been handled. */
const marker = chatMarker;

test('kick, mute, block, unblock, add_owner and remove_owner of a session_id named like an Object.prototype member answer not_found and change nothing', async () => {
  const { hubSid, creatorAssignmentToken } = await suite.node.createRoom();
  const topic = `hub:${hubSid}`;
  const owner = await join(topic, { creator_assignment_token: creatorAssignmentToken });
  const other = await join(topic);
  await owner.c.waitFor((f) => f[3] === 'presence_diff' && !!f[4].joins[other.sessionId]);
  const ownerFrames = owner.c.frames.length;
  const otherFrames = other.c.frames.length;
  for (const event of ['kick', 'mute', 'block', 'unblock', 'add_owner', 'remove_owner']) {
    for (const sessionId of PROTOTYPE_NAMES) {
      const f = await callIn(owner, topic, event, { session_id: sessionId });
      assert.equal(f[4].status, 'error', `${event} ${sessionId}: ${JSON.stringify(f)}`);
      assert.equal(f[4].response.reason, 'not_found', `${event} ${sessionId}: ${JSON.stringify(f)}`);
      assert.match(f[4].response.message, /no member with session_id/);
    }
  }
  await marker(other, owner, topic);
  const hub = await suite.node.server.database.knex('hubs').where({ hub_sid: hubSid }).first();
  assert.deepEqual(await suite.node.server.database.knex('hub_bans').where({ hub_id: hub.hub_id }), []);
  const pushed = (frames: typeof owner.c.frames) => frames.filter((f) => f[3] !== 'phx_reply' && f[3] !== 'message').map((f) => f[3]);
  assert.deepEqual(pushed(owner.c.frames.slice(ownerFrames)), []);
  assert.deepEqual(pushed(other.c.frames.slice(otherFrames)), []);
  // Chat still flows both ways: no filter was set on a "__proto__" sender.
  await marker(owner, other, topic);
});

test('events named toString, __proto__, constructor, hasOwnProperty or events:toString are unknown events and change no presence', async () => {
  const topic = `hub:${(await suite.node.createRoom()).hubSid}`;
  const a = await join(topic);
  const watcher = await join(topic);
  await a.c.waitFor((f) => f[3] === 'presence_diff' && !!f[4].joins[watcher.sessionId]);
  const before = watcher.c.frames.length;
  for (const name of PROTOTYPE_NAMES.flatMap((n) => [n, `events:${n}`])) {
    const f = await callIn(a, topic, name, {});
    assert.equal(f[4].status, 'error', `${name}: ${JSON.stringify(f)}`);
    assert.equal(f[4].response.reason, 'unknown_event', `${name}: ${JSON.stringify(f)}`);
  }
  await marker(a, watcher, topic);
  assert.deepEqual(watcher.c.frames.slice(before).filter((f) => f[3] === 'presence_diff'), []);
});

test('unblock of a session that is neither in the room nor blocked answers not_found; unblocking a blocked member who left still works', async () => {
  const topic = `hub:${(await suite.node.createRoom()).hubSid}`;
  const a = await join(topic);
  const b = await join(topic);
  assert.equal((await callIn(a, topic, 'unblock', { session_id: 'nobody' }))[4].response.reason, 'not_found');
  assert.equal((await callIn(a, topic, 'block', { session_id: b.sessionId }))[4].status, 'ok');
  b.c.close();
  await a.c.waitFor((f) => f[3] === 'presence_diff' && !!f[4].leaves[b.sessionId]);
  assert.equal((await callIn(a, topic, 'unblock', { session_id: b.sessionId }))[4].status, 'ok');
});
