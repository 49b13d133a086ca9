// Unit test of bench/lib/options.ts (bench/ holds no tests of its own: scripts/test-plan.ts runs unit tests under scripts/).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ALL_SCENARIOS, ALL_SERVERS, HELP, OPTION_SPECS, parseOptions } from '../bench/lib/options.ts';
import type { BenchOptions } from '../bench/lib/options.ts';

const parse = (...argv: string[]): BenchOptions => {
  const o = parseOptions(argv);
  assert.notEqual(o, 'help');
  return o as BenchOptions;
};

test('no flags give the documented defaults of npm run bench', () => {
  assert.deepEqual(parse(), {
    quick: false, name: 'default', servers: ALL_SERVERS, scenarios: ALL_SCENARIOS, blockRooms: 16, blockRoomsCluster: 8, roomSize: 25, hz: 15, boundMs: 50,
    minDelivered: 0.95, searchBy: 'rooms', rateRooms: 8, start: 4, factor: 2, maxSteps: 10, precision: 0.1, warmupSec: 2, measureSec: 5, workers: 2,
    maxClients: 9000, idleClients: 10000, joinRate: 100, joinSeconds: 10, clientsPerIp: 10000, timeoutSec: 1500, profile: false, readme: true, outDir: 'bench/results',
  });
});

test('--quick switches to the smoke profile, and a flag given before or after it still wins', () => {
  const q = parse('--quick');
  assert.deepEqual([q.quick, q.name, q.blockRooms, q.blockRoomsCluster, q.start, q.maxSteps, q.warmupSec, q.measureSec, q.idleClients, q.joinSeconds, q.timeoutSec], [true, 'quick', 8, 4, 2, 4, 1, 2, 1000, 2, 300]);
  assert.equal(parse('--start', '7', '--quick').start, 7);
  assert.equal(parse('--quick', '--timeout', '100').timeoutSec, 100);
  assert.equal(parse('--quick', '--name', 'x.y').name, 'x.y');
});

test('flags take their values: lists, numbers (rounded where whole), switches', () => {
  const o = parse('--servers', 'plexus,uws', '--scenario', 'joins', '--scenarios', 'search,joins', '--block-rooms', '5.4', '--hz', '0.5', '--search', 'rate', '--rooms', '3', '--profile', '--no-readme', '--out', '/tmp/x');
  assert.deepEqual([o.servers, o.scenarios, o.blockRooms, o.hz, o.searchBy, o.rateRooms, o.profile, o.readme, o.outDir], [['plexus', 'uws'], ['joins', 'search'], 5, 0.5, 'rate', 3, true, false, '/tmp/x']);
  assert.equal(parse('--start=-1', '--start', '9').start, 9, 'the last of a repeated flag wins');
});

test('bad flags and values are refused with a message naming the flag', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--bogus'], /Unknown flag "--bogus"; see --help/],
    [['--servers', 'nope'], /--servers: unknown server "nope"/],
    [['--servers', ','], /--servers needs at least one server/],
    [['--scenario', 'bad'], /--scenario: unknown scenario "bad"/],
    [['--room-size', '1'], /--room-size needs a number between 2 and 1000 \(got "1"\)/],
    [['--hz', 'abc'], /--hz needs a number/],
    [['--start=-1'], /--start needs a number between 1 and 100000/],
    [['--search', 'x'], /--search takes rooms or rate/],
    [['--name', 'bad name'], /--name takes letters/],
    [['--name'], /--name needs a value/],
    [['positional'], /Unexpected argument 'positional'/],
  ];
  for (const [argv, message] of cases) assert.throws(() => parseOptions(argv), message, argv.join(' '));
});

test('--help lists every flag with its default, from the same declarations', () => {
  assert.equal(parseOptions(['--help']), 'help');
  assert.equal(parseOptions(['-h']), 'help');
  for (const spec of Object.values(OPTION_SPECS)) assert.ok(HELP.includes(`--${spec.flag}`), spec.flag);
  assert.match(HELP, /--block-rooms N .*\n(.*\n)*.*\(default 16, 8 with --quick\)/);
  assert.match(HELP, /--room-size N\s+clients per room \(default 25\)/);
});
