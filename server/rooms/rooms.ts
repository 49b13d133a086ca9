import type { HubRecord } from '../db/hubs.ts';
import type { HubRepository } from '../db/hub-repository.ts';
import type { PresenceStore } from '../presence/presence-store.ts';
import { countPresence, hubView, type HubCounts } from './room-view.ts';

/** Topic prefix of rooms (`hub:<hub_sid>`). */
export const ROOM_TOPIC_PREFIX = 'hub:';

/** The topic of a room. */
export function roomTopic(hubSid: string): string {
  return `${ROOM_TOPIC_PREFIX}${hubSid}`;
}

/** What {@link Rooms} needs. */
export interface RoomsDeps {
  hubs: HubRepository;
  presence: PresenceStore;
  /** `room_size` of rooms that have none of their own (config DEFAULT_ROOM_SIZE). */
  defaultRoomSize: number;
  /** Sends `event` with `payload` to everyone on `topic`, on every node (the fan-out). */
  broadcast(topic: string, event: string, payload: Record<string, unknown>): void;
  /**
   * Makes every member of the room on every node reload it and re-derive
   * its permissions (the hub channel's `room_changed` command); resolves
   * once sent. Absent: nobody is told (a node without a hub channel).
   */
  reloadMembers?(topic: string): Promise<void>;
}

/** How a view of a room is read: its URL (`null` inside the room channel) and whether the reader may embed it (owners). */
export interface ViewOptions {
  url?: string | null;
  embeddable?: boolean;
}

/**
 * The domain of a room as channels and HTTP routes use it: its public view
 * with the counts presence gives, and the refresh every member gets after a
 * change (reference/reticulum.md §1.2 `hub_refresh`).
 */
export class Rooms {
  constructor(private readonly deps: RoomsDeps) {}

  /** `room_size` of rooms that have none of their own (config DEFAULT_ROOM_SIZE). */
  get defaultRoomSize(): number {
    return this.deps.defaultRoomSize;
  }

  /** The room's `room_size`: its own or the server default. */
  roomSize(hub: HubRecord): number {
    return hub.roomSize ?? this.deps.defaultRoomSize;
  }

  /** Members in the room and in its lobby, from presence (every node's, with a shared store). */
  async counts(hubSid: string): Promise<HubCounts> {
    return countPresence(await this.deps.presence.list(roomTopic(hubSid)));
  }

  /** The room's public JSON (Reticulum's HubView) with current counts; see {@link hubView}. */
  async view(hub: HubRecord, options: ViewOptions = {}): Promise<Record<string, unknown>> {
    return hubView(hub, await this.counts(hub.hubSid), this.deps.defaultRoomSize, options.url ?? null, options.embeddable ?? false);
  }

  /**
   * After a change to the room's row: every member on every node reloads
   * the room and its permissions, then everyone in it gets `hub_refresh
   * {hubs: [hub], session_id, stale_fields}` with the room as stored now.
   * Nothing is broadcast when the room is gone.
   * @param staleFields Reticulum's names of the changed fields (`name`, `scene`, `entry_mode`...)
   * @param sessionId the member who made the change, or null (PATCH)
   */
  async refresh(hubSid: string, staleFields: string[], sessionId: string | null = null): Promise<void> {
    const topic = roomTopic(hubSid);
    await this.deps.reloadMembers?.(topic);
    const hub = await this.deps.hubs.findBySid(hubSid);
    if (!hub) return;
    this.deps.broadcast(topic, 'hub_refresh', { hubs: [await this.view(hub)], session_id: sessionId, stale_fields: staleFields });
  }
}
