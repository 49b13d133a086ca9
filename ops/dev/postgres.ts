/**
 * A throwaway PostgreSQL 15 server for tests and local development.
 *
 * `startPostgres()` runs `initdb` in a new temporary directory, starts the
 * server on a free 127.0.0.1 port with its unix socket inside that directory,
 * creates the database `plexus_test` and returns its URL. `stop()` shuts the
 * server down (`pg_ctl stop -m fast`) and removes the directory.
 *
 * PostgreSQL refuses to run as root, so when this process is root the
 * binaries run as the `postgres` system user (through `runuser`) and the
 * temporary directory is handed to that user.
 *
 * Command line: `npx tsx ops/dev/postgres.ts` starts one, prints its URL and
 * keeps it running until Ctrl-C (SIGINT) or SIGTERM.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, chownSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { runCommand, serveUntilSignal } from './run-command.ts';

/** A running PostgreSQL server started by {@link startPostgres}. */
export interface PostgresServer {
  /** `postgres://postgres@127.0.0.1:PORT/plexus_test` (trust auth, no password). */
  url: string;
  /** TCP port on 127.0.0.1. */
  port: number;
  /** The temporary directory holding `data/`, the socket and `server.log`. */
  dir: string;
  /** Last `bytes` (default 4096) of the server log, for error messages. */
  logTail(bytes?: number): string;
  /**
   * Freezes the server (SIGSTOP to the postmaster and every backend): its
   * connections stay open but no statement is answered and no new
   * connection completes, as with a hung host. {@link thaw} resumes it.
   * Linux only (reads /proc).
   */
  freeze(): void;
  /** Resumes a server frozen by {@link freeze} (SIGCONT). */
  thaw(): void;
  /** Stops the server (fast shutdown) and removes `dir`. Safe to call twice. */
  stop(): Promise<void>;
}

/** Options for {@link startPostgres}. */
export interface StartPostgresOptions {
  /**
   * Parent directory for the temporary directory (default: the OS temp dir).
   * It must be traversable by the `postgres` user when running as root, and
   * short: the unix socket path must stay under 107 bytes.
   */
  baseDir?: string;
  /** Milliseconds to wait for the server to accept connections (default 60 000). */
  timeoutMs?: number;
  /** Name of the database to create (default `plexus_test`). */
  database?: string;
}

/** Number of start attempts when the chosen free port is taken in between. */
const PORT_ATTEMPTS = 3;

/**
 * Finds the directory holding the PostgreSQL 15 server binaries (`initdb`,
 * `pg_ctl`, `postgres`): `$PG_BIN_DIR` if set, else
 * `/usr/lib/postgresql/15/bin`, else what `pg_config --bindir` prints.
 *
 * @throws Error naming the Debian package to install when none has `initdb`.
 */
export function findPostgresBinDir(): string {
  const candidates: string[] = [];
  if (process.env.PG_BIN_DIR) candidates.push(process.env.PG_BIN_DIR);
  candidates.push('/usr/lib/postgresql/15/bin');
  const cfg = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  if (cfg.status === 0 && cfg.stdout.trim()) candidates.push(cfg.stdout.trim());
  for (const dir of candidates) {
    if (existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'))) return dir;
  }
  throw new Error(
    `PostgreSQL server binaries not found (looked in ${candidates.join(', ')}). ` +
      'Install them with `apt-get install -y postgresql-15`, set PG_BIN_DIR to the directory holding initdb, ' +
      'or set TEST_DATABASE_URL to an existing server.',
  );
}

/** Resolves with a TCP port on 127.0.0.1 that was free a moment ago (bind port 0, then release). */
export function findFreePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolvePort(port) : reject(new Error('could not get a free port'))));
    });
  });
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** Runs a PostgreSQL binary, as the `postgres` user when we are root. */
function runPg(
  binDir: string,
  tool: string,
  args: string[],
  cwd: string,
  timeoutMs: number,
): Promise<{ code: number | null; output: string }> {
  const exe = join(binDir, tool);
  const [cmd, argv] = isRoot ? ['runuser', ['-u', 'postgres', '--', exe, ...args]] : [exe, args];
  // LC_ALL keeps initdb from failing on a locale the machine lacks.
  return runCommand(cmd, argv, { cwd, timeoutMs, env: { LC_ALL: 'C.UTF-8', LANG: 'C.UTF-8' } });
}

function tail(text: string, bytes: number): string {
  return text.length > bytes ? '…' + text.slice(-bytes) : text;
}

function readTail(file: string, bytes: number): string {
  try {
    return tail(readFileSync(file, 'utf8'), bytes);
  } catch {
    return '(no server log)';
  }
}

/** Servers started by this process, stopped synchronously if it exits without stopping them. */
const live = new Set<{ binDir: string; dataDir: string; dir: string }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const s of live) {
      const exe = join(s.binDir, 'pg_ctl');
      const args = ['-D', s.dataDir, 'stop', '-m', 'immediate', '-w', '-t', '10'];
      if (isRoot) spawnSync('runuser', ['-u', 'postgres', '--', exe, ...args], { stdio: 'ignore', cwd: s.dir });
      else spawnSync(exe, args, { stdio: 'ignore', cwd: s.dir });
      rmSync(s.dir, { recursive: true, force: true });
    }
    live.clear();
  });
}

/**
 * Starts a temporary PostgreSQL 15 server and creates one database in it.
 *
 * Data directory settings favour speed over durability (`fsync=off`,
 * `synchronous_commit=off`, `full_page_writes=off`): never use it for data you
 * want to keep. Auth is `trust` for user `postgres` on 127.0.0.1 only.
 * If this process exits without calling `stop()`, an `exit` hook stops the
 * server (immediate mode) and removes the directory; a SIGKILL leaves it behind.
 *
 * @returns the server, whose `url` points at the created database.
 * @throws Error when the binaries are missing, `initdb` fails, or the server
 *   does not accept connections within `timeoutMs`; the message includes the
 *   tail of the tool output or server log.
 */
export async function startPostgres(opts: StartPostgresOptions = {}): Promise<PostgresServer> {
  const binDir = findPostgresBinDir();
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const database = opts.database ?? 'plexus_test';
  assertIdentifier(database);
  const baseDir = resolve(opts.baseDir ?? tmpdir());
  mkdirSync(baseDir, { recursive: true });
  const dir = mkdtempSync(join(baseDir, 'plexus-pg-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  const entry = { binDir, dataDir, dir };
  live.add(entry);
  installExitHook();

  const cleanup = () => {
    live.delete(entry);
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    if (isRoot) {
      const pw = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
      if (pw.status !== 0) {
        throw new Error('running as root but there is no `postgres` user to run PostgreSQL as; create it (`useradd -r postgres`) or run as a normal user');
      }
      const uid = Number(pw.stdout.trim());
      const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
      chownSync(dir, uid, gid);
      if (spawnSync('runuser', ['-u', 'postgres', '--', 'test', '-w', dir]).status !== 0) {
        throw new Error(`the postgres user cannot write ${dir}: a parent directory is closed to it. Use a baseDir it can reach (e.g. under /tmp).`);
      }
    }

    const init = await runPg(
      binDir,
      'initdb',
      ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C.UTF-8', '--no-instructions'],
      dir,
      timeoutMs,
    );
    if (init.code !== 0) {
      throw new Error(`initdb failed (exit ${init.code}) in ${dataDir}:\n${tail(init.output, 4096)}`);
    }

    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await findFreePort();
      const serverOpts = [
        `-p ${port}`,
        `-k ${dir}`,
        '-c listen_addresses=127.0.0.1',
        '-c fsync=off',
        '-c synchronous_commit=off',
        '-c full_page_writes=off',
        '-c max_connections=200',
      ].join(' ');
      const started = await runPg(
        binDir,
        'pg_ctl',
        ['-D', dataDir, '-l', logFile, '-o', serverOpts, '-w', '-t', String(Math.ceil(timeoutMs / 1000)), 'start'],
        dir,
        timeoutMs + 5000,
      );
      if (started.code === 0) break;
      const log = readTail(logFile, 4096);
      const portTaken = /could not bind|Address already in use|could not create any TCP\/IP sockets/i.test(log);
      // A server that came up late must not be left running before a retry.
      await runPg(binDir, 'pg_ctl', ['-D', dataDir, 'stop', '-m', 'immediate', '-w'], dir, 15_000).catch(() => undefined);
      if (!portTaken || attempt >= PORT_ATTEMPTS) {
        throw new Error(
          `PostgreSQL did not start on 127.0.0.1:${port} within ${timeoutMs} ms (pg_ctl exit ${started.code}).\n` +
            `pg_ctl said:\n${tail(started.output, 2048)}\nserver log (${logFile}):\n${log}`,
        );
      }
    }

    const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
    await waitForConnection(adminUrl, timeoutMs, () => readTail(logFile, 4096));
    await createDatabase(adminUrl, database);

    let stopped = false;
    return {
      url: `postgres://postgres@127.0.0.1:${port}/${database}`,
      port,
      dir,
      logTail: (bytes = 4096) => readTail(logFile, bytes),
      freeze: () => signalCluster(dataDir, 'SIGSTOP'),
      thaw: () => signalCluster(dataDir, 'SIGCONT'),
      async stop() {
        if (stopped) return;
        stopped = true;
        signalCluster(dataDir, 'SIGCONT');
        const res = await runPg(binDir, 'pg_ctl', ['-D', dataDir, 'stop', '-m', 'fast', '-w', '-t', '30'], dir, 40_000);
        if (res.code !== 0) {
          await runPg(binDir, 'pg_ctl', ['-D', dataDir, 'stop', '-m', 'immediate', '-w', '-t', '15'], dir, 20_000).catch(() => undefined);
        }
        cleanup();
      },
    };
  } catch (err) {
    // Stop anything that may be running from a half-finished start.
    if (existsSync(join(dataDir, 'postmaster.pid'))) {
      await runPg(binDir, 'pg_ctl', ['-D', dataDir, 'stop', '-m', 'immediate', '-w'], dir, 15_000).catch(() => undefined);
    }
    cleanup();
    throw err;
  }
}

/**
 * Sends `signal` to the postmaster of `dataDir` (first line of
 * postmaster.pid) and to every process it forked (backends, checkpointer,
 * ...), found by parent pid in /proc. Does nothing when it is not running.
 */
function signalCluster(dataDir: string, signal: NodeJS.Signals): void {
  let postmaster: number;
  try {
    postmaster = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return;
  }
  if (!Number.isInteger(postmaster) || postmaster <= 0) return;
  const pids = [postmaster];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    // "pid (comm) state ppid ...": comm may hold spaces, so read after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === postmaster) pids.push(Number(name));
  }
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // exited meanwhile
    }
  }
}

/** Connects repeatedly until `url` accepts a query or `timeoutMs` passes. */
async function waitForConnection(url: string, timeoutMs: number, logTail: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      return;
    } catch (err) {
      lastError = err;
      await client.end().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(
    `PostgreSQL at ${url} did not accept connections within ${timeoutMs} ms: ${String(lastError)}\nserver log:\n${logTail()}`,
  );
}

/** Throws unless `name` is a plain lower-case SQL identifier (safe to splice into DDL). */
function assertIdentifier(name: string): void {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) {
    throw new Error(`invalid database name ${JSON.stringify(name)}: use lower-case letters, digits and _ (at most 63)`);
  }
}

/** Returns `url` with its database (path) replaced by `name`. */
function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = '/' + name;
  return u.toString();
}

/**
 * Creates database `name` on the server that `url` points at (any database
 * on it; the connection goes to the `postgres` maintenance database).
 *
 * @param name lower-case letters, digits and `_`, at most 63 characters.
 * @throws Error on an invalid name, a connection failure, or when it exists.
 */
export async function createDatabase(url: string, name: string): Promise<void> {
  assertIdentifier(name);
  const client = new pg.Client({ connectionString: withDatabase(url, 'postgres') });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
}

/**
 * Drops database `name` on the server that `url` points at, closing any
 * sessions still connected to it (`WITH (FORCE)`, PostgreSQL ≥ 13). No error
 * when it does not exist.
 */
export async function dropDatabase(url: string, name: string): Promise<void> {
  assertIdentifier(name);
  const client = new pg.Client({ connectionString: withDatabase(url, 'postgres') });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

/**
 * Creates a fresh, empty database `plexus_test_<12 hex chars>` on the server
 * that `baseUrl` points at (typically `process.env.TEST_DATABASE_URL`), so
 * that a test file gets its own database.
 *
 * @returns `url` of the new database (same host, port, user and query string
 *   as `baseUrl`) and `drop()`, which removes it (idempotent; call it in `after()`).
 */
export async function createTestDatabase(baseUrl: string): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = `plexus_test_${randomBytes(6).toString('hex')}`;
  await createDatabase(baseUrl, name);
  let dropped = false;
  return {
    url: withDatabase(baseUrl, name),
    name,
    async drop() {
      if (dropped) return;
      dropped = true;
      await dropDatabase(baseUrl, name);
    },
  };
}

async function main(): Promise<void> {
  serveUntilSignal('PostgreSQL', await startPostgres());
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
