import { createPrivateKey } from 'node:crypto';
import path from 'node:path';
import { ErrorCodes, PlexusError } from './errors.ts';
import { parseProxyEntry } from './http/client-address.ts';

/**
 * Plexus configuration, read from environment variables by {@link loadConfig}.
 * Every field documents its variable, unit and default; the README's
 * configuration table lists the same.
 */
export interface Config {
  /** `PORT`: TCP port for HTTP and WebSocket. Default 4000; 0 picks a free port. */
  port: number;
  /** `HOST`: address to listen on. Default `127.0.0.1`; use `0.0.0.0` to accept remote clients. */
  host: string;
  /** `DATA_DIR`: directory for the embedded database and generated secrets. Default `./data`, resolved against the working directory. */
  dataDir: string;
  /** `DATABASE_URL`: PostgreSQL URL (`postgres://user:pass@host:port/db`). Unset means embedded PGlite under `DATA_DIR/pglite`. */
  databaseUrl: string | null;
  /**
   * `REDIS_URL`: Redis URL (`redis://[user:pass@]host:port[/db]`, or `rediss://` for TLS)
   * through which the nodes of a cluster fan out broadcasts to each other
   * (`RedisBroker`). Unset means a single node (`MemoryBroker`).
   */
  redisUrl: string | null;
  /**
   * `REDIS_SHARDED_PUBSUB`: `true` to fan out with sharded pub/sub
   * (`SPUBLISH`/`SSUBSCRIBE`, Redis 7+, for Redis Cluster). Default `false`.
   * Every node of a cluster must use the same value.
   */
  redisShardedPubsub: boolean;
  /**
   * `REDIS_FLUSH_INTERVAL_MS`: least time between two sends of a node's
   * batched broadcasts to Redis, in ms (0 to 50). Default 2: under load a
   * node sends at most 500 publish commands a second, which costs far less
   * CPU and fewer wake-ups than one per event-loop turn; 0 sends at the end
   * of every turn (lowest latency).
   */
  redisFlushIntervalMs: number;
  /**
   * `DB_TIMEOUT_MS`: longest wait for one SQL statement or a database
   * connection, in ms (100 to 600000). Default 5000. A statement past it
   * fails: the event that needed it gets an error reply `unavailable`
   * (HTTP 503), instead of waiting for a database that does not answer.
   */
  dbTimeoutMs: number;
  /**
   * `REDIS_TIMEOUT_MS`: longest wait for one Redis command, in ms (100 to
   * 60000). Default 2000. Past it the command fails; presence then works on
   * this node's members only and broadcasts stop crossing nodes (as when
   * Redis is down) until Redis answers again.
   */
  redisTimeoutMs: number;
  /**
   * `PUBLIC_URL`: base URL at which browsers reach this node directly, e.g.
   * `https://node1.example.com`. In a cluster (`REDIS_URL` set) it is what the
   * node directory hands out as `/api/v1/meta`'s `phx_host` and `phx_port`.
   * Unset means `http://HOST:PORT` (for `HOST=0.0.0.0` or `::`, the machine's host name).
   */
  publicUrl: string | null;
  /** `MAX_FRAME_BYTES`: largest WebSocket frame accepted, in bytes. Default 65536. Larger frames close the socket with code 1009. */
  maxFrameBytes: number;
  /** `IDLE_TIMEOUT_SECONDS`: a socket that sends nothing (not even a heartbeat) for this long is closed. Default 60 (Phoenix's default). Minimum 8. */
  idleTimeoutSeconds: number;
  /** `MAX_BACKPRESSURE_BYTES`: bytes queued for one slow socket at which it is closed with code 4008 (logged); frames past twice this are dropped. Default 1048576 (1 MiB). */
  maxBackpressureBytes: number;
  /**
   * `MAX_CHANNELS_PER_SOCKET`: channels one socket may join at once. Default
   * 8 (a Hubs page joins 2-3: `ret`, `hub:<sid>`, sometimes `auth:<id>`;
   * Phoenix's default of 100 let one socket hold 100 presence metas).
   */
  maxChannelsPerSocket: number;
  /**
   * `MAX_CONNECTIONS_PER_IP`: open WebSocket connections one client IP may
   * have on this node; an upgrade past it is refused with HTTP 429
   * `too_many_connections`. The IP is the socket's remote address, or with
   * `TRUST_PROXY=true` the first `X-Forwarded-For` entry (as for HTTP
   * limits). Default 100 (room for a school or office behind one NAT).
   */
  maxConnectionsPerIp: number;
  /**
   * `PRESENCE_META_MAX_BYTES`: largest `profile` plus `context` of one room
   * member, in bytes of JSON (join params, `events:profile_updated`,
   * `events:entering`...); larger ones are refused with `invalid_payload`.
   * Default 4096 (a Hubs profile and context take about 200).
   */
  presenceMetaMaxBytes: number;
  /**
   * `PRESENCE_UPDATE_RATE_PER_SECOND`: presence meta updates one member may
   * make per second on average in one room (`events:profile_updated`,
   * `events:entered`, `events:entering`, hand/typing/streaming/recording
   * flags; each is a `presence_diff` to everyone in the room); over it they
   * are refused with `rate_limited`. Default 5.
   */
  presenceUpdateRatePerSecond: number;
  /** `PRESENCE_UPDATE_BURST`: such updates one member may make at once above that average. Default 10. */
  presenceUpdateBurst: number;
  /** `DEFAULT_ROOM_SIZE`: `room_size` of new rooms. Default 24 (Reticulum's default). */
  defaultRoomSize: number;
  /** `SOCKET_RATE_PER_SECOND`: frames one socket may send per second on average (token bucket; heartbeats always pass). Default 50 (a Hubs client sends about 15). */
  socketRatePerSecond: number;
  /** `SOCKET_RATE_BURST`: frames one socket may send at once above the average. Default 100. */
  socketRateBurst: number;
  /** `SOCKET_RATE_CLOSE_AFTER`: refused frames within 10 s after which the socket is closed with 4029. Default 200. */
  socketRateCloseAfter: number;
  /** `HTTP_CREATE_RATE_PER_MINUTE`: requests per minute one client IP may make to endpoints that create or change things (`POST /api/v1/hubs`). Default 30. */
  httpCreateRatePerMinute: number;
  /** `HTTP_CREATE_BURST`: such requests one IP may make at once. Default 10. */
  httpCreateBurst: number;
  /**
   * `TRUST_PROXY`: `true` to believe the `X-Forwarded-For`/`-Proto`/`-Host`
   * headers of a reverse proxy on this machine (peers on loopback, as with
   * the shipped ops/nginx/plexus.conf). Default `false`. For proxies on other
   * machines use `TRUSTED_PROXIES`. The client IP is the right-most
   * `X-Forwarded-For` address that is not a trusted proxy (see
   * http/client-address.ts), never a client-chosen first entry.
   */
  trustProxy: boolean;
  /**
   * `TRUSTED_PROXIES`: comma-separated IP addresses and CIDR blocks of
   * reverse proxies whose `X-Forwarded-*` headers are believed (e.g.
   * `10.0.0.0/8, fd00::/8`); adds to `TRUST_PROXY`'s loopback. Default none.
   */
  trustedProxies: string[];
  /**
   * `ALLOWED_ORIGINS`: comma-separated origins (e.g. `https://hubs.example.org`)
   * whose pages may open WebSockets here, besides this node's own origin
   * (`PUBLIC_URL`, else `http://HOST:PORT` and, for a loopback or wildcard
   * `HOST`, `localhost`/`127.0.0.1`/`[::1]` at that port) and every node of
   * the cluster seen in the node directory. A socket without an `Origin`
   * header (not a browser) is allowed. Default none.
   */
  allowedOrigins: string[];
  /** `AUTH_MAIL_PER_ADDRESS_PER_HOUR`: sign-in mails one email address may be sent per hour, counted over the cluster. Default 5. */
  authMailPerAddressPerHour: number;
  /** `AUTH_MAIL_PER_IP_PER_HOUR`: sign-in mails one client IP may ask for per hour, counted over the cluster. Default 30. */
  authMailPerIpPerHour: number;
  /** `SERVE_SOURCE_MAPS`: `true` to serve the client's `*.map` files (for debugging). Default `false`: they are 404. */
  serveSourceMaps: boolean;
  /** `SMTP_URL`: SMTP server for sign-in mails (`smtp://user:pass@host:port`, `smtps://` for TLS). Unset: the mail, with its link, is written to the log. */
  smtpUrl: string | null;
  /** `MAIL_FROM`: sender of sign-in mails. Default `Plexus <noreply@localhost>`. */
  mailFrom: string;
  /** `ADMIN_EMAIL`: the account signing in with this email is an admin (may set allow_promotion). Default unset. */
  adminEmail: string | null;
  /** `PERMS_PRIVATE_KEY`: RSA private key (PEM, at least 2048 bits, `\n` escapes allowed) signing perms tokens (RS512). Unset: `DATA_DIR/perms-key.pem`, generated on first start (one key per deployment, agreed through the database). */
  permsPrivateKey: string | null;
  /** `AUTH_ALLOWED_ORIGINS`: comma-separated origins sign-in links may point at. Default: this node's public origin (`PUBLIC_URL`, or `http://HOST:PORT`). */
  authAllowedOrigins: string[] | null;
  /** `MAX_ROOM_SIZE`: largest `room_size` an owner may set with `update_hub` or PATCH. Default 50 (Reticulum's `max_room_size`). */
  maxRoomSize: number;
  /** `KICK_BAN_SECONDS`: how long a member removed with `kick` is kept out of the room (their session and, if signed in, their account), in seconds. Default 300; 0 makes kick a plain disconnect, as in Reticulum. */
  kickBanSeconds: number;
  /** `SESSION_SECRET`: secret for signing session tokens (HS256). Unset means one is generated into `DATA_DIR/session-secret` on first start. */
  sessionSecret: string | null;
  /** `SHUTDOWN_GRACE_SECONDS`: on SIGTERM, how long clients told to move (`ret-deploy` notice) get before their sockets are closed. Default 5; 0 closes at once. */
  shutdownGraceSeconds: number;
  /** `LOG_LEVEL`: pino level: fatal, error, warn, info, debug, trace or silent. Default `info`. */
  logLevel: string;
  /** `CLIENT_DIR`: directory of the built web client. Default `client/dist` in the repository. */
  clientDir: string;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function intVar(env: NodeJS.ProcessEnv, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (!/^\d+$/.test(raw.trim())) {
    throw new PlexusError(ErrorCodes.CONFIG_INVALID, `${name}=${JSON.stringify(raw)} is not a whole number; set it to an integer between ${min} and ${max}, or unset it for the default ${def}.`);
  }
  const n = Number(raw.trim());
  if (n < min || n > max) {
    throw new PlexusError(ErrorCodes.CONFIG_INVALID, `${name}=${n} is out of range; set it between ${min} and ${max}, or unset it for the default ${def}.`);
  }
  return n;
}

function urlVar(env: NodeJS.ProcessEnv, name: string, pattern: RegExp, example: string): string | null {
  const raw = env[name]?.trim();
  if (!raw) return null;
  if (!pattern.test(raw)) throw new PlexusError(ErrorCodes.CONFIG_INVALID, `${name} must look like ${example}; unset it to go without.`);
  return raw;
}

function emailVar(env: NodeJS.ProcessEnv, name: string): string | null {
  const raw = env[name]?.trim();
  if (!raw) return null;
  if (raw.length > 254 || !/^[^\s@]+@[^\s@]+$/.test(raw)) throw new PlexusError(ErrorCodes.CONFIG_INVALID, `${name}=${JSON.stringify(raw)} is not an email address like admin@example.com.`);
  return raw;
}

/** A PEM RSA private key of at least 2048 bits (`\n` escapes allowed, for one-line environment files). */
function rsaKeyVar(env: NodeJS.ProcessEnv, name: string): string | null {
  const raw = env[name]?.trim();
  if (!raw) return null;
  const pem = raw.replace(/\\n/g, '\n');
  let type: string | undefined;
  let bits = 0;
  try {
    const key = createPrivateKey(pem);
    type = key.asymmetricKeyType;
    bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  } catch {
    throw new PlexusError(ErrorCodes.CONFIG_INVALID, `${name} is not a PEM private key; give an RSA key ("-----BEGIN PRIVATE KEY-----..."), or unset it to have one generated.`);
  }
  if (type !== 'rsa') throw new PlexusError(ErrorCodes.CONFIG_INVALID, `${name} is a ${type} key; perms tokens are RS512, give an RSA key (openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048).`);
  if (bits < 2048) throw new PlexusError(ErrorCodes.CONFIG_INVALID, `${name} is a ${bits}-bit RSA key; RS512 needs at least 2048 bits.`);
  return pem;
}

function originsVar(env: NodeJS.ProcessEnv, name: string): string[] | null {
  const raw = env[name]?.trim();
  if (!raw) return null;
  const list = raw.split(',').map((o) => o.trim()).filter(Boolean);
  for (const o of list) {
    if (!/^https?:\/\/[^/]+$/.test(o)) throw new PlexusError(ErrorCodes.CONFIG_INVALID, `${name}: ${JSON.stringify(o)} is not an origin like https://rooms.example.com (no path).`);
  }
  return list;
}

function proxiesVar(env: NodeJS.ProcessEnv, name: string): string[] {
  const raw = env[name]?.trim();
  if (!raw) return [];
  const list = raw.split(',').map((o) => o.trim()).filter(Boolean);
  for (const entry of list) {
    try {
      parseProxyEntry(entry);
    } catch {
      throw new PlexusError(ErrorCodes.CONFIG_INVALID, `${name}: ${JSON.stringify(entry)} is not an IP address or CIDR block like 10.0.0.5, 10.0.0.0/8 or fd00::/8.`);
    }
  }
  return list;
}

function boolVar(env: NodeJS.ProcessEnv, name: string, def: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return def;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new PlexusError(ErrorCodes.CONFIG_INVALID, `${name}=${JSON.stringify(env[name])} must be true or false.`);
}

/**
 * Reads and validates the configuration from environment variables.
 * @param env the environment, usually `process.env`
 * @param cwd base for relative paths (default `process.cwd()`)
 * @returns a complete {@link Config}
 * @throws PlexusError `config_invalid` naming the variable and the accepted values
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): Config {
  const host = env.HOST?.trim() || '127.0.0.1';
  if (!/^[A-Za-z0-9.:\-\[\]]+$/.test(host)) {
    throw new PlexusError(ErrorCodes.CONFIG_INVALID, `HOST=${JSON.stringify(env.HOST)} is not a host name or IP address; use e.g. 127.0.0.1 or 0.0.0.0.`);
  }
  const databaseUrl = env.DATABASE_URL?.trim() || null;
  if (databaseUrl !== null && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new PlexusError(ErrorCodes.CONFIG_INVALID, `DATABASE_URL must start with postgres:// or postgresql:// (got ${JSON.stringify(databaseUrl.slice(0, 20))}...); unset it to use the embedded database.`);
  }
  const redisUrl = env.REDIS_URL?.trim() || null;
  if (redisUrl !== null && !/^rediss?:\/\/[^/?#]/.test(redisUrl)) {
    throw new PlexusError(ErrorCodes.CONFIG_INVALID, `REDIS_URL must start with redis:// or rediss:// followed by a host (got ${JSON.stringify(redisUrl.slice(0, 20))}...); unset it to run a single node.`);
  }
  const shardedRaw = env.REDIS_SHARDED_PUBSUB?.trim().toLowerCase() || 'false';
  if (!['true', 'false', '1', '0'].includes(shardedRaw)) {
    throw new PlexusError(ErrorCodes.CONFIG_INVALID, `REDIS_SHARDED_PUBSUB=${JSON.stringify(env.REDIS_SHARDED_PUBSUB)} must be true or false.`);
  }
  const publicUrl = env.PUBLIC_URL?.trim() || null;
  if (publicUrl !== null) {
    let parsed: URL | null = null;
    try {
      parsed = new URL(publicUrl);
    } catch {
      parsed = null;
    }
    if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.pathname !== '/' || parsed.search || parsed.hash) {
      throw new PlexusError(ErrorCodes.CONFIG_INVALID, `PUBLIC_URL=${JSON.stringify(publicUrl)} is not a base URL; use e.g. https://node1.example.com or http://10.0.0.5:4000 (no path), or unset it.`);
    }
  }
  const logLevel = env.LOG_LEVEL?.trim() || 'info';
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new PlexusError(ErrorCodes.CONFIG_INVALID, `LOG_LEVEL=${JSON.stringify(logLevel)} is not one of ${LOG_LEVELS.join(', ')}.`);
  }
  const sessionSecret = env.SESSION_SECRET?.trim() || null;
  if (sessionSecret !== null && sessionSecret.length < 32) {
    throw new PlexusError(ErrorCodes.CONFIG_INVALID, 'SESSION_SECRET must be at least 32 characters; generate one with `openssl rand -hex 32`, or unset it to have one generated in DATA_DIR.');
  }
  const repoRoot = path.resolve(import.meta.dirname, '..');
  return {
    port: intVar(env, 'PORT', 4000, 0, 65535),
    host,
    dataDir: path.resolve(cwd, env.DATA_DIR?.trim() || './data'),
    databaseUrl,
    redisUrl,
    redisShardedPubsub: shardedRaw === 'true' || shardedRaw === '1',
    redisFlushIntervalMs: intVar(env, 'REDIS_FLUSH_INTERVAL_MS', 2, 0, 50),
    dbTimeoutMs: intVar(env, 'DB_TIMEOUT_MS', 5000, 100, 600_000),
    redisTimeoutMs: intVar(env, 'REDIS_TIMEOUT_MS', 2000, 100, 60_000),
    publicUrl,
    maxFrameBytes: intVar(env, 'MAX_FRAME_BYTES', 65536, 1024, 16 * 1024 * 1024),
    idleTimeoutSeconds: intVar(env, 'IDLE_TIMEOUT_SECONDS', 60, 8, 960),
    maxBackpressureBytes: intVar(env, 'MAX_BACKPRESSURE_BYTES', 1024 * 1024, 64 * 1024, 1024 * 1024 * 1024),
    maxChannelsPerSocket: intVar(env, 'MAX_CHANNELS_PER_SOCKET', 8, 1, 10000),
    maxConnectionsPerIp: intVar(env, 'MAX_CONNECTIONS_PER_IP', 100, 1, 10_000_000),
    presenceMetaMaxBytes: intVar(env, 'PRESENCE_META_MAX_BYTES', 4096, 256, 1024 * 1024),
    presenceUpdateRatePerSecond: intVar(env, 'PRESENCE_UPDATE_RATE_PER_SECOND', 5, 1, 100_000),
    presenceUpdateBurst: intVar(env, 'PRESENCE_UPDATE_BURST', 10, 1, 1_000_000),
    defaultRoomSize: intVar(env, 'DEFAULT_ROOM_SIZE', 24, 1, 10000),
    socketRatePerSecond: intVar(env, 'SOCKET_RATE_PER_SECOND', 50, 1, 100_000),
    socketRateBurst: intVar(env, 'SOCKET_RATE_BURST', 100, 1, 1_000_000),
    socketRateCloseAfter: intVar(env, 'SOCKET_RATE_CLOSE_AFTER', 200, 1, 1_000_000),
    httpCreateRatePerMinute: intVar(env, 'HTTP_CREATE_RATE_PER_MINUTE', 30, 1, 1_000_000),
    httpCreateBurst: intVar(env, 'HTTP_CREATE_BURST', 10, 1, 1_000_000),
    trustProxy: boolVar(env, 'TRUST_PROXY', false),
    trustedProxies: proxiesVar(env, 'TRUSTED_PROXIES'),
    allowedOrigins: originsVar(env, 'ALLOWED_ORIGINS') ?? [],
    authMailPerAddressPerHour: intVar(env, 'AUTH_MAIL_PER_ADDRESS_PER_HOUR', 5, 1, 1_000_000),
    authMailPerIpPerHour: intVar(env, 'AUTH_MAIL_PER_IP_PER_HOUR', 30, 1, 1_000_000),
    serveSourceMaps: boolVar(env, 'SERVE_SOURCE_MAPS', false),
    smtpUrl: urlVar(env, 'SMTP_URL', /^smtps?:\/\//, 'smtp://user:pass@host:port'),
    mailFrom: env.MAIL_FROM?.trim() || 'Plexus <noreply@localhost>',
    adminEmail: emailVar(env, 'ADMIN_EMAIL'),
    permsPrivateKey: rsaKeyVar(env, 'PERMS_PRIVATE_KEY'),
    authAllowedOrigins: originsVar(env, 'AUTH_ALLOWED_ORIGINS'),
    maxRoomSize: intVar(env, 'MAX_ROOM_SIZE', 50, 1, 10000),
    kickBanSeconds: intVar(env, 'KICK_BAN_SECONDS', 300, 0, 30 * 24 * 3600),
    sessionSecret,
    shutdownGraceSeconds: intVar(env, 'SHUTDOWN_GRACE_SECONDS', 5, 0, 120),
    logLevel,
    clientDir: path.resolve(cwd, env.CLIENT_DIR?.trim() || path.join(repoRoot, 'client', 'dist')),
  };
}
