import { AppConfigRepository } from './db/app-configs.ts';
import type { Database } from './db/database.ts';
import { ErrorCodes, PlexusError } from './errors.ts';
import { findNul } from './protocol/nul-bytes.ts';

/**
 * Reticulum's runtime switches (`Ret.AppConfig`, reference/reticulum.md §10):
 * key/value pairs in the database that admins set with `POST /api/v1/app_configs`
 * and every node reads through a short cache.
 */

/** How long a node keeps the app config it read, ms: a change made on another node is in effect here at most this long after. */
export const APP_CONFIG_CACHE_MS = 2000;

/** The switches Plexus enforces, by their collapsed keys. */
export const AppConfigKeys = {
  /** Anonymous members may not join rooms (`join_denied`). */
  REQUIRE_ACCOUNT_FOR_JOIN: 'features|require_account_for_join',
  /** `auth_request` sends no link to an email without an account; `auth_verified` creates no account. */
  DISABLE_SIGN_UP: 'features|disable_sign_up',
  /** `POST /api/v1/hubs` is refused (401) except for admins. */
  DISABLE_ROOM_CREATION: 'features|disable_room_creation',
  /** New rooms give members every permission (255) instead of voice and text chat only (192). */
  PERMISSIVE_ROOMS: 'features|permissive_rooms',
  /** Room owners (signed in) may set `allow_promotion` through PATCH, not only admins. */
  PUBLIC_ROOMS: 'features|public_rooms',
} as const;

/** Keys whose value must be a boolean (or null / `""` to clear). */
const BOOLEAN_KEYS = new Set<string>([...Object.values(AppConfigKeys), 'features|public_api_access']);
/** Keys set by the server's configuration, not by the database. */
const CONFIG_KEYS: Record<string, string> = { 'features|max_room_size': 'MAX_ROOM_SIZE', 'features|default_room_size': 'DEFAULT_ROOM_SIZE' };

/** Bounds of one `POST /api/v1/app_configs` body. */
export const APP_CONFIG_LIMITS = {
  /** Most values set at once. */
  maxEntries: 256,
  /** Deepest nesting of keys (`a|b|c` is 3). */
  maxDepth: 8,
  /** Longest key segment, characters. */
  maxSegment: 64,
  /** Largest value, characters of its JSON. */
  maxValueChars: 16 * 1024,
} as const;

function invalid(message: string): PlexusError {
  return new PlexusError(ErrorCodes.HTTP_INVALID_BODY, message, 422);
}

/**
 * Turns a nested body `{features: {disable_sign_up: true}, foo: "bar"}` into
 * collapsed `[key, value]` pairs (`features|disable_sign_up`, `foo`), as
 * Reticulum's `AppConfig.collapse`: objects nest, anything else (arrays
 * included) is a value; `""` and null clear a value.
 * @throws PlexusError `invalid_body` (422) when the body is not an object, is
 *   nested or sized past {@link APP_CONFIG_LIMITS}, contains a NUL character,
 *   names a key with `|`, gives a file value (`{file_id}`: uploads are not
 *   supported), a non-boolean for a boolean switch, or a key set by the
 *   server's configuration (`features.max_room_size`, `features.default_room_size`)
 */
export function collapseAppConfig(body: unknown): Array<[string, unknown]> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('Send a JSON object whose leaves are the values, e.g. {"features": {"disable_room_creation": true}}.');
  const nul = findNul(body, 'body');
  if (nul) throw invalid(`${nul} contains a NUL character (\\u0000), which the database cannot store.`);
  const out: Array<[string, unknown]> = [];
  const walk = (node: Record<string, unknown>, prefix: string[]): void => {
    for (const [segment, value] of Object.entries(node)) {
      if (segment.length === 0 || segment.length > APP_CONFIG_LIMITS.maxSegment || segment.includes('|')) {
        throw invalid(`Key ${JSON.stringify(segment.slice(0, 80))} must be 1 to ${APP_CONFIG_LIMITS.maxSegment} characters without "|".`);
      }
      const path = [...prefix, segment];
      if (path.length > APP_CONFIG_LIMITS.maxDepth) throw invalid(`Keys nest at most ${APP_CONFIG_LIMITS.maxDepth} deep; ${path.slice(0, 3).join('.')}... is deeper.`);
      const key = path.join('|');
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
        if (Object.hasOwn(value, 'file_id')) throw invalid(`${path.join('.')}: file values (file_id) need uploads, which this server does not have.`);
        walk(value as Record<string, unknown>, path);
        continue;
      }
      if (CONFIG_KEYS[key]) throw invalid(`${path.join('.')} is set by the server's ${CONFIG_KEYS[key]} setting, not here.`);
      if (BOOLEAN_KEYS.has(key) && typeof value !== 'boolean' && value !== null && value !== '') throw invalid(`${path.join('.')} must be true or false.`);
      if (JSON.stringify(value).length > APP_CONFIG_LIMITS.maxValueChars) throw invalid(`${path.join('.')} is over ${APP_CONFIG_LIMITS.maxValueChars} characters of JSON.`);
      out.push([key, value]);
      if (out.length > APP_CONFIG_LIMITS.maxEntries) throw invalid(`At most ${APP_CONFIG_LIMITS.maxEntries} values may be set at once.`);
    }
  };
  walk(body as Record<string, unknown>, []);
  return out;
}

function deepSet(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const segment of path.slice(0, -1)) {
    const next = node[segment];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[segment] = {};
    node = node[segment] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

/**
 * The app config of the deployment, read from the database and kept for
 * {@link APP_CONFIG_CACHE_MS} per node (Reticulum caches it per node too, for
 * 10-15 s). Writes through {@link set} take effect on the writing node at once.
 */
export class AppConfig {
  private cache: { at: number; entries: Promise<Map<string, unknown>> } | null = null;
  private readonly rows: AppConfigRepository;

  /**
   * @param database where the values are kept (`app_configs`)
   * @param defaults the values that come from the server's configuration
   *   (`features|max_room_size`, `features|default_room_size`), always reported
   * @param ttlMs cache lifetime, ms
   */
  constructor(
    database: Pick<Database, 'knex'>,
    private readonly defaults: { maxRoomSize: number; defaultRoomSize: number },
    private readonly ttlMs = APP_CONFIG_CACHE_MS,
  ) {
    this.rows = new AppConfigRepository(database);
  }

  private entries(): Promise<Map<string, unknown>> {
    const now = Date.now();
    if (this.cache && now - this.cache.at < this.ttlMs) return this.cache.entries;
    const entries = this.rows.list().then((list) => new Map(list.map((e) => [e.key, e.value] as const)));
    const cache = { at: now, entries };
    this.cache = cache;
    // A failed read is not kept: the next caller asks the database again.
    entries.catch(() => {
      if (this.cache === cache) this.cache = null;
    });
    return entries;
  }

  /**
   * The value of collapsed `key` (`features|disable_sign_up`), or null.
   * @throws the driver's error when the database cannot be read
   */
  async value(key: string): Promise<unknown> {
    if (key === 'features|max_room_size') return this.defaults.maxRoomSize;
    if (key === 'features|default_room_size') return this.defaults.defaultRoomSize;
    return (await this.entries()).get(key) ?? null;
  }

  /** True when the switch `key` is on (any value but null and false, as Reticulum's `get_config_bool`). */
  async flag(key: string): Promise<boolean> {
    const v = await this.value(key);
    return v !== null && v !== false;
  }

  /**
   * The whole config, nested (`{features: {disable_sign_up: true, max_room_size: 50, ...}}`),
   * as `GET /api/v1/app_configs` and Reticulum's `AppConfig.get_config` give it.
   */
  async all(): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = { features: { max_room_size: this.defaults.maxRoomSize, default_room_size: this.defaults.defaultRoomSize } };
    for (const [key, value] of await this.entries()) deepSet(out, key.split('|'), value);
    return out;
  }

  /**
   * Validates and stores a nested body (see {@link collapseAppConfig}); the
   * cache of this node is dropped, other nodes see it within {@link APP_CONFIG_CACHE_MS}.
   * @throws PlexusError `invalid_body` (422) for a bad body; nothing is stored then
   */
  async set(body: unknown): Promise<void> {
    const entries = collapseAppConfig(body);
    await this.rows.set(entries);
    this.cache = null;
  }
}
