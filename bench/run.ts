/**
 * `npm run bench`: the same workload against Plexus (one node), Plexus as a
 * two-node cluster over Redis, a Socket.IO 4 relay and a bare uWebSockets.js
 * relay, each started as its own child process(es), in one run. Scenarios:
 *
 * - search: rooms of 25 clients sending NAF `um` updates at 15 Hz; the number
 *   of active rooms (or the rate) rises until p99 delivery latency passes the
 *   bound or fewer than 95% of deliveries arrive; reports the highest
 *   delivered rate under the bound with its latencies, server CPU and RSS;
 * - joins: new connections at 100 per second, each joining a room at once;
 *   join latency percentiles;
 * - idle10k: 10,000 joined idle clients; server RSS per client over its idle
 *   baseline.
 * - blocks (Plexus only): the same load without blocks (A), with every
 *   client of room 0 blocking two members (B) and unblocked again (C); the
 *   other rooms' delivered rate, latency and server CPU per delivery, B/A.
 *
 * Prints a table, writes bench/results/<date>-<name>.json and .md, and the
 * summary into README.md between `<!-- bench:start -->` and
 * `<!-- bench:end -->`. Every run is bounded (`--timeout`), and children are
 * killed on exit, SIGINT and SIGTERM. `--help` lists the flags.
 */
import { execFileSync, fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { mergeEncoded, summarize } from './lib/histogram.ts';
import { isPlexus } from './lib/ipc.ts';
import type { ClientSpec, ConnectResult, LoadResult, ServerKind, Target, WorkerRequest, WorkerRequestBody, WorkerResponse } from './lib/ipc.ts';
import { HELP, parseOptions } from './lib/options.ts';
import type { BenchOptions } from './lib/options.ts';
import { cpuSeconds, cpuTimesSum, machineCpu, memory, sampleRss } from './lib/procstat.ts';
import { connectInspector, inspectorUrl } from './lib/inspector.ts';
import type { InspectorSession } from './lib/inspector.ts';
import { blocksLines, computeRatios, headlineTable, markdownSummary, ratioLines, replaceReadmeBlock, saturationLines, targetLines } from './lib/results.ts';
import type { BenchResults, BlocksPhase, BlocksResult, IdleResult, JoinResult, SearchResult, ServerResult, StepResult } from './lib/results.ts';
import { bestStep, judgeStep, nextLevel } from './lib/search.ts';
import type { StepOutcome } from './lib/search.ts';
import { SERVER_LABELS, killAllServers, startServerUnderTest, stopServices } from './lib/servers.ts';
import type { ServerUnderTest } from './lib/servers.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MB = 1024 * 1024;

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

// ---------------------------------------------------------------- workers

const liveWorkers = new Set<ChildProcess>();

/** A set of forked load workers with request/response over IPC. */
class WorkerPool {
  private nextReq = 1;
  private readonly pending = new Map<number, { resolve: (r: WorkerResponse) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  readonly procs: ChildProcess[] = [];

  constructor(count: number, maxLifetimeMs: number) {
    for (let i = 0; i < count; i++) {
      const child = fork(path.join(ROOT, 'bench', 'worker.ts'), [], {
        cwd: ROOT,
        // BENCH_WORKER_NODE_FLAGS (space-separated), e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", to profile the load workers.
        execArgv: [...(process.env.BENCH_WORKER_NODE_FLAGS ?? '').split(' ').filter(Boolean), '--import', 'tsx'],
        env: { ...process.env, BENCH_WORKER_MAX_MS: String(Math.ceil(maxLifetimeMs)) },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      liveWorkers.add(child);
      child.on('message', (m: WorkerResponse) => {
        const p = this.pending.get(m.reqId);
        if (!p) return;
        this.pending.delete(m.reqId);
        clearTimeout(p.timer);
        if (m.type === 'error') p.reject(new Error(`worker ${i}: ${m.message}`));
        else p.resolve(m);
      });
      child.on('exit', (code) => {
        liveWorkers.delete(child);
        for (const [id, p] of this.pending) {
          clearTimeout(p.timer);
          p.reject(new Error(`worker ${i} exited with ${code}`));
          this.pending.delete(id);
        }
      });
      this.procs.push(child);
    }
  }

  get size(): number {
    return this.procs.length;
  }

  request<T extends WorkerResponse>(worker: number, req: WorkerRequestBody, timeoutMs: number): Promise<T> {
    const reqId = this.nextReq++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(reqId);
        reject(new Error(`worker ${worker}: ${req.type} got no answer in ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(reqId, { resolve: resolve as (r: WorkerResponse) => void, reject, timer });
      this.procs[worker]!.send({ ...req, reqId } as WorkerRequest);
    });
  }

  pids(): number[] {
    return this.procs.map((p) => p.pid!).filter(Boolean);
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.procs.map((_, i) => this.request(i, { type: 'exit' }, 5000)));
    const deadline = Date.now() + 3000;
    while (this.procs.some((p) => p.exitCode === null && p.signalCode === null) && Date.now() < deadline) await sleep(50);
    for (const p of this.procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  }
}

function killAllWorkers(): void {
  for (const w of liveWorkers) w.kill('SIGKILL');
  liveWorkers.clear();
}

// ---------------------------------------------------------------- helpers

/** Source addresses: each scenario gets fresh 127.0.0.x addresses so TIME_WAIT of an earlier one never collides. */
let nextAddressBlock = 0;
function addressAllocator(opts: BenchOptions, clients: number): (index: number) => string {
  const blocks = Math.max(1, Math.ceil(clients / opts.clientsPerIp));
  const base = nextAddressBlock;
  nextAddressBlock += blocks;
  return (index) => `127.0.0.${2 + ((base + Math.floor(index / opts.clientsPerIp)) % 250)}`;
}

/** Creates rooms on the server: hub_sids from `POST /api/v1/hubs` for Plexus, names for the relays. */
async function createRooms(server: ServerUnderTest, from: number, to: number, into: string[]): Promise<void> {
  if (!isPlexus(server.kind)) {
    for (let r = from; r < to; r++) into[r] = `room-${r}`;
    return;
  }
  let next = from;
  const lane = async () => {
    while (next < to) {
      const r = next++;
      // A cluster's nodes share the database: the room is created on node 1 and found by both.
      const res = await fetch(`http://${server.target.host}:${server.target.port}/api/v1/hubs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ hub: { name: `bench ${r}` } }),
        signal: AbortSignal.timeout(15_000),
      });
      if (!res.ok) throw new Error(`POST /api/v1/hubs answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
      into[r] = ((await res.json()) as { hub_id: string }).hub_id;
    }
  };
  await Promise.all(Array.from({ length: 8 }, lane));
}

async function initWorkers(pool: WorkerPool, target: Target, opts: BenchOptions): Promise<void> {
  await Promise.all(pool.procs.map((_, i) => pool.request(i, { type: 'init', target, roomSize: opts.roomSize, workerIndex: i, heartbeatMs: 25_000 }, 10_000)));
}

function machineInfo(): BenchResults['machine'] {
  let ulimitN = 'unknown';
  try {
    ulimitN = execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
  } catch {
    // keep unknown
  }
  return { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown', memGB: Math.round(os.totalmem() / 1024 ** 3), node: process.version, ulimitN };
}

function checkFdLimit(opts: BenchOptions, ulimitN: string): void {
  const limit = Number(ulimitN);
  if (!Number.isFinite(limit)) return;
  const most = Math.max(opts.scenarios.includes('idle10k') ? opts.idleClients : 0, opts.scenarios.includes('search') ? opts.maxClients : 0, opts.joinRate * opts.joinSeconds);
  // The server holds one fd per client; each worker holds its share.
  if (most + 200 > limit) {
    log(`note: up to ${most} clients but \`ulimit -n\` is ${limit}: the server process needs one descriptor per client. Raise it (ulimit -n) or lower --idle-clients/--max-clients.`);
  }
}

/** Times waitQuiet gave up (reported with the results). */
let quietGiveUps = 0;

/** A step during which other processes used more than this share of a core (%) is measured again. */
const DISTURBED_PCT = 25;

/** CPU seconds used so far by the given processes plus this runner. */
function ownCpu(pids: readonly number[]): number {
  const self = process.cpuUsage();
  let total = (self.user + self.system) / 1e6;
  for (const pid of pids) {
    const t = cpuSeconds(pid);
    if (Number.isFinite(t)) total += t;
  }
  return total;
}

/**
 * Waits (up to `maxWaitMs`) until processes other than ours use less than
 * DISTURBED_PCT of a core over one second; logs when it had to wait or gave up.
 */
async function waitQuiet(ownPids: readonly number[], maxWaitMs = 120_000): Promise<void> {
  const start = Date.now();
  let other = 0;
  for (;;) {
    const m0 = machineCpu();
    const o0 = ownCpu(ownPids);
    await sleep(1000);
    const m1 = machineCpu();
    const o1 = ownCpu(ownPids);
    other = Math.max(0, (m1.busy - m0.busy - (o1 - o0)) * 100);
    if (other < DISTURBED_PCT) break;
    if (Date.now() - start > maxWaitMs) {
      log(`  (the machine is busy with other processes: ${other.toFixed(0)}% of a core; going on after ${Math.round(maxWaitMs / 1000)} s)`);
      quietGiveUps++;
      return;
    }
  }
  const waited = Date.now() - start;
  if (waited > 2500) log(`  (waited ${Math.round(waited / 1000)} s for other processes to go quiet)`);
}

/** CPU seconds (user + system) used so far by `pids` together. */
function cpuSum(pids: readonly number[]): number {
  const t = cpuTimesSum(pids);
  return t.user + t.system;
}

/** Pids of the server under test and of the services it uses (Redis, PostgreSQL): all count as "ours". */
function serverSidePids(server: ServerUnderTest): number[] {
  return [...server.pids, ...(server.redisPid ? [server.redisPid] : []), ...server.dbPids()];
}

/** Waits (up to `maxWaitMs`) until the server (all its nodes and Redis) uses under 15% of a core over half a second. */
async function waitServerIdle(pids: readonly number[], maxWaitMs = 30_000): Promise<void> {
  const start = Date.now();
  while (Date.now() - start < maxWaitMs) {
    const c0 = cpuSum(pids);
    await sleep(500);
    if ((cpuSum(pids) - c0) / 0.5 < 0.15) return;
  }
  log(`  (the server was still busy ${Math.round(maxWaitMs / 1000)} s after its clients closed)`);
}

// ---------------------------------------------------------------- scenarios

async function runSearch(kind: ServerKind, opts: BenchOptions, lifetimeSec: number): Promise<SearchResult> {
  const profileDir = opts.profile ? path.resolve(ROOT, opts.outDir, 'profiles') : undefined;
  if (profileDir) fs.mkdirSync(profileDir, { recursive: true });
  const server = await startServerUnderTest(kind, { root: ROOT, lifetimeSec, profileDir });
  const pool = new WorkerPool(opts.workers, lifetimeSec * 1000);
  const steps: StepResult[] = [];
  const history: StepOutcome[] = [];
  const joinHists: string[] = [];
  const roomKeys: string[] = [];
  const maxRooms = Math.max(1, Math.floor(opts.maxClients / opts.roomSize));
  const address = addressAllocator(opts, opts.maxClients);
  let connectedRooms = 0;
  let createdRooms = 0;
  const result: SearchResult = { searchBy: opts.searchBy, steps, best: null, setupJoin: summarize(mergeEncoded([])) };
  try {
    await initWorkers(pool, server.target, opts);
    const ensureRooms = async (rooms: number, retryAll: boolean) => {
      const from = retryAll ? 0 : connectedRooms;
      if (rooms > createdRooms) {
        await createRooms(server, createdRooms, rooms, roomKeys);
        createdRooms = rooms;
      }
      if (rooms <= from) return;
      const perWorker: ClientSpec[][] = pool.procs.map(() => []);
      for (let r = from; r < rooms; r++) {
        for (let k = 0; k < opts.roomSize; k++) {
          const index = r * opts.roomSize + k;
          perWorker[r % pool.size]!.push({ index, room: r, roomKey: roomKeys[r]!, localAddress: address(index) });
        }
      }
      const replies = await Promise.all(
        perWorker.map((clients, w) => pool.request<ConnectResult>(w, { type: 'connect', clients, concurrency: 50, timeoutMs: 15_000 }, 180_000)),
      );
      const failed = replies.reduce((a, r) => a + r.failed, 0);
      for (const r of replies) joinHists.push(r.joinHist);
      if (failed > 0) log(`  ${failed} client(s) failed to join: ${replies.flatMap((r) => r.errors).slice(0, 3).join(' | ')}`);
      connectedRooms = Math.max(connectedRooms, rooms);
    };
    const maxLevel = opts.searchBy === 'rooms' ? maxRooms : 1000;
    let lastHadDisconnects = false;
    const ownPids = () => [...serverSidePids(server), ...pool.pids()];
    const redisPids = server.redisPid ? [server.redisPid] : [];
    const measure = async (level: number, rooms: number, hz: number): Promise<StepResult> => {
      const warmupMs = opts.warmupSec * 1000;
      const measureMs = opts.measureSec * 1000;
      const loads = pool.procs.map((_, w) =>
        pool.request<LoadResult>(w, { type: 'load', activeRooms: rooms, hz, warmupMs, measureMs, drainMs: 500 }, warmupMs + measureMs + 60_000),
      );
      await sleep(warmupMs);
      const dbPids = server.dbPids();
      const cpu0 = cpuTimesSum(server.pids);
      const nodeCpu0 = server.pids.map((pid) => cpuSum([pid]));
      const redisCpu0 = cpuSum(redisPids);
      const dbCpu0 = cpuSum(dbPids);
      const own0 = ownCpu(ownPids());
      const machine0 = machineCpu();
      const rss = sampleRss(server.pids);
      const t0 = performance.now();
      await sleep(measureMs);
      const cpu1 = cpuTimesSum(server.pids);
      const nodeCpu1 = server.pids.map((pid) => cpuSum([pid]));
      const redisCpu1 = cpuSum(redisPids);
      const dbCpu1 = cpuSum(dbPids);
      const own1 = ownCpu(ownPids());
      const machine1 = machineCpu();
      const wallSec = (performance.now() - t0) / 1000;
      const peakRss = rss.stop();
      const results = await Promise.all(loads);
      const measureSec = opts.measureSec;
      const sum = (f: (r: LoadResult) => number) => results.reduce((a, r) => a + f(r), 0);
      const received = sum((r) => r.received);
      const expected = sum((r) => r.expected);
      const hist = mergeEncoded(results.map((r) => r.hist));
      const latency = summarize(hist);
      hist.destroy();
      const disconnects = sum((r) => r.disconnects);
      const closeCodes: Record<string, number> = {};
      for (const r of results) for (const [c, n] of Object.entries(r.closeCodes)) closeCodes[c] = (closeCodes[c] ?? 0) + n;
      const serverCpuSec = cpu1.user + cpu1.system - cpu0.user - cpu0.system;
      const serverSysSec = cpu1.system - cpu0.system;
      const otherCpuPct = Math.max(0, ((machine1.busy - machine0.busy - (own1 - own0)) / wallSec) * 100);
      const deliveredPerSec = received / measureSec;
      const deliveredRatio = expected > 0 ? received / expected : 0;
      const verdict = judgeStep({ p99: latency.p99, deliveredRatio, disconnects }, { p99BoundMs: opts.boundMs, minDeliveredRatio: opts.minDelivered });
      const activeClients = sum((r) => r.activeClients);
      const sent = sum((r) => r.sent);
      const planned = sum((r) => r.planned);
      if (planned > 0 && sent < planned * 0.97) verdict.reasons.push(`clients sent only ${((sent / planned) * 100).toFixed(0)}% of the schedule (client-bound)`);
      const step: StepResult = {
        level,
        rooms,
        hz,
        activeClients,
        offeredPerSec: activeClients * hz,
        sentPerSec: sent / measureSec,
        expectedPerSec: expected / measureSec,
        deliveredPerSec,
        deliveredRatio,
        latency,
        serverCpuSec,
        serverCpuPct: (serverCpuSec / wallSec) * 100,
        serverSysPct: (serverSysSec / wallSec) * 100,
        serverUsPerDelivery: received > 0 ? (serverCpuSec * 1e6) / received : Number.NaN,
        serverPeakRssMB: peakRss / MB,
        clientCpuPct: (sum((r) => r.cpuSeconds) / measureSec) * 100,
        clientSysPct: (sum((r) => r.cpuSystemSeconds) / measureSec) * 100,
        clientMaxTickGapMs: Math.max(...results.map((r) => r.maxTickGapMs)),
        sendBacklogKB: sum((r) => r.sendBacklogBytes) / 1024,
        otherCpuPct,
        disconnects,
        closeCodes,
        pass: verdict.reasons.length === 0,
        reasons: verdict.reasons,
      };
      if (server.nodes.length > 1) {
        step.nodeCpuPct = nodeCpu1.map((c, i) => ((c - nodeCpu0[i]!) / wallSec) * 100);
        step.redisCpuPct = server.redisPid ? ((redisCpu1 - redisCpu0) / wallSec) * 100 : Number.NaN;
        step.dbCpuPct = ((dbCpu1 - dbCpu0) / wallSec) * 100;
      }
      const clusterCpu = step.nodeCpuPct
        ? ` [nodes ${step.nodeCpuPct.map((c) => c.toFixed(0)).join('+')}%, Redis ${step.redisCpuPct!.toFixed(0)}%, PostgreSQL ${step.dbCpuPct!.toFixed(0)}%]`
        : '';
      log(
        `  ${kind} ${String(rooms).padStart(4)} rooms @ ${hz} Hz: ${String(activeClients).padStart(5)} clients, delivered ${Math.round(deliveredPerSec).toLocaleString('en-US').padStart(9)}/s (${(deliveredRatio * 100).toFixed(1)}%), p50 ${latency.p50.toFixed(1)} p99 ${latency.p99.toFixed(1)} max ${latency.max.toFixed(1)} ms, server CPU ${step.serverCpuPct.toFixed(0)}% (sys ${step.serverSysPct.toFixed(0)})${clusterCpu}, client CPU ${step.clientCpuPct.toFixed(0)}% (sys ${step.clientSysPct.toFixed(0)}), other ${otherCpuPct.toFixed(0)}%,${step.sendBacklogKB > 0 ? ` client send backlog ${Math.round(step.sendBacklogKB).toLocaleString('en-US')} KB,` : ''} RSS ${step.serverPeakRssMB.toFixed(0)} MB${step.disconnects ? `, ${step.disconnects} dropped ${JSON.stringify(closeCodes)}` : ''} → ${step.pass ? 'pass' : `fail (${step.reasons.join('; ')})`}`,
      );
      return step;
    };
    for (;;) {
      const level = nextLevel({ start: opts.start, factor: opts.factor, max: maxLevel, maxSteps: opts.maxSteps, precision: opts.precision }, history);
      if (level === null) break;
      const rooms = opts.searchBy === 'rooms' ? level : Math.min(opts.rateRooms, maxRooms);
      const hz = opts.searchBy === 'rooms' ? opts.hz : level;
      await ensureRooms(rooms, lastHadDisconnects);
      if (server.exited()) throw new Error(`the server exited:\n${server.outputTail()}`);
      await waitQuiet(ownPids());
      let step = await measure(level, rooms, hz);
      for (let retry = 0; retry < 2 && step.otherCpuPct > DISTURBED_PCT; retry++) {
        // Something outside the bench used the CPU during the window: measure this level once more.
        log(`  (other processes used ${step.otherCpuPct.toFixed(0)}% of a core during the step; measuring it again)`);
        step.reasons.push(`disturbed: other processes used ${step.otherCpuPct.toFixed(0)}% of a core`);
        result.discarded = [...(result.discarded ?? []), step];
        if (step.disconnects > 0) await ensureRooms(rooms, true);
        await waitQuiet(ownPids());
        step = await measure(level, rooms, hz);
      }
      steps.push(step);
      history.push({ level, pass: step.pass });
      lastHadDisconnects = step.disconnects > 0;
      if (!step.pass) {
        // An overloaded step leaves queues behind (client send buffers, server backpressure): start the next
        // step from fresh connections so it does not inherit them.
        await Promise.all(pool.procs.map((_, i) => pool.request(i, { type: 'closeAll' }, 30_000)));
        connectedRooms = 0;
        lastHadDisconnects = false;
        await waitServerIdle([...server.pids, ...redisPids]);
      }
      await sleep(300);
    }
  } catch (err) {
    result.error = (err as Error).message.split('\n')[0];
    log(`  ${kind} search failed: ${(err as Error).message}`);
  } finally {
    await server.stop();
    await Promise.allSettled(pool.procs.map((_, i) => pool.request(i, { type: 'closeAll' }, 20_000)));
    await pool.stop();
  }
  result.best = bestStep(steps) ?? null;
  const joins = mergeEncoded(joinHists);
  result.setupJoin = summarize(joins);
  joins.destroy();
  return result;
}

/** Rooms of the blocks scenario for `kind`: `--block-rooms` for one node, `--block-rooms-cluster` for two. */
function blockRoomsFor(kind: ServerKind, opts: BenchOptions): number {
  return kind === 'plexus2' ? opts.blockRoomsCluster : opts.blockRooms;
}

/** Blocks added per client of room 0 in the blocks scenario. */
const BLOCKS_PER_CLIENT = 2;

/**
 * The blocks scenario (Plexus, one node or two): `opts.blockRooms` (one
 * node) or `opts.blockRoomsCluster` (two) rooms of `opts.roomSize` at
 * `opts.hz`, one load request per phase, after one unmeasured round of the
 * same load (the first after the joins runs cold).
 * Phase A measures the load as is; then every client of room 0 blocks its
 * next BLOCKS_PER_CLIENT room members (so every frame of room 0 takes the
 * per-recipient path) and phase B measures the same load again; then the
 * clients unblock and phase C measures it once more (the noise between
 * identical phases). Room 0 keeps sending in every phase, but its sends and
 * receipts are counted apart: the phase figures are the other rooms'. A phase
 * disturbed by other processes is measured again (twice at most), as in the
 * search.
 */
async function runBlocks(kind: ServerKind, opts: BenchOptions, lifetimeSec: number): Promise<BlocksResult> {
  const members = opts.roomSize;
  const rooms = blockRoomsFor(kind, opts);
  const result: BlocksResult = {
    rooms,
    roomSize: members,
    hz: opts.hz,
    blocksPerClient: BLOCKS_PER_CLIENT,
    // Mutual blocks: a member misses the frames of the members it blocks and of those that block it.
    room0ExpectedRatioB: Math.max(0, members - 1 - 2 * Math.min(BLOCKS_PER_CLIENT, Math.floor((members - 1) / 2))) / (members - 1),
  };
  const server = await startServerUnderTest(kind, { root: ROOT, lifetimeSec });
  const pool = new WorkerPool(opts.workers, lifetimeSec * 1000);
  try {
    await initWorkers(pool, server.target, opts);
    const roomKeys: string[] = [];
    await createRooms(server, 0, rooms, roomKeys);
    const address = addressAllocator(opts, rooms * members);
    const perWorker: ClientSpec[][] = pool.procs.map(() => []);
    for (let r = 0; r < rooms; r++) {
      for (let k = 0; k < members; k++) {
        const index = r * members + k;
        perWorker[r % pool.size]!.push({ index, room: r, roomKey: roomKeys[r]!, localAddress: address(index) });
      }
    }
    const connected = await Promise.all(perWorker.map((clients, w) => pool.request<ConnectResult>(w, { type: 'connect', clients, concurrency: 50, timeoutMs: 15_000 }, 180_000)));
    const failed = connected.reduce((a, r) => a + r.failed, 0);
    if (failed > 0) throw new Error(`${failed} client(s) failed to join: ${connected.flatMap((r) => r.errors).slice(0, 3).join(' | ')}`);
    const ownPids = () => [...serverSidePids(server), ...pool.pids()];
    const redisPids = server.redisPid ? [server.redisPid] : [];
    const measure = async (name: string): Promise<BlocksPhase> => {
      const warmupMs = opts.warmupSec * 1000;
      const measureMs = opts.measureSec * 1000;
      const loads = pool.procs.map((_, w) =>
        pool.request<LoadResult>(w, { type: 'load', activeRooms: rooms, hz: opts.hz, warmupMs, measureMs, drainMs: 500, excludeRoom: 0 }, warmupMs + measureMs + 60_000),
      );
      await sleep(warmupMs);
      const cpu0 = cpuTimesSum(server.pids);
      const redis0 = cpuSum(redisPids);
      const own0 = ownCpu(ownPids());
      const machine0 = machineCpu();
      const t0 = performance.now();
      await sleep(measureMs);
      const cpu1 = cpuTimesSum(server.pids);
      const redis1 = cpuSum(redisPids);
      const own1 = ownCpu(ownPids());
      const machine1 = machineCpu();
      const wallSec = (performance.now() - t0) / 1000;
      const results = await Promise.all(loads);
      const sum = (f: (r: LoadResult) => number) => results.reduce((a, r) => a + f(r), 0);
      const latencyOf = (encoded: string[]) => {
        const h = mergeEncoded(encoded);
        const l = summarize(h);
        h.destroy();
        return l;
      };
      const received = sum((r) => r.received);
      const expected = sum((r) => r.expected);
      const room0Received = sum((r) => r.excludedReceived);
      const room0Expected = sum((r) => r.excludedExpected);
      const serverCpuSec = cpu1.user + cpu1.system - cpu0.user - cpu0.system;
      const sec = opts.measureSec;
      const notes: string[] = [];
      const planned = sum((r) => r.planned);
      const sentAll = sum((r) => r.sent + r.excludedSent);
      if (planned > 0 && sentAll < planned * 0.97) notes.push(`clients sent only ${((sentAll / planned) * 100).toFixed(0)}% of the schedule (client-bound)`);
      const disconnects = sum((r) => r.disconnects);
      if (disconnects > 0) notes.push(`${disconnects} client(s) dropped`);
      const p: BlocksPhase = {
        sentPerSec: sum((r) => r.sent) / sec,
        deliveredPerSec: received / sec,
        deliveredRatio: expected > 0 ? received / expected : 0,
        latency: latencyOf(results.map((r) => r.hist)),
        serverCpuPct: (serverCpuSec / wallSec) * 100,
        serverSysPct: ((cpu1.system - cpu0.system) / wallSec) * 100,
        serverUsPerDelivery: received + room0Received > 0 ? (serverCpuSec * 1e6) / (received + room0Received) : Number.NaN,
        clientCpuPct: (sum((r) => r.cpuSeconds) / sec) * 100,
        otherCpuPct: Math.max(0, ((machine1.busy - machine0.busy - (own1 - own0)) / wallSec) * 100),
        disconnects,
        notes,
        room0: {
          sentPerSec: sum((r) => r.excludedSent) / sec,
          deliveredPerSec: room0Received / sec,
          deliveredRatio: room0Expected > 0 ? room0Received / room0Expected : 0,
          latency: latencyOf(results.map((r) => r.excludedHist)),
        },
      };
      if (redisPids.length > 0) p.redisCpuPct = ((redis1 - redis0) / wallSec) * 100;
      log(
        `  ${kind} blocks ${name}: other rooms delivered ${Math.round(p.deliveredPerSec).toLocaleString('en-US')}/s (${(p.deliveredRatio * 100).toFixed(1)}%), p50 ${p.latency.p50.toFixed(1)} p99 ${p.latency.p99.toFixed(1)} max ${p.latency.max.toFixed(1)} ms; server CPU ${p.serverCpuPct.toFixed(0)}% (sys ${p.serverSysPct.toFixed(0)}), ${p.serverUsPerDelivery.toFixed(2)} µs/delivery${p.redisCpuPct !== undefined ? `, Redis ${p.redisCpuPct.toFixed(0)}%` : ''}; client CPU ${p.clientCpuPct.toFixed(0)}%, other ${p.otherCpuPct.toFixed(0)}%; room 0 ${Math.round(p.room0.deliveredPerSec).toLocaleString('en-US')}/s (${(p.room0.deliveredRatio * 100).toFixed(1)}% of unblocked), p99 ${p.room0.latency.p99.toFixed(1)} ms${notes.length ? `; ${notes.join('; ')}` : ''}`,
      );
      return p;
    };
    const phase = async (name: string): Promise<BlocksPhase> => {
      await waitQuiet(ownPids());
      let p = await measure(name);
      for (let retry = 0; retry < 2 && p.otherCpuPct > DISTURBED_PCT; retry++) {
        // Something outside the bench used the CPU during the window: measure this phase once more.
        log(`  (other processes used ${p.otherCpuPct.toFixed(0)}% of a core during the phase; measuring it again)`);
        p.notes.push(`disturbed: other processes used ${p.otherCpuPct.toFixed(0)}% of a core`);
        result.discarded = [...(result.discarded ?? []), p];
        await waitQuiet(ownPids());
        p = await measure(name);
      }
      if (p.otherCpuPct > DISTURBED_PCT) p.notes.push(`disturbed: other processes used ${p.otherCpuPct.toFixed(0)}% of a core`);
      return p;
    };
    // Every client of a room lives in one worker (rooms are dealt to workers by index): room 0 is in worker 0.
    const blockRoom0 = (unblock: boolean) => pool.request(0, { type: 'block', room: 0, perClient: BLOCKS_PER_CLIENT, unblock }, 60_000);
    // The first load after the joins runs cold (JIT, buffers, for a cluster Redis): one unmeasured round first, so A compares with C.
    await waitQuiet(ownPids());
    await measure('warm-up (not counted)');
    result.a = await phase('A (no blocks)');
    await blockRoom0(false);
    result.b = await phase(`B (each client of room 0 blocks ${BLOCKS_PER_CLIENT})`);
    await blockRoom0(true);
    result.c = await phase('C (unblocked)');
  } catch (err) {
    result.error = (err as Error).message.split('\n')[0];
    log(`  ${kind} blocks failed: ${(err as Error).message}`);
  } finally {
    await server.stop();
    await Promise.allSettled(pool.procs.map((_, i) => pool.request(i, { type: 'closeAll' }, 20_000)));
    await pool.stop();
  }
  return result;
}

async function runJoins(kind: ServerKind, opts: BenchOptions, lifetimeSec: number): Promise<JoinResult> {
  const attempted = Math.round(opts.joinRate * opts.joinSeconds);
  const server = await startServerUnderTest(kind, { root: ROOT, lifetimeSec });
  const pool = new WorkerPool(opts.workers, lifetimeSec * 1000);
  const address = addressAllocator(opts, attempted);
  const empty = summarize(mergeEncoded([]));
  const result: JoinResult = { rate: opts.joinRate, attempted, ok: 0, failed: 0, errors: [], connect: empty, join: empty, serverCpuSec: 0, elapsedSec: 0 };
  try {
    await initWorkers(pool, server.target, opts);
    const rooms = Math.ceil(attempted / opts.roomSize);
    const roomKeys: string[] = [];
    await createRooms(server, 0, rooms, roomKeys);
    await waitQuiet([...serverSidePids(server), ...pool.pids()]);
    const perWorker: ClientSpec[][] = pool.procs.map(() => []);
    for (let i = 0; i < attempted; i++) {
      const room = Math.floor(i / opts.roomSize);
      perWorker[i % pool.size]!.push({ index: i, room, roomKey: roomKeys[room]!, localAddress: address(i) });
    }
    const cpu0 = cpuSum(server.pids);
    const redisCpu0 = server.redisPid ? cpuSum([server.redisPid]) : 0;
    const t0 = performance.now();
    const replies = await Promise.all(
      perWorker.map((clients, w) =>
        pool.request<ConnectResult>(w, { type: 'connect', clients, concurrency: 1, ratePerSec: opts.joinRate / pool.size, timeoutMs: 15_000 }, opts.joinSeconds * 1000 + 60_000),
      ),
    );
    result.elapsedSec = (performance.now() - t0) / 1000;
    result.serverCpuSec = cpuSum(server.pids) - cpu0;
    if (server.redisPid) result.redisCpuSec = cpuSum([server.redisPid]) - redisCpu0;
    result.ok = replies.reduce((a, r) => a + r.ok, 0);
    result.failed = replies.reduce((a, r) => a + r.failed, 0);
    result.errors = replies.flatMap((r) => r.errors).slice(0, 5);
    const c = mergeEncoded(replies.map((r) => r.connectHist));
    const j = mergeEncoded(replies.map((r) => r.joinHist));
    result.connect = summarize(c);
    result.join = summarize(j);
    c.destroy();
    j.destroy();
    log(
      `  ${kind} joins @ ${opts.joinRate}/s: ${result.ok}/${attempted} ok, connect p50 ${result.connect.p50.toFixed(2)} p99 ${result.connect.p99.toFixed(2)} ms, join p50 ${result.join.p50.toFixed(2)} p99 ${result.join.p99.toFixed(2)} max ${result.join.max.toFixed(2)} ms, server CPU ${result.serverCpuSec.toFixed(2)} s${result.redisCpuSec !== undefined ? ` (Redis ${result.redisCpuSec.toFixed(2)} s)` : ''}${result.failed ? `; errors: ${result.errors.join(' | ')}` : ''}`,
    );
  } catch (err) {
    result.error = (err as Error).message.split('\n')[0];
    log(`  ${kind} joins failed: ${(err as Error).message}`);
  } finally {
    await server.stop();
    await Promise.allSettled(pool.procs.map((_, i) => pool.request(i, { type: 'closeAll' }, 20_000)));
    await pool.stop();
  }
  return result;
}

async function medianRss(pid: number, samples = 5, everyMs = 200): Promise<number> {
  const values: number[] = [];
  for (let i = 0; i < samples; i++) {
    values.push(memory(pid).rss);
    if (i < samples - 1) await sleep(everyMs);
  }
  values.sort((a, b) => a - b);
  return values[Math.floor(values.length / 2)]!;
}

/**
 * Settles a server's memory: full GC through the inspector, a pause, RSS
 * (median of samples), repeated until RSS moves by less than 0.5 MB between
 * rounds (freed buffers go back to the OS some time after the GC) or 10
 * rounds; then the JS heap used.
 */
async function settledMemory(pid: number, inspector: InspectorSession): Promise<{ rss: number; heap: number }> {
  let rss = Number.NaN;
  for (let round = 0; round < 10; round++) {
    await inspector.collectGarbage();
    await sleep(1000);
    const now = await medianRss(pid);
    const settled = Math.abs(now - rss) < 0.5 * MB;
    rss = now;
    if (settled) break;
  }
  const heap = (await inspector.heapUsage()).usedSize;
  return { rss, heap };
}

/** {@link settledMemory} of every node, one after the other, summed. */
async function settledMemoryAll(nodes: readonly { pid: number; inspector: InspectorSession }[]): Promise<{ rss: number; heap: number }> {
  let rss = 0;
  let heap = 0;
  for (const n of nodes) {
    const m = await settledMemory(n.pid, n.inspector);
    rss += m.rss;
    heap += m.heap;
  }
  return { rss, heap };
}

async function runIdle(kind: ServerKind, opts: BenchOptions, lifetimeSec: number): Promise<IdleResult> {
  const n = opts.idleClients;
  // The inspector lets the runner force a full GC before each reading, so the numbers are retained memory.
  const server = await startServerUnderTest(kind, { root: ROOT, lifetimeSec, nodeFlags: ['--inspect=127.0.0.1:0'] });
  const pool = new WorkerPool(opts.workers, lifetimeSec * 1000);
  const address = addressAllocator(opts, n);
  const result: IdleResult = {
    clients: n,
    ok: 0,
    failed: 0,
    baselineRssMB: 0,
    loadedRssMB: 0,
    peakRssMB: 0,
    kbPerClient: Number.NaN,
    halfRssMB: 0,
    kbPerClientOverBaseline: Number.NaN,
    baselineHeapMB: 0,
    loadedHeapMB: 0,
    heapKbPerClient: Number.NaN,
    heapKbPerClientOverBaseline: Number.NaN,
    connectSec: 0,
    errors: [],
  };
  // One inspector per node; a cluster's memory is the sum over its nodes.
  const inspected: { pid: number; inspector: InspectorSession }[] = [];
  try {
    for (const node of server.nodes) {
      const url = inspectorUrl(node.outputTail());
      if (!url) throw new Error('the server printed no inspector URL');
      inspected.push({ pid: node.pid, inspector: await connectInspector(url) });
    }
    await initWorkers(pool, server.target, opts);
    const rooms = Math.ceil(n / opts.roomSize);
    const roomKeys: string[] = [];
    await createRooms(server, 0, rooms, roomKeys);
    await waitQuiet([...serverSidePids(server), ...pool.pids()]);
    const base = await settledMemoryAll(inspected);
    // Two halves: the per-client figure is the growth from half to all of the clients (marginal cost),
    // which is immune to memory the server releases on its own after its first activity.
    const half = Math.max(1, Math.floor(rooms / 2)) * opts.roomSize;
    const connectRange = async (from: number, to: number) => {
      const perWorker: ClientSpec[][] = pool.procs.map(() => []);
      for (let i = from; i < to; i++) {
        const room = Math.floor(i / opts.roomSize);
        perWorker[room % pool.size]!.push({ index: i, room, roomKey: roomKeys[room]!, localAddress: address(i) });
      }
      const replies = await Promise.all(perWorker.map((clients, w) => pool.request<ConnectResult>(w, { type: 'connect', clients, concurrency: 50, timeoutMs: 20_000 }, 600_000)));
      result.errors.push(...replies.flatMap((r) => r.errors));
      result.failed += replies.reduce((a, r) => a + r.failed, 0);
      return replies.reduce((a, r) => a + r.ok, 0);
    };
    const t0 = performance.now();
    const okHalf = half < n ? await connectRange(0, half) : 0;
    const mid = half < n ? await settledMemoryAll(inspected) : base;
    const okRest = await connectRange(half < n ? half : 0, n);
    result.connectSec = (performance.now() - t0) / 1000;
    result.ok = okHalf + okRest;
    result.errors = result.errors.slice(0, 5);
    await sleep(1000);
    const loaded = await settledMemoryAll(inspected);
    result.baselineRssMB = base.rss / MB;
    result.halfRssMB = mid.rss / MB;
    result.loadedRssMB = loaded.rss / MB;
    // For a cluster: the sum of each node's own peak.
    result.peakRssMB = server.pids.reduce((a, pid) => a + memory(pid).hwm, 0) / MB;
    result.baselineHeapMB = base.heap / MB;
    result.loadedHeapMB = loaded.heap / MB;
    if (okRest > 0) {
      result.kbPerClient = (loaded.rss - mid.rss) / 1024 / okRest;
      result.heapKbPerClient = (loaded.heap - mid.heap) / 1024 / okRest;
    }
    if (result.ok > 0) {
      result.kbPerClientOverBaseline = (loaded.rss - base.rss) / 1024 / result.ok;
      result.heapKbPerClientOverBaseline = (loaded.heap - base.heap) / 1024 / result.ok;
    }
    log(
      `  ${kind} idle: ${result.ok}/${n} joined in ${result.connectSec.toFixed(1)} s; after a full GC: RSS ${result.baselineRssMB.toFixed(1)} → ${result.halfRssMB.toFixed(1)} (half) → ${result.loadedRssMB.toFixed(1)} MB (peak ${result.peakRssMB.toFixed(1)}), ${result.kbPerClient.toFixed(2)} KB/client (second half; ${result.kbPerClientOverBaseline.toFixed(2)} over the empty server); JS heap ${result.baselineHeapMB.toFixed(1)} → ${result.loadedHeapMB.toFixed(1)} MB, ${result.heapKbPerClient.toFixed(2)} KB/client (${result.heapKbPerClientOverBaseline.toFixed(2)})${result.failed ? `; errors: ${result.errors.join(' | ')}` : ''}`,
    );
  } catch (err) {
    result.error = (err as Error).message.split('\n')[0];
    log(`  ${kind} idle failed: ${(err as Error).message}`);
  } finally {
    for (const i of inspected) i.inspector.close();
    await server.stop();
    await Promise.allSettled(pool.procs.map((_, i) => pool.request(i, { type: 'closeAll' }, 30_000)));
    await pool.stop();
  }
  return result;
}

// ---------------------------------------------------------------- main

function cleanupAll(): void {
  killAllWorkers();
  killAllServers();
}

async function main(): Promise<void> {
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    process.exit(2);
  }
  if (parsed === 'help') {
    process.stdout.write(HELP);
    return;
  }
  const opts = parsed;
  const started = performance.now();
  const deadline = Date.now() + opts.timeoutSec * 1000;
  const hardStop = setTimeout(() => {
    process.stderr.write(`bench: the run passed its --timeout of ${opts.timeoutSec} s; killing everything.\n`);
    cleanupAll();
    process.exit(3);
  }, opts.timeoutSec * 1000);
  hardStop.unref();
  const machine = machineInfo();
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  log(`bench "${opts.name}": servers ${opts.servers.join(', ')}; scenarios ${opts.scenarios.join(', ')}; ${machine.cpus} CPUs, Node ${machine.node}, ulimit -n ${machine.ulimitN}`);
  checkFdLimit(opts, machine.ulimitN);

  const servers: ServerResult[] = [];
  for (const kind of opts.servers) {
    const r: ServerResult = { kind, label: SERVER_LABELS[kind] };
    servers.push(r);
    const lifetime = () => Math.max(30, (deadline - Date.now()) / 1000 + 15);
    if (opts.scenarios.includes('search')) {
      log(`${SERVER_LABELS[kind]}: search (${opts.searchBy}), rooms of ${opts.roomSize}, ${opts.searchBy === 'rooms' ? `${opts.hz} Hz` : `${opts.rateRooms} rooms`}, p99 ≤ ${opts.boundMs} ms`);
      r.search = await runSearch(kind, opts, lifetime());
    }
    if (opts.scenarios.includes('joins')) {
      log(`${SERVER_LABELS[kind]}: joins at ${opts.joinRate}/s for ${opts.joinSeconds} s`);
      r.joins = await runJoins(kind, opts, lifetime());
    }
    if (opts.scenarios.includes('blocks') && isPlexus(kind)) {
      log(`${SERVER_LABELS[kind]}: blocks in one of ${blockRoomsFor(kind, opts)} rooms at ${opts.hz} Hz`);
      r.blocks = await runBlocks(kind, opts, lifetime());
    }
    if (opts.scenarios.includes('idle10k')) {
      log(`${SERVER_LABELS[kind]}: idle memory at ${opts.idleClients} clients`);
      r.idle = await runIdle(kind, opts, lifetime());
    }
  }

  await stopServices();

  const date = new Date().toISOString().slice(0, 10);
  const results: BenchResults = {
    name: opts.name,
    date,
    command,
    durationSec: (performance.now() - started) / 1000,
    machine,
    options: opts,
    servers,
    ratios: computeRatios(servers),
  };
  const outDir = path.resolve(ROOT, opts.outDir);
  fs.mkdirSync(outDir, { recursive: true });
  const base = path.join(outDir, `${date}-${opts.name}`);
  fs.writeFileSync(`${base}.json`, `${JSON.stringify(results, null, 2)}\n`);
  const md = markdownSummary(results);
  fs.writeFileSync(`${base}.md`, `${md}\n`);
  if (opts.readme) {
    const readmePath = path.join(ROOT, 'README.md');
    const readme = fs.readFileSync(readmePath, 'utf8');
    fs.writeFileSync(readmePath, replaceReadmeBlock(readme, md));
  }
  log('');
  log(headlineTable(results));
  log('');
  log(ratioLines(results));
  log(targetLines(results));
  log(saturationLines(results));
  log(blocksLines(results));
  log('');
  log(`wrote ${path.relative(ROOT, base)}.json and .md${opts.readme ? ' and the README block' : ''}; took ${Math.round(results.durationSec)} s`);
}

process.on('exit', cleanupAll);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    process.stderr.write(`bench: ${sig}, stopping children\n`);
    cleanupAll();
    process.exit(130);
  });
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    cleanupAll();
    process.exit(1);
  },
);
