import { memberPermissionsFromBits } from '../auth/permissions.ts';
import type { HubRecord } from '../db/hubs.ts';
import type { PresenceEntries } from '../protocol/presence-diff.ts';

/** Counts of people in a room, from presence. */
export interface HubCounts {
  /** Sessions whose presence is `room`. */
  memberCount: number;
  /** Sessions whose presence is `lobby`. */
  lobbyCount: number;
}

/** Counts `room` and `lobby` members in a presence list (latest meta of each key), Reticulum's member_count/lobby_count. */
export function countPresence(entries: PresenceEntries): HubCounts {
  let memberCount = 0;
  let lobbyCount = 0;
  for (const { metas } of Object.values(entries)) {
    const meta = metas[metas.length - 1];
    if (!meta) continue;
    if (meta.presence === 'room') memberCount++;
    else lobbyCount++;
  }
  return { memberCount, lobbyCount };
}

/**
 * The public JSON of a room, shaped like Reticulum's `HubView "show.json"`
 * (reference/reticulum.md §1.2 join reply): `hub_id` is the hub_sid.
 * @param defaultRoomSize used when the room has no `room_size` of its own
 * @param embeddable the reader may embed the room (`embed_hub`, owners): the
 *   view carries the room's `embed_token`, else null (as Reticulum's view)
 */
export function hubView(hub: HubRecord, counts: HubCounts, defaultRoomSize: number, url: string | null = null, embeddable = false): Record<string, unknown> {
  return {
    hub_id: hub.hubSid,
    name: hub.name,
    slug: hub.slug,
    description: hub.description,
    user_data: hub.userData,
    allow_promotion: hub.allowPromotion,
    entry_code: 0,
    entry_mode: hub.entryMode,
    host: null,
    port: null,
    turn: { enabled: false },
    scene: hub.sceneUrl ? { url: hub.sceneUrl } : null,
    embed_token: embeddable ? hub.embedToken : null,
    member_permissions: memberPermissionsFromBits(hub.memberPermissions),
    room_size: hub.roomSize ?? defaultRoomSize,
    member_count: counts.memberCount,
    lobby_count: counts.lobbyCount,
    url,
    inserted_at: hub.insertedAt.toISOString(),
    updated_at: hub.updatedAt.toISOString(),
  };
}
