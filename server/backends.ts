/**
 * The backends of a node, chosen from the configuration: with `REDIS_URL`
 * the Redis implementations (one node id, derived once, handed to each),
 * otherwise the in-process ones; and the database (PostgreSQL with
 * `DATABASE_URL`, else PGlite in `DATA_DIR/pglite`).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Broker } from './broker/broker.ts';
import { MemoryBroker } from './broker/memory-broker.ts';
import { RedisBroker } from './broker/redis-broker.ts';
import type { Config } from './config.ts';
import { openDatabase, type Database } from './db/database.ts';
import { LocalNodeDirectory } from './directory/local-node-directory.ts';
import type { NodeDirectory } from './directory/node-directory.ts';
import { RedisNodeDirectory } from './directory/redis-node-directory.ts';
import { RedisSharedSecrets } from './directory/redis-shared-secrets.ts';
import { LocalSharedSecrets, type SharedSecrets } from './directory/shared-secrets.ts';
import { MemoryPresenceStore } from './presence/memory-presence-store.ts';
import type { PresenceStore } from './presence/presence-store.ts';
import { RedisPresenceStore } from './presence/redis-presence-store.ts';
import { MemoryRateLimits, type RateLimits } from './realtime/rate-limits.ts';
import { RedisRateLimits } from './realtime/redis-rate-limits.ts';

/** Replaceable backends, for tests and for the cluster setup; each defaults to what the configuration names. */
export interface BackendDeps {
  /** This node's id: 32 lower-case hex digits. Default: random. Handed to every Redis implementation made here. */
  nodeId?: string;
  broker?: Broker;
  presence?: PresenceStore;
  database?: Database;
  directory?: NodeDirectory;
  /** Cluster-wide secrets; default Redis-backed with `REDIS_URL`, else this node's own. */
  secrets?: SharedSecrets;
  /** Per-key limits (HTTP per IP, sign-in mails); default Redis-backed with `REDIS_URL`, else in memory. */
  rateLimits?: RateLimits;
}

/** A node's backends, opened. */
export interface Backends {
  readonly nodeId: string;
  readonly database: Database;
  readonly broker: Broker;
  readonly presence: PresenceStore;
  readonly directory: NodeDirectory;
  readonly secrets: SharedSecrets;
  readonly rateLimits: RateLimits;
  /** Closes presence, directory, secrets, broker, rate limits and database, in that order. */
  close(): Promise<void>;
}

/** A fresh node id: 32 lower-case hex digits (RedisBroker's frame header). */
export function randomNodeId(): string {
  return randomBytes(16).toString('hex');
}

/**
 * Opens the database (migrated) and makes the other backends (Redis ones
 * connect in the background; the rate limits wait up to 3 s for theirs).
 * @throws when the database cannot be opened or migrated, or `deps.nodeId` is not 32 hex digits while Redis is used
 */
export async function openBackends(config: Config, deps: BackendDeps, log: Logger): Promise<Backends> {
  const nodeId = deps.nodeId ?? randomNodeId();
  fs.mkdirSync(config.dataDir, { recursive: true });
  const database =
    deps.database ??
    (await openDatabase(config.databaseUrl ? { url: config.databaseUrl } : { pgliteDir: path.join(config.dataDir, 'pglite') }, { timeoutMs: config.dbTimeoutMs }));
  const made = config.redisUrl ? redisBackends(config.redisUrl, config, nodeId, log) : localBackends(nodeId);
  const broker = deps.broker ?? made.broker();
  const presence = deps.presence ?? made.presence();
  const directory = deps.directory ?? made.directory();
  const secrets = deps.secrets ?? made.secrets();
  const rateLimits = deps.rateLimits ?? (await made.rateLimits());
  return {
    nodeId,
    database,
    broker,
    presence,
    directory,
    secrets,
    rateLimits,
    async close() {
      await presence.close?.();
      await directory.close();
      await secrets.close();
      await broker.close();
      await rateLimits.close();
      await database.close();
    },
  };
}

/** Makers of each backend, so that one a caller supplied is never made. */
interface BackendMakers {
  broker(): Broker;
  presence(): PresenceStore;
  directory(): NodeDirectory;
  secrets(): SharedSecrets;
  rateLimits(): Promise<RateLimits>;
}

/** A single node: everything in process. */
function localBackends(nodeId: string): BackendMakers {
  return {
    broker: () => new MemoryBroker(),
    presence: () => new MemoryPresenceStore(),
    directory: () => new LocalNodeDirectory(nodeId),
    secrets: () => new LocalSharedSecrets(),
    rateLimits: async () => new MemoryRateLimits(),
  };
}

/** A cluster node: everything in the Redis at `url`, each part with `nodeId` and the configured timeouts, errors logged as warnings. */
function redisBackends(url: string, config: Config, nodeId: string, log: Logger): BackendMakers {
  const warn = (what: string) => (err: Error) => log.warn({ err: err.message }, `redis ${what} error`);
  const commandTimeoutMs = config.redisTimeoutMs;
  return {
    broker: () =>
      new RedisBroker({ url, nodeId, sharded: config.redisShardedPubsub, flushIntervalMs: config.redisFlushIntervalMs, commandTimeoutMs, onError: warn('broker connection') }),
    presence: () => new RedisPresenceStore({ url, nodeId, commandTimeoutMs, onError: warn('presence') }),
    directory: () => new RedisNodeDirectory({ url, nodeId, commandTimeoutMs, onError: warn('node directory') }),
    secrets: () => new RedisSharedSecrets({ url, nodeId, commandTimeoutMs, onError: warn('shared secrets') }),
    rateLimits: async () => {
      const limits = new RedisRateLimits({ url, onError: warn('rate limits') });
      // Until the connection is ready the limits count in memory only; give it a moment at start.
      await limits.ready(3000);
      return limits;
    },
  };
}
