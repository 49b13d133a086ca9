/**
 * Objects that persist, over the real socket, on embedded PGlite and on
 * PostgreSQL: pinned objects and saved entity state survive a server
 * restart and reach a member who joins afterwards (objects.gltf,
 * list_entities); writing needs pin_objects and a known person.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { AccountTokens } from '../../auth/account-token.ts';
import { findOrCreateAccount } from '../../db/accounts.ts';
import { openDatabase, type DatabaseLocation } from '../../db/database.ts';
import { callIn, joinRoom, RawClient, type RoomMember } from '../../test-support/raw-client.ts';
import { createRoom, startTestServer, type TestServer } from '../../test-support/test-server.ts';
import { databaseBackends, type DatabaseBackend } from '../../test-support/db-backends.ts';


const clients: RawClient[] = [];
after(() => {
  for (const c of clients) c.close();
});

const SECRET = randomBytes(32).toString('hex');

async function start(location: DatabaseLocation): Promise<TestServer> {
  const env = { SESSION_SECRET: SECRET };
  if ('url' in location) return startTestServer({ databaseUrl: location.url, env });
  return startTestServer({ database: await openDatabase(location), env });
}

/** An account token for a fresh account (a signed-in member who is not an owner). */
async function accountToken(node: TestServer): Promise<string> {
  const account = await findOrCreateAccount(node.server.database.knex, `hash-${randomBytes(6).toString('hex')}`, false);
  return new AccountTokens(SECRET, node.server.database).issue(account.accountId);
}

/** What the room has stored: pinned node names and saved entities. */
async function stored(node: TestServer, m: { c: RawClient; jr: string }, hubSid: string): Promise<{ pins: string[]; entities: unknown }> {
  const pins = (await objectsGltf(node, hubSid)).body.nodes.map((n: { name: string }) => n.name);
  const entities = (await call(m, `hub:${hubSid}`, 'list_entities', {}))[4].response.data;
  return { pins, entities };
}

const join = (node: TestServer, topic: string, params: Record<string, unknown> = {}): Promise<RoomMember> => joinRoom(node.url, topic, params, { track: clients });
const call = callIn;

async function objectsGltf(node: TestServer, hubSid: string): Promise<{ status: number; type: string | null; body: any }> {
  const res = await fetch(`${node.url}/${hubSid}/objects.gltf`);
  return { status: res.status, type: res.headers.get('content-type'), body: await res.json() };
}

const boxNode = (id: string, x: number) => ({ name: id, translation: [x, 1, 0], extensions: { HUBS_components: { pinnable: { pinned: true }, plexus_box: { color: '#ff0000' } } } });

for (const backend of databaseBackends) {
  describe(`objects on ${backend.name}`, () => {
    persistenceTests(backend);
    permissionTests(backend);
    invalidPayloadTests(backend);
  });
}

/** Registers the test of pins and entity state surviving a restart on `backend`. */
function persistenceTests(backend: DatabaseBackend): void {
  test('pins and entity state survive a restart and reach a late joiner; updates and deletes apply', async () => {
    const { location, cleanup } = await backend.setup();
    let node = await start(location);
    try {
      const { hubSid, creatorAssignmentToken } = await createRoom(node.url);
      const topic = `hub:${hubSid}`;
      const creator = await join(node, topic, { creator_assignment_token: creatorAssignmentToken });
      const watcher = await join(node, topic);
      assert.equal((await call(creator, topic, 'pin', { id: 'box-1', gltf_node: boxNode('box-1', 1) }))[4].status, 'ok');
      assert.equal((await call(creator, topic, 'pin', { id: 'box-2', gltf_node: boxNode('box-2', 2) }))[4].status, 'ok');
      const pinned = await watcher.c.waitFor((f) => f[3] === 'pin' && f[4].object_id === 'box-1');
      assert.equal(pinned[4].pinned_by, creator.sessionId);
      // Moving a pinned box pins it again: the node is replaced.
      assert.equal((await call(creator, topic, 'pin', { id: 'box-1', gltf_node: boxNode('box-1', 5) }))[4].status, 'ok');
      assert.equal((await call(creator, topic, 'unpin', { id: 'box-2' }))[4].status, 'ok');
      await watcher.c.waitFor((f) => f[3] === 'unpin' && f[4].object_id === 'box-2');
      const save = { nid: 'ent-1', create_message: { prefabName: 'box', networkId: 'ent-1' }, updates: [{ root_nid: 'ent-1', nid: 'ent-1', update_message: { pos: [0, 0, 0] } }] };
      assert.equal((await call(creator, topic, 'save_entity_state', save))[4].status, 'ok');
      await watcher.c.waitFor((f) => f[3] === 'entity_state_saved' && f[4].data[0].create_message.networkId === 'ent-1');
      assert.equal((await call(creator, topic, 'save_entity_state', save))[4].response.reason, 'entity_state_already_exists');
      assert.equal((await call(creator, topic, 'update_entity_state', { root_nid: 'ent-1', nid: 'ent-1', update_message: { pos: [3, 0, 0] } }))[4].status, 'ok');
      // Reticulum broadcasts the update message itself.
      assert.deepEqual((await watcher.c.waitFor((f) => f[3] === 'entity_state_updated'))[4], { pos: [3, 0, 0] });
      assert.equal((await call(creator, topic, 'update_entity_state', { root_nid: 'nope', nid: 'x', update_message: {} }))[4].response.reason, 'entity_state_does_not_exist');
      assert.equal((await call(creator, topic, 'save_entity_state', { nid: 'ent-2', create_message: { networkId: 'ent-2' } }))[4].status, 'ok');
      assert.equal((await call(creator, topic, 'delete_entity_state', { nid: 'ent-2' }))[4].status, 'ok');
      await watcher.c.waitFor((f) => f[3] === 'entity_state_deleted' && f[4].nid === 'ent-2');

      creator.c.close();
      watcher.c.close();
      await node.stop({ keepDataDir: true });
      node = await start(location);

      const gltf = await objectsGltf(node, hubSid);
      assert.equal(gltf.status, 200);
      assert.equal(gltf.type, 'model/gltf+json');
      assert.deepEqual(gltf.body.nodes, [boxNode('box-1', 5)]);
      assert.deepEqual(gltf.body.scenes, [{ nodes: [0], name: 'Room Objects' }]);
      const late = await join(node, topic);
      const listed = await call(late, topic, 'list_entities', {});
      assert.deepEqual(listed[4].response.data, [{ create_message: { prefabName: 'box', networkId: 'ent-1' }, update_messages: [{ pos: [3, 0, 0] }] }]);
      assert.equal((await objectsGltf(node, 'Zzzzzzz')).status, 404);
    } finally {
      await node.stop();
      await cleanup();
    }
  });
}

/** Registers the test of writes refused to anonymous members and to members without pin_objects on `backend`. */
function permissionTests(backend: DatabaseBackend): void {
  test('anonymous members, and signed-in members of a room whose member permissions lack pin_objects, are refused and nothing is stored', async () => {
    const { location, cleanup } = await backend.setup();
    const node = await start(location);
    try {
      const { hubSid, creatorAssignmentToken } = await createRoom(node.url);
      const topic = `hub:${hubSid}`;
      // A room whose members may pin (new rooms give only voice and text chat, as Reticulum's).
      await node.server.database.knex('hubs').where({ hub_sid: hubSid }).update({ member_permissions: 255 });
      const anon = await join(node, topic);
      const refused = await call(anon, topic, 'pin', { id: 'box-x', gltf_node: boxNode('box-x', 0) });
      assert.equal(refused[4].response.reason, 'permission_denied');
      assert.equal(refused[4].response.permission, 'signed_in');
      // unpin answers as pin; the entity events answer as Reticulum's: not_logged_in.
      for (const [event, payload, reason] of [
        ['unpin', { id: 'box-x' }, 'permission_denied'],
        ['save_entity_state', { nid: 'e', create_message: {} }, 'not_logged_in'],
        ['update_entity_state', { root_nid: 'e', nid: 'e', update_message: {} }, 'not_logged_in'],
        ['delete_entity_state', { nid: 'e' }, 'not_logged_in'],
      ] as const) {
        const r = await call(anon, topic, event, payload);
        assert.equal(r[4].response.reason, reason, `${event}: ${JSON.stringify(r[4])}`);
      }
      // A signed-in member may pin while the room gives pin_objects...
      const member = await join(node, topic, { auth_token: await accountToken(node) });
      assert.equal((await call(member, topic, 'pin', { id: 'box-m', gltf_node: boxNode('box-m', 0) }))[4].status, 'ok');
      // ...and not once the room's member_permissions column lacks it (bit 8), even signed in.
      await node.server.database.knex('hubs').where({ hub_sid: hubSid }).update({ member_permissions: 255 & ~8 });
      const member2 = await join(node, topic, { auth_token: await accountToken(node) });
      const denied = await call(member2, topic, 'pin', { id: 'box-y', gltf_node: boxNode('box-y', 0) });
      assert.equal(denied[4].response.reason, 'permission_denied');
      assert.equal(denied[4].response.permission, 'pin_objects');
      assert.equal((await call(member2, topic, 'unpin', { id: 'box-m' }))[4].response.permission, 'pin_objects');
      const unauthorized = await call(member2, topic, 'save_entity_state', { nid: 'e2', create_message: {} });
      assert.deepEqual([unauthorized[4].response.reason, unauthorized[4].response.permission], ['unauthorized', 'pin_objects']);
      // The creator is an owner: owners keep every object permission.
      const creator = await join(node, topic, { creator_assignment_token: creatorAssignmentToken });
      assert.equal((await call(creator, topic, 'pin', { id: 'box-z', gltf_node: boxNode('box-z', 0) }))[4].status, 'ok');
      assert.deepEqual(await stored(node, anon, hubSid), { pins: ['box-m', 'box-z'], entities: [] });
    } finally {
      await node.stop();
      await cleanup();
    }
  });
}

/** Registers the test of invalid payloads and of entity state kept within its room on `backend`. */
function invalidPayloadTests(backend: DatabaseBackend): void {
  test('invalid payloads are refused without changes, and entity state never crosses rooms', async () => {
    const { location, cleanup } = await backend.setup();
    const node = await start(location);
    try {
      const a = await createRoom(node.url, 'Room A');
      const b = await createRoom(node.url, 'Room B');
      const ta = `hub:${a.hubSid}`;
      const tb = `hub:${b.hubSid}`;
      const creatorA = await join(node, ta, { creator_assignment_token: a.creatorAssignmentToken });
      const creatorB = await join(node, tb, { creator_assignment_token: b.creatorAssignmentToken });
      assert.equal((await call(creatorA, ta, 'pin', { id: 'box-1', gltf_node: boxNode('box-1', 1) }))[4].status, 'ok');
      const save = { nid: 'ent-1', create_message: { networkId: 'ent-1' }, updates: [{ root_nid: 'ent-1', nid: 'ent-1', update_message: { v: 1 } }] };
      assert.equal((await call(creatorA, ta, 'save_entity_state', save))[4].status, 'ok');
      const before = await stored(node, creatorA, a.hubSid);

      const invalid: Array<[string, unknown]> = [
        ['pin', { id: '', gltf_node: {} }],
        ['pin', { id: 'box-1' }],
        ['pin', { id: 'box-1', gltf_node: 'not an object' }],
        ['pin', { id: 'x'.repeat(129), gltf_node: {} }],
        ['pin', { id: 'box-1', gltf_node: { x: 'y'.repeat(40_000) } }],
        ['pin', { id: 'box-1', gltf_node: {}, file_id: 7 }],
        ['unpin', {}],
        ['save_entity_state', { nid: 'ent-9' }],
        ['save_entity_state', { nid: 'ent-9', create_message: {}, updates: [{ nid: 'ent-9', update_message: {} }] }],
        ['save_entity_state', { nid: 'ent-9', create_message: 'text' }],
        ['update_entity_state', { root_nid: 'ent-1', nid: 'ent-1' }],
        ['update_entity_state', { root_nid: 'ent-1', nid: 'ent-1', update_message: [1, 2] }],
        ['delete_entity_state', { nid: 42 }],
        ['list_entities', 'nope'],
        // PostgreSQL cannot store U+0000, in text or jsonb, values or keys.
        ['pin', { id: 'box-1', gltf_node: { name: 'box-1', extras: { note: 'a\u0000b' } } }],
        ['pin', { id: 'box\u0000', gltf_node: {} }],
        ['unpin', { id: 'box-1\u0000' }],
        ['save_entity_state', { nid: 'ent-9', create_message: { ['k\u0000']: 1 } }],
        ['update_entity_state', { root_nid: 'ent-1', nid: 'ent-1', update_message: { v: '\u0000' } }],
        ['delete_entity_state', { nid: 'ent-1\u0000' }],
      ];
      for (const [event, payload] of invalid) {
        const r = await call(creatorA, ta, event, payload);
        assert.equal(r[4].response.reason, 'invalid_payload', `${event} ${JSON.stringify(payload).slice(0, 80)}: ${JSON.stringify(r[4]).slice(0, 200)}`);
      }
      // File fields are accepted (and ignored: there is no file store yet).
      assert.equal((await call(creatorA, ta, 'pin', { id: 'box-1', gltf_node: boxNode('box-1', 1), file_id: 'f', file_access_token: 't', promotion_token: null }))[4].status, 'ok');
      assert.deepEqual(await stored(node, creatorA, a.hubSid), before);

      // Room B cannot reach room A's entity: no update, no delete, and it may save its own ent-1.
      assert.equal((await call(creatorB, tb, 'update_entity_state', { root_nid: 'ent-1', nid: 'ent-1', update_message: { v: 2 } }))[4].response.reason, 'entity_state_does_not_exist');
      assert.equal((await call(creatorB, tb, 'delete_entity_state', { nid: 'ent-1' }))[4].response.reason, 'entity_state_does_not_exist');
      assert.equal((await call(creatorB, tb, 'unpin', { id: 'box-1' }))[4].status, 'ok');
      assert.equal((await call(creatorB, tb, 'save_entity_state', { ...save, updates: [{ root_nid: 'ent-1', nid: 'ent-1', update_message: { v: 3 } }] }))[4].status, 'ok');
      assert.deepEqual(await stored(node, creatorA, a.hubSid), before);
      assert.deepEqual((await stored(node, creatorB, b.hubSid)).entities, [{ create_message: { networkId: 'ent-1' }, update_messages: [{ v: 3 }] }]);
      // Deleting an entity also removes a pinned object with that id.
      assert.equal((await call(creatorA, ta, 'delete_entity_state', { nid: 'box-1' }))[4].status, 'ok');
      assert.deepEqual((await stored(node, creatorA, a.hubSid)).pins, []);
    } finally {
      await node.stop();
      await cleanup();
    }
  });
}
