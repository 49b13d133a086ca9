import { createHash, randomBytes, randomInt } from 'node:crypto';
import type { Knex } from 'knex';
import { RESTRICTIVE_MEMBER_PERMISSIONS } from '../auth/permissions.ts';

/** How members may enter a room (Reticulum `entry_mode`). */
export type EntryMode = 'allow' | 'invite' | 'deny';

/** A room as stored in the `hubs` table. */
export interface HubRecord {
  /** Internal numeric id (bigint, as a string). */
  id: string;
  /** Public room id: 7 characters of `[A-Za-z0-9]`, used in URLs and topics (`hub:<hub_sid>`). */
  hubSid: string;
  name: string;
  slug: string;
  entryMode: EntryMode;
  /** Reticulum's 8 permission bits (0..255). */
  memberPermissions: number;
  /** Most members in the room at once; null means the server default. */
  roomSize: number | null;
  /** Account that created the room (or claimed it with the creator assignment token); null when nobody has. */
  createdByAccountId: string | null;
  description: string | null;
  /** Listed publicly (room search) when true. */
  allowPromotion: boolean;
  /** Free JSON the room's owners attach (Reticulum `user_data`). */
  userData: Record<string, unknown> | null;
  /** URL of the scene (glTF bundle) the room shows; null = the client's default. */
  sceneUrl: string | null;
  /** Lets a page embed the room (`/<hub_sid>/<slug>?embed_token=...`); shown to owners only (Reticulum `embed_token`). */
  embedToken: string | null;
  insertedAt: Date;
  updatedAt: Date;
}

/** A row of the `hubs` table. */
export interface HubRow {
  hub_id: string | number;
  hub_sid: string;
  name: string;
  slug: string;
  entry_mode: EntryMode;
  member_permissions: number;
  room_size: number | null;
  created_by_account_id: string | number | null;
  description: string | null;
  allow_promotion: boolean;
  user_data: Record<string, unknown> | null;
  scene_url: string | null;
  embed_token?: string | null;
  inserted_at: Date;
  updated_at: Date;
}

const SID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** Length of a hub_sid. */
export const HUB_SID_LENGTH = 7;
/** A valid hub_sid. */
export const HUB_SID_PATTERN = /^[A-Za-z0-9]{7}$/;

/** A random hub_sid (62^7 ≈ 3.5e12 values). */
export function generateHubSid(): string {
  let sid = '';
  for (let i = 0; i < HUB_SID_LENGTH; i++) sid += SID_ALPHABET[randomInt(SID_ALPHABET.length)];
  return sid;
}

/** The URL slug of a room name: lower-case words joined by `-`, at most 64 characters; `room` when nothing is left. */
export function slugify(name: string): string {
  const slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64)
    .replace(/-+$/g, '');
  return slug || 'room';
}

/** SHA-256 hex of a token, as stored. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** A `hubs` row (snake_case, as selected with `*`) as a {@link HubRecord}. */
export function hubFromRow(row: HubRow): HubRecord {
  return {
    id: String(row.hub_id),
    hubSid: row.hub_sid,
    name: row.name,
    slug: row.slug,
    entryMode: row.entry_mode,
    memberPermissions: row.member_permissions,
    roomSize: row.room_size,
    createdByAccountId: row.created_by_account_id === null || row.created_by_account_id === undefined ? null : String(row.created_by_account_id),
    description: row.description ?? null,
    allowPromotion: row.allow_promotion ?? false,
    userData: row.user_data ?? null,
    sceneUrl: row.scene_url ?? null,
    embedToken: row.embed_token ?? null,
    insertedAt: new Date(row.inserted_at),
    updatedAt: new Date(row.updated_at),
  };
}

/** Fields of a new room. */
export interface NewHub {
  name: string;
  roomSize?: number | null;
  /** Default {@link RESTRICTIVE_MEMBER_PERMISSIONS} (voice and text chat), Reticulum's default for new rooms. */
  memberPermissions?: number;
  description?: string | null;
  userData?: Record<string, unknown> | null;
  /** The signed-in account creating the room: it is the creator, and no creator assignment token is made. */
  createdByAccountId?: string | null;
}

/**
 * Creates a room with a fresh hub_sid and embed token, and, when no account
 * creates it, a creator assignment token (Reticulum's `Hub.changeset` and
 * `add_account_to_changeset`: a room made by an account has none).
 * @returns the stored room and the token (shown once; only its hash is kept), or null with `createdByAccountId`
 * @throws the driver's error when the insert fails for a reason other than a sid collision
 */
export async function createHub(db: Knex, hub: NewHub): Promise<{ hub: HubRecord; creatorAssignmentToken: string | null }> {
  const creatorAssignmentToken = hub.createdByAccountId ? null : randomBytes(16).toString('hex');
  for (let attempt = 0; ; attempt++) {
    try {
      const [row] = await db<HubRow>('hubs')
        .insert({
          hub_sid: generateHubSid(),
          name: hub.name,
          slug: slugify(hub.name),
          room_size: hub.roomSize ?? null,
          member_permissions: hub.memberPermissions ?? RESTRICTIVE_MEMBER_PERMISSIONS,
          description: hub.description ?? null,
          user_data: hub.userData == null ? null : (JSON.stringify(hub.userData) as never),
          created_by_account_id: hub.createdByAccountId ?? null,
          creator_assignment_token_hash: creatorAssignmentToken === null ? null : hashToken(creatorAssignmentToken),
          embed_token: randomBytes(16).toString('hex'),
        } as Partial<HubRow>)
        .returning('*');
      return { hub: hubFromRow(row as HubRow), creatorAssignmentToken };
    } catch (err) {
      const isSidCollision = (err as { code?: string; constraint?: string }).code === '23505' && attempt < 5;
      if (!isSidCollision) throw err;
    }
  }
}

/**
 * Public rooms (`allow_promotion` and entry mode `allow`) matching `q` by
 * PostgreSQL full-text search over name and description (the `search`
 * column, 'simple' configuration), best match first, newest first on ties;
 * all public rooms, newest first, when `q` is empty.
 * @param offset rows to skip; @param limit rows to return
 */
export async function searchPublicHubs(db: Knex, q: string, offset: number, limit: number): Promise<HubRecord[]> {
  const query = db<HubRow>('hubs').where({ allow_promotion: true, entry_mode: 'allow' });
  const text = q.trim();
  if (text) {
    query.whereRaw(`search @@ plainto_tsquery('simple', ?)`, [text]).orderByRaw(`ts_rank(search, plainto_tsquery('simple', ?)) DESC`, [text]);
  }
  const rows = await query.orderBy('hub_id', 'desc').offset(offset).limit(limit).select('*');
  return (rows as HubRow[]).map(hubFromRow);
}
