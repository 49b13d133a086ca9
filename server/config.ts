import { createPrivateKey } from 'node:crypto';
import path from 'node:path';
import { Type } from '@sinclair/typebox';
import type { Static, TObject, TSchema, TUnsafe } from '@sinclair/typebox';
import { ErrorCodes, PlexusError } from './errors.ts';
import { parseProxyEntry } from './http/client-address.ts';
import { compile, nullable } from './validation/validator.ts';
import type { Validator } from './validation/validator.ts';

/**
 * Plexus configuration, read from environment variables by {@link loadConfig}.
 *
 * Every setting is declared ONCE in {@link SETTINGS}: its variable, the
 * TypeBox schema of its value (the {@link Config} type is derived from those
 * schemas; their `description` is the setting's documentation), its default,
 * how the variable's text is read, and the message naming the variable when
 * the text is refused. The README's configuration table is generated from
 * the same declarations (`npm run docs:config`; scripts/docs-config.test.ts
 * fails when it differs).
 */

/** What reading a variable may depend on. */
interface LoadContext {
  /** Base of relative paths. */
  cwd: string;
}

/** A value refused while reading a variable; the loader turns it into `config_invalid`. */
class Refused extends Error {}

/** One setting: a variable, the schema of its value, its default and its documentation. */
interface Setting<S extends TSchema = TSchema> {
  /** The environment variable. */
  env: string;
  /** Schema of the {@link Config} field; `description` is the README's "meaning" column. */
  schema: S;
  /** The README's "default" column (markdown). */
  docDefault: string;
  /** The value when the variable is unset or empty (or, with `blank: 'default'`, only blanks). */
  fallback(ctx: LoadContext): Static<S>;
  /**
   * Blanks (`"  "`): `'default'` takes the fallback, `'parse'` reads them as
   * a value (a whole number refuses them, as it always did).
   */
  blank: 'default' | 'parse';
  /**
   * The variable's text to a value, checked against `schema` afterwards.
   * @param raw the text without surrounding blanks
   * @param given the text as set (for messages)
   * @throws Refused with a message naming the variable
   */
  parse(raw: string, given: string, ctx: LoadContext): unknown;
  /** The message when the parsed value does not match `schema`. */
  invalid(raw: string, given: string, value: unknown): string;
}

/** The pino levels LOG_LEVEL takes. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A whole number from `min` to `max`. */
function int(env: string, description: string, def: number, min: number, max: number): Setting<ReturnType<typeof Type.Integer>> {
  return {
    env,
    schema: Type.Integer({ minimum: min, maximum: max, default: def, description }),
    docDefault: `\`${def}\``,
    fallback: () => def,
    blank: 'parse',
    parse: (raw, given) => {
      if (!/^\d+$/.test(raw)) throw new Refused(`${env}=${JSON.stringify(given)} is not a whole number; set it to an integer between ${min} and ${max}, or unset it for the default ${def}.`);
      return Number(raw);
    },
    invalid: (_raw, _given, n) => `${env}=${String(n)} is out of range; set it between ${min} and ${max}, or unset it for the default ${def}.`,
  };
}

/** `true`/`1` or `false`/`0` (any case). */
function bool(env: string, description: string, def: boolean): Setting<ReturnType<typeof Type.Boolean>> {
  const refuse = (given: string) => `${env}=${JSON.stringify(given)} must be true or false.`;
  return {
    env,
    schema: Type.Boolean({ default: def, description }),
    docDefault: `\`${def}\``,
    fallback: () => def,
    blank: 'default',
    parse: (raw, given) => {
      const v = raw.toLowerCase();
      if (v === 'true' || v === '1') return true;
      if (v === 'false' || v === '0') return false;
      throw new Refused(refuse(given));
    },
    invalid: (_raw, given) => refuse(given),
  };
}

/** Options of a text setting: its schema's checks and the message when they fail. */
interface TextOptions {
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  /** The message for a refused value (`raw` trimmed, `given` as set). */
  invalid?: (raw: string, given: string) => string;
}

/** Text with a default. */
function text(env: string, description: string, def: string, opts: TextOptions = {}): Setting<ReturnType<typeof Type.String>> {
  const { invalid, ...checks } = opts;
  return {
    env,
    schema: Type.String({ ...checks, default: def, description }),
    docDefault: `\`${def}\``,
    fallback: () => def,
    blank: 'default',
    parse: (raw) => raw,
    invalid: (raw, given) => (invalid ? invalid(raw, given) : `${env} is invalid.`),
  };
}

/** Text that may be unset (null). `docDefault` says what unset means. */
function optionalText(env: string, description: string, docDefault: string, opts: TextOptions & { parse?: (raw: string) => string } = {}): Setting<ReturnType<typeof nullable<ReturnType<typeof Type.String>>>> {
  const { invalid, parse, ...checks } = opts;
  return {
    env,
    schema: nullable(Type.String({ ...checks, description })),
    docDefault,
    fallback: () => null,
    blank: 'default',
    parse: (raw) => (parse ? parse(raw) : raw),
    invalid: (raw, given) => (invalid ? invalid(raw, given) : `${env} is invalid.`),
  };
}

/** A directory, resolved against the working directory. */
function dir(env: string, description: string, docDefault: string, def: (ctx: LoadContext) => string): Setting<ReturnType<typeof Type.String>> {
  return {
    env,
    schema: Type.String({ description }),
    docDefault,
    fallback: (ctx) => path.resolve(ctx.cwd, def(ctx)),
    blank: 'default',
    parse: (raw, _given, ctx) => path.resolve(ctx.cwd, raw),
    invalid: () => `${env} is not a path.`,
  };
}

/** A comma-separated list; each entry must pass `accept` (and `item`), else `entryInvalid` names it. */
function list<D extends string[] | null>(
  env: string,
  description: string,
  docDefault: string,
  def: D,
  opts: { item?: ReturnType<typeof Type.String>; accept?: (entry: string) => boolean; entryInvalid: (entry: string) => string },
) {
  const item = opts.item ?? Type.String();
  const validItem = compile(item);
  const array = Type.Array(item, { description });
  const schema = (def === null ? nullable(array) : array) as D extends null ? ReturnType<typeof nullable<typeof array>> : typeof array;
  const setting: Setting<typeof schema> = {
    env,
    schema,
    docDefault,
    fallback: () => def as Static<typeof schema>,
    blank: 'default',
    parse: (raw) => {
      const entries = raw.split(',').map((o) => o.trim()).filter(Boolean);
      for (const entry of entries) {
        if (!validItem(entry) || (opts.accept && !opts.accept(entry))) throw new Refused(opts.entryInvalid(entry));
      }
      return entries;
    },
    invalid: () => `${env} is not a comma-separated list.`,
  };
  return setting;
}

/** `http(s)://host[:port]`, no path. */
const ORIGIN_PATTERN = '^https?://[^/]+$';
const originEntry = (env: string) => (o: string) => `${env}: ${JSON.stringify(o)} is not an origin like https://rooms.example.com (no path).`;

/** Whether `entry` is an IP address or CIDR block (http/client-address.ts reads it). */
function isProxyEntry(entry: string): boolean {
  try {
    parseProxyEntry(entry);
    return true;
  } catch {
    return false;
  }
}

/** A base URL `http(s)://host[:port]` with no path, query or fragment. */
function parseBaseUrl(raw: string): string {
  let parsed: URL | null = null;
  try {
    parsed = new URL(raw);
  } catch {
    parsed = null;
  }
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.pathname !== '/' || parsed.search || parsed.hash) {
    throw new Refused(`PUBLIC_URL=${JSON.stringify(raw)} is not a base URL; use e.g. https://node1.example.com or http://10.0.0.5:4000 (no path), or unset it.`);
  }
  return raw;
}

/** A PEM RSA private key of at least 2048 bits (`\n` escapes allowed, for one-line environment files). */
function parseRsaKey(raw: string): string {
  const name = 'PERMS_PRIVATE_KEY';
  const pem = raw.replace(/\\n/g, '\n');
  let type: string | undefined;
  let bits = 0;
  try {
    const key = createPrivateKey(pem);
    type = key.asymmetricKeyType;
    bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  } catch {
    throw new Refused(`${name} is not a PEM private key; give an RSA key ("-----BEGIN PRIVATE KEY-----..."), or unset it to have one generated.`);
  }
  if (type !== 'rsa') throw new Refused(`${name} is a ${type} key; perms tokens are RS512, give an RSA key (openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048).`);
  if (bits < 2048) throw new Refused(`${name} is a ${bits}-bit RSA key; RS512 needs at least 2048 bits.`);
  return pem;
}

/** The log level: one of {@link LOG_LEVELS}. */
function logLevel(description: string): Setting<TUnsafe<LogLevel>> {
  const refuse = (raw: string) => `LOG_LEVEL=${JSON.stringify(raw)} is not one of ${LOG_LEVELS.join(', ')}.`;
  return {
    env: 'LOG_LEVEL',
    schema: Type.Unsafe<LogLevel>({ type: 'string', enum: [...LOG_LEVELS], default: 'info', description }),
    docDefault: '`info`',
    fallback: () => 'info',
    blank: 'default',
    parse: (raw) => raw,
    invalid: refuse,
  };
}

const REPO_ROOT = path.resolve(import.meta.dirname, '..');

/**
 * Every setting, in the order of the README's configuration table, keyed by
 * its {@link Config} field. A new setting is one entry here (then
 * `npm run docs:config`).
 */
export const SETTINGS = {
  port: int('PORT', 'TCP port for HTTP and WebSocket; `0` picks a free port', 4000, 0, 65535),
  host: text('HOST', 'address to listen on; `0.0.0.0` to accept remote clients', '127.0.0.1', {
    pattern: '^[A-Za-z0-9.:\\-\\[\\]]+$',
    invalid: (_raw, given) => `HOST=${JSON.stringify(given)} is not a host name or IP address; use e.g. 127.0.0.1 or 0.0.0.0.`,
  }),
  dataDir: dir('DATA_DIR', 'embedded database and generated secrets', '`./data`', () => './data'),
  databaseUrl: optionalText('DATABASE_URL', '`postgres://user:pass@host:port/db` to use PostgreSQL instead of PGlite', 'unset', {
    pattern: '^postgres(ql)?://',
    invalid: (raw) => `DATABASE_URL must start with postgres:// or postgresql:// (got ${JSON.stringify(raw.slice(0, 20))}...); unset it to use the embedded database.`,
  }),
  redisUrl: optionalText('REDIS_URL', '`redis://host:port` (or `rediss://` for TLS) to fan out between the nodes of a cluster through Redis pub/sub; unset means one node', 'unset', {
    pattern: '^rediss?://[^/?#]',
    invalid: (raw) => `REDIS_URL must start with redis:// or rediss:// followed by a host (got ${JSON.stringify(raw.slice(0, 20))}...); unset it to run a single node.`,
  }),
  redisShardedPubsub: bool('REDIS_SHARDED_PUBSUB', '`true` to fan out with sharded pub/sub (`SPUBLISH`/`SSUBSCRIBE`, Redis 7+, for Redis Cluster); every node must use the same value', false),
  redisFlushIntervalMs: int('REDIS_FLUSH_INTERVAL_MS', 'least time in ms (0–50) between two sends of a node\'s batched broadcasts to Redis; under load a node sends at most 1000 / this publish commands a second; `0` sends at the end of every event-loop turn', 2, 0, 50),
  dbTimeoutMs: int('DB_TIMEOUT_MS', 'longest wait in ms for one SQL statement or database connection (100–600000); past it the event that needed it gets an error reply `unavailable` (HTTP 503) instead of hanging', 5000, 100, 600_000),
  redisTimeoutMs: int('REDIS_TIMEOUT_MS', 'longest wait in ms for one Redis command (100–60000); past it the node treats Redis as down (presence on this node only, no cross-node fan-out, `/health` `degraded`) until Redis answers again', 2000, 100, 60_000),
  publicUrl: optionalText('PUBLIC_URL', 'base URL at which browsers reach this node directly (e.g. `https://node1.example.com`); in a cluster, `/api/v1/meta` hands it out as `phx_host`/`phx_port`. For `HOST=0.0.0.0` the default uses the machine\'s host name', '`http://HOST:PORT`', { parse: parseBaseUrl }),
  maxFrameBytes: int('MAX_FRAME_BYTES', 'largest WebSocket frame accepted; a larger one closes the socket with code 1009', 65536, 1024, 16 * 1024 * 1024),
  idleTimeoutSeconds: int('IDLE_TIMEOUT_SECONDS', 'a socket that sends nothing (not even a heartbeat) this long is closed (min 8)', 60, 8, 960),
  maxBackpressureBytes: int('MAX_BACKPRESSURE_BYTES', 'bytes queued for one slow client (not yet taken by the kernel) at which it is closed with 4008 and a `warn` log line `closing slow consumer`; checked after every send that meets backpressure and once per event-loop turn for sockets in topics published to; frames past twice this are dropped', 1024 * 1024, 64 * 1024, 1024 * 1024 * 1024),
  maxChannelsPerSocket: int('MAX_CHANNELS_PER_SOCKET', 'channels one socket may join at once (a Hubs page joins 2–3); the next join gets `too many channels joined`', 8, 1, 10000),
  maxConnectionsPerIp: int('MAX_CONNECTIONS_PER_IP', 'open WebSocket connections one client IP may have on a node; past it the upgrade is refused with HTTP 429 `{"error": {"code": "too_many_connections", ...}}`. The IP is the client address as for the HTTP limits: the socket\'s remote address, or behind a trusted proxy (`TRUST_PROXY`, `TRUSTED_PROXIES`) the right-most `X-Forwarded-For` address it did not add itself (set it behind nginx, or every client shares the proxy\'s address)', 100, 1, 10_000_000),
  presenceMetaMaxBytes: int('PRESENCE_META_MAX_BYTES', 'largest `profile` plus `context` of one room member, in bytes of JSON (join, `events:profile_updated`, `events:entering`...); larger is refused with `invalid_payload`', 4096, 256, 1024 * 1024),
  presenceUpdateRatePerSecond: int('PRESENCE_UPDATE_RATE_PER_SECOND', 'presence meta updates one member may make per second in a room (`events:profile_updated`, `events:entered`, `events:entering(_cancelled)`, hand/typing/streaming/recording flags: each is a `presence_diff` to the whole room); past it `rate_limited`', 5, 1, 100_000),
  presenceUpdateBurst: int('PRESENCE_UPDATE_BURST', 'such updates one member may make at once above that average', 10, 1, 1_000_000),
  defaultRoomSize: int('DEFAULT_ROOM_SIZE', '`room_size` reported for rooms without their own', 24, 1, 10000),
  sessionSecret: optionalText('SESSION_SECRET', 'secret (≥ 32 chars) signing session tokens; else one is created in `DATA_DIR/session-secret`, and in a cluster the first node\'s is shared with the others through Redis so a session resumes on any node', 'generated', {
    minLength: 32,
    invalid: () => 'SESSION_SECRET must be at least 32 characters; generate one with `openssl rand -hex 32`, or unset it to have one generated in DATA_DIR.',
  }),
  smtpUrl: optionalText('SMTP_URL', 'SMTP server for sign-in mails (`smtp://user:pass@host:port`, `smtps://` for TLS); unset: the mail and its link are written to the log', 'unset', {
    pattern: '^smtps?://',
    invalid: () => 'SMTP_URL must look like smtp://user:pass@host:port; unset it to go without.',
  }),
  mailFrom: text('MAIL_FROM', 'sender of sign-in mails', 'Plexus <noreply@localhost>'),
  adminEmail: optionalText('ADMIN_EMAIL', 'the account that signs in with this email is an admin (may set `allow_promotion`, read and change the [app config](#app-config), create rooms when creation is disabled)', 'unset', {
    maxLength: 254,
    pattern: '^[^\\s@]+@[^\\s@]+$',
    invalid: (raw) => `ADMIN_EMAIL=${JSON.stringify(raw)} is not an email address like admin@example.com.`,
  }),
  authAllowedOrigins: list('AUTH_ALLOWED_ORIGINS', 'comma-separated origins a sign-in link may point at (`auth_request.origin` must be one)', "the node's public origin", null, {
    item: Type.String({ pattern: ORIGIN_PATTERN }),
    entryInvalid: originEntry('AUTH_ALLOWED_ORIGINS'),
  }),
  permsPrivateKey: optionalText('PERMS_PRIVATE_KEY', 'RSA private key (PEM, at least 2048 bits; `\\n` escapes allowed) signing perms tokens (RS512); unset: `DATA_DIR/perms-key.pem`, generated on first start, one key per deployment (agreed through the database)', 'generated', { parse: parseRsaKey }),
  maxRoomSize: int('MAX_ROOM_SIZE', 'largest `room_size` a room may be created with or owners may set (Reticulum\'s `max_room_size`)', 50, 1, 10000),
  socketRatePerSecond: int('SOCKET_RATE_PER_SECOND', 'frames one socket may send per second on average (token bucket; a Hubs client sends about 15); a frame over it is dropped with an error reply `rate_limited` (heartbeats always pass)', 50, 1, 100_000),
  socketRateBurst: int('SOCKET_RATE_BURST', 'frames one socket may send at once above that average', 100, 1, 1_000_000),
  socketRateCloseAfter: int('SOCKET_RATE_CLOSE_AFTER', 'refused frames within 10 s after which the socket is closed with 4029', 200, 1, 1_000_000),
  httpCreateRatePerMinute: int('HTTP_CREATE_RATE_PER_MINUTE', 'room creations and changes (`POST`/`PATCH /api/v1/hubs`) one client IP may make per minute on average, over the whole cluster; past it, 429 `rate_limited` with `retry-after`', 30, 1, 1_000_000),
  httpCreateBurst: int('HTTP_CREATE_BURST', 'such requests one IP may make at once: counted in fixed windows of `HTTP_CREATE_BURST` requests per `HTTP_CREATE_BURST × 60 / HTTP_CREATE_RATE_PER_MINUTE` s (20 s by default; at most a day)', 10, 1, 1_000_000),
  authMailPerAddressPerHour: int('AUTH_MAIL_PER_ADDRESS_PER_HOUR', 'sign-in mails one email address may be sent per hour (over the cluster); past it `auth_request` gets `rate_limited` with `retry_after` and no mail is sent', 5, 1, 1_000_000),
  authMailPerIpPerHour: int('AUTH_MAIL_PER_IP_PER_HOUR', 'sign-in mails one client IP may ask for per hour (over the cluster)', 30, 1, 1_000_000),
  trustProxy: bool('TRUST_PROXY', '`true` to believe `X-Forwarded-For`/`-Proto`/`-Host` from a reverse proxy on this machine (peers on loopback, as with `ops/nginx/plexus.conf`); the client IP is the right-most `X-Forwarded-For` address that is not a trusted proxy, so a client\'s own first entry never counts', false),
  trustedProxies: list('TRUSTED_PROXIES', 'comma-separated IPs and CIDR blocks of further trusted proxies (e.g. a load balancer at `10.0.0.0/8`), read as for `TRUST_PROXY`', 'unset', [], {
    accept: isProxyEntry,
    entryInvalid: (entry) => `TRUSTED_PROXIES: ${JSON.stringify(entry)} is not an IP address or CIDR block like 10.0.0.5, 10.0.0.0/8 or fd00::/8.`,
  }),
  allowedOrigins: list('ALLOWED_ORIGINS', 'comma-separated origins (`https://hubs.example.org`) whose pages may open WebSockets here, besides the node\'s own origin (`PUBLIC_URL`, else `http://HOST:PORT` and its `localhost` aliases) and every node of the cluster; list the page origin when pages are served at an origin that is no node\'s `PUBLIC_URL`', 'unset', [], {
    item: Type.String({ pattern: ORIGIN_PATTERN }),
    entryInvalid: originEntry('ALLOWED_ORIGINS'),
  }),
  serveSourceMaps: bool('SERVE_SOURCE_MAPS', '`true` to serve the client\'s `*.map` files (debugging); otherwise 404, and `NODE_ENV=production` builds none', false),
  kickBanSeconds: int('KICK_BAN_SECONDS', 'how long a member removed with `kick` stays out of the room (their session, and their account if signed in); `0` makes kick a plain disconnect, as in Reticulum', 300, 0, 30 * 24 * 3600),
  shutdownGraceSeconds: int('SHUTDOWN_GRACE_SECONDS', 'on SIGTERM, clients on the `ret` channel get a `ret-deploy` notice and this long to move before their sockets close', 5, 0, 120),
  logLevel: logLevel('`fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent` (JSON logs on stdout)'),
  clientDir: dir('CLIENT_DIR', 'the built web client (`npm run build:client`, run by `npm start`)', '`client/dist`', () => path.join(REPO_ROOT, 'client', 'dist')),
} satisfies Record<string, Setting>;

type Settings = typeof SETTINGS;

/** The schema of the whole {@link Config}: one property per setting. */
export const ConfigSchema: TObject<{ [K in keyof Settings]: Settings[K]['schema'] }> = Type.Object(
  Object.fromEntries(Object.entries(SETTINGS).map(([key, s]) => [key, s.schema])) as { [K in keyof Settings]: Settings[K]['schema'] },
);

/**
 * The validated configuration, one field per entry of {@link SETTINGS}
 * (see each setting's `description`, and the README's table).
 */
export type Config = Static<typeof ConfigSchema>;

/** Each setting's schema, compiled once with the shared ajv instance. */
const VALIDATORS = new Map<string, Validator<unknown>>(Object.entries(SETTINGS).map(([key, s]) => [key, compile(s.schema as TSchema)]));

function read(key: string, setting: Setting, env: NodeJS.ProcessEnv, ctx: LoadContext): unknown {
  const given = env[setting.env];
  if (given === undefined || given === '') return setting.fallback(ctx);
  const raw = given.trim();
  if (raw === '' && setting.blank === 'default') return setting.fallback(ctx);
  let value: unknown;
  try {
    value = setting.parse(raw, given, ctx);
  } catch (err) {
    if (err instanceof Refused) throw new PlexusError(ErrorCodes.CONFIG_INVALID, err.message);
    throw err;
  }
  if (!VALIDATORS.get(key)!(value)) throw new PlexusError(ErrorCodes.CONFIG_INVALID, setting.invalid(raw, given, value));
  return value;
}

/**
 * Reads and validates the configuration from environment variables.
 * @param env the environment, usually `process.env`
 * @param cwd base for relative paths (default `process.cwd()`)
 * @returns a complete {@link Config}
 * @throws PlexusError `config_invalid` naming the variable and the accepted values
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): Config {
  const ctx = { cwd };
  const config: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(SETTINGS) as Array<[string, Setting]>) config[key] = read(key, setting, env, ctx);
  return config as Config;
}

/**
 * The README's configuration table (markdown), from {@link SETTINGS}: one
 * row `| \`VAR\` | default | meaning |` per setting, in declaration order.
 */
export function configTable(): string {
  const rows = (Object.values(SETTINGS) as Setting[]).map((s) => `| \`${s.env}\` | ${s.docDefault} | ${s.schema.description ?? ''} |`);
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n');
}
