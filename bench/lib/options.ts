/**
 * Command-line options of `npm run bench` (bench/run.ts). `--help` prints
 * them. `--quick` switches to a smoke-test profile; any flag given after it
 * still wins.
 */
import { parseArgs } from 'node:util';
import type { ServerKind } from './ipc.ts';

/** Scenarios the runner knows. */
export type Scenario = 'search' | 'joins' | 'idle10k' | 'blocks';

/** Everything a run needs, with defaults applied. */
export interface BenchOptions {
  name: string;
  quick: boolean;
  servers: ServerKind[];
  scenarios: Scenario[];
  /** Clients per room. */
  roomSize: number;
  /** NAF updates per second per client. */
  hz: number;
  /** p99 latency bound of a passing step, ms. */
  boundMs: number;
  /** Lowest delivered/expected ratio of a passing step. */
  minDelivered: number;
  /** What the search raises: active rooms (at fixed room size and Hz) or the rate in Hz (at fixed rooms). */
  searchBy: 'rooms' | 'rate';
  /** Rooms used when searching by rate. */
  rateRooms: number;
  /** Rooms of the blocks scenario on one Plexus node (room 0 gets the blocks; the others are measured). */
  blockRooms: number;
  /** The same for two nodes (`plexus2`), which pass about half of one node's load on this machine. */
  blockRoomsCluster: number;
  /** First level of the search (rooms or Hz). */
  start: number;
  factor: number;
  maxSteps: number;
  precision: number;
  /** Seconds of warm-up and of measurement per step. */
  warmupSec: number;
  measureSec: number;
  /** Load worker processes. */
  workers: number;
  /** Highest number of clients the search may open. */
  maxClients: number;
  /** Clients of the idle-memory scenario. */
  idleClients: number;
  /** Joins per second and seconds of the join scenario. */
  joinRate: number;
  joinSeconds: number;
  /** Clients per 127.0.0.x source address. */
  clientsPerIp: number;
  /** Hard limit on the whole run, seconds. */
  timeoutSec: number;
  /** Write a V8 CPU profile of each server's search (bench/results/profiles/). */
  profile: boolean;
  /** Update README.md between the bench markers. */
  readme: boolean;
  /** Directory of results. */
  outDir: string;
}

export const ALL_SERVERS: ServerKind[] = ['plexus', 'plexus2', 'uws', 'socketio'];
export const ALL_SCENARIOS: Scenario[] = ['search', 'joins', 'idle10k', 'blocks'];

/** A number between `min` and `max` (rounded with `round`), else an error naming the flag. */
function num(min: number, max: number, round = false): (v: string, flag: string) => number {
  return (v, flag) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
      throw new Error(`${flag} needs a number between ${min} and ${max} (got ${JSON.stringify(v)}); see --help.`);
    }
    return round ? Math.round(n) : n;
  };
}

/** A comma list of names out of `all` (first occurrence kept), else an error naming the flag and the unknown name. */
function names<T extends string>(all: readonly T[], what: string): (v: string, flag: string) => T[] {
  return (v, flag) => {
    const list = v.split(',').map((s) => s.trim()).filter(Boolean);
    for (const s of list) if (!all.includes(s as T)) throw new Error(`${flag}: unknown ${what} ${JSON.stringify(s)}; use ${all.join(',')}.`);
    if (list.length === 0) throw new Error(`${flag} needs at least one ${what}.`);
    return [...new Set(list as T[])];
  };
}

/** One flag of `npm run bench`, declared once: its name, value, default, `--quick` default and help. */
export interface OptionSpec<T> {
  /** The flag without `--`. */
  flag: string;
  /** Other names of the flag (without `--`). */
  aliases?: string[];
  /** The value's placeholder in --help (`N`, `LIST`); absent for a switch (given: the opposite of the default). */
  arg?: string;
  /** The default. */
  default: T;
  /** The default with `--quick`, when it differs. */
  quick?: T;
  /** The default as --help says it, when `String(default)` is not the way to say it. */
  defaultHelp?: string;
  /** The flag's value to the option (throws an Error naming the flag). Absent: the text itself. */
  read?: (value: string, flag: string) => T;
  /** May be given more than once; the values add up (a comma list). */
  multiple?: boolean;
  /** What the flag does, for --help (may span lines). */
  help: string;
}

/**
 * Every option of {@link BenchOptions} but `quick`, declared once; `--help`
 * and {@link parseOptions} are made from these.
 */
export const OPTION_SPECS: { [K in Exclude<keyof BenchOptions, 'quick'>]: OptionSpec<BenchOptions[K]> } = {
  name: {
    flag: 'name',
    arg: 'NAME',
    default: 'default',
    quick: 'quick',
    defaultHelp: '"default", or "quick"',
    read: (v) => {
      if (!/^[A-Za-z0-9._-]{1,60}$/.test(v)) throw new Error('--name takes letters, digits, ".", "_" or "-".');
      return v;
    },
    help: 'results file name part',
  },
  servers: {
    flag: 'servers',
    arg: 'LIST',
    default: [...ALL_SERVERS],
    defaultHelp: 'all',
    read: names(ALL_SERVERS, 'server'),
    help: `comma list of ${ALL_SERVERS.join(',')};\nplexus2 = two Plexus nodes over Redis and PostgreSQL`,
  },
  scenarios: {
    flag: 'scenario',
    aliases: ['scenarios'],
    arg: 'LIST',
    default: [...ALL_SCENARIOS],
    defaultHelp: 'all',
    read: names(ALL_SCENARIOS, 'scenario'),
    multiple: true,
    help: `comma list of ${ALL_SCENARIOS.join(',')}; repeatable (also --scenarios);\nblocks runs for plexus and plexus2 only (the relays have no blocks)`,
  },
  blockRooms: {
    flag: 'block-rooms',
    arg: 'N',
    default: 16,
    quick: 8,
    read: num(2, 10_000, true),
    help: "rooms of the blocks scenario on one node (about half of what one node\npasses here): phases A (no blocks), B (every client of room 0 blocks 2\nmembers), C (unblocked); the other rooms are measured",
  },
  blockRoomsCluster: {
    flag: 'block-rooms-cluster',
    arg: 'N',
    default: 8,
    quick: 4,
    read: num(2, 10_000, true),
    help: 'the same for plexus2 (two nodes on these two cores pass about half of\none node\'s load)',
  },
  roomSize: { flag: 'room-size', arg: 'N', default: 25, read: num(2, 1000), help: 'clients per room' },
  hz: { flag: 'hz', arg: 'N', default: 15, read: num(0.1, 1000), help: 'NAF updates per second per client' },
  boundMs: { flag: 'bound', arg: 'MS', default: 50, read: num(0.1, 60_000), help: 'p99 bound of a passing step, ms' },
  minDelivered: { flag: 'min-delivered', arg: 'R', default: 0.95, read: num(0, 1), help: 'delivered/expected ratio of a passing step' },
  searchBy: {
    flag: 'search',
    arg: 'rooms|rate',
    default: 'rooms',
    read: (v) => {
      if (v !== 'rooms' && v !== 'rate') throw new Error('--search takes rooms or rate.');
      return v;
    },
    help: 'raise the number of rooms, or the rate at --rooms rooms',
  },
  rateRooms: { flag: 'rooms', arg: 'N', default: 8, read: num(1, 10_000), help: 'rooms when searching by rate' },
  start: { flag: 'start', arg: 'N', default: 4, quick: 2, read: num(1, 100_000, true), help: 'first level: rooms, or Hz with --search rate' },
  factor: { flag: 'factor', arg: 'F', default: 2, read: num(1.05, 16), help: 'growth factor before the first failure' },
  maxSteps: { flag: 'max-steps', arg: 'N', default: 10, quick: 4, read: num(1, 100, true), help: 'steps per search at most' },
  precision: { flag: 'precision', arg: 'R', default: 0.1, read: num(0, 1), help: 'stop bisecting at this relative gap' },
  warmupSec: { flag: 'warmup', arg: 'S', default: 2, quick: 1, read: num(0, 600), help: 'seconds of warm-up per step' },
  measureSec: { flag: 'measure', arg: 'S', default: 5, quick: 2, read: num(0.5, 600), help: 'seconds of measurement per step' },
  workers: { flag: 'workers', arg: 'N', default: 2, read: num(1, 32, true), help: 'load worker processes' },
  maxClients: { flag: 'max-clients', arg: 'N', default: 9000, read: num(2, 200_000, true), help: 'most clients a search may open' },
  idleClients: { flag: 'idle-clients', arg: 'N', default: 10000, quick: 1000, read: num(1, 200_000, true), help: 'clients of the idle-memory scenario' },
  joinRate: { flag: 'join-rate', arg: 'N', default: 100, read: num(1, 10_000), help: 'joins per second of the join scenario' },
  joinSeconds: { flag: 'join-seconds', arg: 'S', default: 10, quick: 2, read: num(1, 600), help: 'seconds of the join scenario' },
  clientsPerIp: { flag: 'clients-per-ip', arg: 'N', default: 10000, read: num(1, 28_000, true), help: 'clients per 127.0.0.x source address' },
  timeoutSec: { flag: 'timeout', arg: 'S', default: 1500, quick: 300, read: num(10, 6 * 3600), help: 'hard limit for the whole run, seconds' },
  profile: { flag: 'profile', default: false, help: 'write V8 CPU profiles of the servers during the search' },
  readme: { flag: 'no-readme', default: true, help: 'do not update README.md' },
  outDir: { flag: 'out', arg: 'DIR', default: 'bench/results', help: 'results directory' },
};

type Specs = typeof OPTION_SPECS;
const SPEC_LIST = Object.entries(OPTION_SPECS) as Array<[keyof Specs, OptionSpec<unknown>]>;

/** `--help`'s default note of one option: `(default 16, 8 with --quick)`. */
function defaultNote(spec: OptionSpec<unknown>): string {
  if (!spec.arg) return '';
  const say = (v: unknown) => (Array.isArray(v) ? v.join(',') : String(v));
  const normal = spec.defaultHelp ?? say(spec.default);
  return spec.quick === undefined || spec.defaultHelp ? ` (default ${normal})` : ` (default ${normal}, ${say(spec.quick)} with --quick)`;
}

/** The text of `--help`, made from {@link OPTION_SPECS}. */
export const HELP = [
  'npm run bench -- [flags]',
  '',
  '  --quick                 smoke run: short steps, few levels, 1,000 idle clients, 2 s of joins;',
  '                          the flags given with it still win',
  ...SPEC_LIST.flatMap(([, spec]) => {
    const head = `  --${spec.flag}${spec.arg ? ` ${spec.arg}` : ''}`;
    const lines = `${spec.help}${defaultNote(spec)}`.split('\n');
    return lines.map((line, i) => `${(i === 0 ? head : '').padEnd(25)} ${line}`);
  }),
  '  --help, -h              this text',
  '',
].join('\n');

/** parseArgs' configuration: every flag and alias as a string or boolean option. */
function parseArgsOptions(): Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {
    quick: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  };
  for (const [, spec] of SPEC_LIST) {
    for (const f of [spec.flag, ...(spec.aliases ?? [])]) options[f] = spec.arg ? { type: 'string', multiple: true } : { type: 'boolean' };
  }
  return options;
}

/** parseArgs' errors, said as the bench always said them. */
function argumentError(err: unknown): Error {
  const e = err as { code?: string; message: string };
  const flag = /'(-[^' ]+)/.exec(e.message)?.[1];
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && flag) return new Error(`Unknown flag ${JSON.stringify(flag)}; see --help.`);
  if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') return new Error(`${e.message.split('.')[0]}; every argument is a flag, see --help.`);
  if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && flag) return new Error(`${flag} needs a value (one starting with "-" as ${flag}=VALUE); see --help.`);
  return new Error(`${e.message}; see --help.`);
}

/**
 * Parses argv (without node and script) with node:util's parseArgs.
 * `--quick` switches the defaults to their `quick` values; any flag given
 * still wins, wherever it stands. A flag given twice: the last wins
 * (`--scenario` adds up instead).
 * @throws Error naming the bad flag
 */
export function parseOptions(argv: readonly string[]): BenchOptions | 'help' {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: parseArgsOptions(), strict: true, allowPositionals: false, tokens: true });
  } catch (err) {
    throw argumentError(err);
  }
  if (parsed.values.help) return 'help';
  const quick = parsed.values.quick === true;
  const o: Record<string, unknown> = { quick };
  for (const [key, spec] of SPEC_LIST) {
    const names = [spec.flag, ...(spec.aliases ?? [])];
    const given = parsed.tokens.filter((t) => t.kind === 'option' && names.includes(t.name));
    const fallback = quick && spec.quick !== undefined ? spec.quick : spec.default;
    if (given.length === 0) {
      o[key] = Array.isArray(fallback) ? [...fallback] : fallback;
    } else if (!spec.arg) {
      o[key] = !spec.default;
    } else {
      const values = given.map((t) => (t.kind === 'option' ? (t.value ?? '') : ''));
      const text = spec.multiple ? values.join(',') : values[values.length - 1]!;
      const flag = `--${spec.multiple ? spec.flag : (given[given.length - 1] as { name: string }).name}`;
      o[key] = spec.read ? spec.read(text, flag) : text;
    }
  }
  return o as unknown as BenchOptions;
}
