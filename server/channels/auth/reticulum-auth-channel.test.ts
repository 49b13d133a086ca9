/**
 * Reticulum's test/ret_web/channels/auth_channel_test.exs ported to Plexus
 * in process (channel-case.ts): `auth_request` makes a login token for an email (and
 * no account yet), and none for a disabled account. Mail goes to the log (no
 * SMTP_URL); the reply comes once the token is stored, so no wait is needed.
 * The sign-up switch case is listed in docs/reticulum-tests.md.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { channelSuite, type ChannelClient } from '../../test-support/channel-case.ts';
import { findAccountByLogin, findOrCreateAccount, identifierHash, loadIdentifierSalt, setAccountState } from '../../db/accounts.ts';

const ORIGIN = 'http://rooms.example';
const suite = channelSuite({ env: { AUTH_ALLOWED_ORIGINS: ORIGIN } });
const { clients } = suite;

const db = () => suite.node.server.database.knex;

/** Reticulum's setup: a socket joined to `auth:testauth` (a fresh topic per test here). */
async function joinAuth(): Promise<{ c: ChannelClient; topic: string; jr: string }> {
  const c = await suite.node.connect();
  clients.push(c);
  const topic = `auth:testauth-${Math.random().toString(36).slice(2)}`;
  const j = await c.join(topic, {});
  assert.equal(j[4].status, 'ok');
  assert.equal(typeof j[4].response.session_id, 'string');
  return { c, topic, jr: j[0]! };
}

async function hashOf(email: string): Promise<string> {
  return identifierHash(email, await loadIdentifierSalt(db()));
}

async function loginTokenForEmailExists(email: string): Promise<boolean> {
  return (await db()('login_tokens').where({ identifier_hash: await hashOf(email) }).first('token_hash')) !== undefined;
}

test('auth_channel_test: "Login token is created for an email"', async () => {
  const email = 'admin1@example.org';
  assert.equal(await loginTokenForEmailExists(email), false);
  assert.equal(await findAccountByLogin(db(), await hashOf(email)), null);
  const { c, topic, jr } = await joinAuth();
  const r = await c.reply(c.push(jr, topic, 'auth_request', { email, origin: ORIGIN }));
  assert.equal(r[4].status, 'ok');
  assert.equal(await loginTokenForEmailExists(email), true);
  assert.equal(await findAccountByLogin(db(), await hashOf(email)), null, 'the account is made when the link is opened');
});

test('auth_channel_test: "Login token is not created for disabled account"', async () => {
  const email = 'disabled_account@example.org';
  const account = await findOrCreateAccount(db(), await hashOf(email), false);
  assert.equal(await setAccountState(db(), account.accountId, 'disabled'), true);
  const { c, topic, jr } = await joinAuth();
  const r = await c.reply(c.push(jr, topic, 'auth_request', { email, origin: ORIGIN }));
  assert.equal(r[4].status, 'ok', 'the reply does not tell');
  assert.equal(await loginTokenForEmailExists(email), false);
});
