/**
 * Helpers for end-to-end tests: start a real Plexus server process on a free
 * port, and launch headless Chromium (Debian's package, WebGL through
 * SwiftShader) with Playwright.
 *
 * Paths are resolved from the repository root (the parent of `e2e/`), never
 * from the current directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type LaunchOptions } from 'playwright-core';
import { ensureChromium } from '../ops/dev/chromium.ts';

/** Absolute path of the repository root. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** How much of a server's output {@link RunningServer.logs} keeps (bytes of text, newest kept). */
const LOG_KEEP = 64 * 1024;

/** A Plexus server process started by {@link startServer}. */
export interface RunningServer {
  /** Base URL from the server's `listening` log line, e.g. `http://127.0.0.1:43121`. */
  url: string;
  /** The TCP port it listens on. */
  port: number;
  /** Its `DATA_DIR` (a temporary directory unless one was given). */
  dataDir: string;
  /** The child process id. */
  pid: number;
  /**
   * Sends SIGTERM and resolves when the process has exited; sends SIGKILL if
   * it is still running after `graceMs` (default 10 000 ms). Removes `dataDir`
   * when the harness created it. Safe to call twice and after `kill()`.
   */
  stop(graceMs?: number): Promise<void>;
  /** Sends `signal` (default SIGKILL) without waiting, e.g. to simulate a crash. */
  kill(signal?: NodeJS.Signals): void;
  /** Resolves with the exit code (or signal name) once the process has exited; reading it keeps the event loop alive until then. */
  readonly exited: Promise<number | NodeJS.Signals | null>;
  /** The last 64 KB of its stdout and stderr, interleaved in arrival order. */
  logs(): string;
}

/** Options for {@link startServer}. */
export interface StartServerOptions {
  /** Extra environment, applied over the inherited one and the harness defaults. */
  env?: Record<string, string>;
  /**
   * `DATA_DIR` for the server. Given: it is kept on `stop()` (so a second
   * server can reuse it). Omitted: a new temporary directory, removed on `stop()`.
   */
  dataDir?: string;
  /** Milliseconds to wait for the `listening` line (default 60 000; PGlite's first init takes ~5 s). */
  timeoutMs?: number;
  /** Entry script, absolute or relative to the repo root (default `server/main.ts`). Used by the harness's own tests. */
  entry?: string;
  /** Copy the server's output to this process's stderr as it arrives (default: `$E2E_SERVER_LOGS === '1'`). */
  echo?: boolean;
}

/** Server processes that have not exited yet. */
const running = new Set<ChildProcess>();
/** Temporary DATA_DIRs not yet removed (a server may have exited without `stop()`). */
const ownDirs = new Set<string>();
let exitHookInstalled = false;

/** On exit, SIGKILL servers a test forgot to stop and remove their temporary DATA_DIRs. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of running) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const dir of ownDirs) rmSync(dir, { recursive: true, force: true });
  });
}

/**
 * Starts `node --import tsx server/main.ts` with `PORT=0`, `HOST=127.0.0.1`,
 * `DATA_DIR=<dataDir>`, `LOG_LEVEL=info` (plus `opts.env`), in the repo root,
 * and waits for its pino JSON log line `{"msg":"listening","url":…,"port":…}`.
 *
 * The child is not referenced by the event loop: a test file that forgets
 * `stop()` still ends, and when the test process exits the server is killed
 * and its temporary DATA_DIR removed.
 *
 * @throws Error, including the captured logs, when the process exits before
 *   listening or does not log `listening` within `timeoutMs`.
 */
export async function startServer(opts: StartServerOptions = {}): Promise<RunningServer> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const entry = opts.entry ? (isAbsolute(opts.entry) ? opts.entry : join(REPO_ROOT, opts.entry)) : join(REPO_ROOT, 'server/main.ts');
  const ownDataDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'plexus-e2e-'));
  const echo = opts.echo ?? process.env.E2E_SERVER_LOGS === '1';
  const tsxLoader = import.meta.resolve('tsx');

  const child = spawn(process.execPath, ['--import', tsxLoader, entry], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      LOG_LEVEL: 'info',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  if (ownDataDir) ownDirs.add(dataDir);
  installExitHook();

  let log = '';
  const append = (text: string) => {
    log += text;
    if (log.length > LOG_KEEP * 2) log = log.slice(-LOG_KEEP);
    if (echo) process.stderr.write(text);
  };
  const logs = () => (log.length > LOG_KEEP ? log.slice(-LOG_KEEP) : log);

  const exited = new Promise<number | NodeJS.Signals | null>((res) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      res(code ?? signal);
    });
  });

  let removed = false;
  const removeDataDir = () => {
    if (ownDataDir && !removed) {
      removed = true;
      rmSync(dataDir, { recursive: true, force: true });
      ownDirs.delete(dataDir);
    }
  };

  const listening = new Promise<{ url: string; port: number }>((res, rej) => {
    let partial = '';
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => append(chunk));
    child.stdout!.on('data', (chunk: string) => {
      append(chunk);
      partial += chunk;
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, nl).trim();
        partial = partial.slice(nl + 1);
        if (!line.startsWith('{')) continue;
        try {
          const rec = JSON.parse(line) as { msg?: unknown; url?: unknown; port?: unknown };
          if (rec.msg === 'listening' && typeof rec.url === 'string' && typeof rec.port === 'number') {
            res({ url: rec.url, port: rec.port });
          }
        } catch {
          // not a JSON log line
        }
      }
    });
    child.once('error', (err) => rej(new Error(`could not spawn the server (${entry}): ${err.message}`)));
    void exited.then((how) => rej(new Error(`server ${entry} exited (${how}) before logging "listening". Logs:\n${logs()}`)));
  });

  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(
      () => rej(new Error(`server ${entry} did not log "listening" within ${timeoutMs} ms. Logs:\n${logs()}`)),
      timeoutMs,
    );
  });

  let address: { url: string; port: number };
  try {
    address = await Promise.race([listening, timeout]);
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    removeDataDir();
    throw err;
  } finally {
    clearTimeout(timer);
  }

  // From here on a forgotten server must not keep the test process alive.
  child.unref();
  (child.stdout as unknown as { unref?: () => void }).unref?.();
  (child.stderr as unknown as { unref?: () => void }).unref?.();

  return {
    url: address.url,
    port: address.port,
    dataDir,
    pid: child.pid!,
    // Whoever waits for the exit needs the event loop to wait too.
    get exited() {
      child.ref();
      return exited;
    },
    logs,
    kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) {
        child.ref();
        child.kill(signal);
      }
    },
    async stop(graceMs = 10_000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.ref();
        child.kill('SIGTERM');
        // A referenced timer keeps the test process alive while we wait.
        const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(killer);
      }
      removeDataDir();
    },
  };
}

/**
 * Command-line switches that make Debian's Chromium run headless as root in
 * our sandbox, with WebGL 1 and 2 on the SwiftShader software renderer, no
 * background traffic to Google, and fake camera/microphone devices.
 */
export const CHROMIUM_ARGS: readonly string[] = [
  '--no-sandbox',
  '--disable-gpu-sandbox',
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
  '--ignore-gpu-blocklist',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--disable-dev-shm-usage',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  '--autoplay-policy=no-user-gesture-required',
];

/**
 * Launches headless Chromium through playwright-core with {@link CHROMIUM_ARGS}
 * (`executablePath` from `ensureChromium()`, which installs Debian's package
 * when missing and running as root). Close it with `browser.close()` in `after()`.
 *
 * @param opts extra Playwright launch options; `args` are appended to {@link CHROMIUM_ARGS}.
 * @throws Error from `ensureChromium()` when Chromium is missing and cannot be
 *   installed, or Playwright's launch error.
 */
export async function launchChromium(opts: LaunchOptions = {}): Promise<Browser> {
  const executablePath = await ensureChromium();
  return chromium.launch({
    timeout: 60_000,
    ...opts,
    executablePath,
    headless: opts.headless ?? true,
    args: [...CHROMIUM_ARGS, ...(opts.args ?? [])],
  });
}
