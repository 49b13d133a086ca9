import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase, startPostgres } from '../../ops/dev/postgres.ts';
import type { DatabaseLocation } from '../db/database.ts';

/** A database a test suite runs against: embedded PGlite, or a real PostgreSQL 15. */
export interface DatabaseBackend {
  name: 'PGlite' | 'PostgreSQL';
  /**
   * Makes a fresh, empty database: a PGlite directory under the temp dir, or a
   * new database on `TEST_DATABASE_URL` (or on a PostgreSQL started here).
   * `cleanup` removes it (and stops that server).
   */
  setup(): Promise<{ location: DatabaseLocation; cleanup(): Promise<void> }>;
}

/** Both backends, for suites that must pass on each (`for (const b of databaseBackends) describe(...)`). */
export const databaseBackends: readonly DatabaseBackend[] = [
  {
    name: 'PGlite',
    async setup() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plexus-pglite-'));
      return { location: { pgliteDir: path.join(dir, 'db') }, cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 'PostgreSQL',
    async setup() {
      let stopServer = async () => {};
      let base = process.env.TEST_DATABASE_URL;
      if (!base) {
        const pg = await startPostgres();
        base = pg.url;
        stopServer = () => pg.stop();
      }
      const db = await createTestDatabase(base);
      return {
        location: { url: db.url },
        cleanup: async () => {
          await db.drop();
          await stopServer();
        },
      };
    },
  },
];
