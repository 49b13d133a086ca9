import type { Broker } from '../broker/broker.ts';
import type { Connection, LocalPublisher } from './connection.ts';
import { SetMap } from './set-map.ts';

/** How {@link Fanout.publish} delivers one frame. */
export interface PublishOptions {
  /** A local connection that does not get the frame (Phoenix `broadcast_from`'s sender). */
  except?: Connection;
  /**
   * Who the frame is from (an opaque id, e.g. a session id), carried with the
   * frame to the other nodes, so each node's {@link RecipientFilter} of the
   * topic can withhold it from some of its local connections. Without it no
   * filter applies.
   */
  sender?: string;
}

/**
 * Decides, for one topic, which local connections must not get frames from
 * a sender (set with {@link Fanout.setRecipientFilter}). The channel that
 * owns the topic keeps it (e.g. the hub channel's blocks); the fan-out only
 * asks it, and only for frames published with a sender.
 */
export interface RecipientFilter {
  /** The local connections that must not get `sender`'s frames; undefined (or empty) when every one gets them. */
  excluded(sender: string): ReadonlySet<Connection> | undefined;
}

/**
 * Fan-out of encoded frames: to local subscribers through the transport's
 * publisher, and to other nodes through the broker, once per topic per node.
 * Keeps the local subscribers of each topic, so the node subscribes to the
 * broker on the first local subscriber and unsubscribes after the last.
 *
 * A frame is encoded once and the same bytes go to every receiver (one uWS
 * publish per node). Only in a topic with a {@link RecipientFilter} that
 * excludes someone from a frame's sender are the frame's bytes written to
 * each other local member one by one.
 */
export class Fanout {
  /** Local interest in each control topic (`ctl:…`). */
  private readonly controlCounts = new Map<string, number>();
  /** Local connections per topic: the node is subscribed on the broker while a topic has any; also used for per-recipient delivery in topics with filters. */
  private readonly members = new SetMap<string, Connection>();
  /** The recipient filter of each topic that has one. */
  private readonly filters = new Map<string, RecipientFilter>();
  private publisher: LocalPublisher | null = null;
  private controlHandler: (topic: string, message: unknown) => void = () => {};

  constructor(private readonly broker: Broker) {
    broker.onFrame((topic, frame, sender) => {
      if (topic.startsWith(CONTROL_PREFIX)) this.receiveControl(topic, frame);
      else this.deliverLocal(topic, frame, undefined, sender);
    });
  }

  /** Attaches the transport's publisher (set once the transport exists). */
  setPublisher(publisher: LocalPublisher): void {
    this.publisher = publisher;
  }

  /** Subscribes `connection` to `topic` locally and, on the first local subscriber, on the broker. */
  subscribe(connection: Connection, topic: string): void {
    connection.subscribe(topic);
    if (this.members.add(topic, connection)) this.broker.subscribe(topic);
  }

  /** Reverses {@link subscribe}. Safe on a closed connection. */
  unsubscribe(connection: Connection, topic: string): void {
    if (!connection.closed) connection.unsubscribe(topic);
    if (this.members.delete(topic, connection)) this.broker.unsubscribe(topic);
  }

  /** Topics with at least one local subscriber on this node. */
  localTopics(): string[] {
    return [...this.members.keys()];
  }

  /** Local subscribers of `topic` on this node. */
  localSubscribers(topic: string): number {
    return this.members.count(topic);
  }

  /**
   * Delivers one encoded text frame (string or UTF-8 bytes) to every
   * subscriber of `topic`, on this node (except `options.except`) and on
   * every other node, with `options.sender` (see {@link PublishOptions}).
   */
  publish(topic: string, frame: string | Uint8Array, options?: PublishOptions): void {
    this.deliverLocal(topic, frame, options?.except, options?.sender);
    this.broker.publish(topic, frame, options?.sender);
  }

  /**
   * Sets (or, with null, removes) the recipient filter of `topic` on this
   * node. Topics without one keep the encode-once path (one uWS publish).
   */
  setRecipientFilter(topic: string, filter: RecipientFilter | null): void {
    if (filter) this.filters.set(topic, filter);
    else this.filters.delete(topic);
  }

  private deliverLocal(topic: string, frame: string | Uint8Array, except: Connection | undefined, sender: string | undefined): void {
    const excluded = sender === undefined ? undefined : this.filters.get(topic)?.excluded(sender);
    if (excluded && excluded.size > 0) {
      // Text frames: Connection.send writes bytes as binary.
      const text = typeof frame === 'string' ? frame : utf8.decode(frame);
      for (const c of this.members.get(topic) ?? []) if (c !== except && !excluded.has(c)) c.send(text);
      return;
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
