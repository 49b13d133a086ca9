import { createTestDatabase, startPostgres, type PostgresServer } from '../../ops/dev/postgres.ts';
import { startRedis, type RedisServer } from '../../ops/dev/redis.ts';

/** What several nodes of one test share: a fresh database and a Redis. */
export interface ClusterServices {
  /** URL of a new, empty database (`plexus_test_<random>`). */
  databaseUrl: string;
  /** Redis URL for `REDIS_URL`. */
  redisUrl: string;
  /** The Redis started for this test (with `halt`/`start`), or null when it is the shared `TEST_REDIS_URL`. */
  redis: RedisServer | null;
  /** Drops the database and stops whatever was started here. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * PostgreSQL and Redis for a multi-node test: `TEST_DATABASE_URL` and
 * `TEST_REDIS_URL` when set (npm test sets both), else temporary servers.
 * @param opts.ownRedis start a Redis for this test even when `TEST_REDIS_URL`
 *   is set (for tests that stop and restart it)
 */
export async function startClusterServices(opts: { ownRedis?: boolean } = {}): Promise<ClusterServices> {
  let pgServer: PostgresServer | null = null;
  let pgUrl = process.env.TEST_DATABASE_URL;
  if (!pgUrl) {
    pgServer = await startPostgres();
    pgUrl = pgServer.url;
  }
  const db = await createTestDatabase(pgUrl);
  const redis = opts.ownRedis || !process.env.TEST_REDIS_URL ? await startRedis() : null;
  let stopped = false;
  return {
    databaseUrl: db.url,
    redisUrl: redis?.url ?? process.env.TEST_REDIS_URL!,
    redis,
    async stop() {
      if (stopped) return;
      stopped = true;
      await db.drop();
      await redis?.stop();
      await pgServer?.stop();
    },
  };
}
