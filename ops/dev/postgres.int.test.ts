import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createTestDatabase, startPostgres, type PostgresServer } from './postgres.ts';

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

function portAccepts(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      res(true);
    });
    s.once('error', () => res(false));
  });
}

describe('startPostgres', () => {
  let server: PostgresServer;
  before(async () => {
    server = await startPostgres();
  });
  after(async () => {
    await server?.stop();
  });

  it('serves PostgreSQL 15 on 127.0.0.1 with the plexus_test database and UTF8 encoding', async () => {
    assert.match(server.url, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/plexus_test$/);
    const [row] = await query<{ v: string; db: string; enc: string; fsync: string }>(
      server.url,
      "select current_setting('server_version_num') as v, current_database() as db, " +
        "pg_encoding_to_char(encoding) as enc, current_setting('fsync') as fsync from pg_database where datname = current_database()",
    );
    assert.ok(row);
    assert.equal(row.v.slice(0, 2), '15');
    assert.equal(row.db, 'plexus_test');
    assert.equal(row.enc, 'UTF8');
    assert.equal(row.fsync, 'off');
  });

  it('stops the server and removes its directory, and a second stop is harmless', async () => {
    const other = await startPostgres();
    assert.ok(existsSync(other.dir));
    assert.equal(await portAccepts(other.port), true);
    await other.stop();
    assert.equal(existsSync(other.dir), false);
    assert.equal(await portAccepts(other.port), false);
    await other.stop();
  });
});

describe('createTestDatabase', () => {
  let baseUrl: string;
  let own: PostgresServer | undefined;
  before(async () => {
    if (process.env.TEST_DATABASE_URL) baseUrl = process.env.TEST_DATABASE_URL;
    else {
      own = await startPostgres();
      baseUrl = own.url;
    }
  });
  after(async () => {
    await own?.stop();
  });

  it('creates an isolated, empty database and drops it even while a client is still connected', async () => {
    const db = await createTestDatabase(baseUrl);
    assert.match(db.name, /^plexus_test_[0-9a-f]{12}$/);
    assert.equal(new URL(db.url).pathname, `/${db.name}`);
    await query(db.url, 'create table t (id int primary key)');
    const other = await createTestDatabase(baseUrl);
    const tables = await query<{ n: string }>(other.url, "select count(*)::text as n from information_schema.tables where table_name = 't'");
    assert.equal(tables[0]?.n, '0');

    const lingering = new pg.Client({ connectionString: db.url });
    lingering.on('error', () => undefined); // the forced drop terminates it
    await lingering.connect();
    await db.drop();
    await db.drop();
    await other.drop();
    await lingering.end().catch(() => undefined);
    const left = await query<{ datname: string }>(baseUrl, `select datname from pg_database where datname in ('${db.name}', '${other.name}')`);
    assert.deepEqual(left, []);
  });

  it('refuses database names that are not plain identifiers', async () => {
    const { createDatabase } = await import('./postgres.ts');
    await assert.rejects(createDatabase(baseUrl, 'x"; drop database postgres; --'), /invalid database name/);
  });
});
