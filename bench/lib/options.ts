/**
 * Command-line options of `npm run bench` (bench/run.ts). `--help` prints
 * them. `--quick` switches to a smoke-test profile; any flag given after it
 * still wins.
 */
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

export const HELP = `npm run bench -- [flags]

  --quick                 smoke run: short steps, few levels, 1,000 idle clients, 2 s of joins
  --name NAME             results file name part (default "default", or "quick")
  --servers LIST          comma list of plexus,plexus2,uws,socketio (default all;
                          plexus2 = two Plexus nodes over Redis and PostgreSQL)
  --scenario LIST         comma list of search,joins,idle10k,blocks (default all); repeatable;
                          blocks runs for plexus and plexus2 only (the relays have no blocks)
  --block-rooms N         rooms of the blocks scenario on one node (default 16, 8 with --quick;
                          about half of what one node passes here): phases A (no blocks),
                          B (every client of room 0 blocks 2 members), C (unblocked); the other
                          rooms are measured
  --block-rooms-cluster N the same for plexus2 (default 8, 4 with --quick: two nodes on these
                          two cores pass about half of one node's load)
  --room-size N           clients per room (default 25)
  --hz N                  NAF updates per second per client (default 15)
  --bound MS              p99 bound of a passing step (default 50)
  --min-delivered R       delivered/expected ratio of a passing step (default 0.95)
  --search rooms|rate     raise the number of rooms (default) or the rate at --rooms rooms
  --rooms N               rooms when searching by rate (default 8)
  --start N               first level: rooms, or Hz with --search rate (default 4)
  --factor F              growth factor before the first failure (default 2)
  --max-steps N           steps per search at most (default 10)
  --precision R           stop bisecting at this relative gap (default 0.1)
  --warmup S --measure S  seconds per step (default 2 and 5)
  --workers N             load worker processes (default 2)
  --max-clients N         most clients a search may open (default 9000)
  --idle-clients N        clients of the idle-memory scenario (default 10000)
  --join-rate N           joins per second of the join scenario (default 100)
  --join-seconds S        seconds of the join scenario (default 10)
  --clients-per-ip N      clients per 127.0.0.x source address (default 10000)
  --timeout S             hard limit for the whole run (default 1500)
  --profile               write V8 CPU profiles of the servers during the search
  --no-readme             do not update README.md
  --out DIR               results directory (default bench/results)
`;

function num(flag: string, v: string | undefined, min: number, max: number): number {
  const n = Number(v);
  if (v === undefined || !Number.isFinite(n) || n < min || n > max) {
    throw new Error(`${flag} needs a number between ${min} and ${max} (got ${JSON.stringify(v)}); see --help.`);
  }
  return n;
}

/**
 * Parses argv (without node and script).
 * @throws Error naming the bad flag
 */
export function parseOptions(argv: readonly string[]): BenchOptions | 'help' {
  const quick = argv.includes('--quick');
  const o: BenchOptions = {
    name: quick ? 'quick' : 'default',
    quick,
    servers: [...ALL_SERVERS],
    scenarios: [...ALL_SCENARIOS],
    roomSize: 25,
    hz: 15,
    boundMs: 50,
    minDelivered: 0.95,
    searchBy: 'rooms',
    rateRooms: 8,
    blockRooms: quick ? 8 : 16,
    blockRoomsCluster: quick ? 4 : 8,
    start: quick ? 2 : 4,
    factor: 2,
    maxSteps: quick ? 4 : 10,
    precision: 0.1,
    warmupSec: quick ? 1 : 2,
    measureSec: quick ? 2 : 5,
    workers: 2,
    maxClients: 9000,
    idleClients: quick ? 1000 : 10000,
    joinRate: 100,
    joinSeconds: quick ? 2 : 10,
    clientsPerIp: 10000,
    timeoutSec: quick ? 300 : 1500,
    profile: false,
    readme: true,
    outDir: 'bench/results',
  };
  let scenariosGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const v = () => argv[++i];
    switch (flag) {
      case '--help':
      case '-h':
        return 'help';
      case '--quick':
        break;
      case '--name': {
        const name = v() ?? '';
        if (!/^[A-Za-z0-9._-]{1,60}$/.test(name)) throw new Error('--name takes letters, digits, ".", "_" or "-".');
        o.name = name;
        break;
      }
      case '--servers': {
        const list = (v() ?? '').split(',').map((s) => s.trim()).filter(Boolean);
        for (const s of list) if (!ALL_SERVERS.includes(s as ServerKind)) throw new Error(`--servers: unknown server ${JSON.stringify(s)}; use ${ALL_SERVERS.join(',')}.`);
        if (list.length === 0) throw new Error('--servers needs at least one server.');
        o.servers = list as ServerKind[];
        break;
      }
      case '--scenario':
      case '--scenarios': {
        const list = (v() ?? '').split(',').map((s) => s.trim()).filter(Boolean);
        for (const s of list) if (!ALL_SCENARIOS.includes(s as Scenario)) throw new Error(`--scenario: unknown scenario ${JSON.stringify(s)}; use ${ALL_SCENARIOS.join(',')}.`);
        if (!scenariosGiven) o.scenarios = [];
        scenariosGiven = true;
        for (const s of list as Scenario[]) if (!o.scenarios.includes(s)) o.scenarios.push(s);
        break;
      }
      case '--room-size':
        o.roomSize = num(flag, v(), 2, 1000);
        break;
      case '--hz':
        o.hz = num(flag, v(), 0.1, 1000);
        break;
      case '--bound':
        o.boundMs = num(flag, v(), 0.1, 60_000);
        break;
      case '--min-delivered':
        o.minDelivered = num(flag, v(), 0, 1);
        break;
      case '--search': {
        const s = v();
        if (s !== 'rooms' && s !== 'rate') throw new Error('--search takes rooms or rate.');
        o.searchBy = s;
        break;
      }
      case '--block-rooms':
        o.blockRooms = Math.round(num(flag, v(), 2, 10_000));
        break;
      case '--block-rooms-cluster':
        o.blockRoomsCluster = Math.round(num(flag, v(), 2, 10_000));
        break;
      case '--rooms':
        o.rateRooms = num(flag, v(), 1, 10_000);
        break;
      case '--start':
        o.start = Math.round(num(flag, v(), 1, 100_000));
        break;
      case '--factor':
        o.factor = num(flag, v(), 1.05, 16);
        break;
      case '--max-steps':
        o.maxSteps = Math.round(num(flag, v(), 1, 100));
        break;
      case '--precision':
        o.precision = num(flag, v(), 0, 1);
        break;
      case '--warmup':
        o.warmupSec = num(flag, v(), 0, 600);
        break;
      case '--measure':
        o.measureSec = num(flag, v(), 0.5, 600);
        break;
      case '--workers':
        o.workers = Math.round(num(flag, v(), 1, 32));
        break;
      case '--max-clients':
        o.maxClients = Math.round(num(flag, v(), 2, 200_000));
        break;
      case '--idle-clients':
        o.idleClients = Math.round(num(flag, v(), 1, 200_000));
        break;
      case '--join-rate':
        o.joinRate = num(flag, v(), 1, 10_000);
        break;
      case '--join-seconds':
        o.joinSeconds = num(flag, v(), 1, 600);
        break;
      case '--clients-per-ip':
        o.clientsPerIp = Math.round(num(flag, v(), 1, 28_000));
        break;
      case '--timeout':
        o.timeoutSec = num(flag, v(), 10, 6 * 3600);
        break;
      case '--profile':
        o.profile = true;
        break;
      case '--no-readme':
        o.readme = false;
        break;
      case '--out':
        o.outDir = v() ?? o.outDir;
        break;
      default:
        throw new Error(`Unknown flag ${JSON.stringify(flag)}; see --help.`);
    }
  }
  return o;
}
