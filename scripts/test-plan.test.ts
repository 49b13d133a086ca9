import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { intLanes, parseTapSummary, planTests } from './test-plan.ts';

describe('planTests', () => {
  const root = mkdtempSync(join(tmpdir(), 'plexus-plan-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const touch = (rel: string) => {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), '');
  };
  for (const f of [
    'server/protocol/codec.test.ts',
    'server/db/queries.int.test.ts',
    'client/src/adapter.test.ts',
    'scripts/deep/a/b/c.test.ts',
    'ops/dev/postgres.int.test.ts',
    'e2e/rooms.e2e.test.ts',
    'e2e/nested/more.e2e.test.ts',
    'e2e/helper.test.ts',
    'bench/load.test.ts',
    'server/x.e2e.test.ts',
    'migrations/m.int.test.ts',
    'node_modules/pkg/a.test.ts',
    'server/node_modules/b.int.test.ts',
    '.git/c.test.ts',
    'client/dist/d.test.ts',
    'server/codec.ts',
    'server/not-a-test.test.js',
  ]) {
    touch(f);
  }

  it('puts plain *.test.ts under server, client, scripts and ops in the unit phase, at any depth', () => {
    assert.deepEqual(planTests(root).unit, ['client/src/adapter.test.ts', 'scripts/deep/a/b/c.test.ts', 'server/protocol/codec.test.ts']);
  });

  it('finds *.int.test.ts anywhere except node_modules, dot-directories and build output', () => {
    assert.deepEqual(planTests(root).int, ['migrations/m.int.test.ts', 'ops/dev/postgres.int.test.ts', 'server/db/queries.int.test.ts']);
  });

  it('finds *.e2e.test.ts under e2e/ at any depth', () => {
    assert.deepEqual(planTests(root).e2e, ['e2e/nested/more.e2e.test.ts', 'e2e/rooms.e2e.test.ts']);
  });

  it('reports test files that no phase would run', () => {
    assert.deepEqual(planTests(root).orphans, ['bench/load.test.ts', 'e2e/helper.test.ts', 'server/x.e2e.test.ts']);
  });
});

describe('parseTapSummary', () => {
  it('reads the closing counts of a node:test TAP stream', () => {
    const tap = [
      'TAP version 13',
      '# Subtest: a',
      'ok 1 - a',
      '  ---',
      '  duration_ms: 1.2',
      '  ...',
      '1..1',
      '# tests 4',
      '# suites 1',
      '# pass 2',
      '# fail 1',
      '# cancelled 1',
      '# skipped 0',
      '# todo 0',
      '# duration_ms 120.5',
      '',
    ].join('\n');
    assert.deepEqual(parseTapSummary(tap), { tests: 4, pass: 2, fail: 1, cancelled: 1, skipped: 0, todo: 0 });
  });

  it('ignores indented subtest lines and keeps the last top-level summary', () => {
    const tap = ['    # tests 99', '# tests 1', '# pass 1', '# fail 0', '# tests 3', '# pass 3', '# fail 0'].join('\n');
    assert.deepEqual(parseTapSummary(tap), { tests: 3, pass: 3, fail: 0, cancelled: 0, skipped: 0, todo: 0 });
  });

  it('returns null when the runner printed no summary', () => {
    assert.equal(parseTapSummary('TAP version 13\n# Subtest: x\n'), null);
  });
});

describe('intLanes', () => {
  const sources: Record<string, string> = {
    'a/cluster.int.test.ts': "const s = await startClusterServices();",
    'a/restart.int.test.ts': "const s = await startClusterServices({ ownRedis: true });",
    'b/redis.int.test.ts': 'new RedisBroker({ url: process.env.TEST_REDIS_URL! })',
    'c/big.int.test.ts': 'x'.repeat(300),
    'c/mid.int.test.ts': 'x'.repeat(200),
    'c/small.int.test.ts': 'x'.repeat(100),
  };
  const files = Object.keys(sources).sort();
  it('puts every file that uses the shared Redis in the first lane and deals the others to the rest by weight', () => {
    const lanes = intLanes(files, (f) => sources[f]!, 3);
    assert.deepEqual(lanes[0], ['a/cluster.int.test.ts', 'b/redis.int.test.ts']);
    assert.deepEqual(lanes.slice(1), [['a/restart.int.test.ts', 'c/big.int.test.ts'], ['c/mid.int.test.ts', 'c/small.int.test.ts']]);
    assert.deepEqual(lanes.flat().sort(), files);
  });
  it('with one lane keeps every file in it, in order', () => {
    assert.deepEqual(intLanes(files, (f) => sources[f]!, 1), [files]);
  });
});
