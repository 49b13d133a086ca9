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
