/**
 * Where A-Frame components (which A-Frame instantiates itself, so cannot be
 * handed dependencies) look up a session's display name. The room page sets
 * the resolver once it has a room connection; until then names are unknown.
 */

/** Maps a session_id to a display name, or null when that session is not present. */
export type DisplayNameResolver = (sessionId: string) => string | null;

let resolver: DisplayNameResolver = () => null;

/** Sets the function components use to name sessions. */
export function setDisplayNameResolver(next: DisplayNameResolver): void {
  resolver = next;
}

/** Display name of a session, or null when unknown. */
export function displayNameFor(sessionId: string): string | null {
  return resolver(sessionId);
}
