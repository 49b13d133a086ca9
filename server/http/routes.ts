import type { Knex } from 'knex';
import { countPresence } from '../channels/hub/hub-channel.ts';
import { hubView } from '../channels/hub/hub-view.ts';
import { Type } from '@sinclair/typebox';
import { compile, describeErrors, jsonObject, nullable } from '../validation/validator.ts';
import { createHub, findHubBySid, HUB_SID_PATTERN } from '../db/hubs.ts';
import { listPinnedObjects } from '../db/room-objects.ts';
import { isCreatorAssignmentToken, searchPublicHubs } from '../db/hubs.ts';
import { rolesOf } from '../db/hub-roles.ts';
import { updateHub } from '../db/hub-updates.ts';
import { hubChangesSchema, memberPermissionsSchema, toHubChanges } from '../channels/hub/room-rules.ts';
import type { AccountTokenVerifier } from '../channels/hub/hub-member.ts';
import type { PresenceStore } from '../presence/presence-store.ts';
import type { HttpRequest, HttpResponse } from '../transport/http-types.ts';
import { bearerToken, json, jsonError, Router } from './router.ts';
import { StaticFiles } from './static-files.ts';
import type { KeyedLimiter } from '../realtime/rate-limits.ts';
import type { TrustedProxies } from './client-address.ts';
import { isJsonContentType, type WebSecurity } from './web-security.ts';
import { ErrorCodes } from '../errors.ts';
import { ALL_MEMBER_PERMISSIONS, bitsFromMemberPermissions, RESTRICTIVE_MEMBER_PERMISSIONS } from '../auth/permissions.ts';
import type { MemberPermissions } from '../auth/permissions.ts';
import { AppConfigKeys } from '../app-config.ts';
import type { AppConfig } from '../app-config.ts';
import { findNul } from '../protocol/nul-bytes.ts';
import { addAppConfigRoutes } from './app-config-routes.ts';

/** What the HTTP routes need. */
export interface HttpDeps {
  db: Knex;
  presence: PresenceStore;
  clientDir: string;
  defaultRoomSize: number;
  /**
   * Health details to report (e.g. database kind, `status: "degraded"` when
   * other nodes cannot be reached, `"unavailable"` when the database does not
   * answer); `/health` adds uptime and answers 503 for `"unavailable"`.
   */
  health: () => Record<string, unknown> | Promise<Record<string, unknown>>;
  /** Version string reported by `/api/v1/meta`. */
  version: string;
  /** Verifies account tokens (`Authorization: Bearer`): PATCH, room creation by an account, admin routes. */
  accounts?: AccountTokenVerifier;
  /** Runtime switches (`features.disable_room_creation`, `features.permissive_rooms`, ...) and `/api/v1/app_configs`. Absent: every switch off, no app config routes. */
  appConfig?: AppConfig;
  /** Largest room_size PATCH may set. Default 50. */
  maxRoomSize?: number;
  /** After PATCH changed a room: its members on every node reload it, and get `hub_refresh` with `stale_fields`. */
  roomChanged?: (hubSid: string, staleFields: string[]) => Promise<void>;
  /** The perms token public keys, served at `GET /.well-known/jwks.json`. */
  jwks?: () => unknown;
  /** Per-client-IP limit on endpoints that create or change things (`POST /api/v1/hubs`, PATCH), shared by the cluster's nodes. Absent: no limit. */
  createLimiter?: KeyedLimiter;
  /** Which peers' `X-Forwarded-For` is believed, to find the client IP. */
  proxies: TrustedProxies;
  /** Public origin (for returned URLs and meta), security headers. */
  web: WebSecurity;
  /** Serve the client's `*.map` files (`SERVE_SOURCE_MAPS`). Default false. */
  serveSourceMaps?: boolean;
  /**
   * In a cluster: the node a client should use and every live node, for
   * `/api/v1/meta`; resolves null when no node can be named. Absent on a
   * single node, where meta names the host the request came to.
   */
  cluster?: () => Promise<{ phx_host: string; phx_port: string; nodes: Array<{ phx_host: string; phx_port: string }> } | null>;
}

/** Largest `user_data` a room may carry, characters of its JSON (as update_hub and PATCH). */
export const MAX_USER_DATA_CHARS = 16 * 1024;

/** `POST /api/v1/hubs`'s body. */
const CreateHubBody = Type.Object({
  hub: Type.Object({
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '\\S' })),
    description: Type.Optional(nullable(Type.String({ maxLength: 64000 }))),
    room_size: Type.Optional(nullable(Type.Integer({ minimum: 0 }))),
    user_data: Type.Optional(nullable(jsonObject())),
    member_permissions: Type.Optional(Type.Unsafe<Partial<MemberPermissions>>(memberPermissionsSchema)),
  }),
});
const validateCreate = compile(CreateHubBody);

/** 415 for a body that is not declared JSON (a cross-site form or text/plain post is never a "simple" JSON request), else null. */
function requireJson(req: HttpRequest, example: string): HttpResponse | null {
  if (isJsonContentType(req.headers['content-type'])) return null;
  const given = req.headers['content-type'] ? `content-type ${JSON.stringify(req.headers['content-type'].slice(0, 80))}` : 'no content-type';
  return jsonError(415, ErrorCodes.HTTP_UNSUPPORTED_MEDIA_TYPE, `This endpoint takes JSON, and the request has ${given}; send ${example} with content-type: application/json.`);
}

/**
 * All HTTP routes:
 * - `POST /api/v1/hubs` `{hub: {name?, description?, room_size?, user_data?, member_permissions?: {flag: bool}}}`, optionally with
 *   `Authorization: Bearer <account token>` → `{status, hub_id, url, creator_assignment_token, embed_token}`;
 *   with an account the account is the creator and `creator_assignment_token` is null
 *   (401 bad token or `features.disable_room_creation` for non-admins, 422, 429 `rate_limited`
 *   with `retry-after` seconds past the per-IP limit);
 * - `GET /api/v1/hubs/:hub_sid` → `{hubs: [hub]}` (404 `not_found`);
 * - `PATCH /api/v1/hubs/:hub_sid` `{hub: {...update_hub fields}}` with `Authorization: Bearer <creator_assignment_token | owner's account token>` → `{hubs: [hub]}` with its `embed_token` (401, 403, 404, 422, 429);
 * - `GET|POST /api/v1/app_configs` (admins): see `addAppConfigRoutes`;
 * - `GET /api/v1/media/search?source=rooms&q=&cursor=` → `{meta: {source, next_cursor}, entries: [room], suggestions: null}`: public rooms by full-text search;
 * - `GET /.well-known/jwks.json` → `{keys: [jwk]}`, the public key of perms tokens (RS512);
 * - `GET /api/v1/meta` → `{version, pool, phx_host, phx_port, nodes}` (Reticulum's
 *   meta, plus `nodes: [{phx_host, phx_port}]`, every live node of a cluster, so
 *   a client can ask another node when this one is gone). In a cluster
 *   `phx_host`/`phx_port` name a live node (see `chooseNode`); on a single
 *   node they are the request's host and null, and `nodes` is empty. Sent with
 *   `access-control-allow-origin: *`, so a page may ask any node;
 * - `GET /health` → 200 `{status: "ok"|"degraded", uptime_s, database, database_ok, connections, broker, checked_ms}`
 *   ("degraded": the node serves its local rooms but cannot reach other nodes:
 *   Redis is down or does not answer a ping within 1 s), or 503 with
 *   `status: "unavailable"` when the database does not answer a ping within
 *   1 s (the node cannot serve joins: a load balancer should take it out);
 * - `GET /assets/*` → the built client;
 * - `GET /:hub_sid/objects.gltf` → the room's pinned objects as a glTF document (`model/gltf+json`);
 * - `GET|HEAD /` (lobby), `/:hub_sid`, `/:hub_sid/:slug` (room page), sent with
 *   `x-frame-options: DENY`; a room page with the room's `?embed_token=`
 *   is sent without it and with `frame-ancestors *` (other sites may frame it), with a wrong one it is a
 *   404. Every response carries a `Date` header (uWS adds it), which NAF's
 *   clock sync reads.
 */
export function buildRouter(deps: HttpDeps): Router {
  const files = new StaticFiles(deps.clientDir, { serveSourceMaps: deps.serveSourceMaps });
  const started = Date.now();
  const router = new Router();
  const originOf = (req: HttpRequest) => deps.web.publicOrigin(req.remoteAddress, req.headers);
  const clientIp = (req: HttpRequest) => deps.proxies.clientIp(req.remoteAddress, req.headers['x-forwarded-for']);
  router.decorate((req, res) => ({ ...res, headers: deps.web.securityHeaders(req, res) }));

  router.add('GET', '/health', async () => {
    const health = await deps.health();
    return json(health.status === 'unavailable' ? 503 : 200, { status: 'ok', uptime_s: Math.round((Date.now() - started) / 1000), ...health });
  });

  router.add('GET', '/api/v1/meta', async (req) => {
    const cors = { 'access-control-allow-origin': '*' };
    const cluster = deps.cluster ? await deps.cluster() : null;
    if (cluster) return json(200, { version: deps.version, pool: 'default', ...cluster }, cors);
    // This node's public host (PUBLIC_URL, a trusted proxy's, or HOST), never an untrusted Host header.
    const host = new URL(originOf(req)).hostname;
    return json(200, { version: deps.version, pool: 'default', phx_host: host, phx_port: null, nodes: [] }, cors);
  });

  const createLimiter = deps.createLimiter ?? null;
  if (deps.jwks) {
    const jwks = deps.jwks;
    router.add('GET', '/.well-known/jwks.json', () => json(200, jwks(), { 'access-control-allow-origin': '*', 'cache-control': 'public, max-age=300' }));
  }
  const maxRoomSize = deps.maxRoomSize ?? 50;
  router.add('POST', '/api/v1/hubs', async (req) => {
    const notJson = requireJson(req, '{"hub": {"name": "My room"}}');
    if (notJson) return notJson;
    const wait = createLimiter ? await createLimiter.take(clientIp(req)) : 0;
    if (wait > 0) {
      const res = jsonError(429, ErrorCodes.RATE_LIMITED, `Too many rooms created from your address; try again in ${wait} s.`);
      return { ...res, headers: { ...res.headers, 'retry-after': String(wait) } };
    }
    // Reticulum's optional auth: a token that is sent must be valid (a disabled account's is not).
    let account = null;
    if (req.headers.authorization !== undefined) {
      const token = bearerToken(req.headers.authorization);
      account = token && deps.accounts ? await deps.accounts.verify(token) : null;
      if (!account) return jsonError(401, ErrorCodes.HTTP_UNAUTHORIZED, 'The Authorization token is not a valid account token (expired, revoked or a disabled account); sign in again, or create the room without Authorization.');
    }
    if (!account?.isAdmin && deps.appConfig && (await deps.appConfig.flag(AppConfigKeys.DISABLE_ROOM_CREATION))) {
      return jsonError(401, ErrorCodes.HTTP_UNAUTHORIZED, 'Room creation is turned off on this server (features.disable_room_creation); only admins may create rooms.');
    }
    let body: unknown;
    try {
      body = JSON.parse(req.body?.toString('utf8') || '');
    } catch {
      return jsonError(400, ErrorCodes.HTTP_BAD_JSON, 'The request body is not JSON; send {"hub": {"name": "My room"}} with content-type application/json.');
    }
    if (!validateCreate(body)) {
      return jsonError(422, ErrorCodes.HTTP_INVALID_BODY, `Invalid room: ${describeErrors(validateCreate.errors).replace(/^payload/, 'body')}. Send {"hub": {"name": "My room"}}.`);
    }
    const input = body.hub;
    const nul = findNul(input, 'body.hub');
    if (nul) return jsonError(422, ErrorCodes.HTTP_INVALID_BODY, `Invalid room: ${nul} contains a NUL character (\\u0000), which rooms cannot store.`);
    if (input.room_size != null && input.room_size > maxRoomSize) {
      return jsonError(422, ErrorCodes.HTTP_INVALID_BODY, `Invalid room: body.hub.room_size may be at most ${maxRoomSize} (this server's MAX_ROOM_SIZE); send a smaller room_size or none for the default.`);
    }
    if (input.user_data != null && JSON.stringify(input.user_data).length > MAX_USER_DATA_CHARS) {
      return jsonError(422, ErrorCodes.HTTP_INVALID_BODY, `Invalid room: body.hub.user_data is over ${MAX_USER_DATA_CHARS} characters of JSON.`);
    }
    const permissive = deps.appConfig ? await deps.appConfig.flag(AppConfigKeys.PERMISSIVE_ROOMS) : false;
    // As Reticulum's create_room: given member_permissions replace the default whole (flags not named are off).
    const defaults = permissive ? ALL_MEMBER_PERMISSIONS : RESTRICTIVE_MEMBER_PERMISSIONS;
    const memberPermissions = input.member_permissions ? bitsFromMemberPermissions(input.member_permissions) : defaults;
    const { hub, creatorAssignmentToken } = await createHub(deps.db, {
      name: input.name?.trim() || 'Untitled room',
      roomSize: input.room_size ?? null,
      description: input.description ?? null,
      userData: input.user_data ?? null,
      memberPermissions,
      createdByAccountId: account?.accountId ?? null,
    });
    return json(200, {
      status: 'ok',
      hub_id: hub.hubSid,
      url: `${originOf(req)}/${hub.hubSid}/${hub.slug}`,
      creator_assignment_token: creatorAssignmentToken,
      embed_token: hub.embedToken,
    });
  });

  // user_data is bounded by jsonBounds, which the shared instance knows.
  const validPatch = compile(Type.Object({ hub: Type.Unsafe<Record<string, unknown>>(hubChangesSchema(maxRoomSize)) }));
  router.add('PATCH', '/api/v1/hubs/:hub_sid', async (req, params) => {
    const notJson = requireJson(req, '{"hub": {"name": "New name"}}');
    if (notJson) return notJson;
    const wait = createLimiter ? await createLimiter.take(clientIp(req)) : 0;
    if (wait > 0) {
      const res = jsonError(429, ErrorCodes.RATE_LIMITED, `Too many changes from your address; try again in ${wait} s.`);
      return { ...res, headers: { ...res.headers, 'retry-after': String(wait) } };
    }
    const hub = await findHubBySid(deps.db, params.hub_sid);
    if (!hub) return jsonError(404, ErrorCodes.HUB_NOT_FOUND, `No room ${params.hub_sid}.`);
    const bearer = bearerToken(req.headers.authorization);
    if (!bearer) return jsonError(401, ErrorCodes.HTTP_UNAUTHORIZED, 'Send Authorization: Bearer <token>: the room\'s creator_assignment_token, or the account token of its creator or an owner.');
    let owner = await isCreatorAssignmentToken(deps.db, hub.id, bearer);
    let admin = false;
    if (!owner) {
      const account = deps.accounts ? await deps.accounts.verify(bearer) : null;
      if (!account) return jsonError(401, ErrorCodes.HTTP_UNAUTHORIZED, 'The token is not valid for this room (expired, revoked or another room\'s); sign in again.');
      owner = (await rolesOf(deps.db, hub, account.accountId)).owner;
      // Reticulum's update_hub_promotion: admins, or owners when features.public_rooms is on.
      admin = account.isAdmin || (owner && !!deps.appConfig && (await deps.appConfig.flag(AppConfigKeys.PUBLIC_ROOMS)));
      if (!owner) return jsonError(403, ErrorCodes.HTTP_FORBIDDEN, 'Only the room\'s creator and owners may change it.');
    }
    let body: unknown;
    try {
      body = JSON.parse(req.body?.toString('utf8') || '');
    } catch {
      return jsonError(400, ErrorCodes.HTTP_BAD_JSON, 'The request body is not JSON; send {"hub": {"name": "New name"}}.');
    }
    if (!validPatch(body)) return jsonError(422, ErrorCodes.HTTP_INVALID_BODY, `Invalid change: ${describeErrors(validPatch.errors).replace(/^payload/, 'body')}.`);
    const nul = findNul(body, 'body');
    if (nul) return jsonError(422, ErrorCodes.HTTP_INVALID_BODY, `Invalid change: ${nul} contains a NUL character (\\u0000), which rooms cannot store.`);
    const fields = body.hub;
    if (fields.allow_promotion !== undefined && !admin) return jsonError(403, ErrorCodes.HTTP_FORBIDDEN, 'Only server admins (or, with features.public_rooms, signed-in owners) may change allow_promotion.');
    let changes;
    try {
      changes = toHubChanges(fields, hub.memberPermissions);
    } catch (err) {
      return jsonError(422, ErrorCodes.HTTP_INVALID_BODY, (err as Error).message);
    }
    const stale = await updateHub(deps.db, hub.id, changes);
    if (stale.length > 0 && deps.roomChanged) await deps.roomChanged(hub.hubSid, stale);
    const updated = (await findHubBySid(deps.db, hub.hubSid))!;
    const counts = countPresence(await deps.presence.list(`hub:${hub.hubSid}`));
    return json(200, { hubs: [hubView(updated, counts, deps.defaultRoomSize, `${originOf(req)}/${updated.hubSid}/${updated.slug}`, true)] });
  });

  // Reticulum's media search, rooms only (reference/reticulum.md §9): public rooms by full-text search.
  router.add('GET', '/api/v1/media/search', async (req) => {
    const source = req.query.get('source');
    if (source !== 'rooms') return jsonError(400, ErrorCodes.HTTP_INVALID_QUERY, `source=${JSON.stringify(source)} is not supported; this server searches source=rooms.`);
    const q = (req.query.get('q') ?? '').slice(0, 256);
    if (q.includes('\u0000')) return jsonError(422, ErrorCodes.HTTP_INVALID_QUERY, 'q contains a NUL character (%00), which cannot be searched for; remove it.');
    const cursorRaw = req.query.get('cursor') ?? '0';
    if (!/^\d{1,6}$/.test(cursorRaw)) return jsonError(400, ErrorCodes.HTTP_INVALID_QUERY, 'cursor must be the next_cursor of a previous page (a whole number).');
    const offset = Number(cursorRaw);
    const page = 24;
    const hubs = await searchPublicHubs(deps.db, q, offset, page + 1);
    const entries = [];
    for (const hub of hubs.slice(0, page)) {
      const counts = countPresence(await deps.presence.list(`hub:${hub.hubSid}`));
      entries.push({
        id: hub.hubSid,
        url: `${originOf(req)}/${hub.hubSid}/${hub.slug}`,
        type: 'room',
        name: hub.name,
        description: hub.description,
        images: { preview: { url: null } },
        member_count: counts.memberCount,
        lobby_count: counts.lobbyCount,
        room_size: hub.roomSize ?? deps.defaultRoomSize,
      });
    }
    return json(200, { meta: { source: 'rooms', next_cursor: hubs.length > page ? String(offset + page) : null }, entries, suggestions: null });
  });

  router.add('GET', '/api/v1/hubs/:hub_sid', async (req, params) => {
    const hub = await findHubBySid(deps.db, params.hub_sid);
    if (!hub) return jsonError(404, ErrorCodes.HUB_NOT_FOUND, `No room ${params.hub_sid}; create one with POST /api/v1/hubs.`);
    const counts = countPresence(await deps.presence.list(`hub:${hub.hubSid}`));
    return json(200, { hubs: [hubView(hub, counts, deps.defaultRoomSize, `${originOf(req)}/${hub.hubSid}/${hub.slug}`)] });
  });

  if (deps.appConfig) addAppConfigRoutes(router, { appConfig: deps.appConfig, accounts: deps.accounts });

  router.add('GET', '/assets/*', (_req, params) => files.serve(params['*'], 'public, max-age=300'));
  // Pages may not be framed (the security headers say DENY), except a room with its embed token.
  const page = async (file: string, frameable = false) => {
    const res = await files.serve(file);
    return frameable && res.status === 200 ? { ...res, frameable: true } : res;
  };
  router.add('GET', '/', () => page('index.html'));
  // Reticulum's embedding (page_controller): `?embed_token=` must be the room's, and then the page may be framed.
  const room = async (req: HttpRequest, params: Record<string, string>) => {
    if (!HUB_SID_PATTERN.test(params.hub_sid)) return jsonError(404, ErrorCodes.HTTP_NOT_FOUND, `Nothing at /${params.hub_sid}.`);
    const embedToken = req.query.get('embed_token');
    if (embedToken === null) return page('room.html');
    const hub = /^[0-9a-f]{1,64}$/.test(embedToken) ? await findHubBySid(deps.db, params.hub_sid) : null;
    if (!hub || hub.embedToken !== embedToken) return jsonError(404, ErrorCodes.INVALID_EMBED_TOKEN, 'Invalid embed token: use the embed_token an owner of this room got, or open the room without it.');
    return page('room.html', true);
  };
  // Reticulum's pinned-object replay (reference/reticulum.md §5): no auth, the hub_sid is the capability.
  router.add('GET', '/:hub_sid/objects.gltf', async (_req, params) => {
    const hub = await findHubBySid(deps.db, params.hub_sid);
    if (!hub) return jsonError(404, ErrorCodes.HUB_NOT_FOUND, `No room ${params.hub_sid}.`);
    const nodes = await listPinnedObjects(deps.db, hub.id);
    const gltf = {
      asset: { version: '2.0', generator: 'plexus' },
      scenes: [{ nodes: nodes.map((_n, i) => i), name: 'Room Objects' }],
      nodes,
      extensionsUsed: ['HUBS_components'],
    };
    return { status: 200, headers: { 'content-type': 'model/gltf+json', 'cache-control': 'no-store' }, body: JSON.stringify(gltf) };
  });
  router.add('GET', '/:hub_sid', room);
  router.add('GET', '/:hub_sid/:slug', room);
  return router;
}
