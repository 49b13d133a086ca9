/**
 * Reticulum's app config switches in Plexus: admins set them over
 * /api/v1/app_configs, every node of a cluster applies them within seconds,
 * and room creation, joins and sign-up obey them. Bad bodies change nothing.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { AccountTokens } from '../auth/account-token.ts';
import { findAccountByLogin, findOrCreateAccount, identifierHash, loadIdentifierSalt } from '../db/accounts.ts';
import { RawClient, type Frame } from '../test-support/raw-client.ts';
import { startClusterServices, type ClusterServices } from '../test-support/cluster-services.ts';
import { createRoom, startTestServer, type TestServer } from '../test-support/test-server.ts';

const SECRET = randomBytes(32).toString('hex');
const clients: RawClient[] = [];
after(() => {
  for (const c of clients) c.close();
});

async function tokenFor(srv: TestServer, email: string, isAdmin = false): Promise<string> {
  const db = srv.server.database.knex;
  const account = await findOrCreateAccount(db, identifierHash(email, await loadIdentifierSalt(db)), isAdmin);
  return new AccountTokens(SECRET, srv.server.database).issue(account.accountId);
}

function postConfig(srv: TestServer, token: string | null, body: unknown): Promise<Response> {
  return fetch(`${srv.url}/api/v1/app_configs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function getConfig(srv: TestServer, token: string): Promise<any> {
  const res = await fetch(`${srv.url}/api/v1/app_configs`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  return res.json();
}

function postHub(srv: TestServer, token: string | null = null): Promise<Response> {
  return fetch(`${srv.url}/api/v1/hubs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ hub: { name: 'Switch test' } }),
  });
}

async function tryJoin(srv: TestServer, hubSid: string, params: Record<string, unknown> = {}): Promise<Frame> {
  const c = await RawClient.connect(srv.url);
  clients.push(c);
  return c.join(`hub:${hubSid}`, { profile: {}, context: {}, ...params });
}

/** Polls `probe` until it returns true (another node's cache expiring), failing after `ms`. */
async function eventually(what: string, probe: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) assert.fail(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The one-node suite's server, and the lines it logged. */
let node: TestServer;
const logLines: string[] = [];

/** The permissive-rooms and join switches' tests of the one-node suite (on the module's node). */
function joinSwitchTests(): void {
  test('features.permissive_rooms gives new rooms every member permission; without it members get voice and text chat only', async () => {
    const admin = await tokenFor(node, 'admin@example.org', true);
    const perms = async () => {
      const { hub_id } = (await (await postHub(node)).json()) as { hub_id: string };
      return ((await (await fetch(`${node.url}/api/v1/hubs/${hub_id}`)).json()) as { hubs: Array<{ member_permissions: Record<string, boolean> }> }).hubs[0]!.member_permissions;
    };
    assert.deepEqual(await perms(), { spawn_and_move_media: false, spawn_camera: false, spawn_drawing: false, pin_objects: false, spawn_emoji: false, fly: false, voice_chat: true, text_chat: true });
    assert.equal((await postConfig(node, admin, { features: { permissive_rooms: true } })).status, 200);
    assert.ok(Object.values(await perms()).every((v) => v === true));
    assert.equal((await postConfig(node, admin, { features: { permissive_rooms: false } })).status, 200);
    assert.equal((await perms()).spawn_and_move_media, false);
  });

  test('joining hub does not work if sign in required', async () => {
    // Reticulum's test/ret_web/channels/hub_channel_test.exs, with what Plexus adds: signed-in members still join.
    const admin = await tokenFor(node, 'admin@example.org', true);
    const { hubSid } = await createRoom(node.url);
    assert.equal((await postConfig(node, admin, { features: { require_account_for_join: true } })).status, 200);
    try {
      const anon = await tryJoin(node, hubSid);
      assert.equal(anon[4].status, 'error');
      assert.equal(anon[4].response.reason, 'join_denied');
      const signedIn = await tryJoin(node, hubSid, { auth_token: await tokenFor(node, 'member@example.org') });
      assert.equal(signedIn[4].status, 'ok', JSON.stringify(signedIn[4]));
      // Signing out lets the member go, 5 s later (phx_close), as Reticulum does.
      const c = clients[clients.length - 1]!;
      const topic = `hub:${hubSid}`;
      assert.equal((await c.reply(c.push(signedIn[0], topic, 'sign_out', {})))[4].status, 'ok');
      await c.waitFor((f: Frame) => f[2] === topic && f[3] === 'phx_close', 15_000);
    } finally {
      assert.equal((await postConfig(node, admin, { features: { require_account_for_join: false } })).status, 200);
    }
    assert.equal((await tryJoin(node, hubSid))[4].status, 'ok');
  });
}

/** The sign-up and room-creation switches' tests of the one-node suite (on the module's node and logLines). */
function signUpSwitchTests(): void {
  test('Login token is not created for an email if sign up is disabled', async () => {
    // Reticulum's test/ret_web/channels/auth_channel_test.exs, plus: existing accounts still get a link, and a link
    // mailed before sign-up was disabled creates no account.
    const db = node.server.database.knex;
    const admin = await tokenFor(node, 'admin@example.org', true);
    const salt = await loadIdentifierSalt(db);
    const tokensFor = async (email: string) => Number((await db('login_tokens').where({ identifier_hash: identifierHash(email, salt) }).count<{ count: string }[]>('* as count'))[0]!.count);
    const c = await RawClient.connect(node.url);
    clients.push(c);
    const request = async (email: string): Promise<Frame> => {
      const topic = `auth:${randomBytes(6).toString('hex')}`;
      const j = await c.join(topic, {});
      return c.reply(c.push(j[0], topic, 'auth_request', { email, origin: node.url }));
    };
    // A link asked for while sign-up is open, for an email without an account.
    const from = logLines.length;
    const early = `${randomBytes(6).toString('hex')}@example.org`;
    const topic = `auth:${randomBytes(6).toString('hex')}`;
    const j = await c.join(topic, {});
    assert.equal((await c.reply(c.push(j[0], topic, 'auth_request', { email: early, origin: node.url })))[4].status, 'ok');
    await eventually('the sign-in link is logged', async () => logLines.slice(from).some((l) => l.includes(early)));
    const link = new URL(/http:\/\/[^\s"\\]+auth_topic[^\s"\\]+/.exec(logLines.slice(from).find((l) => l.includes(early))!)![0]);

    assert.equal((await postConfig(node, admin, { features: { disable_sign_up: true } })).status, 200);
    try {
      const stranger = 'admin2@mozilla.com';
      assert.equal((await request(stranger))[4].status, 'ok', 'the reply does not tell whether the email has an account');
      assert.equal(await tokensFor(stranger), 0);
      assert.equal(await findAccountByLogin(db, identifierHash(stranger, salt)), null);
      // An existing account still gets its link.
      await tokenFor(node, 'known@example.org');
      assert.equal((await request('known@example.org'))[4].status, 'ok');
      assert.equal(await tokensFor('known@example.org'), 1);
      // The early link no longer makes an account.
      const v = await c.reply(c.push(j[0], topic, 'auth_verified', { token: link.searchParams.get('auth_token'), payload: link.searchParams.get('auth_payload') }));
      assert.equal(v[4].response.reason, 'invalid_token');
      assert.match(v[4].response.message, /Sign-up is closed/);
      assert.equal(await findAccountByLogin(db, identifierHash(early, salt)), null);
    } finally {
      assert.equal((await postConfig(node, admin, { features: { disable_sign_up: false } })).status, 200);
    }
    assert.equal((await request('later@example.org'))[4].status, 'ok');
    assert.equal(await tokensFor('later@example.org'), 1);
  });

  test('with room creation disabled admins still create rooms, and a bad token is refused before the switch is read', async () => {
    const admin = await tokenFor(node, 'admin@example.org', true);
    assert.equal((await postConfig(node, admin, { features: { disable_room_creation: true } })).status, 200);
    try {
      const refused = await postHub(node);
      assert.equal(refused.status, 401);
      assert.match(((await refused.json()) as { error: { message: string } }).error.message, /disable_room_creation/);
      assert.equal((await postHub(node, await tokenFor(node, 'member@example.org'))).status, 401);
      const byAdmin = await postHub(node, admin);
      assert.equal(byAdmin.status, 200);
      assert.equal(((await byAdmin.json()) as { creator_assignment_token: unknown }).creator_assignment_token, null);
    } finally {
      assert.equal((await postConfig(node, admin, { features: { disable_room_creation: false } })).status, 200);
    }
    assert.equal((await postHub(node, 'not-a-token')).status, 401);
    assert.equal((await postHub(node)).status, 200);
  });
}

describe('on one node', () => {
  before(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        logLines.push(chunk.toString('utf8'));
        done();
      },
    });
    node = await startTestServer({ env: { SESSION_SECRET: SECRET }, deps: { logger: pino({ level: 'info' }, sink) } });
  });
  after(() => node?.stop());

  test('the app config is for admins only: no token, a bad token and a non-admin get 401', async () => {
    const member = await tokenFor(node, 'member@example.org');
    for (const token of [null, 'garbage', member]) {
      assert.equal((await postConfig(node, token, { features: { disable_sign_up: true } })).status, 401);
      const get = await fetch(`${node.url}/api/v1/app_configs`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
      assert.equal(get.status, 401);
    }
    assert.equal(await node.server.database.knex('app_configs').count<{ count: string }[]>('* as count').then((r) => Number(r[0]!.count)), 0);
  });

  test('bad app config bodies get 400 or 422 saying what is wrong, and store nothing', async () => {
    const admin = await tokenFor(node, 'admin@example.org', true);
    const before = await getConfig(node, admin);
    const deep: Record<string, unknown> = {};
    let at = deep;
    for (let i = 0; i < 9; i++) at = at[`l${i}`] = {} as Record<string, unknown>;
    at.v = 1;
    for (const [body, status, pattern] of [
      ['{not json', 400, /JSON/],
      ['[1,2]', 422, /JSON object/],
      ['"text"', 422, /JSON object/],
      [{ features: { disable_sign_up: 'yes' } }, 422, /true or false/],
      [{ features: { max_room_size: 100 } }, 422, /MAX_ROOM_SIZE/],
      [{ images: { favicon: { file_id: 'f', meta: { access_token: 'a', promotion_token: null } } } }, 422, /file/],
      [{ 'a|b': 1 }, 422, /without "\|"/],
      [{ '': 1 }, 422, /1 to 64/],
      [deep, 422, /nest at most 8/],
      [{ big: 'x'.repeat(17_000) }, 422, /16384/],
      [{ ok: 1, note: 'a\u0000b' }, 422, /NUL/],
      [{ ['k\u0000']: 1 }, 422, /NUL/],
      [Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, i])), 422, /At most 256/],
    ] as const) {
      const res = await postConfig(node, admin, body);
      assert.equal(res.status, status, JSON.stringify(body).slice(0, 80));
      const err = (await res.json()) as { error: { code: string; message: string } };
      assert.match(err.error.message, pattern);
    }
    assert.deepEqual(await getConfig(node, admin), before);
  });

  test('GET /api/v1/app_configs gives what admins set, nested, with the configured room sizes; "" and null clear a value', async () => {
    const admin = await tokenFor(node, 'admin@example.org', true);
    assert.equal((await postConfig(node, admin, { translations: { en: { 'app-name': 'My rooms' } }, features: { public_api_access: false }, list: [1, 2] })).status, 200);
    let config = await getConfig(node, admin);
    assert.equal(config.translations.en['app-name'], 'My rooms');
    assert.deepEqual(config.list, [1, 2]);
    assert.equal(config.features.max_room_size, 50);
    assert.equal(config.features.default_room_size, 24);
    assert.equal(config.features.public_api_access, false);
    assert.equal((await postConfig(node, admin, { translations: { en: { 'app-name': '' } }, list: null })).status, 200);
    config = await getConfig(node, admin);
    assert.equal(config.translations.en['app-name'], null);
    assert.equal(config.list, null);
  });

  joinSwitchTests();
  signUpSwitchTests();
});

describe('in a cluster', () => {
  let services: ClusterServices;
  let node1: TestServer;
  let node2: TestServer;
  before(async () => {
    services = await startClusterServices();
    const env = { SESSION_SECRET: SECRET, REDIS_URL: services.redisUrl };
    node1 = await startTestServer({ databaseUrl: services.databaseUrl, env });
    node2 = await startTestServer({ databaseUrl: services.databaseUrl, env });
  });
  after(async () => {
    await node1?.stop();
    await node2?.stop();
    await services?.stop();
  });

  test('a switch set on one node is in effect on the other within seconds: room creation and anonymous joins', async () => {
    const admin = await tokenFor(node1, 'admin@example.org', true);
    const { hubSid } = await createRoom(node2.url);
    // node2 has read the (empty) config and caches it.
    assert.equal((await postHub(node2)).status, 200);
    assert.equal((await tryJoin(node2, hubSid))[4].status, 'ok');
    assert.equal((await postConfig(node1, admin, { features: { disable_room_creation: true, require_account_for_join: true } })).status, 200);
    // In effect at once on the node that wrote it...
    assert.equal((await postHub(node1)).status, 401);
    // ...and on the other once its 2 s cache expires.
    await eventually('node2 refuses room creation', async () => (await postHub(node2)).status === 401);
    await eventually('node2 refuses anonymous joins', async () => (await tryJoin(node2, hubSid))[4].response.reason === 'join_denied');
    assert.equal((await postConfig(node1, admin, { features: { disable_room_creation: false, require_account_for_join: false } })).status, 200);
    await eventually('node2 creates rooms again', async () => (await postHub(node2)).status === 200);
    await eventually('node2 lets anonymous members in again', async () => (await tryJoin(node2, hubSid))[4].status === 'ok');
  });
});
