/**
 * Reticulum's member permission bit flags (`hubs.member_permissions`),
 * reference/reticulum.md §3.2, and the per-member permission map published in
 * presence metas (§2, §3.1).
 */
export const MEMBER_PERMISSION_BITS = {
  spawn_and_move_media: 1,
  spawn_camera: 2,
  spawn_drawing: 4,
  pin_objects: 8,
  spawn_emoji: 16,
  fly: 32,
  voice_chat: 64,
  text_chat: 128,
} as const;

/** Name of one member permission flag. */
export type MemberPermission = keyof typeof MEMBER_PERMISSION_BITS;

/** `{spawn_and_move_media: bool, ...}` for the 8 flags. */
export type MemberPermissions = Record<MemberPermission, boolean>;

/** All eight flags set: Reticulum's column default, and new rooms' member permissions with `features.permissive_rooms`. */
export const ALL_MEMBER_PERMISSIONS = 255;

/** Voice and text chat only (64 + 128): Reticulum's member permissions of a new room (`@default_restrictive_member_permissions`). */
export const RESTRICTIVE_MEMBER_PERMISSIONS = 192;

/** Decodes the bit field into the named map. */
export function memberPermissionsFromBits(bits: number): MemberPermissions {
  const out = {} as MemberPermissions;
  for (const [name, bit] of Object.entries(MEMBER_PERMISSION_BITS)) out[name as MemberPermission] = (bits & bit) !== 0;
  return out;
}

/** Encodes the named map into the bit field; missing names count as false. */
export function bitsFromMemberPermissions(perms: Partial<MemberPermissions>): number {
  let bits = 0;
  for (const [name, bit] of Object.entries(MEMBER_PERMISSION_BITS)) if (perms[name as MemberPermission]) bits |= bit;
  return bits;
}

/** Roles of a member in a room, as presence metas carry them. */
export interface Roles {
  owner: boolean;
  creator: boolean;
  signed_in: boolean;
}

/** The full permission map of a member (the perms-token claim names). */
export interface HubPermissions extends MemberPermissions {
  join_hub: boolean;
  update_hub: boolean;
  update_hub_promotion: boolean;
  update_roles: boolean;
  close_hub: boolean;
  embed_hub: boolean;
  kick_users: boolean;
  mute_users: boolean;
  amplify_audio: boolean;
}

/**
 * A member's permissions from the room's member permissions and the member's
 * roles: owners may do everything but `update_roles` (creator only) and
 * `update_hub_promotion` (admins); others get the member flags.
 */
export function permissionsFor(memberPermissionBits: number, roles: Roles): HubPermissions {
  const member = memberPermissionsFromBits(memberPermissionBits);
  const owner = roles.owner || roles.creator;
  const objects: MemberPermissions = owner ? memberPermissionsFromBits(ALL_MEMBER_PERMISSIONS) : member;
  return {
    join_hub: true,
    update_hub: owner,
    update_hub_promotion: false,
    update_roles: roles.creator,
    close_hub: owner,
    embed_hub: owner,
    kick_users: owner,
    mute_users: owner,
    amplify_audio: owner,
    ...objects,
  };
}

/**
 * Which permission spawning a NAF template needs, by its suffix
 * (Reticulum `spawn_permitted?`, reference/reticulum.md §1.2): `-avatar` is
 * always allowed (`null`), unknown suffixes are never allowed (`undefined`).
 */
export function spawnPermissionFor(template: string): MemberPermission | null | undefined {
  if (template.endsWith('-avatar')) return null;
  if (template.endsWith('-media')) return 'spawn_and_move_media';
  if (template.endsWith('-camera')) return 'spawn_camera';
  if (template.endsWith('-drawing') || template.endsWith('-pen')) return 'spawn_drawing';
  if (template.endsWith('-emoji')) return 'spawn_emoji';
  return undefined;
}
