/**
 * Reads another process's CPU time and memory from /proc (Linux only):
 * `/proc/<pid>/stat` utime+stime (whole thread group) and
 * `/proc/<pid>/status` VmRSS / VmHWM.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

let ticksPerSecond = 0;

/** Clock ticks per second for /proc times (`getconf CLK_TCK`, normally 100). */
export function clockTicks(): number {
  if (ticksPerSecond === 0) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** CPU seconds (user + system, all threads) used so far by `pid`; NaN when it is gone. */
export function cpuSeconds(pid: number): number {
  const t = cpuTimes(pid);
  return t.user + t.system;
}

/** User and system CPU seconds (all threads) used so far by `pid`; NaN when it is gone. */
export function cpuTimes(pid: number): { user: number; system: number } {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) is in parentheses and may contain spaces: split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // rest[0] is field 3 (state); utime is field 14, stime field 15.
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    return { user: utime / clockTicks(), system: stime / clockTicks() };
  } catch {
    return { user: Number.NaN, system: Number.NaN };
  }
}

/** User and system CPU seconds summed over `pids` (a pid that is gone counts 0). */
export function cpuTimesSum(pids: readonly number[]): { user: number; system: number } {
  let user = 0;
  let system = 0;
  for (const pid of pids) {
    const t = cpuTimes(pid);
    if (Number.isFinite(t.user)) user += t.user;
    if (Number.isFinite(t.system)) system += t.system;
  }
  return { user, system };
}

/** Memory of `pid` in bytes: current resident set (VmRSS) and its peak so far (VmHWM); NaN when gone. */
export function memory(pid: number): { rss: number; hwm: number } {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string) => {
      const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
      return m ? Number(m[1]) * 1024 : Number.NaN;
    };
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return { rss: Number.NaN, hwm: Number.NaN };
  }
}

/** Pids of the direct children of `pid` (from /proc/<pid>/task/<tid>/children). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      const list = fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (list) out.push(...list.split(/\s+/).map(Number));
    }
  } catch {
    // process gone
  }
  return out;
}

/**
 * Samples the RSS of one process, or the sum over several (read at the same
 * moment), every `intervalMs` until stopped; `stop()` returns the peak seen (bytes).
 */
export function sampleRss(pids: number | readonly number[], intervalMs = 100): { stop(): number } {
  const list = typeof pids === 'number' ? [pids] : pids;
  const total = () => list.reduce((a, pid) => a + (memory(pid).rss || 0), 0);
  let peak = total();
  const timer = setInterval(() => {
    const rss = total();
    if (rss > peak) peak = rss;
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      const rss = total();
      if (rss > peak) peak = rss;
      return peak;
    },
  };
}

/** Whole-machine CPU counters from /proc/stat (all cores, seconds): busy and total. */
export function machineCpu(): { busy: number; total: number } {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user.
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = v;
  const busy = user + nice + system + irq + softirq + steal;
  return { busy: busy / clockTicks(), total: (busy + idle + iowait) / clockTicks() };
}
