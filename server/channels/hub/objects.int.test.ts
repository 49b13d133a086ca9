/**
 * Objects that persist, over the real socket, on embedded PGlite and on
 * PostgreSQL: pinned objects and saved entity state survive a server
 * restart and reach a member who joins afterwards (objects.gltf,
 * list_entities); writing needs pin_objects and a known person.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { createTestDatabase, startPostgres } from '../../../ops/dev/postgres.ts';
import { openDatabase, type DatabaseLocation } from '../../db/database.ts';
import { RawClient, type Frame } from '../../test-support/raw-client.ts';
import { createRoom, startTestServer, type TestServer } from '../../test-support/test-server.ts';

interface Backend {
  name: string;
  setup(): Promise<{ location: DatabaseLocation; cleanup(): Promise<void> }>;
}

const backends: Backend[] = [
  {
    name: 'PGlite',
    async setup() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plexus-objects-'));
      return { location: { pgliteDir: path.join(dir, 'db') }, cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 'PostgreSQL',
    async setup() {
      let stopServer = async () => {};
      let base = process.env.TEST_DATABASE_URL;
      if (!base) {
        const pg = await startPostgres();
        base = pg.url;
        stopServer = () => pg.stop();
      }
      const db = await createTestDatabase(base);
      return {
        location: { url: db.url },
        cleanup: async () => {
          await db.drop();
          await stopServer();
        },
      };
    },
  },
];

const clients: RawClient[] = [];
after(() => {
  for (const c of clients) c.close();
});

async function start(location: DatabaseLocation): Promise<TestServer> {
  if ('url' in location) return startTestServer({ databaseUrl: location.url });
  return startTestServer({ database: await openDatabase(location) });
}

async function join(node: TestServer, topic: string, params: Record<string, unknown> = {}): Promise<{ c: RawClient; jr: string; sessionId: string }> {
  const c = await RawClient.connect(node.url);
  clients.push(c);
  const f = await c.join(topic, { profile: { displayName: 'x' }, context: {}, ...params });
  assert.equal(f[4].status, 'ok', JSON.stringify(f));
  await c.waitFor((x: Frame) => x[3] === 'presence_state');
  return { c, jr: f[0]!, sessionId: f[4].response.session_id };
}

async function call(m: { c: RawClient; jr: string }, topic: string, event: string, payload: unknown): Promise<Frame> {
  return m.c.reply(m.c.push(m.jr, topic, event, payload));
}

async function objectsGltf(node: TestServer, hubSid: string): Promise<{ status: number; type: string | null; body: any }> {
  const res = await fetch(`${node.url}/${hubSid}/objects.gltf`);
  return { status: res.status, type: res.headers.get('content-type'), body: await res.json() };
}

const boxNode = (id: string, x: number) => ({ name: id, translation: [x, 1, 0], extensions: { HUBS_components: { pinnable: { pinned: true }, plexus_box: { color: '#ff0000' } } } });

for (const backend of backends) {
  describe(`objects on ${backend.name}`, () => {
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
        assert.equal((await call(creator, topic, 'update_entity_state', { root_nid: 'nope', nid: 'x', update_message: {} }))[4].response.reason, 'entity_state_not_found');
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

    test('an anonymous member, or any member of a room without pin_objects, is refused and nothing is stored', async () => {
      const { location, cleanup } = await backend.setup();
      const node = await start(location);
      try {
        const { hubSid, creatorAssignmentToken } = await createRoom(node.url);
        const topic = `hub:${hubSid}`;
        const anon = await join(node, topic);
        const refused = await call(anon, topic, 'pin', { id: 'box-x', gltf_node: boxNode('box-x', 0) });
        assert.equal(refused[4].response.reason, 'permission_denied');
        assert.equal(refused[4].response.permission, 'signed_in');
        assert.equal((await call(anon, topic, 'save_entity_state', { nid: 'e', create_message: {} }))[4].response.reason, 'permission_denied');
        assert.equal((await call(anon, topic, 'pin', { id: '', gltf_node: {} }))[4].response.reason, 'invalid_payload');
        assert.equal((await call(anon, topic, 'pin', { id: 'big', gltf_node: { x: 'y'.repeat(40_000) } }))[4].response.reason, 'invalid_payload');
        // Owners turn pin_objects off for members; the creator (an owner) keeps it.
        const creator = await join(node, topic, { creator_assignment_token: creatorAssignmentToken });
        assert.equal((await call(creator, topic, 'update_hub', { member_permissions: { pin_objects: false } }))[4].status, 'ok');
        await anon.c.waitFor((f) => f[3] === 'hub_refresh');
        assert.equal((await call(anon, topic, 'pin', { id: 'box-y', gltf_node: boxNode('box-y', 0) }))[4].response.permission, 'pin_objects');
        assert.equal((await call(creator, topic, 'pin', { id: 'box-z', gltf_node: boxNode('box-z', 0) }))[4].status, 'ok');
        assert.deepEqual((await objectsGltf(node, hubSid)).body.nodes.map((n: { name: string }) => n.name), ['box-z']);
        assert.deepEqual((await call(anon, topic, 'list_entities', {}))[4].response.data, []);
      } finally {
        await node.stop();
        await cleanup();
      }
    });
  });
}
