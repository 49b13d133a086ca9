import type { AccountRef, AccountTokenVerifier, IdentifiedAccount } from '../../auth/account-ref.ts';
import { permissionsFor } from '../../auth/permissions.ts';
import type { HubPermissions, Roles } from '../../auth/permissions.ts';
import type { HubRepository } from '../../db/hub-repository.ts';
import type { HubRecord } from '../../db/hubs.ts';
import { ErrorCodes } from '../../errors.ts';
import { error } from '../../realtime/channel.ts';
import type { Reply } from '../../realtime/channel.ts';
import type { Admission as RoomAdmission, Refusal } from '../../rooms/admission.ts';
import { metaTooLarge } from './presence-meta.ts';
import { describeErrors, hubSchemas } from './schemas.ts';

/** What the door of a room needs. */
export interface JoinDeps {
  hubs: HubRepository;
  /** Who may come in (rooms/admission.ts). */
  admission: RoomAdmission;
  /** Verifies `auth_token` join params (signed-in members). */
  accounts: AccountTokenVerifier;
  /** Largest `profile` plus `context`, in bytes of JSON (config PRESENCE_META_MAX_BYTES). */
  presenceMetaMaxBytes: number;
}

/** Who was let in, as what. */
export interface Admission {
  hub: HubRecord;
  account: AccountRef | null;
  /** The room's unspent creator assignment token this session joined with (null when none, or not the room's). */
  creatorToken: string | null;
  roles: Roles;
  permissions: HubPermissions;
  profile: Record<string, unknown>;
  context: Record<string, unknown>;
}

/**
 * Roles from the database, plus creator (and owner) for a holder of the
 * room's unspent creator assignment token; the token is returned as null
 * once it is not (or no longer) the room's.
 */
export async function deriveRoles(hubs: HubRepository, hub: HubRecord, accountId: string | null, creatorToken: string | null): Promise<{ roles: Roles; creatorToken: string | null }> {
  const roles = await hubs.rolesOf(hub, accountId);
  if (creatorToken !== null && !roles.creator) {
    if (await hubs.isCreatorAssignmentToken(hub.id, creatorToken)) return { roles: { ...roles, creator: true, owner: true }, creatorToken };
    return { roles, creatorToken: null };
  }
  return { roles, creatorToken };
}

/** A refusal of rooms/admission.ts as the error reply the channel sends. */
export function refusalReply(refusal: Refusal): Reply {
  return error(refusal.reason, refusal.message, refusal.details);
}

/** The account of the `auth_token` join param, null without one; an error reply for a bad token or an anonymous join the server refuses. */
async function joiningAccount(deps: JoinDeps, authToken: string | null | undefined): Promise<IdentifiedAccount | null | Reply> {
  let identified: IdentifiedAccount | null = null;
  if (authToken) {
    identified = await deps.accounts.identify(authToken);
    if (!identified) return error(ErrorCodes.SIGN_IN_FAILED, 'Sign in failed: the auth_token is invalid, expired or revoked. Sign in again, or join without it.');
  }
  // Reticulum's join_with_hub: with features|require_account_for_join, anonymous members are denied.
  const required = await deps.admission.accountRequired(identified);
  return required ? refusalReply(required) : identified;
}

/**
 * The door of `hub:<hubSid>` (Reticulum's join, reference/reticulum.md §1.2):
 * join params `{profile, context, auth_token?, creator_assignment_token?,
 * hub_invite_id?, ...}`; refusals `invalid_payload`, `not_found`, `closed`,
 * `sign_in_failed`, `join_denied` (accounts required, a disabled or banned
 * account or session, an invite-only room without a valid invite).
 * @returns who is let in, or the error reply (nothing changed)
 */
export async function admit(deps: JoinDeps, hubSid: string, sessionId: string, params: unknown): Promise<Admission | Reply> {
  const valid = hubSchemas.joinParams;
  if (!valid(params)) {
    return error(ErrorCodes.INVALID_PAYLOAD, `Join params invalid: ${describeErrors(valid.errors)}. Send {profile: {...}, context: {...}}.`);
  }
  const tooLarge = metaTooLarge(params.profile, params.context, deps.presenceMetaMaxBytes);
  if (tooLarge) return tooLarge;
  const open = await deps.admission.openRoom(hubSid);
  if ('refusal' in open) return refusalReply(open.refusal);
  const { hub } = open;
  const identified = await joiningAccount(deps, params.auth_token);
  if (identified && 'status' in identified) return identified;
  const refused = await deps.admission.memberRefusal(hub, sessionId, identified);
  if (refused) return refusalReply(refused);
  const account = identified ? { accountId: identified.accountId, isAdmin: identified.isAdmin } : null;
  // A token that is not (or no longer) the room's is ignored, as Reticulum ignores the param:
  // a page that kept the token after its account claimed the room must still get in.
  const derived = await deriveRoles(deps.hubs, hub, account?.accountId ?? null, params.creator_assignment_token || null);
  const permissions = permissionsFor(hub.memberPermissions, derived.roles);
  const uninvited = await deps.admission.inviteRefusal(hub, permissions.update_hub, params.hub_invite_id);
  if (uninvited) return refusalReply(uninvited);
  return { hub, account, creatorToken: derived.creatorToken, roles: derived.roles, permissions, profile: params.profile, context: params.context };
}
