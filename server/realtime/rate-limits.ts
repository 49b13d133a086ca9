import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';

/**
 * Per-key limits that hold across the nodes of a cluster (per client IP, per
 * email address): `points` events per key in fixed windows of
 * `durationSeconds`, the window starting at the key's first event. Built on
 * rate-limiter-flexible. {@link MemoryRateLimits} counts on this node only
 * (one node, no Redis); `RedisRateLimits` (redis-rate-limits.ts) counts in
 * Redis, so N nodes together allow the limit, not N times it.
 */

/** One limit: a name (part of the storage key) and its budget. */
export interface LimitSpec {
  /** Short name, e.g. `http-create`; limits with different names never share counts. */
  name: string;
  /** Events allowed per key and window (≥ 1). */
  points: number;
  /** Window length in whole seconds (≥ 1). */
  durationSeconds: number;
}

/** Counts events per key against one {@link LimitSpec}. */
export interface KeyedLimiter {
  /**
   * Counts one event for `key`.
   * @returns 0 when allowed; else the whole seconds (≥ 1) until the key's window ends. Never rejects.
   */
  take(key: string): Promise<number>;
}

/** Makes {@link KeyedLimiter}s sharing one store. */
export interface RateLimits {
  /** A limiter for `spec`. Limiters made with the same spec share their counts. */
  limiter(spec: LimitSpec): KeyedLimiter;
  /** Releases the store (a Redis connection). */
  close(): Promise<void>;
}

/** Validates a spec; the storage key prefix includes its numbers, so a changed limit starts with fresh counts. */
export function specPrefix(spec: LimitSpec): string {
  if (!/^[a-z0-9-]{1,40}$/.test(spec.name)) throw new RangeError(`limit name ${JSON.stringify(spec.name)}: use 1-40 of a-z, 0-9, -`);
  if (!Number.isInteger(spec.points) || spec.points < 1) throw new RangeError(`limit ${spec.name}: points must be a whole number ≥ 1`);
  // The in-memory store expires keys with setTimeout, which cannot wait longer than 2^31 - 1 ms (24.8 days).
  if (!Number.isInteger(spec.durationSeconds) || spec.durationSeconds < 1 || spec.durationSeconds > 1_000_000) {
    throw new RangeError(`limit ${spec.name}: durationSeconds must be a whole number from 1 to 1000000`);
  }
  return `${spec.name}:${spec.points}:${spec.durationSeconds}`;
}

/** Wraps a rate-limiter-flexible limiter: a refusal becomes the seconds to wait; a store error (no insurance left) allows the event. */
export function wrapLimiter(limiter: RateLimiterAbstract, onError: (err: Error) => void = () => {}): KeyedLimiter {
  return {
    async take(key) {
      try {
        await limiter.consume(key);
        return 0;
      } catch (res) {
        if (res instanceof RateLimiterRes) return Math.max(1, Math.ceil(res.msBeforeNext / 1000));
        onError(res as Error);
        return 0;
      }
    },
  };
}

/**
 * The rate limits of one node, in memory (the default without `REDIS_URL`).
 * Keys are forgotten when their window ends.
 */
export class MemoryRateLimits implements RateLimits {
  private readonly limiters = new Map<string, KeyedLimiter>();

  limiter(spec: LimitSpec): KeyedLimiter {
    const prefix = specPrefix(spec);
    let l = this.limiters.get(prefix);
    if (!l) {
      l = wrapLimiter(new RateLimiterMemory({ keyPrefix: prefix, points: spec.points, duration: spec.durationSeconds }));
      this.limiters.set(prefix, l);
    }
    return l;
  }

  async close(): Promise<void> {}
}

/**
 * A limit of `burst` requests at once and `perMinute` on average, as fixed
 * windows: `burst` points per `burst × 60 / perMinute` seconds (at least 1 s,
 * at most a day).
 */
export function burstSpec(name: string, perMinute: number, burst: number): LimitSpec {
  return { name, points: burst, durationSeconds: Math.min(86_400, Math.max(1, Math.round((burst * 60) / perMinute))) };
}
