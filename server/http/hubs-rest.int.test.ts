/**
 * REST for owners and visitors: PATCH /api/v1/hubs/:hub_sid with the owner's
 * token (members in the room get hub_refresh), public rooms found by
 * full-text search at /api/v1/media/search?source=rooms, room creation's
 * bounds (room_size, NUL characters), the Authorization forms, and embed tokens.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { AccountTokens } from '../auth/account-token.ts';
import { findOrCreateAccount } from '../db/accounts.ts';
import { HubRepository } from '../db/hub-repository.ts';
import { RawClient, type Frame } from '../test-support/raw-client.ts';
import { createRoom, startTestServer, type TestServer } from '../test-support/test-server.ts';

const SECRET = randomBytes(32).toString('hex');
let node: TestServer;
const hubs = () => new HubRepository(node.server.database);
const clients: RawClient[] = [];

const clientDir = fs.mkdtempSync(path.join(os.tmpdir(), 'plexus-client-'));
fs.writeFileSync(path.join(clientDir, 'index.html'), '<title>lobby</title>');
fs.writeFileSync(path.join(clientDir, 'room.html'), '<title>room</title>');

before(async () => {
  node = await startTestServer({ env: { SESSION_SECRET: SECRET, CLIENT_DIR: clientDir } });
});

after(async () => {
  for (const c of clients) c.close();
  await node?.stop();
  fs.rmSync(clientDir, { recursive: true, force: true });
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
  const tokens = new AccountTokens(SECRET, node.server.database);
  const hub = (await hubs().findBySid(hubSid))!;
  const ownerAccount = await findOrCreateAccount(db, 'owner-hash', false);
  await hubs().addOwner(hub.id, ownerAccount.accountId);
  const stranger = await findOrCreateAccount(db, 'stranger-hash', false);
  assert.equal((await patch(hubSid, await tokens.issue(ownerAccount.accountId), { hub: { room_size: 12 } })).status, 200);
  assert.equal((await hubs().findBySid(hubSid))!.roomSize, 12);

  assert.equal((await patch(hubSid, null, { hub: { name: 'x' } })).status, 401);
  assert.equal((await patch(hubSid, 'garbage', { hub: { name: 'x' } })).status, 401);
  assert.equal((await patch(hubSid, await tokens.issue(stranger.accountId), { hub: { name: 'x' } })).status, 403);
  assert.equal((await patch(hubSid, creatorAssignmentToken, { hub: { room_size: 1000 } })).status, 422);
  assert.equal((await patch(hubSid, creatorAssignmentToken, '{not json')).status, 400);
  assert.equal((await patch(hubSid, creatorAssignmentToken, { hub: { allow_promotion: true } })).status, 403);
  assert.equal((await patch('Nonexst', creatorAssignmentToken, { hub: { name: 'x' } })).status, 404);
  assert.equal((await hubs().findBySid(hubSid))!.name, 'Patched');
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

async function post(body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${node.url}/api/v1/hubs`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

async function hubCount(): Promise<number> {
  return Number((await node.server.database.knex('hubs').count<{ count: string }[]>('* as count'))[0]!.count);
}

test('POST /api/v1/hubs takes room_size up to MAX_ROOM_SIZE and refuses more with 422, creating nothing', async () => {
  const ok = await post({ hub: { name: 'Big', room_size: 50 } });
  assert.equal(ok.status, 200);
  const before = await hubCount();
  for (const room_size of [51, 10_000, -1, 2.5]) {
    const res = await post({ hub: { name: 'Too big', room_size } });
    assert.equal(res.status, 422, String(room_size));
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /room_size/);
  }
  const res = await post({ hub: { name: 'Too big', room_size: 51 } });
  assert.match(((await res.json()) as { error: { message: string } }).error.message, /at most 50 .*MAX_ROOM_SIZE/);
  assert.equal(await hubCount(), before);
});

test('NUL characters in room fields, PATCH bodies or the search query get 422 (PostgreSQL cannot store them), not a 500, and change nothing', async () => {
  const before = await hubCount();
  for (const hub of [{ name: 'a\u0000b' }, { name: 'ok', description: 'x\u0000' }, { name: 'ok', user_data: { note: '\u0000' } }, { name: 'ok', user_data: { ['k\u0000']: 1 } }, { name: 'ok', user_data: { list: [['\u0000']] } }]) {
    const res = await post({ hub });
    assert.equal(res.status, 422, JSON.stringify(hub));
    const err = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(err.error.code, 'invalid_body');
    assert.match(err.error.message, /NUL/);
  }
  assert.equal(await hubCount(), before);
  const { hubSid, creatorAssignmentToken } = await createRoom(node.url, 'Clean');
  for (const hub of [{ name: 'n\u0000' }, { description: '\u0000' }, { user_data: { a: 'b\u0000' } }]) {
    const res = await patch(hubSid, creatorAssignmentToken, { hub });
    assert.equal(res.status, 422, JSON.stringify(hub));
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /NUL/);
  }
  assert.equal((await hubs().findBySid(hubSid))!.name, 'Clean');
  const search = await fetch(`${node.url}/api/v1/media/search?source=rooms&q=a%00b`);
  assert.equal(search.status, 422);
  assert.equal(((await search.json()) as { error: { code: string } }).error.code, 'invalid_query');
});

test('Authorization takes "Bearer <token>" and Reticulum\'s "bearer: <token>" on POST and PATCH; other shapes are 401', async () => {
  const db = node.server.database.knex;
  const account = await findOrCreateAccount(db, 'bearer-forms-hash', false);
  const token = await new AccountTokens(SECRET, node.server.database).issue(account.accountId);
  for (const header of [`Bearer ${token}`, `bearer: ${token}`, `BEARER:  ${token}`]) {
    const res = await post({ hub: { name: 'By account' } }, { authorization: header });
    assert.equal(res.status, 200, header.slice(0, 10));
    const { hub_id } = (await res.json()) as { hub_id: string };
    assert.equal((await hubs().findBySid(hub_id))!.createdByAccountId, account.accountId);
    const changed = await fetch(`${node.url}/api/v1/hubs/${hub_id}`, { method: 'PATCH', headers: { 'content-type': 'application/json', authorization: header }, body: JSON.stringify({ hub: { name: 'Renamed' } }) });
    assert.equal(changed.status, 200, header.slice(0, 10));
  }
  for (const header of [`Token ${token}`, token, `Bearer`, `Bearer ${token} extra`]) {
    assert.equal((await post({ hub: { name: 'x' } }, { authorization: header })).status, 401, header.slice(0, 12));
  }
});

test('a room\'s embed_token: POST returns it, owners see it (join reply, PATCH), others do not; a room page frames only with it', async () => {
  const created = (await (await post({ hub: { name: 'Embeddable' } })).json()) as { hub_id: string; url: string; creator_assignment_token: string; embed_token: string };
  assert.match(created.embed_token, /^[0-9a-f]{32}$/);
  const { hub_id: hubSid, creator_assignment_token: creatorToken, embed_token: embedToken } = created;
  const owner = await RawClient.connect(node.url);
  const visitor = await RawClient.connect(node.url);
  clients.push(owner, visitor);
  const asOwner = await owner.join(`hub:${hubSid}`, { profile: {}, context: {}, creator_assignment_token: creatorToken });
  assert.equal(asOwner[4].response.hubs[0].embed_token, embedToken);
  const asVisitor = await visitor.join(`hub:${hubSid}`, { profile: {}, context: {} });
  assert.equal(asVisitor[4].response.hubs[0].embed_token, null);
  const patched = (await (await patch(hubSid, creatorToken, { hub: { name: 'Still embeddable' } })).json()) as { hubs: Array<{ embed_token: string }> };
  assert.equal(patched.hubs[0]!.embed_token, embedToken);
  const got = (await (await fetch(`${node.url}/api/v1/hubs/${hubSid}`)).json()) as { hubs: Array<{ embed_token: unknown }> };
  assert.equal(got.hubs[0]!.embed_token, null);

  // Room pages may be framed by other sites only with the room's embed token.
  const page = (q: string) => fetch(`${node.url}/${hubSid}/still-embeddable${q}`);
  const plain = await page('');
  const embedded = await page(`?embed_token=${embedToken}`);
  const wrong = await page('?embed_token=0123456789abcdef0123456789abcdef');
  assert.equal(wrong.status, 404);
  assert.equal(((await wrong.json()) as { error: { code: string } }).error.code, 'invalid_embed_token');
  assert.equal((await fetch(`${node.url}/Nonexst/x?embed_token=${embedToken}`)).status, 404);
  assert.equal(plain.status, 200);
  assert.equal(embedded.status, 200);
  assert.match(await embedded.text(), /room/);
  assert.equal(plain.headers.get('x-frame-options'), 'DENY');
  assert.equal(embedded.headers.get('x-frame-options'), null);
  assert.match(embedded.headers.get('content-security-policy') ?? '', /frame-ancestors \*/);
  assert.match(plain.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
  assert.equal((await fetch(`${node.url}/`)).headers.get('x-frame-options'), 'DENY');
});

test('POST /api/v1/hubs takes member_permissions as Reticulum does: the flags given replace the default, unknown flags are refused', async () => {
  const post = (hub: unknown) => fetch(`${node.url}/api/v1/hubs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ hub }) });
  const plain = (await (await post({ name: 'Default perms' })).json()) as { hub_id: string };
  assert.equal((await hubs().findBySid(plain.hub_id))?.memberPermissions, 192);
  const open = await post({ name: 'Open room', member_permissions: { spawn_and_move_media: true, pin_objects: true, text_chat: true } });
  assert.equal(open.status, 200);
  const created = (await open.json()) as { hub_id: string };
  assert.equal((await hubs().findBySid(created.hub_id))?.memberPermissions, 1 + 8 + 128);
  const bad = await post({ name: 'Bad perms', member_permissions: { teleport: true } });
  assert.equal(bad.status, 422);
  const bits = await post({ name: 'Bits', member_permissions: 255 });
  assert.equal(bits.status, 422);
});
