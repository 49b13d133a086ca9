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
  /** A push to a topic that is not joined, or a join to a topic no channel serves: Phoenix's own wire text (with a space). */
  UNMATCHED_TOPIC: 'unmatched topic',
  /** A push whose join_ref is not the topic's current join (an old channel instance). */
  STALE_JOIN_REF: 'stale_join_ref',
  UNKNOWN_EVENT: 'unknown_event',
  INVALID_PAYLOAD: 'invalid_payload',
  /** A join past MAX_CHANNELS_PER_SOCKET: Phoenix's wire text. */
  TOO_MANY_CHANNELS: 'too many channels joined',
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
  /** The path exists but not for this method (405). */
  HTTP_METHOD_NOT_ALLOWED: 'method_not_allowed',
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

/** WebSocket close codes Plexus sends (RFC 6455 §7.4.1; 4000-4999 is the application range). What each means for a client: {@link CLOSE_CODE_TABLE}. */
export const CloseCodes = {
  /** Server going away (graceful shutdown). */
  GOING_AWAY: 1001,
  /** A frame larger than MAX_FRAME_BYTES was received. */
  FRAME_TOO_LARGE: 1009,
  /** The session could not be set up (a session_token could not be checked): RFC 6455 "internal error". */
  INTERNAL_ERROR: 1011,
  /** A moderator removed the member from a room (`kick`); rejoining is refused until the ban ends. */
  KICKED: 4003,
  /** The client's outgoing queue passed the backpressure limit (slow consumer). */
  SLOW_CONSUMER: 4008,
  /** The client sent frames faster than its handlers finished: too many queued behind a slow handler. */
  QUEUE_OVERFLOW: 4009,
  /** The socket kept sending over its rate limit (SOCKET_RATE_*). */
  RATE_LIMITED: 4029,
} as const;

/** One of the values of {@link CloseCodes}. */
export type CloseCode = (typeof CloseCodes)[keyof typeof CloseCodes];

/** The close reasons that are fixed texts (the 1009 reason names the sizes, see the transport). */
export const CloseReasons = {
  GOING_AWAY: 'server shutting down',
  INTERNAL_ERROR: 'server error while resuming the session; reconnect',
  KICKED: 'removed from the room by a moderator',
  SLOW_CONSUMER: 'slow consumer: send queue over the backpressure limit; reconnect',
  QUEUE_OVERFLOW: 'too many frames in flight; slow down',
  RATE_LIMITED: 'rate limit exceeded; slow down',
} as const satisfies Partial<Record<keyof typeof CloseCodes, string>>;

/** What a close code means for the client, as Centrifugo documents its disconnects (code, reason, reconnect). */
export interface CloseCodeAdvice {
  code: CloseCode;
  /** When the server closes with it. */
  when: string;
  /** Whether the client should reconnect (phoenix.js does, with its backoff, for every code but 1000). */
  reconnect: boolean;
  /** What the client should do. */
  advice: string;
}

/**
 * Every close code with the client's advice. The README's close code table
 * is {@link closeCodesMarkdown} of it (a unit test checks they agree).
 */
export const CLOSE_CODE_TABLE: readonly CloseCodeAdvice[] = [
  { code: CloseCodes.GOING_AWAY, when: 'the node is shutting down (SIGTERM, after SHUTDOWN_GRACE_SECONDS)', reconnect: true, advice: 'reconnect; /api/v1/meta names the nodes still up' },
  { code: CloseCodes.FRAME_TOO_LARGE, when: 'a frame over `MAX_FRAME_BYTES` arrived', reconnect: true, advice: 'reconnect, and do not send that frame again: split or shrink it' },
  { code: CloseCodes.INTERNAL_ERROR, when: 'the session could not be set up (the `session_token` could not be checked)', reconnect: true, advice: 'reconnect with backoff' },
  { code: CloseCodes.KICKED, when: 'a moderator removed the member from a room (`kick`)', reconnect: false, advice: 'do not rejoin that room: it refuses the session (and account) for `KICK_BAN_SECONDS`' },
  { code: CloseCodes.SLOW_CONSUMER, when: 'the client read too slowly: its send queue passed `MAX_BACKPRESSURE_BYTES`', reconnect: true, advice: 'reconnect and rejoin (presence_state brings the room back)' },
  { code: CloseCodes.QUEUE_OVERFLOW, when: 'too many frames queued behind a slow handler', reconnect: true, advice: 'reconnect with backoff, and wait for replies before sending more' },
  { code: CloseCodes.RATE_LIMITED, when: 'the socket kept sending over its rate limit (`SOCKET_RATE_*`)', reconnect: true, advice: 'reconnect with backoff, and send less often' },
];

/** The README's close code table, made from {@link CLOSE_CODE_TABLE}. */
export function closeCodesMarkdown(): string {
  const rows = CLOSE_CODE_TABLE.map((c) => `| ${c.code} | ${c.when} | ${c.reconnect ? 'yes' : 'no'} | ${c.advice} |`);
  return ['| Close code | Sent when | Reconnect | What the client should do |', '|---|---|---|---|', ...rows].join('\n');
}

/**
 * The message of a refusal for a missing permission, written once for every
 * channel: `<what> needs the <permission> permission[ (<holders> have it)],
 * which you do not have.` The reply carries the reason (`permission_denied`,
 * or Reticulum's `unauthorized` / `spawn_denied` where it answers so) and
 * `permission`.
 * @param what the refused action, e.g. the event name or "Sending messages"
 * @param holders who has the permission, e.g. "room owners"
 */
export function permissionDeniedMessage(what: string, permission: string, holders?: string): string {
  return `${what} needs the ${permission} permission${holders ? ` (${holders} have it)` : ''}, which you do not have.`;
}
