import type { Connection } from './connection.ts';
import type { ErrorCode } from '../errors.ts';

/** A reply to a push or a join: Phoenix's `{status, response}`. */
export interface Reply {
  status: 'ok' | 'error';
  response: Record<string, unknown>;
}

/** Shorthand for an ok reply. */
export function ok(response: Record<string, unknown> = {}): Reply {
  return { status: 'ok', response };
}

/** Shorthand for an error reply `{reason, message, ...extra}`; `reason` is a code of the catalog (errors.ts: the compiler refuses any other), `message` says what to do. */
export function error(reason: ErrorCode, message: string, extra: Record<string, unknown> = {}): Reply {
  return { status: 'error', response: { reason, message, ...extra } };
}

/** Per-connection session: one per WebSocket, shared by all its channels. */
export interface Session {
  /** The session id: Reticulum's `session_id`, the NAF clientId and the presence key. */
  readonly sessionId: string;
  /** The underlying connection. */
  readonly connection: Connection;
  /**
   * The client's IP address, for per-IP limits: the connection's peer, or
   * the client a trusted reverse proxy named when the socket opened.
   */
  readonly clientIp: string;
}

/**
 * What a channel instance may do. Frames are encoded here; broadcasts are
 * encoded once and the same bytes go to every receiver (fan-out).
 */
export interface ChannelContext {
  /** The channel's topic, e.g. `hub:AbCdEfG`. */
  readonly topic: string;
  /** The `join_ref` of the join that created this instance. */
  readonly joinRef: string;
  /** The session this channel belongs to. */
  readonly session: Session;
  /** Pushes `[join_ref, null, topic, event, payload]` to this client only. */
  push(event: string, payload: unknown): void;
  /**
   * Broadcasts `[null, null, topic, event, payload]` to every subscriber of
   * the topic, this client included, on every node. With `sender`, the frame
   * is tagged with it for the topic's recipient filters (Fanout's
   * PublishOptions.sender): whoever filters that sender out does not get it.
   */
  broadcast(event: string, payload: unknown, sender?: string): void;
  /** Like {@link broadcast} but excludes this client (Phoenix `broadcast_from`). */
  broadcastFrom(event: string, payload: unknown, sender?: string): void;
  /**
   * Sends an already-encoded broadcast text frame (`[null,null,topic,event,payload]`
   * as a string or UTF-8 bytes, built by the caller) to every subscriber but
   * this client, on every node, tagged with `sender` as {@link broadcast}. For
   * hot paths that splice payload bytes instead of encoding.
   */
  publishFrom(frame: string | Uint8Array, sender?: string): void;
  /** Closes this channel from the server: sends `phx_close` and terminates it with reason `server`. */
  close(): void;
}

/** Returned by {@link Channel.handleRawIn} to have the payload parsed and handed to `handleIn` instead. */
export const FALLBACK: unique symbol = Symbol('fallback');

/**
 * Why a channel instance ends. `crash`: one of its handlers threw (the
 * client got `phx_error` and will rejoin).
 */
export type TerminateReason = 'leave' | 'closed' | 'duplicate_join' | 'server' | 'crash';

/**
 * One joined channel, created per `phx_join` by a {@link ChannelRoute}.
 * Methods may return a value or a Promise; while a Promise is pending, later
 * frames of the same socket wait, so each socket's frames are handled in order
 * (heartbeats excepted: they are answered at once).
 *
 * Failures: a handler that throws (or rejects with) a `PlexusError` (errors.ts)
 * reported an expected failure (e.g. `unavailable`: a dependency did not
 * answer): the push gets the error reply `{reason: code, message}` and the
 * channel stays. Anything else thrown by `handleIn`, `handleRawIn` or
 * `afterJoin` is a crash, as when a Phoenix channel process dies: the push
 * gets an `internal_error` reply, the client gets
 * `[join_ref, join_ref, topic, "phx_error", {}]` (phoenix.js then rejoins),
 * and the instance is terminated with reason `crash` and dropped; the
 * socket and its other channels carry on.
 */
export interface Channel {
  /** Handles the join params; an error reply rejects the join (the instance is then dropped without terminate). */
  join(params: unknown): Reply | Promise<Reply>;
  /** Runs after the join reply has been written (e.g. to push `presence_state`). */
  afterJoin?(): void | Promise<void>;
  /** Handles a push. A returned reply is sent with the push's ref; `undefined` sends none. */
  handleIn(event: string, payload: unknown): Reply | undefined | Promise<Reply | undefined>;
  /**
   * Optional fast path for pushes whose payload is still UTF-8 JSON bytes
   * (compact frames only, see protocol/frame-scan.ts). It must validate
   * the payload itself, or return {@link FALLBACK} for the general path.
   * Synchronous: `frame` is only valid during the call.
   * @param frame the whole frame's bytes; the payload is `frame[payloadStart, payloadEnd)`
   */
  handleRawIn?(event: string, frame: Uint8Array, payloadStart: number, payloadEnd: number): Reply | undefined | typeof FALLBACK;
  /** Cleans up (e.g. presence leave). Called once, after a successful join only. */
  terminate(reason: TerminateReason): void | Promise<void>;
}

/** Maps topics to channel implementations (Phoenix `channel "hub:*", HubChannel`). */
export interface ChannelRoute {
  /** True if this route serves `topic`. */
  matches(topic: string): boolean;
  /** Creates the instance for one join. */
  create(ctx: ChannelContext): Channel;
}
