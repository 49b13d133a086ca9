/**
 * Open connections per key (a client IP), against a cap: the per-IP
 * connection limit (config MAX_CONNECTIONS_PER_IP). The caller checks
 * {@link allows} before accepting a socket, {@link add}s it once open and
 * {@link remove}s it on close; keys with no open connection are forgotten,
 * so the map holds only addresses with open sockets.
 */
export class ConnectionsPerKey {
  private readonly counts = new Map<string, number>();

  /**
   * @param max connections one key may have open (≥ 1)
   * @throws RangeError when max < 1
   */
  constructor(readonly max: number) {
    if (!(max >= 1)) throw new RangeError(`ConnectionsPerKey needs max ≥ 1 (got ${max})`);
  }

  /** True when `key` has fewer than `max` open connections. */
  allows(key: string): boolean {
    return (this.counts.get(key) ?? 0) < this.max;
  }

  /** Counts one more open connection of `key`. */
  add(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /** Counts one connection of `key` less (ignored when it has none). */
  remove(key: string): void {
    const n = this.counts.get(key);
    if (n === undefined) return;
    if (n <= 1) this.counts.delete(key);
    else this.counts.set(key, n - 1);
  }

  /** Open connections of `key`. */
  count(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  /** Keys with at least one open connection. */
  get size(): number {
    return this.counts.size;
  }
}
