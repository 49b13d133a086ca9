import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type { EntryMode } from './hubs.ts';
import { slugify } from './hubs.ts';

/** Changes to a room that owners may make (`update_hub`, `update_scene`, `close_hub`, `PATCH /api/v1/hubs/:hub_sid`). */
export interface HubChanges {
  name?: string;
  description?: string | null;
  /** Reticulum's 8 permission bits (0..255). */
  memberPermissions?: number;
  roomSize?: number | null;
  allowPromotion?: boolean;
  entryMode?: EntryMode;
  userData?: Record<string, unknown> | null;
  sceneUrl?: string | null;
}

/** Reticulum's `stale_fields` name of each change. */
const STALE_NAME: Record<keyof HubChanges, string> = {
  name: 'name',
  description: 'description',
  memberPermissions: 'member_permissions',
  roomSize: 'room_size',
  allowPromotion: 'allow_promotion',
  entryMode: 'entry_mode',
  userData: 'user_data',
  sceneUrl: 'scene',
};

/**
 * Writes `changes` to the room's row (and its slug when the name changes).
 * @returns the `stale_fields` of `hub_refresh`: names of the fields that were given
 * @deprecated for channels/hub until the rooms pass; elsewhere use HubRepository (hub-repository.ts).
 */
export async function updateHub(db: Knex, hubId: string, changes: HubChanges): Promise<string[]> {
  const row: Record<string, unknown> = {};
  if (changes.name !== undefined) {
    row.name = changes.name;
    row.slug = slugify(changes.name);
  }
  if (changes.description !== undefined) row.description = changes.description;
  if (changes.memberPermissions !== undefined) row.member_permissions = changes.memberPermissions;
  if (changes.roomSize !== undefined) row.room_size = changes.roomSize;
  if (changes.allowPromotion !== undefined) row.allow_promotion = changes.allowPromotion;
  if (changes.entryMode !== undefined) row.entry_mode = changes.entryMode;
  if (changes.userData !== undefined) row.user_data = changes.userData === null ? null : JSON.stringify(changes.userData);
  if (changes.sceneUrl !== undefined) row.scene_url = changes.sceneUrl;
  const stale = (Object.keys(changes) as Array<keyof HubChanges>).filter((k) => changes[k] !== undefined).map((k) => STALE_NAME[k]);
  if (stale.length === 0) return [];
  row.updated_at = new Date();
  await db('hubs').where({ hub_id: hubId }).update(row);
  return stale;
}

/**
 * The room's active invite id (`hub_invite_id`), creating one when there is none.
 * @deprecated for channels/hub until the rooms pass; elsewhere use HubRepository (hub-repository.ts).
 */
export async function activeInvite(db: Knex, hubId: string): Promise<string> {
  const row = (await db('hub_invites').where({ hub_id: hubId, state: 'active' }).first('hub_invite_sid')) as { hub_invite_sid: string } | undefined;
  if (row) return row.hub_invite_sid;
  const sid = randomBytes(6).toString('base64url');
  await db('hub_invites').insert({ hub_id: hubId, hub_invite_sid: sid, state: 'active' });
  return sid;
}

/**
 * Revokes the room's active invite `inviteSid` and returns a fresh active one;
 * there is one active invite per room, as in Reticulum.
 * @returns null (and nothing changes) when `inviteSid` is not this room's active
 *   invite: another room's, an unknown one, or one already revoked
 * @deprecated for channels/hub until the rooms pass; elsewhere use HubRepository (hub-repository.ts).
 */
export async function revokeInvite(db: Knex, hubId: string, inviteSid: string): Promise<string | null> {
  const n = await db('hub_invites').where({ hub_id: hubId, hub_invite_sid: inviteSid, state: 'active' }).update({ state: 'revoked', updated_at: new Date() });
  if (n === 0) return null;
  await db('hub_invites').where({ hub_id: hubId, state: 'active' }).update({ state: 'revoked', updated_at: new Date() });
  return activeInvite(db, hubId);
}

/**
 * True when `inviteSid` is the room's active invite.
 * @deprecated for channels/hub until the rooms pass; elsewhere use HubRepository (hub-repository.ts).
 */
export async function isActiveInvite(db: Knex, hubId: string, inviteSid: string): Promise<boolean> {
  return (await db('hub_invites').where({ hub_id: hubId, hub_invite_sid: inviteSid, state: 'active' }).first('hub_invite_id')) !== undefined;
}
