import { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible';
import { specPrefix, wrapLimiter } from './rate-limits.ts';
import type { KeyedLimiter, LimitSpec, RateLimits } from './rate-limits.ts';

/** Options of {@link RedisRateLimits}. */
export interface RedisRateLimitsOptions {
  /** Redis URL, as for RedisBroker. */
  url: string;
  /** Prefix of every Redis key. Default `plexus:rl:`. */
  keyPrefix?: string;
  /** Called with connection errors. Default: ignored. */
  onError?: (err: Error) => void;
}

/**
 * {@link RateLimits} counted in Redis, shared by every node of a cluster:
 * key `<keyPrefix><name>:<points>:<duration>:<key>` holds the count of the
 * current window, with the window as its TTL (rate-limiter-flexible's
 * atomic INCR script).
 *
 * While Redis is not ready, each limiter falls back at once (no waiting on
 * the connection) to an in-memory limiter with the same budget: during an
 * outage each node counts alone.
 */
export class RedisRateLimits implements RateLimits {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly onError: (err: Error) => void;

  /** Connects in the background; until ready, limiters use their in-memory fallback. */
  constructor(opts: RedisRateLimitsOptions) {
    this.prefix = opts.keyPrefix ?? 'plexus:rl:';
    this.onError = opts.onError ?? (() => {});
    this.redis = new Redis(opts.url, {
      connectionName: 'plexus-rate-limits',
      maxRetriesPerRequest: 1,
      retryStrategy: (times: number) => Math.min(50 * times, 1000),
    });
    this.redis.on('error', (err: Error) => this.onError(err));
  }

  /** Resolves once the connection is ready, or after `timeoutMs` (never rejects): before that, limiters count in memory. */
  async ready(timeoutMs = 3000): Promise<void> {
    if (this.redis.status === 'ready') return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.redis.off('ready', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.redis.once('ready', done);
    });
  }

  limiter(spec: LimitSpec): KeyedLimiter {
    const keyPrefix = this.prefix + specPrefix(spec);
    const insurance = new RateLimiterMemory({ keyPrefix, points: spec.points, duration: spec.durationSeconds });
    return wrapLimiter(
      new RateLimiterRedis({ storeClient: this.redis, keyPrefix, points: spec.points, duration: spec.durationSeconds, rejectIfRedisNotReady: true, insuranceLimiter: insurance }),
      this.onError,
    );
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}
