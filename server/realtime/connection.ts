import type { CloseCode } from '../errors.ts';

/**
 * What the realtime layer needs from a transport connection. The uWebSockets.js
 * transport implements it; tests may implement it in memory.
 */
export interface Connection {
  /** Process-unique id of this connection. */
  readonly id: number;
  /** Remote IP address as text (for logs and per-IP limits). */
  readonly remoteAddress: string;
  /** Query parameters of the WebSocket URL (e.g. `vsn`, `session_token`). */
  readonly params: Readonly<Record<string, string>>;
  /** True once the connection is closed; sends are then ignored. */
  readonly closed: boolean;
  /**
   * Sends one frame to this connection (text for strings, binary for bytes).
   * Ignored once closed. Writes are batched by the transport per event-loop turn.
   */
  send(frame: string | Uint8Array): void;
  /** Starts receiving frames published to `topic` on this node. */
  subscribe(topic: string): void;
  /** Stops receiving frames published to `topic`. */
  unsubscribe(topic: string): void;
  /** Closes the connection with a close code of the catalog (errors.ts) and a short reason (at most 123 bytes). */
  close(code: CloseCode, reason: string): void;
}

/** Local fan-out: delivers one already-encoded frame to every local subscriber of a topic. */
export interface LocalPublisher {
  /**
   * Writes the text frame `frame` (a string, or its UTF-8 bytes) to every
   * connection on this node subscribed to `topic`, except `except` when
   * given. The same bytes go to every receiver.
   */
  publishLocal(topic: string, frame: string | Uint8Array, except?: Connection): void;
}
