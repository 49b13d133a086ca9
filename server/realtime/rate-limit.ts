/**
 * Token buckets for rate limits: a bucket holds up to `burst` tokens and
 * gains `perSecond` tokens a second; each event takes one, and an event that
 * finds the bucket empty is refused.
 */

/** One token bucket. Time is read from `now()` in milliseconds (default `performance.now`). */
export class TokenBucket {
  private tokens: number;
  private last: number;

  /**
   * @param perSecond tokens added per second (> 0)
   * @param burst largest number of tokens held (≥ 1); the bucket starts full
   * @throws RangeError when perSecond ≤ 0 or burst < 1
   */
  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(perSecond > 0) || !(burst >= 1)) throw new RangeError(`TokenBucket needs perSecond > 0 and burst ≥ 1 (got ${perSecond}, ${burst})`);
    this.tokens = burst;
    this.last = now();
  }

  /** Takes one token; false (nothing taken) when the bucket is empty. */
  take(): boolean {
    const t = this.now();
    const refill = ((t - this.last) * this.perSecond) / 1000;
    if (refill > 0) {
      this.tokens = Math.min(this.burst, this.tokens + refill);
      this.last = t;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Milliseconds until one token is available (0 when one is). */
  waitMs(): number {
    const t = this.now();
    const tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.perSecond) / 1000);
    return tokens >= 1 ? 0 : Math.ceil(((1 - tokens) * 1000) / this.perSecond);
  }
}

/**
 * Token buckets per key (e.g. per client IP), with at most `maxKeys` kept:
 * when full, the least recently used key is forgotten (a forgotten key
 * starts again with a full bucket).
 */
export class KeyedRateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly maxKeys = 100_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * Takes one token of `key`'s bucket.
   * @returns 0 when allowed, else the seconds to wait before the next try (≥ 1)
   */
  take(key: string): number {
    let bucket = this.buckets.get(key);
    if (bucket) {
      // Most recently used last, so the first key is the one to evict.
      this.buckets.delete(key);
    } else {
      bucket = new TokenBucket(this.perSecond, this.burst, this.now);
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
    }
    this.buckets.set(key, bucket);
    return bucket.take() ? 0 : Math.max(1, Math.ceil(bucket.waitMs() / 1000));
  }

  /** Keys currently tracked. */
  get size(): number {
    return this.buckets.size;
  }
}
