/**
 * A map from keys to non-empty sets (topic → its sockets, sender → the
 * sockets that blocked it, room → its members): a key exists exactly while
 * its set holds something, so `size` and `keys()` never count empty sets.
 * Pure; no I/O.
 */
export class SetMap<K, V> {
  private readonly sets = new Map<K, Set<V>>();

  /**
   * Adds `value` under `key`.
   * @returns true when `key` had no set before (its first value)
   */
  add(key: K, value: V): boolean {
    const set = this.sets.get(key);
    if (set) {
      set.add(value);
      return false;
    }
    this.sets.set(key, new Set([value]));
    return true;
  }

  /**
   * Removes `value` from `key`'s set.
   * @returns true when that emptied the set (and `key` is gone); false when
   *   `value` was not there or others remain
   */
  delete(key: K, value: V): boolean {
    const set = this.sets.get(key);
    if (!set?.delete(value)) return false;
    if (set.size > 0) return false;
    this.sets.delete(key);
    return true;
  }

  /** The values under `key` (live; copy before changing the map while iterating), or undefined. */
  get(key: K): ReadonlySet<V> | undefined {
    return this.sets.get(key);
  }

  /** How many values `key` holds (0 for none). */
  count(key: K): number {
    return this.sets.get(key)?.size ?? 0;
  }

  /** Keys that hold at least one value. */
  keys(): IterableIterator<K> {
    return this.sets.keys();
  }

  /** Number of keys that hold at least one value. */
  get size(): number {
    return this.sets.size;
  }
}
