import type { HubRepository } from '../../db/hub-repository.ts';
import type { HubChanges } from '../../db/hub-updates.ts';
import { ErrorCodes, permissionDeniedMessage } from '../../errors.ts';
import { error, ok } from '../../realtime/channel.ts';
import type { Reply } from '../../realtime/channel.ts';
import type { HubPermissions } from '../../auth/permissions.ts';
import { hubChangesSchema, toHubChanges } from '../../rooms/hub-changes.ts';
import type { Rooms } from '../../rooms/rooms.ts';
import type { HubEventHandlers, HubMember } from './hub-member.ts';
import { describeErrors, hubSchemas } from './schemas.ts';
import { compile } from '../../validation/validator.ts';
import { Type } from '@sinclair/typebox';
import { findNul } from '../../protocol/nul-bytes.ts';

/** What the room-rule events need. */
export interface RoomRuleDeps {
  hubs: HubRepository;
  /** The room domain: `hub_refresh` after a change (Rooms.refresh). */
  rooms: Rooms;
  /** Largest `room_size` an owner may set (config MAX_ROOM_SIZE). */
  maxRoomSize: number;
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
 * before `hub_refresh` goes out ({@link Rooms.refresh}).
 */
export function roomRuleHandlers(deps: RoomRuleDeps): HubEventHandlers {
  const validUpdate = compile(Type.Unsafe<Record<string, unknown>>(hubChangesSchema(deps.maxRoomSize)));
  const validEmpty = hubSchemas.empty;

  function needs(member: HubMember, event: string, permission: keyof HubPermissions): Reply | null {
    if (member.permissions[permission]) return null;
    return error(ErrorCodes.PERMISSION_DENIED, permissionDeniedMessage(event, permission, 'room owners'), { permission });
  }

  const refresh = (member: HubMember, stale: string[]): Promise<void> => deps.rooms.refresh(member.hub.hubSid, stale, member.sessionId);

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
      const stale = await deps.hubs.update(member.hub.id, changes);
      if (stale.length > 0) await refresh(member, stale);
      return ok();
    },
    update_scene: async (member, payload) => {
      const denied = needs(member, 'update_scene', 'update_hub');
      if (denied) return denied;
      if (!validScene(payload)) return error(ErrorCodes.INVALID_PAYLOAD, `update_scene: ${describeErrors(validScene.errors)}; send {url: "https://..."}.`);
      const nul = findNul(payload);
      if (nul) return error(ErrorCodes.INVALID_PAYLOAD, `update_scene: ${nul} contains a NUL character (\\u0000), which rooms cannot store.`);
      await deps.hubs.update(member.hub.id, { sceneUrl: payload.url });
      await refresh(member, ['scene']);
      return ok();
    },
    close_hub: async (member, payload) => {
      const denied = needs(member, 'close_hub', 'close_hub');
      if (denied) return denied;
      if (!validEmpty(payload)) return error(ErrorCodes.INVALID_PAYLOAD, 'close_hub takes no payload ({}).');
      await deps.hubs.update(member.hub.id, { entryMode: 'deny' });
      await refresh(member, ['entry_mode']);
      return ok();
    },
    // The invite events answer as Reticulum's: a refusal is `{}` (no hub_invite_id) and changes nothing.
    fetch_invite: async (member, payload) => {
      if (!validEmpty(payload)) return error(ErrorCodes.INVALID_PAYLOAD, 'fetch_invite takes no payload ({}).');
      if (!member.permissions.update_hub) return ok();
      return ok({ hub_invite_id: await deps.hubs.activeInvite(member.hub.id) });
    },
    revoke_invite: async (member, payload) => {
      if (!validInvite(payload)) return error(ErrorCodes.INVALID_PAYLOAD, `revoke_invite: ${describeErrors(validInvite.errors)}; send {hub_invite_id}.`);
      const nul = findNul(payload);
      if (nul) return error(ErrorCodes.INVALID_PAYLOAD, `revoke_invite: ${nul} contains a NUL character (\\u0000); send the hub_invite_id fetch_invite gave.`);
      if (!member.permissions.update_hub) return ok();
      const fresh = await deps.hubs.revokeInvite(member.hub.id, payload.hub_invite_id);
      return ok(fresh === null ? {} : { hub_invite_id: fresh });
    },
  };
}
