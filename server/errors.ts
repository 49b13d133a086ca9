/**
 * The one catalog of Plexus errors. Each error has a stable `code` (safe to
 * match on in clients and tests), an HTTP status for REST use, and a message
 * that says what to do about it.
 */

/** Stable error codes, grouped by where they arise. */
export const ErrorCodes = {
  // configuration
  CONFIG_INVALID: 'config_invalid',
  UWS_FALLBACK: 'uws_fallback',
  // wire protocol
  FRAME_NOT_JSON: 'frame_not_json',
  FRAME_NOT_ARRAY: 'frame_not_array',
  FRAME_BAD_ARITY: 'frame_bad_arity',
  FRAME_BAD_FIELD: 'frame_bad_field',
  FRAME_BAD_BINARY: 'frame_bad_binary',
  /** A well-formed binary push (Phoenix V2 kind 0): refused before its payload is read; channels take JSON text frames. */
  BINARY_NOT_SUPPORTED: 'binary_not_supported',
  FRAME_TOO_LARGE: 'frame_too_large',
  UNMATCHED_TOPIC: 'unmatched_topic',
  UNKNOWN_EVENT: 'unknown_event',
  INVALID_PAYLOAD: 'invalid_payload',
  TOO_MANY_CHANNELS: 'too_many_channels',
  // rooms
  HUB_NOT_FOUND: 'not_found',
  HUB_CLOSED: 'closed',
  SPAWN_DENIED: 'spawn_denied',
  /** The member lacks a permission; the reply's `permission` names it. */
  PERMISSION_DENIED: 'permission_denied',
  /** `events:entered` when `room_size` members are in the room. */
  ROOM_FULL: 'room_full',
  /** Join refused: invite-only without a valid invite, or kicked (then `banned_until`). */
  JOIN_DENIED: 'join_denied',
  /** A moderation target is not signed in (owners must be). */
  NOT_SIGNED_IN: 'not_signed_in',
  /** An account token that is invalid, expired or revoked. */
  SIGN_IN_FAILED: 'sign_in_failed',
  /** A login link or creator token that is invalid, used or expired. */
  INVALID_TOKEN: 'invalid_token',
  /** `auth_request` sent a second time on one auth channel (one link per channel). */
  ALREADY_SENT: 'already_sent',
  /** `auth_request.origin` is not in AUTH_ALLOWED_ORIGINS. */
  INVALID_ORIGIN: 'invalid_origin',
  /** The SMTP server refused or could not take the sign-in mail. */
  MAIL_FAILED: 'mail_failed',
  /** Too many frames on a socket, requests from an IP, or presence updates of a member. */
  RATE_LIMITED: 'rate_limited',
  /** A WebSocket upgrade from an IP that has MAX_CONNECTIONS_PER_IP open sockets (HTTP 429). */
  TOO_MANY_CONNECTIONS: 'too_many_connections',
  /** Entity state: the nid is already saved. */
  ENTITY_STATE_ALREADY_EXISTS: 'entity_state_already_exists',
  /** Entity state: no saved entity with that nid / root_nid in the room (Reticulum's reason). */
  ENTITY_STATE_DOES_NOT_EXIST: 'entity_state_does_not_exist',
  /** Entity state events by an anonymous member (Reticulum's reason; pin/unpin answer permission_denied). */
  NOT_LOGGED_IN: 'not_logged_in',
  /** Entity state events without pin_objects (Reticulum's reason; the reply's `permission` names it). */
  UNAUTHORIZED: 'unauthorized',
  // http
  HTTP_NOT_FOUND: 'http_not_found',
  HTTP_BAD_JSON: 'bad_json',
  HTTP_INVALID_BODY: 'invalid_body',
  HTTP_BODY_TOO_LARGE: 'body_too_large',
  /** A JSON endpoint got a body whose content-type is not application/json (415). */
  HTTP_UNSUPPORTED_MEDIA_TYPE: 'unsupported_media_type',
  /** A WebSocket upgrade from a page whose Origin is not allowed (403; ALLOWED_ORIGINS). */
  ORIGIN_NOT_ALLOWED: 'origin_not_allowed',
  /** No valid token, a non-admin on an admin route, or room creation turned off (`features.disable_room_creation`): Reticulum answers these 401. */
  HTTP_UNAUTHORIZED: 'unauthorized',
  /** A valid token without the right (not an owner; allow_promotion without update_hub_promotion). */
  HTTP_FORBIDDEN: 'forbidden',
  /** A bad query string (media search `source`, `cursor`, a NUL in `q`). */
  HTTP_INVALID_QUERY: 'invalid_query',
  /** A room page's `?embed_token=` is not the room's (404, as Reticulum). */
  INVALID_EMBED_TOKEN: 'invalid_embed_token',
  INTERNAL: 'internal_error',
  /**
   * A dependency (the database or Redis) did not answer within its timeout
   * (DB_TIMEOUT_MS, REDIS_TIMEOUT_MS), or refused the connection: nothing was
   * changed; try again shortly. HTTP 503.
   */
  UNAVAILABLE: 'unavailable',
  /** The node is shutting down and takes no new sockets; ask /api/v1/meta for another. */
  NODE_DRAINING: 'node_draining',
} as const;

/** One of the values of {@link ErrorCodes}. */
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/**
 * An error that carries a stable code and an HTTP status.
 * Thrown by config parsing, HTTP handlers and the database layer; the socket
 * layer turns it into an error reply `{reason: code, message}`.
 */
export class PlexusError extends Error {
  /** Stable machine-readable code from {@link ErrorCodes}. */
  readonly code: ErrorCode;
  /** HTTP status to use when the error reaches a REST client. */
  readonly status: number;
  /** Extra structured details (e.g. the validation errors), JSON-serializable. */
  readonly details?: unknown;

  constructor(code: ErrorCode, message: string, status = 400, details?: unknown) {
    super(message);
    this.name = 'PlexusError';
    this.code = code;
    this.status = status;
    this.details = details;
  }
}

/** WebSocket close codes Plexus uses (RFC 6455 §7.4.1, 4000-4999 application range). */
export const CloseCodes = {
  /** Normal close, e.g. server shutdown. */
  NORMAL: 1000,
  /** Server going away (graceful shutdown). */
  GOING_AWAY: 1001,
  /** A frame larger than MAX_FRAME_BYTES was received. */
  FRAME_TOO_LARGE: 1009,
  /** The client's outgoing queue passed the backpressure limit (slow consumer). */
  SLOW_CONSUMER: 4008,
  /** A moderator removed the member from a room (`kick`); rejoining is refused until the ban ends. */
  KICKED: 4003,
  /** The socket kept sending over its rate limit (SOCKET_RATE_*). */
  RATE_LIMITED: 4029,
  /** The protocol version query parameter was not vsn=2.0.0. */
  BAD_VSN: 4400,
} as const;
