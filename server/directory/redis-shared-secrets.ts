import { Redis } from 'ioredis';
import { checkSecretName, type SharedSecrets } from './shared-secrets.ts';

/** Options of {@link RedisSharedSecrets}. */
export interface RedisSharedSecretsOptions {
  /** Redis URL, as for RedisBroker. */
  url: string;
  /** This node's id (names the Redis connection). */
  nodeId: string;
  /** Prefix of every Redis key used. Default `plexus:`. */
  keyPrefix?: string;
  /** How often the agreed secrets are stored again (NX), in ms. Default 2000 (the directory's heartbeat). */
  refreshMs?: number;
  /** Longest wait for {@link RedisSharedSecrets.agree}, in ms. Default 10000. */
  agreeTimeoutMs?: number;
  /** Longest wait for one Redis command, in ms (ioredis `commandTimeout`). Default 2000. */
  commandTimeoutMs?: number;
  /** Called with connection and refresh errors. Default: ignored. */
  onError?: (err: Error) => void;
}

/**
 * Cluster-wide secrets in Redis: `<keyPrefix><name>` (e.g.
 * `plexus:session-secret`) holds the secret the first node stored (SET NX).
 * Each node that agreed on a secret stores it again (NX) every `refreshMs`
 * and right after reconnecting, so a Redis restart without persistence does
 * not let a newly started node pick a different one.
 *
 * Connects on the first {@link agree} (a node with SESSION_SECRET set never does).
 */
export class RedisSharedSecrets implements SharedSecrets {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly refreshMs: number;
  private readonly agreeTimeoutMs: number;
  private readonly onError: (err: Error) => void;
  /** Agreed secrets by key. */
  private readonly agreed = new Map<string, string>();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(opts: RedisSharedSecretsOptions) {
    this.prefix = opts.keyPrefix ?? 'plexus:';
    this.refreshMs = opts.refreshMs ?? 2000;
    this.agreeTimeoutMs = opts.agreeTimeoutMs ?? 10_000;
    this.onError = opts.onError ?? (() => {});
    this.redis = new Redis(opts.url, {
      connectionName: `plexus-secrets-${opts.nodeId}`,
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      retryStrategy: (times: number) => Math.min(50 * times, 1000),
      commandTimeout: opts.commandTimeoutMs ?? 2000,
    });
    this.redis.on('error', (err: Error) => this.onError(err));
    this.redis.on('ready', () => void this.storeAgain());
  }

  /** @throws when Redis does not answer within `agreeTimeoutMs` */
  async agree(name: string, candidate: string): Promise<string> {
    checkSecretName(name);
    if (this.closed) throw new Error('RedisSharedSecrets is closed');
    const key = this.prefix + name;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis did not answer within ${this.agreeTimeoutMs} ms`)), this.agreeTimeoutMs);
    });
    try {
      return await Promise.race([this.setAndRead(key, candidate), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.redis.disconnect();
  }

  private async setAndRead(key: string, candidate: string): Promise<string> {
    await this.redis.set(key, candidate, 'NX');
    const stored = await this.redis.get(key);
    if (!stored) throw new Error(`the shared secret ${key} vanished from Redis`);
    if (!this.closed) {
      this.agreed.set(key, stored);
      this.timer ??= setInterval(() => void this.storeAgain(), this.refreshMs);
      this.timer.unref();
    }
    return stored;
  }

  /** Stores every agreed secret again unless Redis has one (it may have restarted empty). Never throws. */
  private async storeAgain(): Promise<void> {
    if (this.closed || this.agreed.size === 0) return;
    try {
      const m = this.redis.multi();
      for (const [key, secret] of this.agreed) m.set(key, secret, 'NX');
      await m.exec();
    } catch (err) {
      this.onError(err as Error);
    }
  }
}
