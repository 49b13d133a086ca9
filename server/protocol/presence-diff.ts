/**
 * Phoenix Presence shapes and diff algebra: pure functions, no I/O.
 *
 * Source: Phoenix Presence / phoenix_pubsub Tracker payloads and phoenix.js
 * `presence.js` (`syncState`, `syncDiff`), summarized in
 * shared/reference/naf-phoenix-client.md §6.5 and §5.6. A meta update is ONE
 * diff with the old meta in `leaves` and the new meta (carrying
 * `phx_ref_prev`) in `joins`, so clients never see the key disappear.
 */

/** One presence meta: arbitrary fields plus Phoenix's `phx_ref` (unique per track) and optional `phx_ref_prev`. */
export interface PresenceMeta {
  phx_ref: string;
  phx_ref_prev?: string;
  [field: string]: unknown;
}

/** `{key: {metas: [...]}}`, the payload of `presence_state` and each half of a diff. */
export type PresenceEntries = Record<string, { metas: PresenceMeta[] }>;

/** The payload of `presence_diff`. */
export interface PresenceDiff {
  joins: PresenceEntries;
  leaves: PresenceEntries;
}

/** A diff with one key joining with `meta`. */
export function joinDiff(key: string, meta: PresenceMeta): PresenceDiff {
  return { joins: { [key]: { metas: [meta] } }, leaves: {} };
}

/** A diff with one key's `meta` leaving. */
export function leaveDiff(key: string, meta: PresenceMeta): PresenceDiff {
  return { joins: {}, leaves: { [key]: { metas: [meta] } } };
}

/**
 * The single diff for a meta update: `leaves` holds the old meta, `joins` the
 * new one with `phx_ref_prev` set to the old `phx_ref`.
 * @param oldMeta the meta being replaced (with its phx_ref)
 * @param newMeta the replacement (with a fresh phx_ref)
 */
export function updateDiff(key: string, oldMeta: PresenceMeta, newMeta: PresenceMeta): PresenceDiff {
  return {
    joins: { [key]: { metas: [{ ...newMeta, phx_ref_prev: oldMeta.phx_ref }] } },
    leaves: { [key]: { metas: [oldMeta] } },
  };
}

/** True when a diff carries nothing. */
export function isEmptyDiff(diff: PresenceDiff): boolean {
  return Object.keys(diff.joins).length === 0 && Object.keys(diff.leaves).length === 0;
}

/**
 * Applies a diff to a presence state the way phoenix.js `Presence.syncDiff`
 * does: joins first (new metas replace entries with the same phx_ref, other
 * existing metas are kept in front), then leaves (metas removed by phx_ref,
 * empty keys deleted). Returns a new state; the input is not modified.
 * Used by tests and by stores that mirror remote state.
 */
export function applyDiff(state: PresenceEntries, diff: PresenceDiff): PresenceEntries {
  const next: PresenceEntries = {};
  for (const [k, v] of Object.entries(state)) next[k] = { metas: [...v.metas] };
  for (const [key, { metas }] of Object.entries(diff.joins)) {
    const joinedRefs = new Set(metas.map((m) => m.phx_ref));
    const kept = (next[key]?.metas ?? []).filter((m) => !joinedRefs.has(m.phx_ref));
    next[key] = { metas: [...kept, ...metas] };
  }
  for (const [key, { metas }] of Object.entries(diff.leaves)) {
    const entry = next[key];
    if (!entry) continue;
    const leftRefs = new Set(metas.map((m) => m.phx_ref));
    const remaining = entry.metas.filter((m) => !leftRefs.has(m.phx_ref));
    if (remaining.length === 0) delete next[key];
    else next[key] = { metas: remaining };
  }
  return next;
}

/**
 * A new phx_ref: 16 random bytes in base64url. Clients only need it unique
 * per key; Phoenix uses 8 random bytes, we use more to be unique cluster-wide.
 */
export function newPhxRef(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Buffer.from(bytes).toString('base64url');
}
