/**
 * The Redis of a test file: `TEST_REDIS_URL` when set (npm test sets it),
 * else a temporary one started in before() and stopped in after().
 *
 *   const redisUrl = useTestRedis();
 *   test('...', async () => { const r = new Redis(redisUrl()); ... });
 */
import { after, before } from 'node:test';
import { startRedis, type RedisServer } from '../../ops/dev/redis.ts';

/**
 * Registers the file's before/after hooks (call it at the top level, before
 * the hooks that must run after it) and returns a getter of the Redis URL.
 * @returns `() => url`; it throws if read before the before() hook has run.
 */
export function useTestRedis(): () => string {
  let own: RedisServer | null = null;
  let url = process.env.TEST_REDIS_URL ?? '';
  before(async () => {
    if (!url) {
      own = await startRedis();
      url = own.url;
    }
  });
  after(async () => {
    await own?.stop();
  });
  return () => {
    if (!url) throw new Error('useTestRedis(): the Redis URL is read before the before() hook ran');
    return url;
  };
}
