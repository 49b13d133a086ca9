import type { PermsTokens } from '../../auth/perms-token.ts';
import type { HubRepository } from '../../db/hub-repository.ts';
import type { Admission } from '../../rooms/admission.ts';
import { ErrorCodes } from '../../errors.ts';
import { error, ok } from '../../realtime/channel.ts';
import { refusalReply } from './join.ts';
import type { AccountTokenVerifier, HubEventHandlers } from './hub-member.ts';
import { describeErrors, hubSchemas } from './schemas.ts';
import { compile, nullable } from '../../validation/validator.ts';
import { Type } from '@sinclair/typebox';

const validSignIn = compile(Type.Object({ token: Type.String({ minLength: 1, maxLength: 4096 }), creator_assignment_token: Type.Optional(nullable(Type.String({ maxLength: 128 }))) }));
import { AppConfigKeys } from '../../app-config.ts';

/** How long after `sign_out` a member is let go when accounts are required to join, ms (Reticulum: 5 s). */
export const SIGN_OUT_CLOSE_MS = 5000;

/**
 * Signing in and out inside a room, and perms tokens (reference/reticulum.md
 * §1.2 sign_in, sign_out, refresh_perms_token; §3.3):
 * - `sign_in {token, creator_assignment_token?}`: the account token makes the
 *   member signed in (roles and permissions follow, as one presence update).
 *   The account must be one the room would let in at the door
 *   ({@link Admission.memberRefusal}: a disabled or banned account gets `join_denied`,
 *   `banned_until` for a ban) and a bad token gets `sign_in_failed`; either way nothing changes.
 *   With the room's unspent creator assignment token, the account becomes the
 *   room's creator and the token is spent ({@link HubRepository.claimCreatorAssignment}):
 *   every member on every node re-derives its roles, so a session that joined
 *   with the token as its join param is creator no more (it gets
 *   `permissions_updated`). A token that is wrong or spent is ignored, as in
 *   Reticulum (the Hubs client sends the token it keeps at every sign-in).
 *   Reply `{perms_token}`.
 * - `sign_out`: back to anonymous (`{}`). With `features.require_account_for_join`
 *   the room channel is closed ({@link SIGN_OUT_CLOSE_MS} later, `phx_close`)
 *   unless the member signed in again meanwhile, as Reticulum does.
 * - `refresh_perms_token`: reply `{perms_token}` (5 minutes, RS512).
 */
export function signInHandlers(deps: { hubs: HubRepository; admission: Admission; accountTokens: AccountTokenVerifier; permsTokens: PermsTokens; appConfig: { flag(key: string): Promise<boolean> } }): HubEventHandlers {
  const validEmpty = hubSchemas.empty;
  return {
    sign_in: async (member, payload) => {
      if (!validSignIn(payload)) return error(ErrorCodes.INVALID_PAYLOAD, `sign_in: ${describeErrors(validSignIn.errors)}; send {token, creator_assignment_token?}.`);
      const p = payload;
      const identified = await deps.accountTokens.identify(p.token);
      if (!identified) return error(ErrorCodes.SIGN_IN_FAILED, 'Sign in failed: the token is invalid, expired or revoked. Sign in again.');
      const refused = await deps.admission.memberRefusal(member.hub, member.sessionId, identified);
      if (refused) return refusalReply(refused);
      const account = { accountId: identified.accountId, isAdmin: identified.isAdmin };
      const claimed = !!p.creator_assignment_token && (await deps.hubs.claimCreatorAssignment(member.hub.id, p.creator_assignment_token, account.accountId));
      if (claimed) await member.reloadHub();
      await member.setAccount(account);
      if (claimed) await member.roomChanged();
      return ok({ perms_token: await deps.permsTokens.issueFor(member) });
    },
    sign_out: async (member, payload) => {
      if (!validEmpty(payload)) return error(ErrorCodes.INVALID_PAYLOAD, 'sign_out takes no payload ({}).');
      await member.setAccount(null);
      if (await deps.appConfig.flag(AppConfigKeys.REQUIRE_ACCOUNT_FOR_JOIN)) {
        setTimeout(() => {
          if (!member.account) member.ctx.close();
        }, SIGN_OUT_CLOSE_MS).unref();
      }
      return ok();
    },
    refresh_perms_token: async (member, payload) => {
      if (!validEmpty(payload)) return error(ErrorCodes.INVALID_PAYLOAD, 'refresh_perms_token takes no payload ({}).');
      return ok({ perms_token: await deps.permsTokens.issueFor(member) });
    },
  };
}
