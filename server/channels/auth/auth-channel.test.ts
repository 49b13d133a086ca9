/**
 * Email sign-in end to end through a real SMTP server started here
 * (smtp-server): the mailed link signs the page in; the account token then
 * signs members into rooms; perms tokens verify against the published JWKS.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { channelSuite, startChannelCase, type ChannelClient } from '../../test-support/channel-case.ts';
import { SMTPServer } from 'smtp-server';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { type Frame } from '../../test-support/raw-client.ts';
import { setAccountState } from '../../db/accounts.ts';

let smtp: SMTPServer;
let smtpPort = 0;
const mails: Array<{ to: string; body: string }> = [];

/** Starts the SMTP server the node mails through, on a free port. */
async function startSmtp(): Promise<void> {
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        mails.push({ to: session.envelope.rcptTo.map((r) => r.address).join(','), body: Buffer.concat(chunks).toString('utf8') });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', () => resolve()));
  smtpPort = (smtp.server.address() as { port: number }).port;
}

const suite = channelSuite({
  beforeStart: startSmtp,
  env: () => ({ SMTP_URL: `smtp://127.0.0.1:${smtpPort}`, AUTH_ALLOWED_ORIGINS: 'http://rooms.example', ADMIN_EMAIL: 'Admin@Example.org' }),
  afterStop: () => new Promise<void>((resolve) => smtp.close(() => resolve())),
});
const { clients } = suite;

async function connect(): Promise<ChannelClient> {
  const c = await suite.node.connect();
  clients.push(c);
  return c;
}

async function waitForMail(to: string, from = 0): Promise<{ to: string; body: string }> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const m = mails.slice(from).find((x) => x.to.toLowerCase() === to.toLowerCase());
    if (m) return m;
    if (Date.now() > deadline) throw new Error(`no mail to ${to}; got ${mails.map((x) => x.to).join(' ')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The link's query parameters from a mail body (quoted-printable soft breaks undone). */
function linkParams(body: string): URLSearchParams {
  const text = body.replace(/=\r?\n/g, '').replace(/=3D/g, '=');
  const m = /http:\/\/rooms\.example\/\?[^\s]+/.exec(text);
  assert.ok(m, `no link in mail: ${text}`);
  return new URL(m[0]).searchParams;
}

async function signInByMail(email: string): Promise<string> {
  const page = await connect();
  const topic = `auth:${Math.random().toString(36).slice(2)}`;
  const joined = await page.join(topic, {});
  assert.equal(joined[4].status, 'ok');
  const before = mails.length;
  const reqReply = await page.reply(page.push(joined[0], topic, 'auth_request', { email, origin: 'http://rooms.example' }));
  assert.equal(reqReply[4].status, 'ok', JSON.stringify(reqReply));
  const params = linkParams((await waitForMail(email, before)).body);
  assert.equal(params.get('auth_topic'), topic);
  // The link is opened elsewhere (another socket), which verifies it on the same topic.
  const opener = await connect();
  const j2 = await opener.join(topic, {});
  const v = await opener.reply(opener.push(j2[0], topic, 'auth_verified', { token: params.get('auth_token'), payload: params.get('auth_payload') }));
  assert.equal(v[4].status, 'ok', JSON.stringify(v));
  const creds = await page.waitFor((f: Frame) => f[3] === 'auth_credentials');
  assert.equal(typeof creds[4].credentials, 'string');
  // A link works once.
  const again = await opener.reply(opener.push(j2[0], topic, 'auth_verified', { token: params.get('auth_token'), payload: params.get('auth_payload') }));
  assert.equal(again[4].response.reason, 'invalid_token');
  return creds[4].credentials as string;
}

test('the mailed link signs the page in; the account token signs a member into a room, sign_out makes it anonymous again', async () => {
  const token = await signInByMail('Alice@Example.org');
  const { hubSid } = await suite.node.createRoom();
  const topic = `hub:${hubSid}`;
  const c = await connect();
  const joined = await c.join(topic, { profile: {}, context: {}, auth_token: token });
  assert.equal(joined[4].status, 'ok', JSON.stringify(joined));
  const state = await c.waitFor((f) => f[3] === 'presence_state');
  const me = joined[4].response.session_id as string;
  assert.equal(state[4][me].metas[0].roles.signed_in, true);
  const out = await c.reply(c.push(joined[0], topic, 'sign_out', {}));
  assert.equal(out[4].status, 'ok');
  await c.waitFor((f) => f[3] === 'presence_diff' && f[4].joins[me]?.metas[0].roles.signed_in === false);
  // The same email signs in to the same account.
  const token2 = await signInByMail('alice@example.org');
  const c2 = await connect();
  const j = await c2.join(topic, { profile: {}, context: {} });
  const signIn = await c2.reply(c2.push(j[0], topic, 'sign_in', { token: token2 }));
  assert.equal(signIn[4].status, 'ok', JSON.stringify(signIn));
  const jwks = (await (await suite.node.fetch(`${suite.node.url}/.well-known/jwks.json`)).json()) as { keys: object[] };
  const { payload } = await jwtVerify(signIn[4].response.perms_token, createLocalJWKSet(jwks as never), { audience: 'ret_perms', algorithms: ['RS512'] });
  assert.equal(payload.hub_id, hubSid);
  assert.notEqual(payload.account_id, '');
  assert.equal(payload.voice_chat, true);
  assert.equal(payload.kick_users, false);
  assert.ok(payload.exp! - payload.iat! === 300);
  const t1 = (await jwtVerify(joined[4].response.perms_token, createLocalJWKSet(jwks as never), { audience: 'ret_perms' })).payload;
  assert.equal(t1.account_id, payload.account_id, 'one email, one account');
});

test('emails are stored only as hashes, refused origins send nothing, and expired or bad links fail', async () => {
  const page = await connect();
  const topic = `auth:${Math.random().toString(36).slice(2)}`;
  const joined = await page.join(topic, {});
  const before = mails.length;
  const bad = await page.reply(page.push(joined[0], topic, 'auth_request', { email: 'eve@example.org', origin: 'http://phish.example' }));
  assert.equal(bad[4].response.reason, 'invalid_origin');
  for (const email of ['not-an-email', 'bob@example.org,eve@example.org', 'Bob <bob@example.org>', 'bob@example.org\r\nBcc: eve@example.org', `${'b'.repeat(250)}@example.org`]) {
    assert.equal((await page.reply(page.push(joined[0], topic, 'auth_request', { email, origin: 'http://rooms.example' })))[4].response.reason, 'invalid_payload', email);
  }
  const okReply = await page.reply(page.push(joined[0], topic, 'auth_request', { email: 'bob@example.org', origin: 'http://rooms.example' }));
  assert.equal(okReply[4].status, 'ok');
  assert.equal((await page.reply(page.push(joined[0], topic, 'auth_request', { email: 'bob@example.org', origin: 'http://rooms.example' })))[4].response.reason, 'already_sent');
  const params = linkParams((await waitForMail('bob@example.org', before)).body);
  assert.equal(mails.slice(before).filter((m) => m.to === 'eve@example.org').length, 0);
  const db = suite.node.server.database.knex;
  for (const table of ['logins', 'login_tokens', 'accounts']) {
    const rows = await db(table).select('*');
    assert.ok(!JSON.stringify(rows).toLowerCase().includes('example.org'), `${table} holds an email in clear`);
  }
  await db('login_tokens').update({ expires_at: new Date(Date.now() - 1000) });
  const expired = await page.reply(page.push(joined[0], topic, 'auth_verified', { token: params.get('auth_token'), payload: params.get('auth_payload') }));
  assert.equal(expired[4].response.reason, 'invalid_token');
  const { hubSid } = await suite.node.createRoom();
  const c = await connect();
  const j = await c.join(`hub:${hubSid}`, { profile: {}, context: {}, auth_token: 'not.a.token' });
  assert.equal(j[4].response.reason, 'sign_in_failed');
});

test('sign_in with the creator assignment token makes the account the room creator; ret and the room give perms tokens with global claims; admins get postgrest_role', async () => {
  const token = await signInByMail('admin@example.org');
  const jwks = createLocalJWKSet((await (await suite.node.fetch(`${suite.node.url}/.well-known/jwks.json`)).json()) as never);
  const ret = await connect();
  const rj = await ret.join('ret', { hub_id: 'none', token });
  assert.equal(rj[4].status, 'ok', JSON.stringify(rj));
  const rr = await ret.reply(ret.push(rj[0], 'ret', 'refresh_perms_token', {}));
  const global = (await jwtVerify(rr[4].response.perms_token, jwks, { audience: 'ret_perms', algorithms: ['RS512'] })).payload;
  assert.equal(global.create_hub, true);
  assert.equal(global.tweet, false);
  assert.equal(global.postgrest_role, 'ret_admin', 'ADMIN_EMAIL (any case) makes the account an admin');
  assert.match(global.sub!, /^\d+_global$/);
  const accountId = global.account_id as string;

  const { hubSid, creatorAssignmentToken } = await suite.node.createRoom();
  const topic = `hub:${hubSid}`;
  const c = await connect();
  const j = await c.join(topic, { profile: {}, context: {} });
  const me = j[4].response.session_id as string;
  const anon = (await jwtVerify(j[4].response.perms_token, jwks, { audience: 'ret_perms' })).payload;
  assert.equal(anon.account_id, '');
  assert.equal(anon.update_hub, false);
  // A creator_assignment_token that is not the room's is ignored, as in Reticulum: signed in, not creator.
  const wrong = await c.reply(c.push(j[0], topic, 'sign_in', { token, creator_assignment_token: 'not-this-rooms-token' }));
  assert.equal(wrong[4].status, 'ok', JSON.stringify(wrong));
  assert.equal((await jwtVerify(wrong[4].response.perms_token, jwks, { audience: 'ret_perms' })).payload.update_roles, false);
  const bad = await c.reply(c.push(j[0], topic, 'sign_in', { token: token.slice(0, -4) + 'AAAA' }));
  assert.equal(bad[4].response.reason, 'sign_in_failed');
  const invalid = await c.reply(c.push(j[0], topic, 'sign_in', { tokn: token }));
  assert.equal(invalid[4].response.reason, 'invalid_payload');
  const signIn = await c.reply(c.push(j[0], topic, 'sign_in', { token, creator_assignment_token: creatorAssignmentToken }));
  assert.equal(signIn[4].status, 'ok', JSON.stringify(signIn));
  await c.waitFor((f) => f[3] === 'presence_diff' && f[4].joins[me]?.metas[0].roles.creator === true);
  const hub = await suite.node.server.database.knex('hubs').where({ hub_sid: hubSid }).first('created_by_account_id');
  assert.equal(String(hub.created_by_account_id), accountId);
  const p = (await jwtVerify(signIn[4].response.perms_token, jwks, { audience: 'ret_perms' })).payload;
  assert.deepEqual([p.account_id, p.update_hub, p.update_roles, p.postgrest_role, p.sub], [accountId, true, true, 'ret_admin', `${accountId}_${hubSid}`]);
  const refreshed = await c.reply(c.push(j[0], topic, 'refresh_perms_token', {}));
  assert.equal((await jwtVerify(refreshed[4].response.perms_token, jwks, { audience: 'ret_perms' })).payload.account_id, accountId);
  await c.reply(c.push(j[0], topic, 'sign_out', {}));
  const out = await c.reply(c.push(j[0], topic, 'refresh_perms_token', {}));
  assert.equal((await jwtVerify(out[4].response.perms_token, jwks, { audience: 'ret_perms' })).payload.account_id, '', 'signed out');
});

test('a disabled account gets no mail (the reply is the same) and its token no longer gets it into a room; origins compare as URL origins', async () => {
  const token = await signInByMail('carol@example.org');
  const ret = await connect();
  const rj = await ret.join('ret', { hub_id: 'none', token });
  const accountId = (await jwtVerify((await ret.reply(ret.push(rj[0], 'ret', 'refresh_perms_token', {})))[4].response.perms_token, createLocalJWKSet((await (await suite.node.fetch(`${suite.node.url}/.well-known/jwks.json`)).json()) as never))).payload.account_id as string;
  assert.equal(await setAccountState(suite.node.server.database.knex, accountId, 'disabled'), true);
  const page = await connect();
  const topic = `auth:${Math.random().toString(36).slice(2)}`;
  const joined = await page.join(topic, {});
  const before = mails.length;
  const r = await page.reply(page.push(joined[0], topic, 'auth_request', { email: 'Carol@example.org', origin: 'HTTP://Rooms.Example' }));
  assert.equal(r[4].status, 'ok');
  assert.deepEqual(r[4].response, {});
  assert.equal(mails.slice(before).length, 0, 'the SMTP server got nothing (a sent mail is delivered before the reply)');
  const { hubSid } = await suite.node.createRoom();
  const c = await connect();
  const j = await c.join(`hub:${hubSid}`, { profile: {}, context: {}, auth_token: token });
  assert.equal(j[4].response.reason, 'join_denied', 'a disabled account is denied the room, as in Reticulum');
  // Another address through the upper-case origin does get its link, at the normalised origin.
  const page2 = await connect();
  const topic2 = `auth:${Math.random().toString(36).slice(2)}`;
  const j2 = await page2.join(topic2, {});
  const r2 = await page2.reply(page2.push(j2[0], topic2, 'auth_request', { email: 'dave@example.org', origin: 'HTTP://Rooms.Example' }));
  assert.equal(r2[4].status, 'ok');
  assert.equal(linkParams((await waitForMail('dave@example.org', before)).body).get('auth_origin'), 'http://rooms.example');
});

test('sign-in mails are limited per address and per client IP: the refused requests get rate_limited and send nothing', async () => {
  // TRUST_PROXY: the sockets come through a "proxy" on loopback that names their client in X-Forwarded-For.
  const limited = await startChannelCase({ env: { SMTP_URL: `smtp://127.0.0.1:${smtpPort}`, AUTH_ALLOWED_ORIGINS: 'http://rooms.example', AUTH_MAIL_PER_ADDRESS_PER_HOUR: '3', AUTH_MAIL_PER_IP_PER_HOUR: '5', TRUST_PROXY: 'true' } });
  try {
    const from = async (ip: string) => {
      const c = await limited.connect('', { 'x-forwarded-for': `6.6.6.6, ${ip}` });
      clients.push(c);
      return c;
    };
    const ask = async (c: ChannelClient, email: string) => {
      const topic = `auth:${Math.random().toString(36).slice(2)}`;
      const j = await c.join(topic, {});
      return (await c.reply(c.push(j[0], topic, 'auth_request', { email, origin: 'http://rooms.example' })))[4];
    };
    const before = mails.length;
    // Three sockets from one client ask 9 times for one address.
    const sockets = [await from('203.0.113.7'), await from('203.0.113.7'), await from('203.0.113.7')];
    const replies = [];
    for (let i = 0; i < 9; i++) replies.push(await ask(sockets[i % 3]!, 'flood@example.org'));
    assert.deepEqual(replies.map((r) => r.status), ['ok', 'ok', 'ok', 'error', 'error', 'error', 'error', 'error', 'error']);
    for (const r of replies.slice(3)) {
      assert.equal(r.response.reason, 'rate_limited');
      assert.ok(Number(r.response.retry_after) >= 1);
      assert.match(r.response.message, /try again in \d+ s/);
    }
    // A sent mail is delivered before its reply, so these counts are final.
    assert.equal(mails.slice(before).filter((m) => m.to === 'flood@example.org').length, 3);
    // The client's IP has used up its 5 as well: another address from it gets nothing.
    assert.equal((await ask(sockets[0]!, 'other@example.org')).response.reason, 'rate_limited');
    // Another client (its own bucket, though its X-Forwarded-For starts with the same spoofed entry) still gets its link.
    assert.equal((await ask(await from('198.51.100.20'), 'other@example.org')).status, 'ok');
    assert.equal(mails.slice(before).filter((m) => m.to === 'other@example.org').length, 1);
  } finally {
    await limited.stop();
  }
});
