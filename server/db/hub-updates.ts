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
 * The `hubs` columns `changes` writes (with the slug when the name changes)
 * and the `stale_fields` of `hub_refresh`: names of the fields that were given.
 */
export function hubChangeRow(changes: HubChanges): { row: Record<string, unknown>; stale: string[] } {
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
  return { row, stale };
}
