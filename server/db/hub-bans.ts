import type { Knex } from 'knex';

/**
 * Kicks keep the kicked member out of a room for a while (Plexus; Reticulum's
 * kick has no ban, reference/reticulum.md §1.2 "kick"). A ban names a session,
 * an account, or both.
 */

/**
 * Bans `sessionId` (and `accountId` when given) from the room until `until`.
 * @deprecated for channels/hub until the rooms pass; elsewhere use HubRepository (hub-repository.ts).
 */
export async function banFromHub(db: Knex, hubId: string, ban: { sessionId?: string | null; accountId?: string | null; until: Date }): Promise<void> {
  await db('hub_bans').insert({ hub_id: hubId, session_id: ban.sessionId ?? null, account_id: ban.accountId ?? null, expires_at: ban.until });
}

/**
 * When the latest ban of this session or account in the room ends, or null when none is in force.
 * @deprecated for channels/hub until the rooms pass; elsewhere use HubRepository (hub-repository.ts).
 */
export async function bannedUntil(db: Knex, hubId: string, sessionId: string, accountId: string | null): Promise<Date | null> {
  const row = (await db('hub_bans')
    .where({ hub_id: hubId })
    .andWhere('expires_at', '>', new Date())
    .andWhere((q) => {
      q.where({ session_id: sessionId });
      if (accountId !== null) q.orWhere({ account_id: accountId });
    })
    .max('expires_at as until')
    .first()) as { until: Date | string | null } | undefined;
  return row?.until ? new Date(row.until) : null;
}
