/**
 * A throwaway Redis server for tests and local development.
 *
 * `startRedis()` finds `redis-server` (installing Debian's `redis-server`
 * package with apt-get when it is missing and this process is root), starts
 * it as a child process of this process on a free 127.0.0.1 port in a new
 * temporary directory, with no persistence (`--save '' --appendonly no`), and
 * waits until it answers `PING`. `stop()` shuts it down and removes the
 * directory. `halt()` and `start()` stop and start it again on the same port
 * (to test Redis outages); `restart()` does both.
 *
 * Command line: `npx tsx ops/dev/redis.ts` starts one, prints its URL and
 * keeps it running until Ctrl-C (SIGINT) or SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { aptGet } from './chromium.ts';
import { isExecutable, serveUntilSignal } from './run-command.ts';
import { findFreePort } from './postgres.ts';

/** A running Redis server started by {@link startRedis}. */
export interface RedisServer {
  /** `redis://127.0.0.1:PORT` (no password, database 0). */
  url: string;
  /** TCP port on 127.0.0.1; the same across {@link halt}/{@link start}. */
  port: number;
  /** The temporary working directory of the server (removed by `stop()`). */
  dir: string;
  /** Last `bytes` (default 4096) of the server's output, for error messages. */
  logTail(bytes?: number): string;
  /**
   * Stops the server process (SIGTERM, SIGKILL after 5 s) but keeps the port
   * and directory, so that {@link start} can bring it back. No-op when it is
   * not running. Resolves once the process has exited.
   */
  halt(): Promise<void>;
  /**
   * Starts the server again on the same port after {@link halt}, and waits
   * until it answers PING. No-op when it is running.
   * @throws Error when the port has been taken meanwhile or it does not answer within the start timeout.
   */
  start(): Promise<void>;
  /**
   * Freezes the server process (SIGSTOP): its connections stay open but
   * nothing is answered, as with a hung or overloaded host. No-op when it is
   * not running. {@link thaw} resumes it.
   */
  freeze(): void;
  /** Resumes a server frozen by {@link freeze} (SIGCONT). */
  thaw(): void;
  /** {@link halt} then {@link start}: a Redis outage of however long the restart takes. */
  restart(): Promise<void>;
  /** Stops the server for good and removes `dir`. Safe to call twice. */
  stop(): Promise<void>;
}

/** Options for {@link startRedis}. */
export interface StartRedisOptions {
  /** Parent directory for the temporary directory (default: the OS temp dir). */
  baseDir?: string;
  /** Milliseconds to wait for the server to answer PING (default 20 000). */
  timeoutMs?: number;
}

/** The command a non-root user should run to install what {@link findRedisServer} needs. */
export const REDIS_INSTALL_HINT = 'sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server';

/** Number of start attempts when the chosen free port is taken in between. */
const PORT_ATTEMPTS = 3;

/** `$REDIS_SERVER_PATH`, else the first `redis-server` on PATH or in /usr/bin, /usr/local/bin; null when none. */
function locateRedisServer(): string | null {
  const fromEnv = process.env.REDIS_SERVER_PATH;
  if (fromEnv) {
    if (isExecutable(fromEnv)) return fromEnv;
    throw new Error(`REDIS_SERVER_PATH=${fromEnv} is not an executable file; unset it or point it at redis-server.`);
  }
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/bin', '/usr/local/bin', '/usr/sbin'];
  for (const d of dirs) {
    const p = join(d, 'redis-server');
    if (isExecutable(p)) return p;
  }
  return null;
}

let installing: Promise<string> | undefined;

/**
 * Returns the path of a `redis-server` executable: `$REDIS_SERVER_PATH`, else
 * one on PATH (or /usr/bin, /usr/local/bin). When there is none and this
 * process is root, installs Debian's `redis-server` package (`apt-get update`,
 * then `apt-get install -y --no-install-recommends redis-server`, retried while
 * another process holds the dpkg lock). Concurrent calls share one install.
 *
 * @throws Error giving the install command when it is missing and this
 *   process is not root, or when the install fails.
 */
export function findRedisServer(): Promise<string> {
  const found = locateRedisServer();
  if (found) return Promise.resolve(found);
  installing ??= (async () => {
    const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
    if (!isRoot) {
      throw new Error(`redis-server not found. Install it with:\n  ${REDIS_INSTALL_HINT}\nor set TEST_REDIS_URL to an existing Redis.`);
    }
    process.stderr.write('redis-server not found: installing Debian package redis-server with apt-get\n');
    await aptGet(['update']);
    await aptGet(['install', '-y', '--no-install-recommends', 'redis-server']);
    const path = locateRedisServer();
    if (!path) throw new Error('apt-get installed redis-server but no redis-server executable was found afterwards');
    return path;
  })().finally(() => {
    installing = undefined;
  });
  return installing;
}

/** Sends `PING` over a raw socket; resolves true when `+PONG` comes back within `timeoutMs`. */
function ping(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((res) => {
    const sock = connect({ host: '127.0.0.1', port });
    let got = '';
    const done = (ok: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      res(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (b) => {
      got += b.toString('latin1');
      if (got.includes('\r\n')) done(got.startsWith('+PONG'));
    });
    sock.on('error', () => done(false));
  });
}

/** Children started by this process, killed (and their directories removed) if it exits without stopping them. */
const live = new Set<{ child: ChildProcess | null; dir: string }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const s of live) {
      try {
        s.child?.kill('SIGKILL');
      } catch {
        // already gone
      }
      rmSync(s.dir, { recursive: true, force: true });
    }
    live.clear();
  });
}

/**
 * Starts a temporary Redis server (no persistence, bound to 127.0.0.1, no
 * password) as a child process. If this process exits without calling
 * `stop()`, an `exit` hook kills the server and removes its directory; a
 * SIGKILL of this process leaves the server and its directory behind.
 *
 * @returns the server (see {@link RedisServer}).
 * @throws Error when redis-server is missing and cannot be installed, or does
 *   not answer PING within `timeoutMs`; the message includes its output.
 */
export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisServer> {
  const exe = await findRedisServer();
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const baseDir = resolve(opts.baseDir ?? tmpdir());
  mkdirSync(baseDir, { recursive: true });
  const dir = mkdtempSync(join(baseDir, 'plexus-redis-'));
  const entry: { child: ChildProcess | null; dir: string } = { child: null, dir };
  live.add(entry);
  installExitHook();

  let output = '';
  const tailOf = (bytes: number) => (output.length > bytes ? '…' + output.slice(-bytes) : output);

  /** Spawns redis-server on `port`; resolves when it answers PING, rejects when it exits first or times out. */
  const launch = async (port: number): Promise<void> => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir, '--logfile', ''];
    const child = spawn(exe, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    entry.child = child;
    const onData = (b: Buffer) => {
      output += b.toString('utf8');
      if (output.length > 65536) output = output.slice(-65536);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    let exited = false;
    child.once('exit', () => {
      exited = true;
      if (entry.child === child) entry.child = null;
    });
    child.once('error', (err) => {
      output += `\n[could not run ${exe}: ${err.message}]`;
    });
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (exited) throw new Error(`redis-server exited before answering PING on 127.0.0.1:${port}:\n${tailOf(4096)}`);
      if (await ping(port, 1000)) return;
      if (exited) continue;
      await new Promise((r) => setTimeout(r, 50));
    }
    await kill(child);
    throw new Error(`redis-server did not answer PING on 127.0.0.1:${port} within ${timeoutMs} ms:\n${tailOf(4096)}`);
  };

  /** SIGTERM, SIGKILL after 5 s; resolves once the process has exited. */
  const kill = (child: ChildProcess): Promise<void> =>
    new Promise((res) => {
      if (child.exitCode !== null || child.signalCode !== null) return res();
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(t);
        res();
      });
      child.kill('SIGTERM');
    });

  let port = 0;
  try {
    for (let attempt = 1; ; attempt++) {
      port = await findFreePort();
      try {
        await launch(port);
        break;
      } catch (err) {
        const portTaken = /Address already in use|Could not create server TCP listening socket/i.test(output);
        if (!portTaken || attempt >= PORT_ATTEMPTS) throw err;
        output = '';
      }
    }
  } catch (err) {
    live.delete(entry);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  let stopped = false;
  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    logTail: (bytes = 4096) => tailOf(bytes),
    async halt() {
      if (entry.child) {
        entry.child.kill('SIGCONT');
        await kill(entry.child);
      }
    },
    freeze() {
      entry.child?.kill('SIGSTOP');
    },
    thaw() {
      entry.child?.kill('SIGCONT');
    },
    async start() {
      if (stopped) throw new Error('this Redis server was stopped for good with stop(); call startRedis() for a new one');
      if (entry.child) return;
      await launch(port);
    },
    async restart() {
      await server.halt();
      await server.start();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.halt();
      live.delete(entry);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

async function main(): Promise<void> {
  serveUntilSignal('Redis', await startRedis());
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
