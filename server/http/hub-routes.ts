import { Type } from '@sinclair/typebox';
import { AppConfigKeys } from '../app-config.ts';
import type { AccountRef } from '../auth/account-ref.ts';
import { ALL_MEMBER_PERMISSIONS, bitsFromMemberPermissions, RESTRICTIVE_MEMBER_PERMISSIONS } from '../auth/permissions.ts';
import type { MemberPermissions } from '../auth/permissions.ts';
import type { HubRecord } from '../db/hubs.ts';
import { ErrorCodes } from '../errors.ts';
import { findNul } from '../protocol/nul-bytes.ts';
import { hubChangesSchema, MAX_USER_DATA_BYTES, memberPermissionsSchema, toHubChanges } from '../rooms/hub-changes.ts';
import type { HttpRequest, HttpResponse } from '../transport/http-types.ts';
import { compile, describeErrors, jsonObject, nullable } from '../validation/validator.ts';
import type { RouteContext } from './http-deps.ts';
import { jsonBody, rateLimited, requireJson } from './requests.ts';
import { bearerToken, json, jsonError, type RouteHandler, type Router } from './router.ts';

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

/**
 * The rooms' REST API (Reticulum's `HubController`, reference/reticulum.md §9):
 * - `POST /api/v1/hubs` `{hub: {name?, description?, room_size?, user_data?, member_permissions?: {flag: bool}}}`, optionally with
 *   `Authorization: Bearer <account token>` → `{status, hub_id, url, creator_assignment_token, embed_token}`;
 *   with an account the account is the creator and `creator_assignment_token` is null
 *   (401 bad token or `features.disable_room_creation` for non-admins, 422, 429 `rate_limited`
 *   with `retry-after` seconds past the per-IP limit);
 * - `GET /api/v1/hubs/:hub_sid` → `{hubs: [hub]}` (404 `not_found`);
 * - `PATCH /api/v1/hubs/:hub_sid` `{hub: {...update_hub fields}}` with `Authorization: Bearer <creator_assignment_token | owner's account token>`
 *   → `{hubs: [hub]}` with its `embed_token` (401, 403, 404, 422, 429); members get `hub_refresh` (rooms/rooms.ts).
 */
export function addHubRoutes(router: Router, ctx: RouteContext): void {
  router.add('POST', '/api/v1/hubs', createRoom(ctx));
  router.add('PATCH', '/api/v1/hubs/:hub_sid', changeRoom(ctx));
}

/** `GET /api/v1/hubs/:hub_sid` (added after the search route, as it always was). */
export function addHubReadRoute(router: Router, ctx: RouteContext): void {
  router.add('GET', '/api/v1/hubs/:hub_sid', async (req, params) => {
    const hub = await ctx.deps.hubs.findBySid(params.hub_sid);
    if (!hub) return jsonError(404, ErrorCodes.HUB_NOT_FOUND, `No room ${params.hub_sid}; create one with POST /api/v1/hubs.`);
    return json(200, { hubs: [await ctx.deps.rooms.view(hub, { url: ctx.roomUrl(req, hub) })] });
  });
}

/** Reticulum's optional auth of room creation: a token that is sent must be valid (a disabled account's is not). */
async function creatingAccount(ctx: RouteContext, req: HttpRequest): Promise<{ account: AccountRef | null } | { response: HttpResponse }> {
  if (req.headers.authorization === undefined) return { account: null };
  const token = bearerToken(req.headers.authorization);
  const account = token && ctx.deps.accounts ? await ctx.deps.accounts.verify(token) : null;
  if (account) return { account };
  return { response: jsonError(401, ErrorCodes.HTTP_UNAUTHORIZED, 'The Authorization token is not a valid account token (expired, revoked or a disabled account); sign in again, or create the room without Authorization.') };
}

/** The 422 for a valid-shaped new room the server still refuses (NUL, room_size, user_data size), else null. */
function newRoomRefusal(input: (typeof CreateHubBody)['static']['hub'], maxRoomSize: number): HttpResponse | null {
  const nul = findNul(input, 'body.hub');
  if (nul) return jsonError(422, ErrorCodes.HTTP_INVALID_BODY, `Invalid room: ${nul} contains a NUL character (\\u0000), which rooms cannot store.`);
  if (input.room_size != null && input.room_size > maxRoomSize) {
    return jsonError(422, ErrorCodes.HTTP_INVALID_BODY, `Invalid room: body.hub.room_size may be at most ${maxRoomSize} (this server's MAX_ROOM_SIZE); send a smaller room_size or none for the default.`);
  }
  if (input.user_data != null && JSON.stringify(input.user_data).length > MAX_USER_DATA_BYTES) {
    return jsonError(422, ErrorCodes.HTTP_INVALID_BODY, `Invalid room: body.hub.user_data is over ${MAX_USER_DATA_BYTES} characters of JSON.`);
  }
  return null;
}

function createRoom(ctx: RouteContext): RouteHandler {
  const { deps } = ctx;
  const maxRoomSize = deps.maxRoomSize ?? 50;
  return async (req) => {
    const refused = requireJson(req, '{"hub": {"name": "My room"}}') ?? (await rateLimited(deps.createLimiter ?? null, ctx.clientIp(req), 'Too many rooms created from your address'));
    if (refused) return refused;
    const who = await creatingAccount(ctx, req);
    if ('response' in who) return who.response;
    const { account } = who;
    if (!account?.isAdmin && deps.appConfig && (await deps.appConfig.flag(AppConfigKeys.DISABLE_ROOM_CREATION))) {
      return jsonError(401, ErrorCodes.HTTP_UNAUTHORIZED, 'Room creation is turned off on this server (features.disable_room_creation); only admins may create rooms.');
    }
    const parsed = jsonBody(req, 'The request body is not JSON; send {"hub": {"name": "My room"}} with content-type application/json.');
    if ('response' in parsed) return parsed.response;
    const body = parsed.body;
    if (!validateCreate(body)) {
      return jsonError(422, ErrorCodes.HTTP_INVALID_BODY, `Invalid room: ${describeErrors(validateCreate.errors).replace(/^payload/, 'body')}. Send {"hub": {"name": "My room"}}.`);
    }
    const input = body.hub;
    const invalid = newRoomRefusal(input, maxRoomSize);
    if (invalid) return invalid;
    const permissive = deps.appConfig ? await deps.appConfig.flag(AppConfigKeys.PERMISSIVE_ROOMS) : false;
    // As Reticulum's create_room: given member_permissions replace the default whole (flags not named are off).
    const defaults = permissive ? ALL_MEMBER_PERMISSIONS : RESTRICTIVE_MEMBER_PERMISSIONS;
    const { hub, creatorAssignmentToken } = await deps.hubs.create({
      name: input.name?.trim() || 'Untitled room',
      roomSize: input.room_size ?? null,
      description: input.description ?? null,
      userData: input.user_data ?? null,
      memberPermissions: input.member_permissions ? bitsFromMemberPermissions(input.member_permissions) : defaults,
      createdByAccountId: account?.accountId ?? null,
    });
    return json(200, { status: 'ok', hub_id: hub.hubSid, url: ctx.roomUrl(req, hub), creator_assignment_token: creatorAssignmentToken, embed_token: hub.embedToken });
  };
}

/**
 * Who may change the room with `bearer`: its creator assignment token, or
 * the account token of its creator or an owner; `admin` when they may also
 * change allow_promotion (Reticulum's update_hub_promotion: admins, or
 * owners when features.public_rooms is on).
 */
async function changer(ctx: RouteContext, hub: HubRecord, bearer: string): Promise<{ admin: boolean } | { response: HttpResponse }> {
  const { deps } = ctx;
  if (await deps.hubs.isCreatorAssignmentToken(hub.id, bearer)) return { admin: false };
  const account = deps.accounts ? await deps.accounts.verify(bearer) : null;
  if (!account) return { response: jsonError(401, ErrorCodes.HTTP_UNAUTHORIZED, 'The token is not valid for this room (expired, revoked or another room\'s); sign in again.') };
  const owner = (await deps.hubs.rolesOf(hub, account.accountId)).owner;
  const admin = account.isAdmin || (owner && !!deps.appConfig && (await deps.appConfig.flag(AppConfigKeys.PUBLIC_ROOMS)));
  if (!owner) return { response: jsonError(403, ErrorCodes.HTTP_FORBIDDEN, 'Only the room\'s creator and owners may change it.') };
  return { admin };
}

function changeRoom(ctx: RouteContext): RouteHandler {
  const { deps } = ctx;
  // user_data is bounded by jsonBounds, which the shared instance knows.
  const validPatch = compile(Type.Object({ hub: Type.Unsafe<Record<string, unknown>>(hubChangesSchema(deps.maxRoomSize ?? 50)) }));
  return async (req, params) => {
    const refused = requireJson(req, '{"hub": {"name": "New name"}}') ?? (await rateLimited(deps.createLimiter ?? null, ctx.clientIp(req), 'Too many changes from your address'));
    if (refused) return refused;
    const hub = await deps.hubs.findBySid(params.hub_sid);
    if (!hub) return jsonError(404, ErrorCodes.HUB_NOT_FOUND, `No room ${params.hub_sid}.`);
    const bearer = bearerToken(req.headers.authorization);
    if (!bearer) return jsonError(401, ErrorCodes.HTTP_UNAUTHORIZED, 'Send Authorization: Bearer <token>: the room\'s creator_assignment_token, or the account token of its creator or an owner.');
    const who = await changer(ctx, hub, bearer);
    if ('response' in who) return who.response;
    const parsed = jsonBody(req, 'The request body is not JSON; send {"hub": {"name": "New name"}}.');
    if ('response' in parsed) return parsed.response;
    const body = parsed.body;
    if (!validPatch(body)) return jsonError(422, ErrorCodes.HTTP_INVALID_BODY, `Invalid change: ${describeErrors(validPatch.errors).replace(/^payload/, 'body')}.`);
    const nul = findNul(body, 'body');
    if (nul) return jsonError(422, ErrorCodes.HTTP_INVALID_BODY, `Invalid change: ${nul} contains a NUL character (\\u0000), which rooms cannot store.`);
    const fields = body.hub;
    if (fields.allow_promotion !== undefined && !who.admin) return jsonError(403, ErrorCodes.HTTP_FORBIDDEN, 'Only server admins (or, with features.public_rooms, signed-in owners) may change allow_promotion.');
    let changes;
    try {
      changes = toHubChanges(fields, hub.memberPermissions);
    } catch (err) {
      return jsonError(422, ErrorCodes.HTTP_INVALID_BODY, (err as Error).message);
    }
    const stale = await deps.hubs.update(hub.id, changes);
    if (stale.length > 0) await deps.rooms.refresh(hub.hubSid, stale);
    const updated = (await deps.hubs.findBySid(hub.hubSid))!;
    return json(200, { hubs: [await deps.rooms.view(updated, { url: ctx.roomUrl(req, updated), embeddable: true })] });
  };
}
