import type { PresenceDiff, PresenceEntries, PresenceMeta } from '../protocol/presence-diff.ts';

/** A meta before the store assigns its `phx_ref`. */
export type NewPresenceMeta = Omit<PresenceMeta, 'phx_ref' | 'phx_ref_prev'>;

/**
 * Who is present on each topic: Phoenix Presence's data, keyed by topic, then
 * presence key (the session_id), then phx_ref. A key may hold several metas
 * (one per socket of the same session). The caller broadcasts the diffs.
 */
export interface PresenceStore {
  /** Adds a meta for `key` on `topic` and returns it with a fresh `phx_ref`. */
  track(topic: string, key: string, meta: NewPresenceMeta): Promise<PresenceMeta>;
  /**
   * Replaces the meta `phxRef` of `key` with `meta` under a fresh phx_ref.
   * @returns the old and new metas, or null when `phxRef` is not tracked
   */
  update(topic: string, key: string, phxRef: string, meta: NewPresenceMeta): Promise<{ old: PresenceMeta; meta: PresenceMeta } | null>;
  /**
   * {@link update}, but only while fewer than `limit` presence keys on
   * `topic` other than `key` have a meta with `presence: "room"`; atomic for
   * the whole store (in a cluster: across every node), so concurrent entries
   * never push the room past `limit`. Used for room_size on entry.
   * @returns the old and new metas; `'full'` when the room is at the limit
   *   (nothing changed); null when `phxRef` is not tracked
   */
  updateIfRoomBelow(topic: string, key: string, phxRef: string, meta: NewPresenceMeta, limit: number): Promise<{ old: PresenceMeta; meta: PresenceMeta } | 'full' | null>;
  /** Removes the meta `phxRef` of `key`; returns it, or null when it was not tracked. */
  untrack(topic: string, key: string, phxRef: string): Promise<PresenceMeta | null>;
  /** Everyone present on `topic`, as the `presence_state` payload. */
  list(topic: string): Promise<PresenceEntries>;
  /**
   * Registers a handler for metas removed by the store itself rather than by
   * this node's caller: in a cluster, the members of a node that died. Each
   * call carries one topic and a diff with only `leaves`; the cluster calls it
   * on exactly one surviving node per dead node, and that node's caller
   * broadcasts the diff (through the broker) to everyone. Optional: a
   * single-node store never calls it.
   */
  onRemoteLeaves?(handler: (topic: string, diff: PresenceDiff) => void): void;
  /**
   * Registers a handler called when the store's shared view may have changed
   * without diffs reaching this node (in a cluster: after the shared store was
   * unreachable). The caller then sends its clients a fresh `presence_state`.
   * Optional: a single-node store never calls it.
   */
  onResync?(handler: () => void): void;
  /** Releases the store's resources and removes this node's metas. Optional. */
  close?(): Promise<void>;
}
