/**
 * Finds (and on a fresh CI machine installs) the Chromium that e2e tests drive.
 *
 * Debian's `chromium` package is used; Playwright's own browser download
 * does not work on our machines (no internet besides the package registries).
 *
 * Command line: `npx tsx ops/dev/chromium.ts` ensures Chromium and prints its path.
 */
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isExecutable, runCommand, type CommandResult } from './run-command.ts';

/** Where Debian's `chromium` package puts the browser. */
export const DEBIAN_CHROMIUM_PATH = '/usr/bin/chromium';

/** The command a non-root user should run to install what {@link ensureChromium} needs. */
export const INSTALL_HINT =
  'sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-dejavu-core';

/** True when some TrueType/OpenType font is installed under /usr/share/fonts or /usr/local/share/fonts. */
export function hasAnyFont(): boolean {
  const exts = /\.(ttf|otf|ttc|pfb)$/i;
  const walk = (dir: string, depth: number): boolean => {
    if (depth > 4) return false;
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return false;
    }
    for (const e of entries) {
      if (e.isFile() && exts.test(e.name)) return true;
      if (e.isDirectory() && walk(join(dir, e.name), depth + 1)) return true;
    }
    return false;
  };
  return walk('/usr/share/fonts', 0) || walk('/usr/local/share/fonts', 0);
}

type RunResult = CommandResult;

function run(cmd: string, args: string[], timeoutMs: number): Promise<RunResult> {
  return runCommand(cmd, args, { timeoutMs, env: { DEBIAN_FRONTEND: 'noninteractive', NEEDRESTART_MODE: 'a' } });
}

const LOCK_ERROR = /Could not get lock|Unable to acquire the dpkg frontend lock|Unable to lock|is another process using it|dpkg was interrupted/i;

/**
 * Runs `apt-get <args>` non-interactively. Retries (bounded: `attempts`,
 * default 8, with 5–30 s pauses) when the dpkg/apt lock is held by another
 * process or a download fails transiently; after a "dpkg was interrupted"
 * error it runs `dpkg --configure -a` first.
 *
 * @throws Error with the tail of apt's output when it keeps failing.
 */
export async function aptGet(args: string[], attempts = 8): Promise<void> {
  const fullArgs = ['-o', 'DPkg::Lock::Timeout=60', '-o', 'Acquire::Retries=3', ...args];
  let last: RunResult = { code: null, output: '' };
  for (let attempt = 1; attempt <= attempts; attempt++) {
    last = await run('apt-get', fullArgs, 15 * 60_000);
    if (last.code === 0) return;
    const transient = LOCK_ERROR.test(last.output) || /Temporary failure|Failed to fetch|Hash Sum mismatch|Connection failed/i.test(last.output);
    if (!transient || attempt === attempts) break;
    if (/dpkg was interrupted/i.test(last.output)) await run('dpkg', ['--configure', '-a'], 10 * 60_000);
    const pause = Math.min(30_000, 5_000 * attempt);
    process.stderr.write(`apt-get ${args.join(' ')}: attempt ${attempt} failed (lock or network); retrying in ${pause / 1000} s\n`);
    await new Promise((r) => setTimeout(r, pause));
  }
  const outTail = last.output.length > 3000 ? '…' + last.output.slice(-3000) : last.output;
  throw new Error(`apt-get ${args.join(' ')} failed (exit ${last.code}):\n${outTail}`);
}

let pending: Promise<string> | undefined;

/**
 * Returns the path of a Chromium executable for Playwright's `executablePath`.
 *
 * Order: `$CHROMIUM_PATH` (must be executable, else it throws), then
 * `/usr/bin/chromium`. When neither exists and this process is root, it runs
 * `apt-get update` and `apt-get install -y --no-install-recommends chromium`
 * (non-interactive, retried on a held dpkg lock) and returns
 * `/usr/bin/chromium`. It also installs `fonts-dejavu-core` when no font is
 * installed at all, so pages render text. Concurrent calls share one install.
 *
 * @throws Error giving the exact install command when Chromium is missing
 *   and this process is not root, or when the install fails.
 */
export function ensureChromium(): Promise<string> {
  pending ??= ensureChromiumOnce().finally(() => {
    pending = undefined;
  });
  return pending;
}

async function ensureChromiumOnce(): Promise<string> {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv) {
    if (isExecutable(fromEnv)) return fromEnv;
    throw new Error(`CHROMIUM_PATH=${fromEnv} is not an executable file. Unset it to use ${DEBIAN_CHROMIUM_PATH}, or point it at a Chromium binary.`);
  }
  const needBrowser = !isExecutable(DEBIAN_CHROMIUM_PATH);
  const needFonts = !hasAnyFont();
  if (!needBrowser && !needFonts) return DEBIAN_CHROMIUM_PATH;

  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot) {
    if (needBrowser) {
      throw new Error(`Chromium not found at ${DEBIAN_CHROMIUM_PATH} and CHROMIUM_PATH is not set. Install it with:\n  ${INSTALL_HINT}\nor set CHROMIUM_PATH to a Chromium/Chrome binary.`);
    }
    // Fonts missing only degrades text rendering; say so and carry on.
    process.stderr.write(`warning: no fonts installed; text will not render. Install them with: sudo apt-get install -y fonts-dejavu-core\n`);
    return DEBIAN_CHROMIUM_PATH;
  }

  const packages = [...(needBrowser ? ['chromium'] : []), ...(needFonts ? ['fonts-dejavu-core'] : [])];
  process.stderr.write(`Installing ${packages.join(', ')} with apt-get (takes a minute or two)…\n`);
  const t0 = Date.now();
  await aptGet(['update']);
  await aptGet(['install', '-y', '--no-install-recommends', ...packages]);
  if (!isExecutable(DEBIAN_CHROMIUM_PATH)) {
    throw new Error(`apt-get installed ${packages.join(', ')} but ${DEBIAN_CHROMIUM_PATH} is still missing`);
  }
  process.stderr.write(`Installed ${packages.join(', ')} in ${((Date.now() - t0) / 1000).toFixed(0)} s.\n`);
  return DEBIAN_CHROMIUM_PATH;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  ensureChromium().then(
    (path) => process.stdout.write(`${path}\n`),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
