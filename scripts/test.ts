/**
 * `npm test`: the whole check, the same on a laptop and in CI.
 *
 *   1. typecheck     tsc --noEmit -p tsconfig.json
 *   2. build client  client/build.ts
 *   3. unit          *.test.ts under server/, client/, scripts/, ops/
 *   4. int           *.int.test.ts anywhere (with PostgreSQL and Redis)
 *   5. e2e           e2e/**\/*.e2e.test.ts (with PostgreSQL, Redis and Chromium)
 *
 * Usage: `tsx scripts/test.ts [--only unit|int|e2e]`. With `--only`, the
 * typecheck still runs first; the client is built for int and e2e.
 *
 * Each test phase runs `node --import tsx --test --test-reporter=tap <files>`
 * with the files listed explicitly (Node 20 does not expand `**`). A phase
 * with no test files, or whose runner reports 0 tests, fails. Stops at the
 * first failing step. The int phase runs four such runners side by side
 * (lanes, see intLanes in test-plan.ts: the files on the shared Redis in one
 * lane, one at a time); each lane's TAP is printed when it ends.
 *
 * Environment:
 *   TEST_DATABASE_URL  use this PostgreSQL instead of starting a temporary one
 *                      (int and e2e phases get it in their environment).
 *   TEST_REDIS_URL     use this Redis instead of starting a temporary one
 *                      (ops/dev/redis.ts, redis-server installed with apt-get
 *                      when missing and running as root); int and e2e phases
 *                      get it in their environment. Both temporary servers are
 *                      stopped at the end, also on failure or a signal.
 *   CHROMIUM_PATH      use this browser; else /usr/bin/chromium, installed
 *                      with apt-get when missing and running as root.
 *   TEST_PHASE_TIMEOUT_MIN  wall-clock limit per phase in minutes (default 40).
 *
 * Time limits per test and per test file (node's --test-timeout): unit 2 min,
 * int 5 min, e2e 10 min. A test can set a shorter one itself.
 *
 * Output: the runner's TAP (including `# tests N`, `# pass N`, `# fail N`)
 * on stdout, then a summary ending in one line `N passed, M failed` (totals
 * over all phases; a failed non-test step counts as one failure). Exit code
 * 0 only when everything passed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureChromium } from '../ops/dev/chromium.ts';
import { startPostgres, type PostgresServer } from '../ops/dev/postgres.ts';
import { startRedis, type RedisServer } from '../ops/dev/redis.ts';
import { intLanes, parseTapSummary, planTests, type Phase, type TapSummary, type TestPlan, UNIT_ROOTS } from './test-plan.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

interface StepResult {
  name: string;
  ok: boolean;
  seconds: number;
  detail: string;
  pass: number;
  fail: number;
}

const results: StepResult[] = [];
const running = new Set<ChildProcess>();
let postgres: PostgresServer | null = null;
let redis: RedisServer | null = null;
let interrupted: NodeJS.Signals | null = null;

function out(line: string): void {
  process.stdout.write(line + '\n');
}

function header(title: string): void {
  out('');
  out(`=== ${title} ===`);
}

function parseArgs(argv: string[]): { only: Phase | null } {
  let only: Phase | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = a === '--only' ? argv[++i] : a.startsWith('--only=') ? a.slice(7) : undefined;
    if (value !== undefined) {
      if (value !== 'unit' && value !== 'int' && value !== 'e2e') {
        throw new Error(`--only takes unit, int or e2e (got ${JSON.stringify(value)})`);
      }
      only = value;
    } else if (a === '--help' || a === '-h') {
      out('usage: tsx scripts/test.ts [--only unit|int|e2e]');
      process.exit(0);
    } else {
      throw new Error(`unknown argument ${JSON.stringify(a)}; usage: tsx scripts/test.ts [--only unit|int|e2e]`);
    }
  }
  return { only };
}

/**
 * Runs a command in its own process group (so a signal can end it and
 * everything it started), stdout copied to ours and kept (last 256 KB) for
 * parsing, stderr passed through. Resolves with the exit code (null when
 * killed) and the kept stdout.
 */
function runChild(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
  echo = true,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; timedOut: boolean }> {
  return new Promise((resolveRun) => {
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
    running.add(child);
    let kept = '';
    child.stdout!.on('data', (b: Buffer) => {
      if (echo) process.stdout.write(b);
      kept += b.toString('utf8');
      if (kept.length > 512 * 1024) kept = kept.slice(-256 * 1024);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      out(`\n!!! ${cmd} ${args.slice(0, 3).join(' ')}… still running after ${timeoutMs / 60000} min: killing it`);
      void killGroup(child);
    }, timeoutMs);
    child.on('error', (err) => {
      out(`!!! could not start ${cmd}: ${err.message}`);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      resolveRun({ code, signal, stdout: kept, timedOut });
    });
  });
}

/** SIGTERM to the child's process group, SIGKILL 5 s later if it is still there. */
function killGroup(child: ChildProcess): Promise<void> {
  return new Promise((res) => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return res();
    const pid = child.pid;
    const signalGroup = (sig: NodeJS.Signals) => {
      try {
        process.kill(-pid, sig);
      } catch {
        // group already gone
      }
    };
    signalGroup('SIGTERM');
    const t = setTimeout(() => signalGroup('SIGKILL'), 5000);
    child.once('close', () => {
      clearTimeout(t);
      // Grandchildren that ignored SIGTERM (a stuck server, a browser) go too.
      signalGroup('SIGKILL');
      res();
    });
  });
}

function record(r: StepResult): StepResult {
  results.push(r);
  out(`--- ${r.name}: ${r.ok ? 'ok' : 'FAILED'}${r.detail ? ` (${r.detail})` : ''} in ${r.seconds.toFixed(1)} s`);
  return r;
}

async function step(name: string, fn: () => Promise<{ ok: boolean; detail?: string; pass?: number; fail?: number }>): Promise<boolean> {
  const t0 = Date.now();
  let r: { ok: boolean; detail?: string; pass?: number; fail?: number };
  try {
    r = await fn();
  } catch (err) {
    out(`!!! ${name}: ${err instanceof Error ? err.message : String(err)}`);
    r = { ok: false, detail: 'error' };
  }
  if (interrupted) r = { ...r, ok: false, detail: `interrupted by ${interrupted}` };
  const pass = r.pass ?? 0;
  // A failed step that reported no failing test still counts as one failure.
  const fail = r.ok ? (r.fail ?? 0) : Math.max(1, r.fail ?? 0);
  return record({ name, ok: r.ok, seconds: (Date.now() - t0) / 1000, detail: r.detail ?? '', pass, fail }).ok;
}

async function typecheck(): Promise<boolean> {
  header('typecheck: tsc --noEmit -p tsconfig.json');
  return step('typecheck', async () => {
    const tsc = join(ROOT, 'node_modules', '.bin', 'tsc');
    if (!existsSync(tsc)) throw new Error('node_modules/.bin/tsc not found: run `npm ci` first');
    const r = await runChild(tsc, ['--noEmit', '-p', 'tsconfig.json'], process.env, 10 * 60_000);
    return { ok: r.code === 0, detail: r.code === 0 ? '' : `tsc exit ${r.code ?? r.signal}` };
  });
}

async function buildClient(): Promise<boolean> {
  header('build client: client/build.ts');
  return step('build client', async () => {
    if (!existsSync(join(ROOT, 'client', 'build.ts'))) throw new Error('client/build.ts not found');
    const r = await runChild(process.execPath, ['--import', 'tsx', 'client/build.ts'], process.env, 10 * 60_000);
    return { ok: r.code === 0, detail: r.code === 0 ? '' : `exit ${r.code ?? r.signal}` };
  });
}

/**
 * Per phase: how to run it. `testTimeoutMs` goes to `--test-timeout`, which
 * on Node 20 limits each test AND each test file as a whole (a file that
 * hangs after its tests, on an open handle, is failed when it runs out).
 */
const PHASE_INFO: Record<Phase, { title: string; where: string; concurrency: number; testTimeoutMs: number; lanes: number }> = {
  unit: {
    title: 'unit tests',
    where: `*.test.ts under ${UNIT_ROOTS.map((d) => d + '/').join(', ')} (not *.int.test.ts)`,
    concurrency: Math.max(1, availableParallelism()),
    testTimeoutMs: 120_000,
    lanes: 1,
  },
  // Integration files mostly wait (timeouts, grace periods, restarts): four lanes side by side, one file at a
  // time in each, the files on the shared Redis all in one lane (see intLanes in test-plan.ts).
  int: { title: 'integration tests', where: '*.int.test.ts anywhere outside node_modules', concurrency: 1, testTimeoutMs: 300_000, lanes: 4 },
  e2e: { title: 'e2e tests', where: 'e2e/**/*.e2e.test.ts', concurrency: 1, testTimeoutMs: 600_000, lanes: 1 },
};

async function testPhase(phase: Phase, files: string[], env: NodeJS.ProcessEnv): Promise<boolean> {
  const info = PHASE_INFO[phase];
  header(`${info.title} (${files.length} file${files.length === 1 ? '' : 's'})`);
  return step(phase, async () => {
    if (files.length === 0) {
      throw new Error(`no ${phase} test files found (looked for ${info.where}); every phase must have tests`);
    }
    for (const f of files) out(`# file ${f}`);
    const phaseTimeoutMs = Number(process.env.TEST_PHASE_TIMEOUT_MIN || 40) * 60_000;
    const lanes = intLanesFor(phase, files);
    const runLane = (laneFiles: string[]) =>
      runChild(
        process.execPath,
        ['--import', 'tsx', '--test', '--test-reporter=tap', `--test-concurrency=${info.concurrency}`, `--test-timeout=${info.testTimeoutMs}`, ...laneFiles],
        env,
        phaseTimeoutMs,
        lanes.length === 1,
      );
    // Several lanes: each lane's TAP is printed whole when it ends (not interleaved), and the summaries add up.
    const runs = await Promise.all(
      lanes.map(async (laneFiles, i) => {
        const r = await runLane(laneFiles);
        if (lanes.length > 1) {
          out(`# lane ${i + 1} of ${lanes.length}: ${laneFiles.join(' ')}`);
          process.stdout.write(r.stdout);
        }
        return r;
      }),
    );
    const summaries = runs.map((r) => parseTapSummary(r.stdout));
    const bad = runs.find((r, i) => !summaries[i]);
    if (bad) {
      return { ok: false, detail: `test runner ended (${bad.code ?? bad.signal}) without a summary${bad.timedOut ? ', timed out' : ''}` };
    }
    const s = (summaries as TapSummary[]).reduce((a, b) => ({
      tests: a.tests + b.tests, pass: a.pass + b.pass, fail: a.fail + b.fail, cancelled: a.cancelled + b.cancelled, skipped: a.skipped + b.skipped, todo: a.todo + b.todo,
    }));
    const r = runs.find((x) => x.code !== 0 || x.timedOut) ?? runs[0]!;
    const fail = s.fail + s.cancelled;
    if (s.tests === 0) return { ok: false, detail: 'the runner found 0 tests in these files', pass: 0, fail: 0 };
    const ok = r.code === 0 && fail === 0 && !r.timedOut;
    const detail = `${s.pass} passed, ${fail} failed` + (s.skipped ? `, ${s.skipped} skipped` : '') + (s.todo ? `, ${s.todo} todo` : '');
    return { ok, detail: ok ? detail : `${detail}; runner exit ${r.code ?? r.signal}${r.timedOut ? ', timed out' : ''}`, pass: s.pass, fail };
  });
}

/** The phase's files as lanes run side by side (one lane unless the phase asks for more). */
function intLanesFor(phase: Phase, files: string[]): string[][] {
  const lanes = PHASE_INFO[phase].lanes;
  if (lanes <= 1) return [files];
  return intLanes(files, (f) => readFileSync(join(ROOT, f), 'utf8'), lanes);
}

async function ensurePostgres(env: NodeJS.ProcessEnv): Promise<boolean> {
  if (env.TEST_DATABASE_URL) return true;
  header('PostgreSQL: starting a temporary server');
  return step('postgres', async () => {
    postgres = await startPostgres();
    env.TEST_DATABASE_URL = postgres.url;
    out(`TEST_DATABASE_URL=${postgres.url}`);
    return { ok: true };
  });
}

async function ensureRedis(env: NodeJS.ProcessEnv): Promise<boolean> {
  if (env.TEST_REDIS_URL) return true;
  header('Redis: starting a temporary server');
  return step('redis', async () => {
    redis = await startRedis();
    env.TEST_REDIS_URL = redis.url;
    out(`TEST_REDIS_URL=${redis.url}`);
    return { ok: true };
  });
}

async function stopRedis(): Promise<void> {
  const server = redis;
  if (!server) return;
  redis = null;
  try {
    await server.stop();
    out('Redis stopped.');
  } catch (err) {
    out(`!!! stopping Redis failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

async function ensureBrowser(env: NodeJS.ProcessEnv): Promise<boolean> {
  header('Chromium');
  return step('chromium', async () => {
    const path = await ensureChromium();
    env.CHROMIUM_PATH = path;
    out(`CHROMIUM_PATH=${path}`);
    return { ok: true };
  });
}

async function stopPostgres(): Promise<void> {
  const pgServer = postgres;
  if (!pgServer) return;
  postgres = null;
  try {
    await pgServer.stop();
    out('PostgreSQL stopped.');
  } catch (err) {
    out(`!!! stopping PostgreSQL failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function printSummary(): { pass: number; fail: number } {
  header('summary');
  let pass = 0;
  let fail = 0;
  for (const r of results) {
    pass += r.pass;
    fail += r.fail;
    out(`${r.ok ? 'ok    ' : 'FAILED'}  ${r.name.padEnd(13)} ${r.seconds.toFixed(1).padStart(6)} s  ${r.detail}`);
  }
  out(`${pass} passed, ${fail} failed`);
  return { pass, fail };
}

function describePlan(plan: TestPlan): void {
  out(`found ${plan.unit.length} unit, ${plan.int.length} integration, ${plan.e2e.length} e2e test files`);
}

async function main(): Promise<number> {
  const { only } = parseArgs(process.argv.slice(2));
  const env: NodeJS.ProcessEnv = { ...process.env };
  const wants = (p: Phase) => only === null || only === p;

  const plan = planTests(ROOT);
  describePlan(plan);
  const wanted = (['unit', 'int', 'e2e'] as const).filter(wants);
  const empty = wanted.filter((p) => plan[p].length === 0);
  if (plan.orphans.length > 0 || empty.length > 0) {
    header('test layout');
    const layoutOk = await step('test layout', async () => {
      const problems: string[] = [];
      for (const p of empty) problems.push(`no ${p} test files found (looked for ${PHASE_INFO[p].where}); every phase must have tests`);
      if (plan.orphans.length > 0) {
        problems.push(
          `these test files would never run: ${plan.orphans.join(', ')}. Unit tests live under ${UNIT_ROOTS.map((d) => d + '/').join(', ')}; ` +
            'integration tests are named *.int.test.ts; browser tests are e2e/**/*.e2e.test.ts',
        );
      }
      for (const msg of problems) out(`!!! ${msg}`);
      return { ok: false, detail: problems.length === 1 ? 'see above' : `${problems.length} problems, see above`, fail: problems.length };
    });
    if (!layoutOk) return 1;
  }

  if (!(await typecheck())) return 1;
  if (only !== 'unit' && !(await buildClient())) return 1;
  if (interrupted) return 1;
  if (wants('unit') && !(await testPhase('unit', plan.unit, env))) return 1;
  if (wants('int') || wants('e2e')) {
    if (!(await ensurePostgres(env))) return 1;
    if (!(await ensureRedis(env))) return 1;
  }
  if (wants('int') && !(await testPhase('int', plan.int, env))) return 1;
  if (wants('e2e')) {
    if (!(await ensureBrowser(env))) return 1;
    if (!(await testPhase('e2e', plan.e2e, env))) return 1;
  }
  return 0;
}

async function onSignal(signal: NodeJS.Signals): Promise<void> {
  if (interrupted) return;
  interrupted = signal;
  out(`\n!!! ${signal}: stopping`);
  await Promise.all([...running].map((c) => killGroup(c)));
  await stopPostgres();
  await stopRedis();
  out(`interrupted by ${signal}; the summary covers the steps that ran`);
  printSummary();
  process.exit(signal === 'SIGINT' ? 130 : 143);
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, (s) => void onSignal(s));

let code = 1;
try {
  code = await main();
} catch (err) {
  out(`!!! ${err instanceof Error ? err.message : String(err)}`);
  record({ name: 'npm test', ok: false, seconds: 0, detail: 'error, see above', pass: 0, fail: 1 });
  code = 1;
} finally {
  await stopPostgres();
  await stopRedis();
}
if (!interrupted) {
  const { fail } = printSummary();
  process.exitCode = code !== 0 || fail > 0 ? 1 : 0;
}
