import type { Broker } from '../broker/broker.ts';
import type { Connection, LocalPublisher } from './connection.ts';

/**
 * Fan-out of encoded frames: to local subscribers through the transport's
 * publisher, and to other nodes through the broker, once per topic per node.
 * Keeps the local subscribers of each topic, so the node subscribes to the
 * broker on the first local subscriber and unsubscribes after the last.
 */
export class Fanout {
  /** Local interest in each control topic (`ctl:…`). */
  private readonly controlCounts = new Map<string, number>();
  /** Local connections per topic: the node is subscribed on the broker while a topic has any; also used for per-recipient delivery in topics with filters. */
  private readonly members = new Map<string, Set<Connection>>();
  /** topic → sender session_id → local connections that must not receive that sender's naf/nafr/message frames. */
  private readonly filters = new Map<string, Map<string, Set<Connection>>>();
  private publisher: LocalPublisher | null = null;
  private controlHandler: (topic: string, message: unknown) => void = () => {};

  constructor(private readonly broker: Broker) {
    broker.onFrame((topic, frame) => {
      if (topic.startsWith(CONTROL_PREFIX)) this.receiveControl(topic, frame);
      else this.deliverLocal(topic, frame);
    });
  }

  /** Attaches the transport's publisher (set once the transport exists). */
  setPublisher(publisher: LocalPublisher): void {
    this.publisher = publisher;
  }

  /** Subscribes `connection` to `topic` locally and, on the first local subscriber, on the broker. */
  subscribe(connection: Connection, topic: string): void {
    connection.subscribe(topic);
    let set = this.members.get(topic);
    if (!set) {
      this.members.set(topic, (set = new Set()));
      this.broker.subscribe(topic);
    }
    set.add(connection);
  }

  /** Reverses {@link subscribe} (and drops the connection's filters on `topic`). Safe on a closed connection. */
  unsubscribe(connection: Connection, topic: string): void {
    if (!connection.closed) connection.unsubscribe(topic);
    const filters = this.filters.get(topic);
    if (filters) {
      for (const [sender, blocked] of filters) {
        blocked.delete(connection);
        if (blocked.size === 0) filters.delete(sender);
      }
      if (filters.size === 0) this.filters.delete(topic);
    }
    const set = this.members.get(topic);
    if (!set?.delete(connection)) return;
    if (set.size === 0) {
      this.members.delete(topic);
      this.broker.unsubscribe(topic);
    }
  }

  /** Topics with at least one local subscriber on this node. */
  localTopics(): string[] {
    return [...this.members.keys()];
  }

  /** Local subscribers of `topic` on this node. */
  localSubscribers(topic: string): number {
    return this.members.get(topic)?.size ?? 0;
  }

  /**
   * Delivers one encoded text frame (string or UTF-8 bytes) to every
   * subscriber of `topic`, on this node (except `except`) and on every other node.
   */
  publish(topic: string, frame: string | Uint8Array, except?: Connection): void {
    this.deliverLocal(topic, frame, except);
    this.broker.publish(topic, frame);
  }

  /**
   * Stops (`on`) or resumes delivering `sender`'s `naf`, `nafr` and `message`
   * frames on `topic` to the local `connection` (blocks, Reticulum's
   * blocked_session_ids / blocked_by_session_ids). Topics without filters keep
   * the encode-once path (one uWS publish); in a topic with filters, frames
   * of a filtered sender go to each other local member one by one (the same
   * bytes). Filters of a connection end when it unsubscribes from the topic.
   */
  setFilter(topic: string, connection: Connection, sender: string, on: boolean): void {
    let filters = this.filters.get(topic);
    if (on) {
      if (!filters) this.filters.set(topic, (filters = new Map()));
      let blocked = filters.get(sender);
      if (!blocked) filters.set(sender, (blocked = new Set()));
      blocked.add(connection);
      return;
    }
    const blocked = filters?.get(sender);
    if (!filters || !blocked) return;
    blocked.delete(connection);
    if (blocked.size === 0) filters.delete(sender);
    if (filters.size === 0) this.filters.delete(topic);
  }

  /** True while `connection` does not get `sender`'s frames on `topic` (see {@link setFilter}). */
  isFiltered(topic: string, connection: Connection, sender: string): boolean {
    return this.filters.get(topic)?.get(sender)?.has(connection) ?? false;
  }

  private deliverLocal(topic: string, frame: string | Uint8Array, except?: Connection): void {
    const filters = this.filters.get(topic);
    if (filters) {
      const text = typeof frame === 'string' ? frame : utf8.decode(frame);
      const sender = filteredSender(text);
      const blocked = sender === null ? undefined : filters.get(sender);
      if (blocked) {
        for (const c of this.members.get(topic) ?? []) if (c !== except && !blocked.has(c)) c.send(text);
        return;
      }
    }
    this.publisher?.publishLocal(topic, frame, except);
  }

  /** Sets the receiver of control messages (see {@link publishControl}). */
  onControl(handler: (topic: string, message: unknown) => void): void {
    this.controlHandler = handler;
  }

  /** Starts receiving control messages on `topic` (which must start with `ctl:`), counting local interest. */
  subscribeControl(topic: string): void {
    const n = this.controlCounts.get(topic) ?? 0;
    this.controlCounts.set(topic, n + 1);
    if (n === 0) this.broker.subscribe(topic);
  }

  /** Reverses {@link subscribeControl}. */
  unsubscribeControl(topic: string): void {
    const n = this.controlCounts.get(topic) ?? 0;
    if (n > 1) {
      this.controlCounts.set(topic, n - 1);
      return;
    }
    this.controlCounts.delete(topic);
    if (n === 1) this.broker.unsubscribe(topic);
  }

  /**
   * Sends a node-level message (JSON) to every OTHER node subscribed to the
   * control `topic` (`ctl:…`); the caller handles this node itself. Control
   * messages never reach sockets.
   * @throws Error when `topic` does not start with `ctl:`
   */
  publishControl(topic: string, message: unknown): void {
    if (!topic.startsWith(CONTROL_PREFIX)) throw new Error(`control topics start with ${CONTROL_PREFIX}; got ${topic}`);
    this.broker.publish(topic, JSON.stringify(message));
  }

  private receiveControl(topic: string, frame: string | Uint8Array): void {
    let message: unknown;
    try {
      message = JSON.parse(typeof frame === 'string' ? frame : utf8.decode(frame));
    } catch {
      return;
    }
    this.controlHandler(topic, message);
  }
}

/** Topics of node-level control messages. */
export const CONTROL_PREFIX = 'ctl:';

const utf8 = new TextDecoder();
const FILTERED_EVENT = /^\[null,null,"(?:[^"\\]|\\.)*","(?:naf|nafr|message)",/;
const SENDER_TAIL = /"(?:from_session_id|session_id)":"([^"\\]{1,128})"\}\]$/;

/**
 * The sender of a broadcast `naf`, `nafr` or `message` frame, read from the
 * key the server puts last in its payload (`from_session_id`, or `session_id`
 * for `message`); null for other frames.
 */
export function filteredSender(frame: string): string | null {
  if (!FILTERED_EVENT.test(frame)) return null;
  const m = SENDER_TAIL.exec(frame);
  return m ? m[1]! : null;
}
