import type { Connection } from '../../realtime/connection.ts';
import type { RecipientFilter } from '../../realtime/fanout.ts';
import { SetMap } from '../../realtime/set-map.ts';

/** Where {@link RoomBlocks} installs each room's filter (the node's Fanout). */
export interface RecipientFilters {
  setRecipientFilter(topic: string, filter: RecipientFilter | null): void;
}

/**
 * The blocks of this node's room members (Reticulum's blocked_session_ids /
 * blocked_by_session_ids): per room, which local connections do not get a
 * sender's `naf`, `nafr` and `message` frames. The hub channel tags exactly
 * those broadcasts with the sender's session id (ChannelContext's `sender`),
 * and this is the room's {@link RecipientFilter} on the fan-out, installed
 * while the room has a block on this node, so rooms without blocks keep the
 * encode-once path. A connection's blocks in a room end when its member
 * leaves ({@link forget}).
 */
export class RoomBlocks {
  /** topic → the room's filter: sender session_id → local connections that do not get that sender's frames. */
  private readonly rooms = new Map<string, RoomFilter>();

  constructor(private readonly fanout: RecipientFilters) {}

  /** Stops (`on`) or resumes delivering `sender`'s naf, nafr and message frames on `topic` to the local `connection`. */
  set(topic: string, connection: Connection, sender: string, on: boolean): void {
    let room = this.rooms.get(topic);
    if (on) {
      if (!room) {
        this.rooms.set(topic, (room = new RoomFilter()));
        this.fanout.setRecipientFilter(topic, room);
      }
      room.add(sender, connection);
      return;
    }
    if (!room) return;
    room.delete(sender, connection);
    this.dropIfEmpty(topic, room);
  }

  /** True while `connection` does not get `sender`'s frames on `topic`. */
  has(topic: string, connection: Connection, sender: string): boolean {
    return this.rooms.get(topic)?.excluded(sender)?.has(connection) ?? false;
  }

  /** Drops every block of `connection` on `topic` (its member left the room). */
  forget(topic: string, connection: Connection): void {
    const room = this.rooms.get(topic);
    if (!room) return;
    room.deleteConnection(connection);
    this.dropIfEmpty(topic, room);
  }

  private dropIfEmpty(topic: string, room: RoomFilter): void {
    if (!room.empty) return;
    this.rooms.delete(topic);
    this.fanout.setRecipientFilter(topic, null);
  }
}

/** One room's blocks on this node, as the fan-out asks for them. */
class RoomFilter implements RecipientFilter {
  private readonly bySender = new SetMap<string, Connection>();

  excluded(sender: string): ReadonlySet<Connection> | undefined {
    return this.bySender.get(sender);
  }

  get empty(): boolean {
    return this.bySender.size === 0;
  }

  add(sender: string, connection: Connection): void {
    this.bySender.add(sender, connection);
  }

  delete(sender: string, connection: Connection): void {
    this.bySender.delete(sender, connection);
  }

  deleteConnection(connection: Connection): void {
    for (const sender of [...this.bySender.keys()]) this.delete(sender, connection);
  }
}
