/**
 * The person's display name: from the `?name=` query parameter (tests use
 * it), else from localStorage, else empty. Saved back to localStorage when
 * the person confirms it.
 */

/** localStorage key holding the last display name used. */
export const DISPLAY_NAME_KEY = 'plexus.displayName';
/** Longest display name accepted (characters); Reticulum limits profiles similarly. */
export const MAX_DISPLAY_NAME_LENGTH = 32;

/** The storage calls we need (window.localStorage fits). */
export interface NameStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/**
 * Trims and shortens a typed name.
 * @returns the cleaned name, possibly empty
 */
export function cleanDisplayName(raw: string): string {
  return raw.replace(/\s+/g, ' ').trim().slice(0, MAX_DISPLAY_NAME_LENGTH);
}

/**
 * The initial name and whether it came from the URL.
 * @param search `location.search`
 * @param storage where the last name was saved; may throw (private mode), which counts as empty
 */
export function initialDisplayName(search: string, storage: NameStorage | null): { name: string; fromQuery: boolean } {
  const fromQuery = cleanDisplayName(new URLSearchParams(search).get('name') ?? '');
  if (fromQuery) return { name: fromQuery, fromQuery: true };
  let stored = '';
  try {
    stored = cleanDisplayName(storage?.getItem(DISPLAY_NAME_KEY) ?? '');
  } catch {
    stored = '';
  }
  return { name: stored, fromQuery: false };
}

/**
 * Remembers a name for next time; storage errors are ignored.
 */
export function saveDisplayName(storage: NameStorage | null, name: string): void {
  try {
    storage?.setItem(DISPLAY_NAME_KEY, name);
  } catch {
    // Storage unavailable: nothing to remember then.
  }
}

/** A placeholder name for someone who did not give one, e.g. "Guest 417". */
export function guestName(random: () => number = Math.random): string {
  return `Guest ${100 + Math.floor(random() * 900)}`;
}
