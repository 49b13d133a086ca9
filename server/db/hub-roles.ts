import type { Knex } from 'knex';
import type { Roles } from '../auth/permissions.ts';
import type { HubRecord } from './hubs.ts';

/**
 * Room roles stored in the database (Reticulum `hub_role_memberships` and
 * `hubs.created_by_account_id`, reference/reticulum.md §3.1).
 */

/** True when the account has an owner row for the room (the creator is an owner without one). */
export async function hasOwnerRow(db: Knex, hubId: string, accountId: string): Promise<boolean> {
  const row = await db('hub_role_memberships').where({ hub_id: hubId, account_id: accountId }).first('hub_role_membership_id');
  return row !== undefined;
}

/**
 * Makes the account an owner of the room; nothing happens when it already is
 * one, and no row is written for the room's creator (an owner without one, as
 * Reticulum's Hub.add_owner!), so the creator's rights never hang on a row.
 * @deprecated for channels/hub until the rooms pass; elsewhere use HubRepository (hub-repository.ts).
 */
export async function addOwner(db: Knex, hubId: string, accountId: string): Promise<void> {
  const creator = (await db('hubs').where({ hub_id: hubId, created_by_account_id: accountId }).first('hub_id')) !== undefined;
  if (creator) return;
  await db('hub_role_memberships').insert({ hub_id: hubId, account_id: accountId }).onConflict(['hub_id', 'account_id']).ignore();
}

/**
 * Removes the account's owner row; returns true when there was one.
 * @deprecated for channels/hub until the rooms pass; elsewhere use HubRepository (hub-repository.ts).
 */
export async function removeOwner(db: Knex, hubId: string, accountId: string): Promise<boolean> {
  return (await db('hub_role_memberships').where({ hub_id: hubId, account_id: accountId }).delete()) > 0;
}

/**
 * The roles of a member: `creator` when the account created (or claimed) the
 * room, `owner` when creator or owner row, `signed_in` when there is an account.
 * @deprecated for channels/hub until the rooms pass; elsewhere use HubRepository (hub-repository.ts).
 */
export async function rolesOf(db: Knex, hub: HubRecord, accountId: string | null): Promise<Roles> {
  if (accountId === null) return { owner: false, creator: false, signed_in: false };
  const creator = hub.createdByAccountId === accountId;
  const owner = creator || (await hasOwnerRow(db, hub.id, accountId));
  return { owner, creator, signed_in: true };
}
