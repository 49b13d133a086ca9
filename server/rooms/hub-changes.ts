import { MEMBER_PERMISSION_BITS } from '../auth/permissions.ts';
import type { MemberPermissions } from '../auth/permissions.ts';
import type { HubChanges } from '../db/hub-updates.ts';
import { jsonBounds, MAX_FIELD_DEPTH } from '../validation/validator.ts';

/**
 * The changes owners may make to a room: `update_hub` on the hub channel and
 * `PATCH /api/v1/hubs/:hub_sid` take the same fields (reference/reticulum.md §1.2, §9).
 */

/** `member_permissions` as Reticulum takes it: `{flag: true|false}` for any of the 8 flags, nothing else. */
export const memberPermissionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: Object.fromEntries(Object.keys(MEMBER_PERMISSION_BITS).map((k) => [k, { type: 'boolean' }])),
} as const;

/** Largest `user_data` of a room, in bytes (PATCH and update_hub) or characters (POST) of its JSON. */
export const MAX_USER_DATA_BYTES = 16 * 1024;

/**
 * The JSON schema of the fields of `update_hub` and of PATCH's `hub`
 * (compile with validation/validator.ts: `user_data` is bounded by `jsonBounds`).
 * @param maxRoomSize largest `room_size` (config MAX_ROOM_SIZE)
 */
export function hubChangesSchema(maxRoomSize: number): object {
  return {
    type: 'object',
    additionalProperties: false,
    properties: {
      name: { type: 'string', minLength: 1, maxLength: 64, pattern: '\\S' },
      description: { type: ['string', 'null'], maxLength: 64000 },
      member_permissions: memberPermissionsSchema,
      room_size: { type: ['integer', 'null'], minimum: 0, maximum: maxRoomSize },
      allow_promotion: { type: 'boolean' },
      entry_mode: { enum: ['allow', 'invite'] },
      user_data: { type: ['object', 'null'], ...jsonBounds({ maxDepth: MAX_FIELD_DEPTH, maxBytes: MAX_USER_DATA_BYTES }) },
    },
  };
}

/**
 * Turns validated change fields into {@link HubChanges}. Absent
 * member_permissions flags keep their current value (`currentBits`).
 * @throws Error when user_data is over 16 KiB of JSON
 */
export function toHubChanges(p: Record<string, unknown>, currentBits: number): HubChanges {
  const changes: HubChanges = {};
  if (typeof p.name === 'string') changes.name = p.name.trim();
  if (p.description !== undefined) changes.description = p.description as string | null;
  if (p.member_permissions !== undefined) changes.memberPermissions = applyPermissionFlags(currentBits, p.member_permissions as Partial<MemberPermissions>);
  if (p.room_size !== undefined) changes.roomSize = p.room_size as number | null;
  if (p.allow_promotion !== undefined) changes.allowPromotion = p.allow_promotion as boolean;
  if (p.entry_mode !== undefined) changes.entryMode = p.entry_mode as 'allow' | 'invite';
  if (p.user_data !== undefined) {
    if (p.user_data !== null && JSON.stringify(p.user_data).length > MAX_USER_DATA_BYTES) throw new Error('user_data is over 16 KiB of JSON');
    changes.userData = p.user_data as Record<string, unknown> | null;
  }
  return changes;
}

/** `bits` with each flag given as true set and each given as false cleared. */
function applyPermissionFlags(bits: number, given: Partial<MemberPermissions>): number {
  let out = bits;
  for (const [name, bit] of Object.entries(MEMBER_PERMISSION_BITS)) {
    const v = given[name as keyof MemberPermissions];
    if (v === true) out |= bit;
    if (v === false) out &= ~bit;
  }
  return out;
}
