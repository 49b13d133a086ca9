/**
 * REST for owners and visitors: PATCH /api/v1/hubs/:hub_sid with the owner's
 * token (members in the room get hub_refresh), and public rooms found by
 * full-text search at /api/v1/media/search?source=rooms.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { AccountTokens } from '../auth/account-token.ts';
import { findOrCreateAccount } from '../db/accounts.ts';
import { addOwner } from '../db/hub-roles.ts';
import { findHubBySid } from '../db/hubs.ts';
import { RawClient, type Frame } from '../test-support/raw-client.ts';
import { createRoom, startTestServer, type TestServer } from '../test-support/test-server.ts';

const SECRET = randomBytes(32).toString('hex');
let node: TestServer;
const clients: RawClient[] = [];

before(async () => {
  node = await startTestServer({ env: { SESSION_SECRET: SECRET } });
});

after(async () => {
  for (const c of clients) c.close();
  await node?.stop();
});

function patch(hubSid: string, token: string | null, body: unknown): Promise<Response> {
  return fetch(`${node.url}/api/v1/hubs/${hubSid}`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

test('PATCH with the creator token or an owner\'s account token changes the room, and members get hub_refresh; others are refused', async () => {
  const { hubSid, creatorAssignmentToken } = await createRoom(node.url, 'Patchable');
  const c = await RawClient.connect(node.url);
  clients.push(c);
  assert.equal((await c.join(`hub:${hubSid}`, { profile: {}, context: {} }))[4].status, 'ok');

  const res = await patch(hubSid, creatorAssignmentToken, { hub: { name: 'Patched', description: 'by REST', member_permissions: { fly: false } } });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { hubs: Array<{ name: string; member_permissions: { fly: boolean; text_chat: boolean } }> };
  assert.equal(body.hubs[0]!.name, 'Patched');
  assert.equal(body.hubs[0]!.member_permissions.fly, false);
  assert.equal(body.hubs[0]!.member_permissions.text_chat, true);
  const refresh = await c.waitFor((f: Frame) => f[3] === 'hub_refresh');
  assert.deepEqual([...refresh[4].stale_fields].sort(), ['description', 'member_permissions', 'name']);

  const db = node.server.database.knex;
  const tokens = new AccountTokens(SECRET, db);
  const hub = (await findHubBySid(db, hubSid))!;
  const ownerAccount = await findOrCreateAccount(db, 'owner-hash', false);
  await addOwner(db, hub.id, ownerAccount.accountId);
  const stranger = await findOrCreateAccount(db, 'stranger-hash', false);
  assert.equal((await patch(hubSid, await tokens.issue(ownerAccount.accountId), { hub: { room_size: 12 } })).status, 200);
  assert.equal((await findHubBySid(db, hubSid))!.roomSize, 12);

  assert.equal((await patch(hubSid, null, { hub: { name: 'x' } })).status, 401);
  assert.equal((await patch(hubSid, 'garbage', { hub: { name: 'x' } })).status, 401);
  assert.equal((await patch(hubSid, await tokens.issue(stranger.accountId), { hub: { name: 'x' } })).status, 403);
  assert.equal((await patch(hubSid, creatorAssignmentToken, { hub: { room_size: 1000 } })).status, 422);
  assert.equal((await patch(hubSid, creatorAssignmentToken, '{not json')).status, 400);
  assert.equal((await patch(hubSid, creatorAssignmentToken, { hub: { allow_promotion: true } })).status, 403);
  assert.equal((await patch('Nonexst', creatorAssignmentToken, { hub: { name: 'x' } })).status, 404);
  assert.equal((await findHubBySid(db, hubSid))!.name, 'Patched');
});

test('room search finds public rooms by words of their name or description, and never private ones', async () => {
  const db = node.server.database.knex;
  const make = async (name: string, description: string | null, isPublic: boolean) => {
    const { hubSid } = await createRoom(node.url, name);
    await db('hubs').where({ hub_sid: hubSid }).update({ description, allow_promotion: isPublic });
    return hubSid;
  };
  const astro = await make('Astronomy club', 'We look at galaxies together', true);
  const garden = await make('Garden party', 'flowers and tea', true);
  const secret = await make('Secret astronomy', 'galaxies, privately', false);
  const search = async (q: string) => {
    const res = await fetch(`${node.url}/api/v1/media/search?source=rooms&q=${encodeURIComponent(q)}`);
    assert.equal(res.status, 200);
    return (await res.json()) as { meta: { source: string; next_cursor: string | null }; entries: Array<{ id: string; type: string; name: string }> };
  };
  assert.deepEqual((await search('astronomy')).entries.map((e) => e.id), [astro]);
  assert.deepEqual((await search('galaxies')).entries.map((e) => e.id), [astro]);
  assert.deepEqual((await search('tea')).entries.map((e) => e.id), [garden]);
  const all = await search('');
  assert.ok(all.entries.some((e) => e.id === garden) && all.entries.some((e) => e.id === astro));
  assert.ok(!all.entries.some((e) => e.id === secret));
  assert.equal(all.meta.source, 'rooms');
  assert.equal((await fetch(`${node.url}/api/v1/media/search?source=scenes&q=x`)).status, 400);
});
