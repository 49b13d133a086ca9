/**
 * Which test files `npm test` runs, and how to read the node test runner's
 * TAP summary. Pure functions over the file system / text, used by
 * scripts/test.ts.
 */
import { readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

/** The three test phases, in the order `npm test` runs them. */
export type Phase = 'unit' | 'int' | 'e2e';

/** Test files per phase (paths relative to the root, `/`-separated, sorted). */
export interface TestPlan {
  /** `*.test.ts` under server/, client/, scripts/, ops/ that are not `*.int.test.ts` / `*.e2e.test.ts`. */
  unit: string[];
  /** `*.int.test.ts` anywhere in the tree. */
  int: string[];
  /** `*.e2e.test.ts` under e2e/. */
  e2e: string[];
  /** `*.test.ts` files that no phase picks up (e.g. `bench/x.test.ts`, `e2e/x.test.ts`); these would silently never run. */
  orphans: string[];
}

/** Top-level directories whose `*.test.ts` (not int/e2e) are unit tests. */
export const UNIT_ROOTS = ['server', 'client', 'scripts', 'ops'] as const;

/** Directory names never searched: dependencies, build output, VCS and runtime data. */
const SKIP_DIRS = new Set(['node_modules', 'dist', 'data', 'test-results', 'coverage']);

/** Every `*.test.ts` under `root`, relative and `/`-separated, skipping {@link SKIP_DIRS} and dot-directories. */
export function listTestFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) {
        if (e.name.startsWith('.') || SKIP_DIRS.has(e.name)) continue;
        walk(join(dir, e.name));
      } else if (e.isFile() && e.name.endsWith('.test.ts')) {
        out.push(relative(root, join(dir, e.name)).split(sep).join('/'));
      }
    }
  };
  walk(root);
  return out.sort();
}

/** Sorts the test files under `root` into phases (see {@link TestPlan}). */
export function planTests(root: string): TestPlan {
  const plan: TestPlan = { unit: [], int: [], e2e: [], orphans: [] };
  for (const file of listTestFiles(root)) {
    const top = file.split('/')[0];
    if (file.endsWith('.int.test.ts')) plan.int.push(file);
    else if (file.endsWith('.e2e.test.ts')) (top === 'e2e' ? plan.e2e : plan.orphans).push(file);
    else if ((UNIT_ROOTS as readonly string[]).includes(top ?? '')) plan.unit.push(file);
    else plan.orphans.push(file);
  }
  return plan;
}

/** Counts from the node test runner's closing TAP lines (`# tests N`, `# pass N`, ...). */
export interface TapSummary {
  tests: number;
  pass: number;
  fail: number;
  cancelled: number;
  skipped: number;
  todo: number;
}

/**
 * Reads the last top-level `# tests|pass|fail|cancelled|skipped|todo N` lines
 * of a node:test TAP stream. Returns null when there is no `# tests` line
 * (the runner crashed or was killed before its summary).
 */
export function parseTapSummary(tap: string): TapSummary | null {
  const found: Partial<Record<keyof TapSummary, number>> = {};
  for (const line of tap.split('\n')) {
    const m = /^# (tests|pass|fail|cancelled|skipped|todo) (\d+)\s*$/.exec(line);
    if (m) found[m[1] as keyof TapSummary] = Number(m[2]);
  }
  if (found.tests === undefined) return null;
  return {
    tests: found.tests,
    pass: found.pass ?? 0,
    fail: found.fail ?? 0,
    cancelled: found.cancelled ?? 0,
    skipped: found.skipped ?? 0,
    todo: found.todo ?? 0,
  };
}

/** What in a test file's source says it uses the shared `TEST_REDIS_URL` (directly or through cluster-services.ts without `ownRedis`). */
const SHARED_REDIS = /TEST_REDIS_URL|startClusterServices\((?!\{\s*ownRedis:\s*true)/;

/**
 * Splits the integration test files into `lanes` lists run side by side
 * (each list one file at a time). Files that use the shared Redis all go
 * to the first lane, one after another: their nodes would otherwise see
 * each other in the node directory, the shared session secret and the
 * cluster-wide rate-limit keys. The other files (each with its own servers
 * on free ports, its own databases and, when it restarts Redis, its own
 * Redis) are dealt to the remaining lanes in turn, by the weights of
 * `weigh` (a file's size stands in for its run time), largest first.
 * @param source reads a file's text (relative path)
 */
export function intLanes(files: readonly string[], source: (file: string) => string, lanes: number, weigh: (file: string) => number = (f) => source(f).length): string[][] {
  const out: string[][] = Array.from({ length: Math.max(1, lanes) }, () => []);
  const load = out.map(() => 0);
  const free: string[] = [];
  for (const f of files) {
    if (out.length > 1 && !SHARED_REDIS.test(source(f))) {
      free.push(f);
    } else {
      out[0]!.push(f);
      load[0]! += weigh(f);
    }
  }
  const first = out.length > 1 ? 1 : 0;
  for (const f of [...free].sort((a, b) => weigh(b) - weigh(a) || a.localeCompare(b))) {
    let best = first;
    for (let i = first; i < out.length; i++) if (load[i]! < load[best]!) best = i;
    out[best]!.push(f);
    load[best]! += weigh(f);
  }
  return out.map((l) => [...l].sort()).filter((l) => l.length > 0);
}
