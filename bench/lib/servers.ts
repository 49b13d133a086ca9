/**
 * Starts each server under test as its own child process on a free port and
 * stops it. Every server runs under coreutils `timeout`, so it dies by itself
 * even if the bench runner is killed without cleaning up.
 *
 * `plexus2` is a cluster: a Redis (ops/dev/redis.ts) started for it, a
 * database of its own on a PostgreSQL server (ops/dev/postgres.ts) shared by
 * the run, and two Plexus node processes with the same `REDIS_URL`,
 * `DATABASE_URL` and `SESSION_SECRET`.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase, startPostgres } from '../../ops/dev/postgres.ts';
import type { PostgresServer } from '../../ops/dev/postgres.ts';
import { startRedis } from '../../ops/dev/redis.ts';
import type { RedisServer } from '../../ops/dev/redis.ts';
import { isPlexus } from './ipc.ts';
import type { ServerKind, Target } from './ipc.ts';
import { childPids } from './procstat.ts';

/** A server child process. */
export interface RunningServer {
  kind: ServerKind;
  host: string;
  port: number;
  /** Pid of the server's node process (not of the `timeout` wrapper). */
  pid: number;
  /** Last lines of its stderr and stdout, for error messages. */
  outputTail(): string;
  /** True once the process exited. */
  exited(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
}

/** Human names of the servers. */
export const SERVER_LABELS: Record<ServerKind, string> = {
  plexus: 'Plexus (1 node)',
  plexus2: 'Plexus (2 nodes, Redis)',
  uws: 'uWS.js bare relay',
  socketio: 'Socket.IO 4 relay',
};

/** Asks the kernel for a free TCP port on `host`. */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** All processes started here, killed on exit. */
const live = new Set<ChildProcess>();
/** Temporary directories to remove on exit. */
const tempDirs = new Set<string>();

/** Kills every server still running and removes temporary data (sync; for exit handlers). */
export function killAllServers(): void {
  for (const child of live) {
    try {
      if (child.pid) {
        for (const pid of childPids(child.pid)) process.kill(pid, 'SIGKILL');
        process.kill(child.pid, 'SIGKILL');
      }
    } catch {
      // already gone
    }
  }
  live.clear();
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!alive()) throw new Error(`${what}: the process exited`);
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Starts one server.
 * @param kind which server
 * @param opts repo root (cwd), the lifetime limit in seconds, and extra node flags (e.g. `--cpu-prof`)
 * @throws when it does not become ready within 60 s
 */
export async function startServer(
  kind: ServerKind,
  opts: { root: string; lifetimeSec: number; nodeFlags?: string[]; profileDir?: string; env?: Record<string, string> },
): Promise<RunningServer> {
  const host = '127.0.0.1';
  const port = await freePort(host);
  const env: NodeJS.ProcessEnv = { ...process.env, HOST: host, PORT: String(port), ...opts.env };
  let entry: string;
  if (isPlexus(kind)) {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'plexus-bench-'));
    tempDirs.add(dataDir);
    entry = 'server/main.ts';
    // The runner creates every room of a search up front from one address, and puts up to --clients-per-ip
    // sockets on one 127.0.0.x address: lift the per-IP creation and connection limits.
    Object.assign(env, { DATA_DIR: dataDir, LOG_LEVEL: 'warn', HTTP_CREATE_BURST: '1000000', MAX_CONNECTIONS_PER_IP: '10000000' });
  } else if (kind === 'uws') {
    entry = 'bench/servers/uws-relay.ts';
  } else {
    entry = 'bench/servers/socketio-relay.ts';
  }
  const flags = [...(opts.nodeFlags ?? [])];
  if (opts.profileDir) flags.push('--cpu-prof', `--cpu-prof-dir=${opts.profileDir}`);
  const child = spawn('timeout', ['--signal=TERM', '--kill-after=10', String(Math.ceil(opts.lifetimeSec)), process.execPath, ...flags, '--import', 'tsx', entry], {
    cwd: opts.root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-4000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let exited = false;
  const exitPromise = new Promise<void>((resolve) => {
    child.on('exit', () => {
      exited = true;
      live.delete(child);
      resolve();
    });
  });
  const alive = () => !exited;
  try {
    // The node process is the only child of `timeout`.
    let pid = 0;
    await waitFor(
      () => {
        pid = childPids(child.pid!)[0] ?? 0;
        return pid > 0;
      },
      10_000,
      `${kind} server pid`,
      alive,
    );
    await waitFor(
      async () => {
        if (isPlexus(kind)) {
          try {
            const res = await fetch(`http://${host}:${port}/health`, { signal: AbortSignal.timeout(1000) });
            return res.ok;
          } catch {
            return false;
          }
        }
        return tail.includes('"msg":"listening"');
      },
      60_000,
      `${kind} server on port ${port}`,
      alive,
    );
    return {
      kind,
      host,
      port,
      pid,
      outputTail: () => tail,
      exited: () => exited,
      async stop(graceMs = 10_000) {
        if (exited) return;
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // gone
        }
        const timer = setTimeout(() => {
          try {
            process.kill(pid, 'SIGKILL');
            child.kill('SIGKILL');
          } catch {
            // gone
          }
        }, graceMs);
        await exitPromise;
        clearTimeout(timer);
      },
    };
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n--- output ---\n${tail}`);
  }
}

// ---------------------------------------------------------------- servers under test (one node or a cluster)

/** What a scenario runs against: one server process, or the nodes of a cluster and the services they share. */
export interface ServerUnderTest {
  kind: ServerKind;
  /** The node processes (one for every kind but `plexus2`). */
  nodes: RunningServer[];
  /** Pids whose CPU and RSS count as "the server": every node. */
  pids: number[];
  /** Pid of the cluster's Redis, or null. */
  redisPid: number | null;
  /** Pids of the PostgreSQL server the cluster uses (postmaster and its backends, read now), or [] for none. */
  dbPids(): number[];
  /** What the workers connect to. */
  target: Target;
  /** True once any node exited. */
  exited(): boolean;
  /** Output of every node, for error messages. */
  outputTail(): string;
  /** Stops the nodes (in parallel), then the cluster's Redis and database. */
  stop(): Promise<void>;
}

/** The PostgreSQL server shared by every cluster of this run (started on first use). */
let sharedPostgres: Promise<PostgresServer> | null = null;
/** Redis servers still running, stopped by {@link stopServices}. */
const liveRedis = new Set<RedisServer>();

/** Stops the shared PostgreSQL and any Redis still running (the ops/dev exit hooks also cover a crash). */
export async function stopServices(): Promise<void> {
  await Promise.allSettled([...liveRedis].map((r) => r.stop()));
  liveRedis.clear();
  const pg = sharedPostgres;
  sharedPostgres = null;
  if (pg) await pg.then((s) => s.stop(), () => undefined);
}

/** Asks Redis for its `process_id` (`INFO server`); 0 when it cannot tell. */
export function redisProcessId(port: number, timeoutMs = 2000): Promise<number> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let got = '';
    const done = (pid: number) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(pid);
    };
    const timer = setTimeout(() => done(0), timeoutMs);
    sock.on('connect', () => sock.write('INFO server\r\n'));
    sock.on('data', (b) => {
      got += b.toString('latin1');
      const m = /process_id:(\d+)\r\n/.exec(got);
      if (m) done(Number(m[1]));
    });
    sock.on('error', () => done(0));
  });
}

/** Postmaster pid (first line of `data/postmaster.pid`) and its children: the backends. */
function postgresPids(server: PostgresServer): number[] {
  try {
    const pid = Number(fs.readFileSync(path.join(server.dir, 'data', 'postmaster.pid'), 'utf8').split('\n', 1)[0]);
    return pid > 0 ? [pid, ...childPids(pid)] : [];
  } catch {
    return [];
  }
}

/**
 * Starts what a scenario runs against. For `plexus2`: a Redis, a fresh
 * database on the run's PostgreSQL, then node 1 (which runs the migrations)
 * and, once it is healthy, node 2; both get the same REDIS_URL, DATABASE_URL
 * and SESSION_SECRET and their own temporary DATA_DIR.
 */
export async function startServerUnderTest(
  kind: ServerKind,
  opts: { root: string; lifetimeSec: number; nodeFlags?: string[]; profileDir?: string },
): Promise<ServerUnderTest> {
  if (kind !== 'plexus2') {
    const node = await startServer(kind, opts);
    return {
      kind,
      nodes: [node],
      pids: [node.pid],
      redisPid: null,
      dbPids: () => [],
      target: { kind, host: node.host, port: node.port },
      exited: () => node.exited(),
      outputTail: () => node.outputTail(),
      stop: () => node.stop(),
    };
  }
  sharedPostgres ??= startPostgres();
  const pg = await sharedPostgres;
  const db = await createTestDatabase(pg.url);
  let redis: RedisServer | null = null;
  const nodes: RunningServer[] = [];
  const cleanup = async () => {
    await Promise.allSettled(nodes.map((n) => n.stop()));
    if (redis) {
      await redis.stop();
      liveRedis.delete(redis);
    }
    await db.drop().catch(() => undefined);
  };
  try {
    redis = await startRedis();
    liveRedis.add(redis);
    const env = { REDIS_URL: redis.url, DATABASE_URL: db.url, SESSION_SECRET: randomBytes(32).toString('hex') };
    // One after the other: node 1 migrates the new database before node 2 opens it.
    for (let i = 0; i < 2; i++) nodes.push(await startServer(kind, { ...opts, env }));
    const redisPid = await redisProcessId(redis.port);
    const first = nodes[0]!;
    return {
      kind,
      nodes,
      pids: nodes.map((n) => n.pid),
      redisPid: redisPid > 0 ? redisPid : null,
      dbPids: () => postgresPids(pg),
      target: { kind, host: first.host, port: first.port, nodes: nodes.map((n) => ({ host: n.host, port: n.port })) },
      exited: () => nodes.some((n) => n.exited()),
      outputTail: () => nodes.map((n, i) => `[node ${i + 1}]\n${n.outputTail()}`).join('\n'),
      stop: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
