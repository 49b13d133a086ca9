/** What {@link Broker.status} reports: `connected` plus implementation details. */
export interface BrokerStatus {
  /** False while frames cannot reach other nodes (e.g. Redis is down); local rooms keep working. */
  connected: boolean;
  [detail: string]: unknown;
}

/**
 * Receives one frame from another node: its topic, its bytes (or text), and
 * the sender it was published with (undefined when none was given).
 */
export type FrameHandler = (topic: string, frame: string | Uint8Array, sender: string | undefined) => void;

/**
 * Carries encoded broadcast frames between nodes, each in an envelope with
 * an optional sender (an opaque string the publishing node tags the frame
 * with, e.g. a session id, so receiving nodes can filter per recipient
 * without reading the frame). Local delivery never goes
 * through the broker (as in Phoenix.PubSub): a node publishes once per
 * broadcast and each other node subscribed to the topic receives it once,
 * however many local clients it has.
 */
export interface Broker {
  /** This node's id; messages published by a node are never delivered back to it. */
  readonly nodeId: string;
  /**
   * Sends the text frame `frame` (a string or UTF-8 bytes) to every other
   * node subscribed to `topic`, with `sender` (at most 65,535 bytes of UTF-8)
   * when given; receivers get the same frame and sender.
   */
  publish(topic: string, frame: string | Uint8Array, sender?: string): void;
  /** Starts delivering other nodes' frames on `topic` to `onFrame`. Subscribing twice is a no-op. */
  subscribe(topic: string): void;
  /** Stops delivering `topic`. */
  unsubscribe(topic: string): void;
  /** Sets the single receiver of frames from other nodes (with their senders). */
  onFrame(handler: FrameHandler): void;
  /**
   * Whether the broker currently reaches the other nodes, plus details for
   * `/health`. An in-process broker is always connected.
   */
  status(): BrokerStatus;
  /**
   * Asks the broker's backend whether it answers (health checks); resolves
   * false when it does not within `timeoutMs`. Never throws. Absent: an
   * in-process broker, which always answers.
   */
  ping?(timeoutMs: number): Promise<boolean>;
  /** Releases connections. */
  close(): Promise<void>;
}
