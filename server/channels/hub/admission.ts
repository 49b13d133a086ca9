import type { Knex } from 'knex';
import { bannedUntil } from '../../db/hub-bans.ts';
import type { HubRecord } from '../../db/hubs.ts';
import { ErrorCodes } from '../../errors.ts';
import { error } from '../../realtime/channel.ts';
import type { Reply } from '../../realtime/channel.ts';
import type { IdentifiedAccount } from './hub-member.ts';

/**
 * Whether this session, as this account (or anonymous), may be in the room:
 * the one check the join and `sign_in` both run, so that signing in inside
 * the room can never let in someone the door would refuse.
 * - a disabled account → `join_denied` (Reticulum: `can?(join_hub)` is false
 *   for a disabled account, reference/reticulum.md §1.2 join step 3, §3.1);
 * - a ban in force (a kick, server/db/hub-bans.ts) of the session or of the
 *   account → `join_denied {banned_until}` (ISO 8601).
 * The invite of an invite-only room is not checked here: it is the door's
 * check of the join (a member who is in may sign in, out, or as someone else,
 * as in Reticulum).
 * @returns null when admitted, else the error reply to send (nothing changed)
 */
export async function admissionRefusal(db: Knex, hub: HubRecord, sessionId: string, account: IdentifiedAccount | null): Promise<Reply | null> {
  if (account?.disabled) {
    return error(ErrorCodes.JOIN_DENIED, 'Join denied: this account is disabled. Ask the server\'s admin, or come in without signing in.');
  }
  const until = await bannedUntil(db, hub.id, sessionId, account?.accountId ?? null);
  if (until) {
    return error(ErrorCodes.JOIN_DENIED, `Join denied: you were removed from this room by a moderator and may come back after ${until.toISOString()}.`, {
      banned_until: until.toISOString(),
    });
  }
  return null;
}
