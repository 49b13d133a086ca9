import type { Knex } from 'knex';
import { AppConfigKeys } from '../../app-config.ts';
import { permissionsFor } from '../../auth/permissions.ts';
import type { HubPermissions, Roles } from '../../auth/permissions.ts';
import { rolesOf } from '../../db/hub-roles.ts';
import { isActiveInvite } from '../../db/hub-updates.ts';
import { findHubBySid, isCreatorAssignmentToken } from '../../db/hubs.ts';
import type { HubRecord } from '../../db/hubs.ts';
import { ErrorCodes } from '../../errors.ts';
import { error } from '../../realtime/channel.ts';
import type { Reply } from '../../realtime/channel.ts';
import { admissionRefusal } from './admission.ts';
import type { AccountRef, AccountTokenVerifier, IdentifiedAccount } from './hub-member.ts';
import { metaTooLarge } from './presence-meta.ts';
import { describeErrors, hubSchemas } from './schemas.ts';

/** What the door of a room needs. */
export interface JoinDeps {
  db: Knex;
  /** Verifies `auth_token` join params (signed-in members). */
  accounts: AccountTokenVerifier;
  /** Runtime switches (`features|require_account_for_join`). */
  appConfig: { flag(key: string): Promise<boolean> };
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
export async function deriveRoles(db: Knex, hub: HubRecord, accountId: string | null, creatorToken: string | null): Promise<{ roles: Roles; creatorToken: string | null }> {
  const roles = await rolesOf(db, hub, accountId);
  if (creatorToken !== null && !roles.creator) {
    if (await isCreatorAssignmentToken(db, hub.id, creatorToken)) return { roles: { ...roles, creator: true, owner: true }, creatorToken };
    return { roles, creatorToken: null };
  }
  return { roles, creatorToken };
}

/** The account of the `auth_token` join param, null without one; an error reply for a bad token or an anonymous join the server refuses. */
async function joiningAccount(deps: JoinDeps, authToken: string | null | undefined): Promise<IdentifiedAccount | null | Reply> {
  let identified: IdentifiedAccount | null = null;
  if (authToken) {
    identified = await deps.accounts.identify(authToken);
    if (!identified) return error(ErrorCodes.SIGN_IN_FAILED, 'Sign in failed: the auth_token is invalid, expired or revoked. Sign in again, or join without it.');
  }
  // Reticulum's join_with_hub: with features|require_account_for_join, anonymous members are denied.
  if (!identified && (await deps.appConfig.flag(AppConfigKeys.REQUIRE_ACCOUNT_FOR_JOIN))) {
    return error(ErrorCodes.JOIN_DENIED, 'Join denied: this server requires an account to join rooms; sign in and join with your auth_token.');
  }
  return identified;
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
  const hub = await findHubBySid(deps.db, hubSid);
  if (!hub) return error(ErrorCodes.HUB_NOT_FOUND, 'No such Hub: this room does not exist. Check the link, or create a new room from the lobby.');
  if (hub.entryMode === 'deny') return error(ErrorCodes.HUB_CLOSED, 'Hub no longer accessible: the room was closed by its owner.');
  const identified = await joiningAccount(deps, params.auth_token);
  if (identified && 'status' in identified) return identified;
  const refused = await admissionRefusal(deps.db, hub, sessionId, identified);
  if (refused) return refused;
  const account = identified ? { accountId: identified.accountId, isAdmin: identified.isAdmin } : null;
  // A token that is not (or no longer) the room's is ignored, as Reticulum ignores the param:
  // a page that kept the token after its account claimed the room must still get in.
  const derived = await deriveRoles(deps.db, hub, account?.accountId ?? null, params.creator_assignment_token || null);
  const permissions = permissionsFor(hub.memberPermissions, derived.roles);
  if (hub.entryMode === 'invite' && !permissions.update_hub) {
    const invite = params.hub_invite_id;
    const active = invite ? await isActiveInvite(deps.db, hub.id, invite) : false;
    if (!active) return error(ErrorCodes.JOIN_DENIED, 'Join denied: this room is invite-only. Ask an owner for an invite link (it carries hub_invite_id).');
  }
  return { hub, account, creatorToken: derived.creatorToken, roles: derived.roles, permissions, profile: params.profile, context: params.context };
}
