/**
 * The Plexus REST calls the pages make (Reticulum-shaped, /api/v1):
 * - `POST /api/v1/hubs` with `{hub: {name}}` → 200 `{hub_id, url, creator_assignment_token, embed_token}`
 * - `GET /api/v1/hubs/<hub_sid>` → `{hubs: [hub]}`
 * Errors come back as 4xx/5xx with `{error: {code, message}}`.
 */

/** The created room, as returned by `POST /api/v1/hubs`. */
export interface CreatedHub {
  hub_id: string;
  /** Absolute room URL `http://host/<hub_sid>/<slug>`. */
  url: string;
  /** Makes the holder the room's creator; null when an account created the room (it is the creator). */
  creator_assignment_token: string | null;
  /** Lets a page embed the room (`?embed_token=`). */
  embed_token?: string | null;
}

/** A room's public description (the fields the client reads). */
export interface HubInfo {
  hub_id: string;
  name: string;
  slug: string;
  entry_mode?: string;
  room_size?: number;
  member_count?: number;
  lobby_count?: number;
}

/** A failed API call: HTTP status plus the server's error code and message. */
export class HubApiError extends Error {
  /**
   * @param status HTTP status (0 when the request never got an answer)
   * @param code the server's stable error code, or `network`/`bad_response`
   */
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HubApiError';
  }
}

async function call<T>(path: string, init?: RequestInit): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, { ...init, headers: { accept: 'application/json', ...(init?.headers ?? {}) } });
  } catch (err) {
    throw new HubApiError(0, 'network', `Could not reach the server (${String(err)}). Check your connection and try again.`);
  }
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (!res.ok) {
    const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    const code = typeof error?.code === 'string' ? error.code : `http_${res.status}`;
    const message = typeof error?.message === 'string' ? error.message : `The server answered ${res.status}.`;
    throw new HubApiError(res.status, code, message);
  }
  if (body === null) throw new HubApiError(res.status, 'bad_response', 'The server sent an unreadable answer.');
  return body as T;
}

/** Member permissions of rooms made from the lobby: every flag (Reticulum's permissive rooms). */
export const LOBBY_MEMBER_PERMISSIONS = {
  spawn_and_move_media: true,
  spawn_camera: true,
  spawn_drawing: true,
  pin_objects: true,
  spawn_emoji: true,
  fly: true,
  voice_chat: true,
  text_chat: true,
} as const;

/**
 * Creates a room.
 * @param name room name shown to people (the server derives the slug)
 * @throws HubApiError on a network failure or an error answer
 */
export async function createHub(name: string): Promise<CreatedHub> {
  const created = await call<CreatedHub>('/api/v1/hubs', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    // Rooms made from this page let every member spawn, move and pin boxes (the server's default is voice and text chat only).
    body: JSON.stringify({ hub: { name, member_permissions: LOBBY_MEMBER_PERMISSIONS } }),
  });
  if (typeof created.url !== 'string') throw new HubApiError(200, 'bad_response', 'The server did not return a room URL.');
  return created;
}

/**
 * Looks a room up by hub_sid.
 * @throws HubApiError (status 404, code `not_found`, when there is no such room)
 */
export async function getHub(hubSid: string): Promise<HubInfo> {
  const body = await call<{ hubs?: HubInfo[] }>(`/api/v1/hubs/${encodeURIComponent(hubSid)}`);
  const hub = body.hubs?.[0];
  if (!hub) throw new HubApiError(200, 'bad_response', 'The server did not describe the room.');
  return hub;
}
