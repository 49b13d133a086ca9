/**
 * Perms tokens (reference/reticulum.md §3.3): RS512, 5 minutes, Reticulum's
 * claim names, verified here only through the published JWKS; and where the
 * signing key comes from (PERMS_PRIVATE_KEY, DATA_DIR/perms-key.pem, one key
 * per deployment agreed through the database).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { openDatabase, type Database } from '../db/database.ts';
import { permissionsFor } from './permissions.ts';
import { PERMS_TTL_SECONDS, PermsTokens } from './perms-token.ts';
import type { PermsSubject } from './perms-token.ts';

let db: Database;
let dirs: string[] = [];
const pem = (bits = 2048) => generateKeyPairSync('rsa', { modulusLength: bits }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'plexus-perms-'));
  dirs.push(d);
  return d;
};

before(async () => {
  db = await openDatabase({ pgliteDir: null });
});
after(async () => {
  await db?.close();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  dirs = [];
});

/** Verifies `token` with nothing but the JWKS document the server publishes. */
async function verifyWithJwks(perms: PermsTokens, token: string): Promise<JWTPayload> {
  const jwks = JSON.parse(JSON.stringify(perms.jwks())) as { keys: Array<Record<string, unknown>> };
  const { payload } = await jwtVerify(token, createLocalJWKSet(jwks as never), { audience: 'ret_perms', algorithms: ['RS512'] });
  return payload;
}

/** The parts of a member a perms token reads. */
function member(opts: { accountId: string | null; isAdmin?: boolean; hubSid: string; owner?: boolean; bits?: number }): PermsSubject {
  const roles = { owner: opts.owner ?? false, creator: false, signed_in: opts.accountId !== null };
  return {
    account: opts.accountId === null ? null : { accountId: opts.accountId, isAdmin: opts.isAdmin ?? false },
    permissions: permissionsFor(opts.bits ?? 255, roles as never),
    hub: { hubSid: opts.hubSid },
  };
}

test('a room perms token is RS512, lasts 5 minutes, carries Reticulum claims and verifies with the JWKS', async () => {
  const perms = await PermsTokens.load(pem(), tmp(), db);
  const jwk = perms.jwks().keys[0]!;
  assert.equal(jwk.kty, 'RSA');
  assert.equal(jwk.alg, 'RS512');
  assert.equal(jwk.use, 'sig');
  assert.ok(jwk.kid);
  assert.equal('d' in jwk, false, 'the JWKS holds no private part');
  const token = await perms.issueFor(member({ accountId: '42', hubSid: 'abc1234', owner: true, bits: 64 }));
  const header = decodeProtectedHeader(token);
  assert.equal(header.alg, 'RS512');
  assert.equal(header.kid, jwk.kid);
  const p = await verifyWithJwks(perms, token);
  assert.equal(PERMS_TTL_SECONDS, 300);
  assert.equal(p.exp! - p.iat!, 300);
  assert.ok(Math.abs(p.iat! - Date.now() / 1000) < 5);
  assert.equal(p.aud, 'ret_perms');
  assert.equal(p.sub, '42_abc1234');
  assert.equal(p.hub_id, 'abc1234');
  assert.equal(p.account_id, '42');
  for (const claim of ['join_hub', 'update_hub', 'close_hub', 'embed_hub', 'kick_users', 'mute_users', 'amplify_audio', 'spawn_and_move_media', 'spawn_camera', 'spawn_drawing', 'pin_objects', 'spawn_emoji', 'fly', 'voice_chat', 'text_chat', 'update_roles', 'update_hub_promotion']) {
    assert.equal(typeof p[claim], 'boolean', claim);
  }
  assert.equal(p.kick_users, true, 'an owner may kick');
  assert.equal(p.create_hub, true);
  assert.equal(p.tweet, false);
  assert.equal('postgrest_role' in p, false);
});

test('an anonymous member gets account_id "" and only the room member flags; an admin gets postgrest_role', async () => {
  const perms = await PermsTokens.load(pem(), tmp(), db);
  const anon = await verifyWithJwks(perms, await perms.issueFor(member({ accountId: null, hubSid: 'room567', bits: 64 })));
  assert.equal(anon.account_id, '');
  assert.equal(anon.sub, '_room567');
  assert.equal(anon.voice_chat, true);
  assert.equal(anon.text_chat, false);
  assert.equal(anon.kick_users, false);
  const global = await verifyWithJwks(perms, await perms.issueGlobal({ accountId: '7', isAdmin: true }));
  assert.equal(global.sub, '7_global');
  assert.deepEqual([global.create_hub, global.tweet, global.account_id, global.postgrest_role, global.hub_id], [true, false, '7', 'ret_admin', undefined]);
  assert.equal((await verifyWithJwks(perms, await perms.issueGlobal(null))).sub, '_global');
});

test('a token signed with another key, or for another audience, does not verify with the JWKS', async () => {
  const perms = await PermsTokens.load(pem(), tmp(), db);
  const other = await PermsTokens.load(pem(), tmp(), db);
  const token = await other.issueFor(member({ accountId: '1', hubSid: 'abc1234' }));
  await assert.rejects(verifyWithJwks(perms, token));
  const own = await perms.issueFor(member({ accountId: '1', hubSid: 'abc1234' }));
  await assert.rejects(jwtVerify(own, createLocalJWKSet(perms.jwks() as never), { audience: 'ret_account' }));
});

test('without PERMS_PRIVATE_KEY the first node generates the key into DATA_DIR/perms-key.pem (0600) and every node reuses it', async () => {
  const fresh = await openDatabase({ pgliteDir: null });
  try {
    const dirA = tmp();
    const a = await PermsTokens.load(null, dirA, fresh);
    const file = path.join(dirA, 'perms-key.pem');
    assert.match(fs.readFileSync(file, 'utf8'), /BEGIN PRIVATE KEY/);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    const again = await PermsTokens.load(null, dirA, fresh);
    assert.equal(again.jwk.kid, a.jwk.kid, 'a restart keeps the key');
    // Another node of the deployment (same database, its own DATA_DIR, which may hold a stale key).
    const dirB = tmp();
    fs.writeFileSync(path.join(dirB, 'perms-key.pem'), pem());
    const b = await PermsTokens.load(null, dirB, fresh);
    assert.equal(b.jwk.kid, a.jwk.kid, 'one key per deployment');
    assert.equal(fs.readFileSync(path.join(dirB, 'perms-key.pem'), 'utf8'), fs.readFileSync(file, 'utf8'));
    const p = await verifyWithJwks(a, await b.issueFor(member({ accountId: '3', hubSid: 'abc1234' })));
    assert.equal(p.account_id, '3', "one node's token verifies with the other's JWKS");
  } finally {
    await fresh.close();
  }
});

test('a stored key file from before the database knew one becomes the deployment key', async () => {
  const fresh = await openDatabase({ pgliteDir: null });
  try {
    const dir = tmp();
    const key = pem();
    fs.writeFileSync(path.join(dir, 'perms-key.pem'), key);
    const configured = await PermsTokens.load(key, tmp(), db);
    const loaded = await PermsTokens.load(null, dir, fresh);
    assert.equal(loaded.jwk.kid, configured.jwk.kid);
  } finally {
    await fresh.close();
  }
});

test('PERMS_PRIVATE_KEY wins over the stored key, and a non-RSA key is refused', async () => {
  const key = pem();
  const a = await PermsTokens.load(key, tmp(), db);
  const b = await PermsTokens.load(key, tmp(), db);
  assert.equal(a.jwk.kid, b.jwk.kid);
  assert.equal(a.jwk.n, b.jwk.n);
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  await assert.rejects(PermsTokens.load(ec, tmp(), db), /must be an RSA key/);
  await assert.rejects(PermsTokens.load('garbage', tmp(), db), /not a PEM private key/);
});
