import type { Broker } from '../broker/broker.ts';
import type { Connection, LocalPublisher } from './connection.ts';

/**
 * Fan-out of encoded frames: to local subscribers through the transport's
 * publisher, and to other nodes through the broker, once per topic per node.
 * Keeps a count of local subscribers per topic so the node subscribes to the
 * broker on the first local subscriber and unsubscribes after the last.
 */
export class Fanout {
  private readonly localCounts = new Map<string, number>();
  private publisher: LocalPublisher | null = null;

  constructor(private readonly broker: Broker) {
    broker.onFrame((topic, frame) => this.publisher?.publishLocal(topic, frame));
  }

  /** Attaches the transport's publisher (set once the transport exists). */
  setPublisher(publisher: LocalPublisher): void {
    this.publisher = publisher;
  }

  /** Subscribes `connection` to `topic` locally and, on the first local subscriber, on the broker. */
  subscribe(connection: Connection, topic: string): void {
    connection.subscribe(topic);
    const n = this.localCounts.get(topic) ?? 0;
    this.localCounts.set(topic, n + 1);
    if (n === 0) this.broker.subscribe(topic);
  }

  /** Reverses {@link subscribe}. Safe on a closed connection. */
  unsubscribe(connection: Connection, topic: string): void {
    if (!connection.closed) connection.unsubscribe(topic);
    const n = this.localCounts.get(topic) ?? 0;
    if (n <= 1) {
      this.localCounts.delete(topic);
      if (n === 1) this.broker.unsubscribe(topic);
    } else {
      this.localCounts.set(topic, n - 1);
    }
  }

  /** Topics with at least one local subscriber on this node. */
  localTopics(): string[] {
    return [...this.localCounts.keys()];
  }

  /** Local subscribers of `topic` on this node. */
  localSubscribers(topic: string): number {
    return this.localCounts.get(topic) ?? 0;
  }

  /**
   * Delivers one encoded text frame (string or UTF-8 bytes) to every
   * subscriber of `topic`, on this node (except `except`) and on every other node.
   */
  publish(topic: string, frame: string | Uint8Array, except?: Connection): void {
    this.publisher?.publishLocal(topic, frame, except);
    this.broker.publish(topic, frame);
  }
}
