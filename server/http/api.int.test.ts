/**
 * The HTTP surface: room creation and lookup, health, meta, page routes with
 * a Date header (NAF clock sync), and static assets. Run on PGlite and once
 * on PostgreSQL through DATABASE_URL.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase, startPostgres } from '../../ops/dev/postgres.ts';
import { startTestServer } from '../test-support/test-server.ts';
import type { TestServer } from '../test-support/test-server.ts';

const clientDir = fs.mkdtempSync(path.join(os.tmpdir(), 'plexus-client-'));
fs.writeFileSync(path.join(clientDir, 'index.html'), '<title>lobby</title>');
fs.writeFileSync(path.join(clientDir, 'room.html'), '<title>room</title>');
fs.writeFileSync(path.join(clientDir, 'app.js'), 'console.log(1)');

let srv: TestServer;
before(async () => {
  srv = await startTestServer({ env: { CLIENT_DIR: clientDir } });
});
after(async () => {
  await srv.stop();
  fs.rmSync(clientDir, { recursive: true, force: true });
});

async function post(body: string): Promise<Response> {
  return fetch(`${srv.url}/api/v1/hubs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
}

test('POST /api/v1/hubs creates a room and returns hub_id, url and creator_assignment_token', async () => {
  const res = await post(JSON.stringify({ hub: { name: 'Book Club' } }));
  assert.equal(res.status, 200);
  const body = (await res.json()) as Record<string, string>;
  assert.match(body.hub_id, /^[A-Za-z0-9]{7}$/);
  assert.equal(body.url, `${srv.url}/${body.hub_id}/book-club`);
  assert.match(body.creator_assignment_token, /^[0-9a-f]{32}$/);
  const got = await fetch(`${srv.url}/api/v1/hubs/${body.hub_id}`);
  assert.equal(got.status, 200);
  const { hubs } = (await got.json()) as { hubs: Array<Record<string, unknown>> };
  assert.equal(hubs[0].name, 'Book Club');
  assert.equal(hubs[0].member_count, 0);
});

test('bad room bodies get 4xx JSON errors that say what to send, and create nothing', async () => {
  const before = (await srv.server.database.knex('hubs').count<{ count: string }[]>('* as count'))[0].count;
  for (const [body, status, code] of [
    ['not json', 400, 'bad_json'],
    ['{}', 422, 'invalid_body'],
    ['{"hub":{"name":""}}', 422, 'invalid_body'],
    ['{"hub":{"name":"   "}}', 422, 'invalid_body'],
    [JSON.stringify({ hub: { name: 'x'.repeat(65) } }), 422, 'invalid_body'],
  ] as const) {
    const res = await post(body);
    assert.equal(res.status, status, body);
    const err = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(err.error.code, code);
    assert.match(err.error.message, /hub/);
  }
  const afterCount = (await srv.server.database.knex('hubs').count<{ count: string }[]>('* as count'))[0].count;
  assert.equal(afterCount, before);
});

test('GET of an unknown room is a 404 not_found', async () => {
  const res = await fetch(`${srv.url}/api/v1/hubs/Nope123`);
  assert.equal(res.status, 404);
  assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'not_found');
});

test('/health and /api/v1/meta answer', async () => {
  const health = (await (await fetch(`${srv.url}/health`)).json()) as Record<string, unknown>;
  assert.equal(health.status, 'ok');
  assert.equal(health.database, 'pglite');
  const res = await fetch(`${srv.url}/api/v1/meta`);
  assert.equal(res.headers.get('access-control-allow-origin'), '*');
  const meta = (await res.json()) as Record<string, unknown>;
  // A single node names the host the request came to, and lists no cluster nodes.
  assert.equal(meta.phx_host, '127.0.0.1');
  assert.equal(meta.phx_port, null);
  assert.deepEqual(meta.nodes, []);
});

test('page routes answer GET and HEAD with a current Date header; assets are served', async () => {
  for (const [p, title] of [['/', 'lobby'], ['/AbCdEfG', 'room'], ['/AbCdEfG/some-slug', 'room']]) {
    const get = await fetch(`${srv.url}${p}`);
    assert.equal(get.status, 200);
    assert.match(await get.text(), new RegExp(title));
    const head = await fetch(`${srv.url}${p}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    const date = Date.parse(head.headers.get('date') ?? '');
    assert.ok(Math.abs(date - Date.now()) < 5000, `Date header ${head.headers.get('date')}`);
  }
  const js = await fetch(`${srv.url}/assets/app.js`);
  assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal((await fetch(`${srv.url}/assets/../../etc/passwd`)).status, 404);
  assert.equal((await fetch(`${srv.url}/not-a-sid`)).status, 404);
});

describe('with DATABASE_URL', () => {
  let pgSrv: TestServer;
  let cleanup = async () => {};
  before(async () => {
    let base = process.env.TEST_DATABASE_URL;
    let stopPg = async () => {};
    if (!base) {
      const pg = await startPostgres();
      base = pg.url;
      stopPg = () => pg.stop();
    }
    const db = await createTestDatabase(base);
    pgSrv = await startTestServer({ databaseUrl: db.url });
    cleanup = async () => {
      await pgSrv.stop();
      await db.drop();
      await stopPg();
    };
  });
  after(() => cleanup());

  test('rooms are created in and read from PostgreSQL', async () => {
    const res = await fetch(`${pgSrv.url}/api/v1/hubs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ hub: { name: 'On Postgres' } }) });
    const { hub_id } = (await res.json()) as { hub_id: string };
    const health = (await (await fetch(`${pgSrv.url}/health`)).json()) as Record<string, unknown>;
    assert.equal(health.database, 'postgres');
    const row = await pgSrv.server.database.knex('hubs').where({ hub_sid: hub_id }).first();
    assert.equal(row.name, 'On Postgres');
  });
});
