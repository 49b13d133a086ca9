/**
 * The contract every {@link RateLimits} implementation passes. Used by
 * rate-limits.test.ts (memory) and redis-rate-limits.int.test.ts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import type { RateLimits } from './rate-limits.ts';

/** Makes `n` nodes' RateLimits sharing one store (for memory: one instance, since a node's memory is its own store). */
export type RateLimitsFactory = (n: number) => Promise<RateLimits[]>;

/** A fresh limit name, so runs against a shared Redis never see each other's counts. */
const fresh = (what: string) => `t-${what}-${randomBytes(4).toString('hex')}`;

export function rateLimitsContract(name: string, make: RateLimitsFactory): void {
  describe(`${name} (RateLimits contract)`, () => {
    const made: RateLimits[] = [];
    after(async () => {
      for (const r of new Set(made)) await r.close();
    });
    const nodes = async (n: number) => {
      const list = await make(n);
      made.push(...list);
      return list;
    };

    test('a key gets its points, then refusals that say how many seconds to wait', async () => {
      const [limits] = await nodes(1);
      const l = limits!.limiter({ name: fresh('basic'), points: 3, durationSeconds: 60 });
      assert.deepEqual([await l.take('a'), await l.take('a'), await l.take('a')], [0, 0, 0]);
      const wait = await l.take('a');
      assert.ok(wait >= 1 && wait <= 60, `wait ${wait}`);
      assert.equal(await l.take('b'), 0, 'another key has its own budget');
    });

    test('limiters of one spec on several nodes share the budget; other names do not', async () => {
      const [n1, n2] = await nodes(2);
      const spec = { name: fresh('shared'), points: 4, durationSeconds: 60 };
      const a = n1!.limiter(spec);
      const b = n2!.limiter(spec);
      const results = [];
      for (let i = 0; i < 6; i++) results.push(await (i % 2 === 0 ? a : b).take('10.1.2.3'));
      assert.deepEqual(results.map((r) => r === 0), [true, true, true, true, false, false]);
      assert.equal(await n1!.limiter({ ...spec, name: fresh('other') }).take('10.1.2.3'), 0);
    });

    test('a window that ended gives the key its points again', async () => {
      const [limits] = await nodes(1);
      const l = limits!.limiter({ name: fresh('window'), points: 1, durationSeconds: 1 });
      assert.equal(await l.take('k'), 0);
      assert.equal(await l.take('k'), 1);
      const deadline = Date.now() + 5000;
      // Waits on the limiter itself (its window is 1 s), not on a fixed sleep.
      while ((await l.take('k')) !== 0) {
        assert.ok(Date.now() < deadline, 'the window never ended');
        await new Promise((r) => setTimeout(r, 50));
      }
    });
  });
}
