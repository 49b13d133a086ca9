import type { Knex } from 'knex';
import { MEMBER_PERMISSION_BITS } from '../../auth/permissions.ts';
import type { MemberPermissions } from '../../auth/permissions.ts';
import type { HubChanges } from '../../db/hub-updates.ts';
import { activeInvite, revokeInvite, updateHub } from '../../db/hub-updates.ts';
import type { PresenceStore } from '../../presence/presence-store.ts';
import { ErrorCodes, permissionDeniedMessage } from '../../errors.ts';
import { error, ok } from '../../realtime/channel.ts';
import type { Reply } from '../../realtime/channel.ts';
import type { HubPermissions } from '../../auth/permissions.ts';
import { countPresence } from './hub-channel.ts';
import type { HubEventHandlers, HubMember } from './hub-member.ts';
import { hubView } from './hub-view.ts';
import { describeErrors, freeObject, hubSchemas } from './schemas.ts';
import { compile, nullable } from '../../validation/validator.ts';
import { Type } from '@sinclair/typebox';
import { findNul } from '../../protocol/nul-bytes.ts';

/** What the room-rule events need. */
export interface RoomRuleDeps {
  db: Knex;
  presence: PresenceStore;
  defaultRoomSize: number;
  /** Largest `room_size` an owner may set (config MAX_ROOM_SIZE). */
  maxRoomSize: number;
}

/** `member_permissions` as Reticulum takes it: `{flag: true|false}` for any of the 8 flags, nothing else. */
export const memberPermissionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: Object.fromEntries(Object.keys(MEMBER_PERMISSION_BITS).map((k) => [k, { type: 'boolean' }])),
} as const;

/** Largest `user_data` of a room, in bytes of JSON. */
export const MAX_USER_DATA_BYTES = 16 * 1024;

/** The fields of `update_hub` and of `PATCH /api/v1/hubs/:hub_sid`'s `hub` (`user_data` is bounded by `jsonBounds`, which the one ajv instance knows). */
export function hubChangesSchema(maxRoomSize: number) {
  return Type.Object(
    {
      name: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '\\S' })),
      description: Type.Optional(nullable(Type.String({ maxLength: 64000 }))),
      member_permissions: Type.Optional(Type.Unsafe<Partial<MemberPermissions>>(memberPermissionsSchema)),
      room_size: Type.Optional(nullable(Type.Integer({ minimum: 0, maximum: maxRoomSize }))),
      allow_promotion: Type.Optional(Type.Boolean()),
      entry_mode: Type.Optional(Type.Unsafe<'allow' | 'invite'>({ enum: ['allow', 'invite'] })),
      user_data: Type.Optional(nullable(freeObject(MAX_USER_DATA_BYTES))),
    },
    { additionalProperties: false },
  );
}

/**
 * Turns validated `update_hub` fields into {@link HubChanges}. Absent
 * member_permissions flags keep their current value (`currentBits`).
 * @throws Error when user_data is over 16 KiB of JSON
 */
export function toHubChanges(p: Record<string, unknown>, currentBits: number): HubChanges {
  const changes: HubChanges = {};
  if (typeof p.name === 'string') changes.name = p.name.trim();
  if (p.description !== undefined) changes.description = p.description as string | null;
  if (p.member_permissions !== undefined) {
    const given = p.member_permissions as Partial<MemberPermissions>;
    let bits = currentBits;
    for (const [name, bit] of Object.entries(MEMBER_PERMISSION_BITS)) {
      const v = given[name as keyof MemberPermissions];
      if (v === true) bits |= bit;
      if (v === false) bits &= ~bit;
    }
    changes.memberPermissions = bits;
  }
  if (p.room_size !== undefined) changes.roomSize = p.room_size as number | null;
  if (p.allow_promotion !== undefined) changes.allowPromotion = p.allow_promotion as boolean;
  if (p.entry_mode !== undefined) changes.entryMode = p.entry_mode as 'allow' | 'invite';
  if (p.user_data !== undefined) {
    if (p.user_data !== null && JSON.stringify(p.user_data).length > 16 * 1024) throw new Error('user_data is over 16 KiB of JSON');
    changes.userData = p.user_data as Record<string, unknown> | null;
  }
  return changes;
}

const validScene = compile(Type.Object({ url: Type.String({ maxLength: 2048, pattern: '^https?://' }) }));
const validInvite = compile(Type.Object({ hub_invite_id: Type.String({ minLength: 1, maxLength: 32 }) }));

/**
 * The hub channel's room-rule events (reference/reticulum.md §1.2, §3.5),
 * for owners (`update_hub`, `close_hub` permissions), each answered `{}` or
 * an error that changes nothing, and followed by `hub_refresh {hubs:
 * [hub], session_id, stale_fields}` to everyone in the room:
 * - `update_hub {name?, description?, member_permissions?: {flag: bool}, room_size?, allow_promotion?, entry_mode?, user_data?}`
 *   (`allow_promotion` also needs `update_hub_promotion`; member_permissions
 *   may be partial: missing flags keep their value, unlike Reticulum, where
 *   a missing map crashes the channel);
 * - `update_scene {url}` (http(s), ≤ 2048): stale `["scene"]`;
 * - `close_hub`: entry_mode `deny`, stale `["entry_mode"]`; later joins get `closed`;
 * - `fetch_invite` → `{hub_invite_id}`, the room's active invite;
 *   `revoke_invite {hub_invite_id}` (the room's active invite) → a fresh one.
 *   As in Reticulum, both answer `{}` and change nothing for a member without
 *   `update_hub`, and `revoke_invite` does for an id that is not this room's
 *   active invite (another room's, a revoked one, an unknown one).
 * Every member on every node reloads the room and its permissions
 * (`HubMember.roomChanged`) before `hub_refresh` goes out.
 */
export function roomRuleHandlers(deps: RoomRuleDeps): HubEventHandlers {
  const validUpdate = compile(hubChangesSchema(deps.maxRoomSize));
  const validEmpty = hubSchemas.empty;

  function needs(member: HubMember, event: string, permission: keyof HubPermissions): Reply | null {
    if (member.permissions[permission]) return null;
    return error(ErrorCodes.PERMISSION_DENIED, permissionDeniedMessage(event, permission, 'room owners'), { permission });
  }

  async function refresh(member: HubMember, stale: string[]): Promise<void> {
    await member.roomChanged();
    const counts = countPresence(await deps.presence.list(member.ctx.topic));
    member.ctx.broadcast('hub_refresh', { hubs: [hubView(member.hub, counts, deps.defaultRoomSize)], session_id: member.sessionId, stale_fields: stale });
  }

  return {
    update_hub: async (member, payload) => {
      const denied = needs(member, 'update_hub', 'update_hub');
      if (denied) return denied;
      if (!validUpdate(payload)) return error(ErrorCodes.INVALID_PAYLOAD, `update_hub: ${describeErrors(validUpdate.errors)}; send any of {name, description, member_permissions: {flag: true|false}, room_size, allow_promotion, entry_mode: "allow"|"invite", user_data}.`);
      const nul = findNul(payload);
      if (nul) return error(ErrorCodes.INVALID_PAYLOAD, `update_hub: ${nul} contains a NUL character (\\u0000), which rooms cannot store.`);
      const p = payload;
      if (p.allow_promotion !== undefined && !member.permissions.update_hub_promotion) {
        return error(ErrorCodes.PERMISSION_DENIED, permissionDeniedMessage('Changing allow_promotion', 'update_hub_promotion', 'server admins'), { permission: 'update_hub_promotion' });
      }
      let changes: HubChanges;
      try {
        changes = toHubChanges(p, member.hub.memberPermissions);
      } catch (err) {
        return error(ErrorCodes.INVALID_PAYLOAD, `update_hub: ${(err as Error).message}.`);
      }
      const stale = await updateHub(deps.db, member.hub.id, changes);
      if (stale.length > 0) await refresh(member, stale);
      return ok();
    },
    update_scene: async (member, payload) => {
      const denied = needs(member, 'update_scene', 'update_hub');
      if (denied) return denied;
      if (!validScene(payload)) return error(ErrorCodes.INVALID_PAYLOAD, `update_scene: ${describeErrors(validScene.errors)}; send {url: "https://..."}.`);
      const nul = findNul(payload);
      if (nul) return error(ErrorCodes.INVALID_PAYLOAD, `update_scene: ${nul} contains a NUL character (\\u0000), which rooms cannot store.`);
      await updateHub(deps.db, member.hub.id, { sceneUrl: payload.url });
      await refresh(member, ['scene']);
      return ok();
    },
    close_hub: async (member, payload) => {
      const denied = needs(member, 'close_hub', 'close_hub');
      if (denied) return denied;
      if (!validEmpty(payload)) return error(ErrorCodes.INVALID_PAYLOAD, 'close_hub takes no payload ({}).');
      await updateHub(deps.db, member.hub.id, { entryMode: 'deny' });
      await refresh(member, ['entry_mode']);
      return ok();
    },
    // The invite events answer as Reticulum's: a refusal is `{}` (no hub_invite_id) and changes nothing.
    fetch_invite: async (member, payload) => {
      if (!validEmpty(payload)) return error(ErrorCodes.INVALID_PAYLOAD, 'fetch_invite takes no payload ({}).');
      if (!member.permissions.update_hub) return ok();
      return ok({ hub_invite_id: await activeInvite(deps.db, member.hub.id) });
    },
    revoke_invite: async (member, payload) => {
      if (!validInvite(payload)) return error(ErrorCodes.INVALID_PAYLOAD, `revoke_invite: ${describeErrors(validInvite.errors)}; send {hub_invite_id}.`);
      const nul = findNul(payload);
      if (nul) return error(ErrorCodes.INVALID_PAYLOAD, `revoke_invite: ${nul} contains a NUL character (\\u0000); send the hub_invite_id fetch_invite gave.`);
      if (!member.permissions.update_hub) return ok();
      const fresh = await revokeInvite(deps.db, member.hub.id, payload.hub_invite_id);
      return ok(fresh === null ? {} : { hub_invite_id: fresh });
    },
  };
}
