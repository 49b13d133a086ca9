import fs from 'node:fs';
import path from 'node:path';
import knex from 'knex';
import type { Knex } from 'knex';
import { PGlite } from '@electric-sql/pglite';
import { createPgConfig } from '@electric-sql/pglite/node-postgres';
import { migrationSource } from './migration-source.ts';
import { ErrorCodes, PlexusError } from '../errors.ts';
// knex's PostgreSQL dialect (CommonJS, untyped): subclassed below to turn timeouts into `unavailable`.
// @ts-expect-error knex ships no types for its dialect modules
import ClientPgModule from 'knex/lib/dialects/postgres/index.js';

/** Default of {@link DatabaseOptions.timeoutMs} (`DB_TIMEOUT_MS`). */
export const DEFAULT_DB_TIMEOUT_MS = 5000;

/** An open database: a knex instance over PGlite or PostgreSQL. */
export interface Database {
  /** The query builder. With PGlite (one connection) every query inside a transaction must use the transaction object. */
  readonly knex: Knex;
  /** `pglite` or `postgres`. */
  readonly kind: 'pglite' | 'postgres';
  /** The per-statement timeout in ms ({@link DatabaseOptions.timeoutMs}). */
  readonly timeoutMs: number;
  /**
   * Asks the database `SELECT 1`, for health checks.
   * @returns true when it answered within `timeoutMs` (default: a fifth of the statement timeout, at least 250 ms); never throws
   */
  ping(timeoutMs?: number): Promise<boolean>;
  /** Closes connections (and the embedded database). */
  close(): Promise<void>;
}

/** Where the database is: a PostgreSQL URL, or a directory for embedded PGlite (`null` = in memory). */
export type DatabaseLocation = { url: string } | { pgliteDir: string | null };

/** Options of {@link openDatabase}. */
export interface DatabaseOptions {
  /**
   * Longest wait, in ms, for one SQL statement, and for a connection from
   * the pool (`DB_TIMEOUT_MS`). PostgreSQL: the server cancels a statement
   * running longer (`statement_timeout`), and the client gives up on a
   * server that does not answer at all (`query_timeout`, connect timeout;
   * e.g. a frozen or unreachable host). Default {@link DEFAULT_DB_TIMEOUT_MS}.
   * Migrations run without it. PGlite runs in this process, so a statement
   * cannot hang without blocking the whole process; only the pool wait applies.
   */
  timeoutMs?: number;
}

/** The message of the `unavailable` error a statement that timed out throws. */
function unavailable(timeoutMs: number, cause: unknown): PlexusError {
  const err = new PlexusError(ErrorCodes.UNAVAILABLE, `The database did not answer within ${timeoutMs} ms; the change may not have been applied. Try again shortly.`, 503);
  (err as Error & { cause?: unknown }).cause = cause;
  return err;
}

/**
 * True for the errors of a database that does not answer or cannot be
 * reached: pg's client-side timeouts, PostgreSQL's statement timeout
 * (SQLSTATE 57014), shutdown (57P01-57P03), a pool wait that timed out
 * (KnexTimeoutError), a refused or broken connection.
 */
function isUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (err.name === 'KnexTimeoutError') return true;
  if (code === '57014' || code === '57P01' || code === '57P02' || code === '57P03') return true;
  if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'ETIMEDOUT' || code === 'EPIPE') return true;
  return /Query read timeout|timeout expired|Connection terminated|connection timeout/i.test(err.message);
}

type KnexClientClass = new (config: Knex.Config) => Knex.Client;
const ClientPg = ClientPgModule as KnexClientClass;

/**
 * knex's `pg` client whose queries and pool waits fail with
 * PlexusError `unavailable` (HTTP 503) when the database does not answer
 * (see {@link isUnavailable}); other errors pass unchanged. Transactions use
 * it too (knex derives their client from this prototype).
 */
class TimedPgClient extends ClientPg {
  private get timeoutMs(): number {
    return (this.config as { plexusTimeoutMs?: number }).plexusTimeoutMs ?? DEFAULT_DB_TIMEOUT_MS;
  }

  override query(connection: unknown, queryParam: unknown): Promise<unknown> {
    const base = ClientPg.prototype as unknown as { query(c: unknown, q: unknown): Promise<unknown> };
    return base.query.call(this, connection, queryParam).catch((err: unknown) => {
      throw isUnavailable(err) ? unavailable(this.timeoutMs, err) : err;
    });
  }

  override async acquireConnection(): Promise<unknown> {
    try {
      return await super.acquireConnection();
    } catch (err) {
      throw isUnavailable(err) ? unavailable(this.timeoutMs, err) : err;
    }
  }
}

function ping(db: Knex, defaultMs: number): (timeoutMs?: number) => Promise<boolean> {
  return async (timeoutMs = defaultMs) => {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        db.raw('select 1').then(() => true),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), timeoutMs);
        }),
      ]);
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  };
}

/**
 * Opens the database and runs pending migrations.
 * - `{url}`: real PostgreSQL through `pg` (pool of 10), statements limited
 *   to `options.timeoutMs` (see {@link DatabaseOptions}).
 * - `{pgliteDir}`: embedded PGlite (PostgreSQL in WASM) through its
 *   node-postgres adapter, one connection; the directory is created.
 * Statements that time out, and pool waits, throw PlexusError `unavailable`.
 * @throws the driver's error when PostgreSQL cannot be reached or a migration fails
 */
export async function openDatabase(location: DatabaseLocation, options: DatabaseOptions = {}): Promise<Database> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_DB_TIMEOUT_MS;
  const pingMs = Math.max(250, Math.round(timeoutMs / 5));
  if ('url' in location) {
    // Migrations may take longer than a statement of the running server is allowed: they run on their own connection.
    const migrator = knex({ client: 'pg', connection: location.url, pool: { min: 0, max: 1 }, acquireConnectionTimeout: 10_000 });
    try {
      await migrator.migrate.latest({ migrationSource });
    } finally {
      await migrator.destroy();
    }
    const db = knex({
      client: TimedPgClient as unknown as typeof Knex.Client,
      connection: { connectionString: location.url, statement_timeout: timeoutMs, query_timeout: timeoutMs, connectionTimeoutMillis: timeoutMs },
      pool: { min: 0, max: 10 },
      acquireConnectionTimeout: timeoutMs,
      plexusTimeoutMs: timeoutMs,
    } as Knex.Config);
    return { knex: db, kind: 'postgres', timeoutMs, ping: ping(db, pingMs), close: () => db.destroy() };
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
    client: TimedPgClient as unknown as typeof Knex.Client,
    connection: (() => cfg) as unknown as Knex.StaticConnectionConfig,
    pool: { min: 1, max: 1 },
    acquireConnectionTimeout: timeoutMs,
    plexusTimeoutMs: timeoutMs,
  } as Knex.Config);
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
    timeoutMs,
    ping: ping(db, pingMs),
    close: async () => {
      await db.destroy();
      await pglite.close();
    },
  };
}
