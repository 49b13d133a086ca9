import { accessSync, constants } from 'node:fs';
import { spawn } from 'node:child_process';

/** What a finished command left: its exit code (null if killed) and its last 64 KiB of stdout+stderr. */
export interface CommandResult {
  code: number | null;
  output: string;
}

/** Options of {@link runCommand}. */
export interface RunCommandOptions {
  /** Milliseconds before the command is killed with SIGKILL. */
  timeoutMs: number;
  cwd?: string;
  /** Extra environment variables on top of this process's. */
  env?: Record<string, string>;
}

const MAX_OUTPUT = 65536;

/**
 * Runs `cmd args` without a shell, collecting stdout and stderr together.
 * Never rejects for a non-zero exit: the caller reads `code`.
 * @throws Error when the command cannot be started (e.g. not installed)
 */
export function runCommand(cmd: string, args: string[], opts: RunCommandOptions): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
    let output = '';
    const onData = (b: Buffer) => {
      output += b.toString('utf8');
      if (output.length > MAX_OUTPUT) output = output.slice(-MAX_OUTPUT);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      output += `\n[${cmd} killed after ${opts.timeoutMs} ms]`;
    }, opts.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`could not run ${cmd}: ${err.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** True when `path` exists and this process may execute it. */
export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * For the command-line use of a throwaway service: prints its URL on stdout,
 * keeps the process alive, and stops the service on SIGINT or SIGTERM, then exits.
 * @param name shown in messages, e.g. `PostgreSQL`
 */
export function serveUntilSignal(name: string, service: { url: string; dir: string; stop(): Promise<void> }): void {
  process.stdout.write(`${service.url}\n`);
  process.stderr.write(`${name} running in ${service.dir}; Ctrl-C to stop.\n`);
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    service.stop().then(
      () => {
        process.stderr.write(`${name} stopped (${signal}).\n`);
        process.exit(0);
      },
      (err: unknown) => {
        process.stderr.write(`stopping ${name} failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // Keep the process alive until a signal arrives.
  setInterval(() => undefined, 1 << 30);
}
