import fs from 'node:fs';
import path from 'node:path';
import knex from 'knex';
import type { Knex } from 'knex';
import { PGlite } from '@electric-sql/pglite';
import { createPgConfig } from '@electric-sql/pglite/node-postgres';
import { migrationSource } from './migration-source.ts';

/** An open database: a knex instance over PGlite or PostgreSQL. */
export interface Database {
  /** The query builder. With PGlite (one connection) every query inside a transaction must use the transaction object. */
  readonly knex: Knex;
  /** `pglite` or `postgres`. */
  readonly kind: 'pglite' | 'postgres';
  /** Closes connections (and the embedded database). */
  close(): Promise<void>;
}

/** Where the database is: a PostgreSQL URL, or a directory for embedded PGlite (`null` = in memory). */
export type DatabaseLocation = { url: string } | { pgliteDir: string | null };

/**
 * Opens the database and runs pending migrations.
 * - `{url}`: real PostgreSQL through `pg` (pool of 10).
 * - `{pgliteDir}`: embedded PGlite (PostgreSQL in WASM) through its
 *   node-postgres adapter, one connection; the directory is created.
 * @throws the driver's error when PostgreSQL cannot be reached or a migration fails
 */
export async function openDatabase(location: DatabaseLocation): Promise<Database> {
  if ('url' in location) {
    const db = knex({ client: 'pg', connection: location.url, pool: { min: 0, max: 10 }, acquireConnectionTimeout: 10_000 });
    try {
      await db.migrate.latest({ migrationSource });
    } catch (err) {
      await db.destroy();
      throw err;
    }
    return { knex: db, kind: 'postgres', close: () => db.destroy() };
  }
  let pglite: PGlite;
  if (location.pgliteDir) {
    fs.mkdirSync(path.dirname(location.pgliteDir), { recursive: true });
    pglite = new PGlite(location.pgliteDir);
  } else {
    pglite = new PGlite();
  }
  await pglite.waitReady;
  const cfg = createPgConfig(pglite);
  const db = knex({
    client: 'pg',
    connection: (() => cfg) as unknown as Knex.StaticConnectionConfig,
    pool: { min: 1, max: 1 },
    acquireConnectionTimeout: 5_000,
  });
  try {
    await db.migrate.latest({ migrationSource });
  } catch (err) {
    await db.destroy();
    await pglite.close();
    throw err;
  }
  return {
    knex: db,
    kind: 'pglite',
    close: async () => {
      await db.destroy();
      await pglite.close();
    },
  };
}
