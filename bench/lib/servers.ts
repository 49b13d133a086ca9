/**
 * Starts each server under test as its own child process on a free port and
 * stops it. Every server runs under coreutils `timeout`, so it dies by itself
 * even if the bench runner is killed without cleaning up.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { ServerKind } from './ipc.ts';
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
export async function startServer(kind: ServerKind, opts: { root: string; lifetimeSec: number; nodeFlags?: string[]; profileDir?: string }): Promise<RunningServer> {
  const host = '127.0.0.1';
  const port = await freePort(host);
  const env: NodeJS.ProcessEnv = { ...process.env, HOST: host, PORT: String(port) };
  let entry: string;
  if (kind === 'plexus') {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'plexus-bench-'));
    tempDirs.add(dataDir);
    entry = 'server/main.ts';
    Object.assign(env, { DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
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
        if (kind === 'plexus') {
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
