import type { HubRepository } from '../../db/hub-repository.ts';
import type { PresenceStore } from '../../presence/presence-store.ts';
import type { RoomBlocks } from './blocks.ts';
import { ErrorCodes, permissionDeniedMessage } from '../../errors.ts';
import { error, ok } from '../../realtime/channel.ts';
import type { Reply } from '../../realtime/channel.ts';
import type { HubPermissions } from '../../auth/permissions.ts';
import type { HubEventHandlers, HubMember } from './hub-member.ts';
import type { RoomMembers } from './room-members.ts';
import { describeErrors } from './schemas.ts';
import { compile } from '../../validation/validator.ts';
import { Type } from '@sinclair/typebox';

/** What the moderation events need. */
export interface ModerationDeps {
  hubs: HubRepository;
  presence: PresenceStore;
  members: RoomMembers;
  /** This node's blocks. */
  blocks: RoomBlocks;
  /** How long a kick keeps the member out, in seconds (config KICK_BAN_SECONDS). */
  kickBanSeconds: number;
}

const validTarget = compile(Type.Object({ session_id: Type.String({ minLength: 1, maxLength: 64 }) }));

/**
 * The hub channel's moderation events (reference/reticulum.md §1.2), enforced
 * on the server across the cluster:
 * - `kick {session_id}` (kick_users): the target is banned from the room for
 *   `kickBanSeconds` (its session, and its account if signed in), gets a
 *   `kicked` push and every socket of it in the room is closed (4003), on
 *   whichever node it is;
 * - `mute {session_id}` (mute_users): the target alone gets `mute
 *   {session_id}`; its permissions lose voice_chat for the rest of its join
 *   (so its perms token does too);
 * - `block` / `unblock {session_id}` (anyone): the two sessions stop (resume)
 *   receiving each other's `naf`, `nafr` and `message` in this room; everyone
 *   else's delivery is untouched;
 * - `add_owner` / `remove_owner {session_id}` (update_roles, the creator):
 *   the signed-in target gains (loses) the owner role and gets `permissions_updated`.
 * The target must be present in the room (else `not_found`; `unblock` also
 * takes a blocked session that has left). Session ids are looked up as own
 * keys only (`__proto__`, `toString`... are never members). Replies `{}`.
 */
export function moderationHandlers(deps: ModerationDeps): HubEventHandlers {
  /** Validates the payload and finds the target in the room's presence; returns the target's id or an error reply. */
  async function target(member: HubMember, event: string, payload: unknown, permission: keyof HubPermissions | null): Promise<string | Reply> {
    if (!validTarget(payload)) return error(ErrorCodes.INVALID_PAYLOAD, `${event}: ${describeErrors(validTarget.errors)}; expected {session_id: "<a member's session_id>"}.`);
    if (permission && !member.permissions[permission]) {
      return error(ErrorCodes.PERMISSION_DENIED, permissionDeniedMessage(event, permission, 'room owners'), { permission });
    }
    const sessionId = payload.session_id;
    if (sessionId === member.sessionId) return error(ErrorCodes.INVALID_PAYLOAD, `${event}: you cannot ${event.replace('_', ' ')} yourself.`);
    const present = await deps.presence.list(member.ctx.topic);
    // Own keys only: a session_id "__proto__" or "toString" must not find Object.prototype's members.
    if (!Object.hasOwn(present, sessionId)) return error(ErrorCodes.HUB_NOT_FOUND, `${event}: no member with session_id ${JSON.stringify(sessionId.slice(0, 64))} is in this room.`);
    return sessionId;
  }

  return {
    kick: async (member, payload) => {
      const t = await target(member, 'kick', payload, 'kick_users');
      if (typeof t !== 'string') return t;
      const until = new Date(Date.now() + deps.kickBanSeconds * 1000);
      // Written before the target's sockets close, so its automatic rejoin is refused.
      await deps.hubs.ban(member.hub.id, { sessionId: t, until });
      await deps.members.toSession(t, { op: 'kick', topic: member.ctx.topic, by: member.sessionId, until: until.getTime() });
      return ok({ banned_until: until.toISOString() });
    },
    mute: async (member, payload) => {
      const t = await target(member, 'mute', payload, 'mute_users');
      if (typeof t !== 'string') return t;
      await deps.members.toSession(t, { op: 'mute', topic: member.ctx.topic, by: member.sessionId });
      return ok();
    },
    block: async (member, payload) => {
      const t = await target(member, 'block', payload, null);
      if (typeof t !== 'string') return t;
      deps.blocks.set(member.ctx.topic, member.ctx.session.connection, t, true);
      await deps.members.toSession(t, { op: 'blocked_by', topic: member.ctx.topic, by: member.sessionId, on: true });
      return ok();
    },
    unblock: async (member, payload) => {
      if (!validTarget(payload)) return error(ErrorCodes.INVALID_PAYLOAD, `unblock: ${describeErrors(validTarget.errors)}; expected {session_id}.`);
      const t = payload.session_id;
      // A blocked member may have left (and may come back with the same session): its block can still be lifted.
      if (!deps.blocks.has(member.ctx.topic, member.ctx.session.connection, t) && !Object.hasOwn(await deps.presence.list(member.ctx.topic), t)) {
        return error(ErrorCodes.HUB_NOT_FOUND, `unblock: you have not blocked session_id ${JSON.stringify(t.slice(0, 64))}, and no member with session_id ${JSON.stringify(t.slice(0, 64))} is in this room.`);
      }
      deps.blocks.set(member.ctx.topic, member.ctx.session.connection, t, false);
      await deps.members.toSession(t, { op: 'blocked_by', topic: member.ctx.topic, by: member.sessionId, on: false });
      return ok();
    },
    add_owner: (member, payload) => setOwner(member, payload, true),
    remove_owner: (member, payload) => setOwner(member, payload, false),
  };

  async function setOwner(member: HubMember, payload: unknown, owner: boolean): Promise<Reply> {
    const event = owner ? 'add_owner' : 'remove_owner';
    const t = await target(member, event, payload, 'update_roles');
    if (typeof t !== 'string') return t;
    const present = await deps.presence.list(member.ctx.topic);
    const signedIn = Object.hasOwn(present, t) && present[t]!.metas.some((m) => (m.roles as { signed_in?: boolean } | undefined)?.signed_in === true);
    if (!signedIn) return error(ErrorCodes.NOT_SIGNED_IN, `${event}: only signed-in members can be owners; ask them to sign in first.`);
    await deps.members.toSession(t, { op: 'set_owner', topic: member.ctx.topic, by: member.sessionId, owner });
    return ok();
  }
}
