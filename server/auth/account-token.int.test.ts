/**
 * Accounts in the database (embedded PGlite, and a real PostgreSQL:
 * TEST_DATABASE_URL or a throwaway server started here) and account tokens: email
 * hashes, single-use login tokens, find-or-create, and token verification
 * with revocation (`min_token_issued_at`), disabled accounts and foreign
 * claims (reference/reticulum.md §1.3, §3.4).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';
import { openDatabase, type Database } from '../db/database.ts';
import { databaseBackends } from '../test-support/db-backends.ts';
import {
  LOGIN_TOKEN_TTL_MS,
  consumeLoginToken,
  createLoginToken,
  findAccount,
  findAccountByLogin,
  findOrCreateAccount,
  identifierHash,
  loadIdentifierSalt,
  revokeAccountTokens,
  setAccountState,
} from '../db/accounts.ts';
import { ACCOUNT_TTL_SECONDS, AccountTokens } from './account-token.ts';
import { SessionTokens } from './session-token.ts';

const SECRET = 'x'.repeat(48);
let db: Database;
let tokens: AccountTokens;
let seq = 0;

/** A fresh account of its own login hash. */
async function newAccount(isAdmin = false) {
  return findOrCreateAccount(db.knex, `test-hash-${++seq}`, isAdmin);
}

/** A token signed with the account token key (the documented derivation) but the given claims. */
function forge(claims: { sub: string; aud?: string; iss?: string; iat?: number; exp?: number }, alg = 'HS512'): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({})
    .setProtectedHeader({ alg })
    .setSubject(claims.sub)
    .setAudience(claims.aud ?? 'ret_account')
    .setIssuer(claims.iss ?? 'plexus')
    .setIssuedAt(claims.iat ?? now)
    .setExpirationTime(claims.exp ?? now + 3600);
  return jwt.sign(new TextEncoder().encode(`account:${SECRET}`));
}

/** The account token tests of a backend's suite (on the module's db and tokens). */
function accountTokenTests(): void {
  test('an account token is an HS512 JWT for the account, 12 weeks long, and verifies to the account', async () => {
    const account = await newAccount(true);
    const token = await tokens.issue(account.accountId);
    assert.equal(decodeProtectedHeader(token).alg, 'HS512');
    const claims = decodeJwt(token);
    assert.equal(claims.sub, account.accountId);
    assert.equal(claims.aud, 'ret_account');
    assert.equal(claims.iss, 'plexus');
    assert.equal(claims.exp! - claims.iat!, ACCOUNT_TTL_SECONDS);
    assert.equal(ACCOUNT_TTL_SECONDS, 12 * 7 * 24 * 3600);
    assert.deepEqual(await tokens.verify(token), { accountId: account.accountId, isAdmin: true });
  });

  test('tokens issued before min_token_issued_at are refused; later ones work', async () => {
    const account = await newAccount();
    const now = Math.floor(Date.now() / 1000);
    const old = await forge({ sub: account.accountId, iat: now - 60 });
    assert.ok(await tokens.verify(old));
    assert.equal(await revokeAccountTokens(db.knex, account.accountId, new Date((now - 30) * 1000)), true);
    assert.equal(await tokens.verify(old), null, 'issued before the revocation');
    assert.ok(await tokens.verify(await forge({ sub: account.accountId, iat: now - 10 })), 'issued after it');
    assert.equal((await findAccount(db.knex, account.accountId))?.minTokenIssuedAt.getTime(), (now - 30) * 1000);
  });

  test('a disabled account has its tokens refused until enabled again', async () => {
    const account = await newAccount();
    const token = await tokens.issue(account.accountId);
    assert.equal(await setAccountState(db.knex, account.accountId, 'disabled'), true);
    assert.equal(await tokens.verify(token), null);
    await setAccountState(db.knex, account.accountId, 'enabled');
    assert.ok(await tokens.verify(token));
    assert.equal(await setAccountState(db.knex, '999999999', 'disabled'), false);
  });

  test('tokens with a wrong audience, issuer, algorithm, key or expiry, or for no account, are refused', async () => {
    const account = await newAccount();
    const now = Math.floor(Date.now() / 1000);
    assert.equal(await tokens.verify(await forge({ sub: account.accountId, aud: 'ret_perms' })), null, 'wrong aud');
    assert.equal(await tokens.verify(await forge({ sub: account.accountId, aud: 'ret_session' })), null, 'session aud');
    assert.equal(await tokens.verify(await forge({ sub: account.accountId, iss: 'ret' })), null, 'wrong iss');
    assert.equal(await tokens.verify(await forge({ sub: account.accountId }, 'HS256')), null, 'HS256');
    assert.equal(await tokens.verify(await forge({ sub: account.accountId, iat: now - 7200, exp: now - 3600 })), null, 'expired');
    assert.equal(await tokens.verify(await forge({ sub: '987654321' })), null, 'no such account');
    assert.equal(await tokens.verify(await forge({ sub: 'not-a-number' })), null, 'not an account id');
    assert.equal(await tokens.verify(await new AccountTokens('y'.repeat(48), db).issue(account.accountId)), null, 'other secret');
    assert.equal(await tokens.verify(await new SessionTokens(SECRET).issue(account.accountId)), null, 'a session token');
    assert.equal(await tokens.verify('not.a.jwt'), null);
  });
}

for (const backend of databaseBackends) {
  describe(`accounts and account tokens on ${backend.name}`, () => {
    let cleanup: () => Promise<void>;
    before(async () => {
      let location;
      ({ location, cleanup } = await backend.setup());
      db = await openDatabase(location);
      tokens = new AccountTokens(SECRET, db);
    });
    after(async () => {
      await db?.close();
      await cleanup?.();
    });

    test('identifier hashes ignore case and spaces, depend on the salt, and do not contain the email', () => {
      const h = identifierHash(' Alice@Example.ORG ', 'salt-1');
      assert.match(h, /^[0-9a-f]{64}$/);
      assert.equal(h, identifierHash('alice@example.org', 'salt-1'));
      assert.notEqual(h, identifierHash('alice@example.org', 'salt-2'));
      assert.notEqual(h, createHash('sha256').update('alice@example.org').digest('hex'), 'an unsalted hash could be looked up');
    });

    test('the identifier salt is made once and then read back', async () => {
      const a = await loadIdentifierSalt(db.knex);
      const b = await loadIdentifierSalt(db.knex);
      assert.match(a, /^[0-9a-f]{64}$/);
      assert.equal(a, b);
    });

    test('one login hash finds one account, also when two first sign-ins race; admin is raised, never lowered', async () => {
      const [a, b] = await Promise.all([findOrCreateAccount(db.knex, 'race-hash', false), findOrCreateAccount(db.knex, 'race-hash', false)]);
      assert.equal(a.accountId, b.accountId);
      assert.equal(a.isAdmin, false);
      assert.equal(a.state, 'enabled');
      assert.equal((await db.knex('logins').where({ identifier_hash: 'race-hash' })).length, 1);
      assert.equal((await findOrCreateAccount(db.knex, 'race-hash', true)).isAdmin, true);
      assert.equal((await findOrCreateAccount(db.knex, 'race-hash', false)).isAdmin, true);
      assert.equal((await findAccountByLogin(db.knex, 'race-hash'))?.accountId, a.accountId);
      assert.equal(await findAccountByLogin(db.knex, 'no-such-hash'), null);
    });

    test('a login token is stored only as its SHA-256, works once, and lasts 30 minutes', async () => {
      const before = Date.now();
      const { token, payloadKey } = await createLoginToken(db.knex, 'login-hash');
      assert.equal(payloadKey.length, 32);
      const rows = await db.knex('login_tokens').where({ identifier_hash: 'login-hash' });
      assert.equal(rows.length, 1);
      assert.ok(!JSON.stringify(rows).includes(token), 'the token itself is not stored');
      assert.equal(rows[0].token_hash, createHash('sha256').update(token).digest('hex'));
      const expires = new Date(rows[0].expires_at).getTime();
      assert.ok(expires >= before + LOGIN_TOKEN_TTL_MS && expires <= Date.now() + LOGIN_TOKEN_TTL_MS);
      const used = await consumeLoginToken(db.knex, token);
      assert.equal(used?.identifierHash, 'login-hash');
      assert.deepEqual(used?.payloadKey, payloadKey);
      assert.equal(await consumeLoginToken(db.knex, token), null, 'second use');
      assert.equal(await consumeLoginToken(db.knex, 'never-issued-token'), null);
    });

    test('an expired login token is refused and removed', async () => {
      const { token } = await createLoginToken(db.knex, 'expired-hash');
      await db.knex('login_tokens').where({ identifier_hash: 'expired-hash' }).update({ expires_at: new Date(Date.now() - 1000) });
      assert.equal(await consumeLoginToken(db.knex, token), null);
      assert.equal((await db.knex('login_tokens').where({ identifier_hash: 'expired-hash' })).length, 0);
    });

    accountTokenTests();
  });
}
