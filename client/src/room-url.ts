/**
 * Room addresses. A room lives at `/<hub_sid>` or `/<hub_sid>/<slug>`, where
 * hub_sid is 7 characters `[A-Za-z0-9]` (Reticulum's hub_sid; the serving
 * contract in the Plexus brief).
 */

/** A room reference parsed from a path. */
export interface RoomRef {
  /** 7-character hub_sid. */
  hubSid: string;
  /** URL slug of the room name, or null when the path has none. */
  slug: string | null;
}

const HUB_SID = /^[A-Za-z0-9]{7}$/;

/**
 * True when `value` is a well-formed hub_sid.
 * @param value candidate hub_sid
 */
export function isHubSid(value: string): boolean {
  return HUB_SID.test(value);
}

/**
 * Parses a page path (`/AbCdEfG` or `/AbCdEfG/my-room`, trailing slash allowed).
 * @returns the room reference, or null if the path is not a room page
 */
export function parseRoomPath(pathname: string): RoomRef | null {
  const parts = pathname.split('/').filter((p) => p.length > 0);
  if (parts.length < 1 || parts.length > 2) return null;
  const [hubSid, slug] = parts as [string, string | undefined];
  if (!isHubSid(hubSid)) return null;
  return { hubSid, slug: slug === undefined ? null : decodeURIComponent(slug) };
}

/**
 * Turns what a person pasted into "Join by link" into a same-origin room path.
 * Accepts a full room URL (any host: the path is what matters), a path, or a
 * bare hub_sid; surrounding whitespace is ignored.
 * @returns a path like `/AbCdEfG/my-room`, or null if nothing usable was given
 */
export function roomPathFromInput(input: string): string | null {
  const text = input.trim();
  if (text.length === 0) return null;
  if (isHubSid(text)) return `/${text}`;
  let pathname: string;
  try {
    pathname = new URL(text).pathname;
  } catch {
    pathname = text.startsWith('/') ? text : `/${text}`;
  }
  const ref = parseRoomPath(pathname.split('?')[0] ?? pathname);
  if (!ref) return null;
  return ref.slug ? `/${ref.hubSid}/${encodeURIComponent(ref.slug)}` : `/${ref.hubSid}`;
}
