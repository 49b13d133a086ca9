/**
 * Hostile-frame fuzzer: `npx tsx bench/fuzz.ts [--frames 100000] [--seed N]`.
 *
 * Starts one Plexus node (a child process on a free 127.0.0.1 port, under
 * coreutils `timeout`, as the bench does; PostgreSQL in a fresh database on
 * `TEST_DATABASE_URL`'s server when that is set, else the embedded PGlite),
 * then:
 *
 * - a control room with `--members` (4) well-behaved members, each sending a
 *   NAF `um` as `nafr` at `--hz` (10) and a chat `message` at `--chat-hz` (1);
 *   each member counts what it receives from the others (by sender
 *   session_id and sequence number, so hostile frames cannot be counted),
 *   and checks, as a NAF client would, every first sync it receives: it must
 *   name a spawnable template and carry creator = owner = its sender, and no
 *   `um` may carry one;
 * - `--hostile` (24) hostile sockets sending `--frames` hostile frames in
 *   all at `--rate` (800) a second: random text, JSON that is not a frame,
 *   wrong arity, mutated frames, huge and deep JSON, unknown events, every
 *   hub event with wrong payloads, `__proto__` keys, escapes at both levels
 *   of a nafr, invalid UTF-8, binary frames, joins of random topics, rapid
 *   join/leave, spawn attempts (in the control room too). A socket the server
 *   closes reconnects.
 *
 * At the end it prints whether the server is still up (`/health`), control
 * messages expected / received / lost, first syncs that got through
 * unchecked, the server's RSS and JS heap before and after (after a forced
 * full GC through the inspector, `--inspect=127.0.0.1:0`), and what the
 * hostile sockets got back (reply reasons, close codes). It exits 1 when the
 * server died or is unhealthy, the control room lost messages, a control
 * socket was closed, or an unchecked first sync reached a member. It stops
 * by itself (`--max-seconds`, default from the frame budget) and only
 * connects to 127.0.0.1.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { spawnPermissionFor } from '../server/auth/permissions.ts';
import { createTestDatabase } from '../ops/dev/postgres.ts';
import { connectInspector, inspectorUrl } from './lib/inspector.ts';
import type { InspectorSession } from './lib/inspector.ts';
import { memory } from './lib/procstat.ts';
import { killAllServers, startServer } from './lib/servers.ts';
import type { RunningServer } from './lib/servers.ts';
import { prng } from '../server/test-support/prng.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MB = 1024 * 1024;
const HOST = '127.0.0.1';

/** Command-line options, with defaults. */
interface FuzzOptions {
  frames: number;
  seed: number;
  hostile: number;
  rate: number;
  members: number;
  hz: number;
  chatHz: number;
  maxSeconds: number;
  pglite: boolean;
}

/** Every numeric option, declared once: flag, default (a function: computed per run) and help. */
const NUMERIC_OPTIONS: Record<Exclude<keyof FuzzOptions, 'pglite'>, { flag: string; default: number | (() => number); defaultHelp?: string; help: string }> = {
  frames: { flag: 'frames', default: 100_000, help: 'hostile frames in all' },
  seed: { flag: 'seed', default: () => (Date.now() ^ (process.pid << 16)) >>> 0, defaultHelp: 'random, printed', help: 'PRNG seed' },
  hostile: { flag: 'hostile', default: 24, help: 'hostile sockets' },
  rate: { flag: 'rate', default: 800, help: 'hostile frames per second, all sockets together' },
  members: { flag: 'members', default: 4, help: 'well-behaved members of the control room' },
  hz: { flag: 'hz', default: 10, help: 'nafr per second per control member' },
  chatHz: { flag: 'chat-hz', default: 1, help: 'chat messages per second per control member' },
  maxSeconds: { flag: 'max-seconds', default: 0, defaultHelp: 'frames / rate * 2 + 120', help: 'hard limit on the run' },
};

const HELP = [
  'npx tsx bench/fuzz.ts [options]',
  ...Object.values(NUMERIC_OPTIONS).map((o) => `  ${`--${o.flag} N`.padEnd(16)} ${o.help} (default ${o.defaultHelp ?? String(o.default)})`),
  `  ${'--pglite'.padEnd(16)} use the embedded PGlite even when TEST_DATABASE_URL is set`,
].join('\n');

function parseOptions(argv: string[]): FuzzOptions {
  const specs = Object.entries(NUMERIC_OPTIONS) as Array<[keyof typeof NUMERIC_OPTIONS, (typeof NUMERIC_OPTIONS)[keyof typeof NUMERIC_OPTIONS]]>;
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: { help: { type: 'boolean', short: 'h' }, pglite: { type: 'boolean' }, ...Object.fromEntries(specs.map(([, o]) => [o.flag, { type: 'string' as const }])) },
    }));
  } catch (err) {
    throw new Error(`bad option: ${(err as Error).message}\n${HELP}`);
  }
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    process.exit(0);
  }
  const o = { pglite: values.pglite === true } as FuzzOptions;
  for (const [key, spec] of specs) {
    const given = values[spec.flag];
    if (typeof given !== 'string') {
      o[key] = typeof spec.default === 'function' ? spec.default() : spec.default;
      continue;
    }
    const v = Number(given);
    if (given.trim() === '' || !Number.isFinite(v) || v < 0) throw new Error(`bad option --${spec.flag} ${given}\n${HELP}`);
    o[key] = v;
  }
  if (o.members < 2) throw new Error('--members must be at least 2 (nafr goes to everyone but the sender)');
  if (o.hostile < 1 || o.rate < 1) throw new Error('--hostile and --rate must be at least 1');
  if (!o.maxSeconds) o.maxSeconds = Math.ceil((o.frames / o.rate) * 2 + 120);
  return o;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function count(map: Map<string, number>, key: string, n = 1): void {
  map.set(key, (map.get(key) ?? 0) + n);
}

// ---------------------------------------------------------------- control room

/** A well-behaved member of the control room. */
class ControlMember {
  ws!: WebSocket;
  sessionId = '';
  readonly jr = '1';
  private ref = 1;
  nafrSent = 0;
  chatSent = 0;
  closed: number | null = null;
  /** Keys `n:<sender>:<seq>` / `c:<sender>:<seq>` received (from control members only). */
  readonly received = new Set<string>();
  duplicates = 0;
  /** First syncs that reached this member without the server's check (see the file docstring). */
  readonly unchecked: string[] = [];
  /** nafr strings relayed that a client's JSON.parse rejects (the server does not parse nafr; as Reticulum). */
  unparseableNafr = 0;
  framesIn = 0;

  constructor(
    readonly index: number,
    private readonly topic: string,
    private readonly peers: () => Map<string, number>,
  ) {}

  async join(url: string): Promise<void> {
    this.ws = new WebSocket(url, { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`control member ${this.index}: no join reply in 20 s`)), 20_000);
      this.ws.on('error', reject);
      this.ws.on('open', () => this.ws.send(JSON.stringify([this.jr, '1', this.topic, 'phx_join', { profile: { displayName: `control ${this.index}` }, context: {} }])));
      this.ws.on('message', (data: Buffer, isBinary: boolean) => {
        this.framesIn++;
        if (isBinary) return;
        let f: unknown;
        try {
          f = JSON.parse(data.toString());
        } catch {
          return;
        }
        if (!Array.isArray(f)) return;
        if (!this.sessionId && f[1] === '1' && f[3] === 'phx_reply') {
          clearTimeout(timer);
          if (f[4]?.status !== 'ok') return reject(new Error(`control member ${this.index}: join refused ${JSON.stringify(f[4])}`));
          this.sessionId = f[4].response.session_id as string;
          resolve();
          return;
        }
        this.onFrame(f);
      });
      this.ws.on('close', (code: number) => {
        this.closed = code;
        clearTimeout(timer);
        reject(new Error(`control member ${this.index}: closed with ${code}`));
      });
    });
  }

  private note(key: string): void {
    if (this.received.has(key)) this.duplicates++;
    else this.received.add(key);
  }

  private onFrame(f: unknown[]): void {
    const event = f[3];
    const payload = f[4] as Record<string, unknown> | null;
    if (!payload || typeof payload !== 'object') return;
    if (event === 'message') {
      const sender = this.peers().get(payload.session_id as string);
      const m = typeof payload.body === 'string' ? /^ctl (\d+):(\d+)$/.exec(payload.body) : null;
      if (sender !== undefined && m && Number(m[1]) === sender) this.note(`c:${m[1]}:${m[2]}`);
      return;
    }
    if (event !== 'naf' && event !== 'nafr') return;
    const from = payload.from_session_id as string;
    let envelope: any;
    if (event === 'nafr') {
      try {
        envelope = JSON.parse(payload.naf as string);
      } catch {
        this.unparseableNafr++;
        return;
      }
    } else {
      envelope = payload;
    }
    const sender = this.peers().get(from);
    if (sender !== undefined && event === 'nafr' && typeof envelope?.ctl === 'string') {
      const m = /^(\d+):(\d+)$/.exec(envelope.ctl);
      if (m && Number(m[1]) === sender) this.note(`n:${m[1]}:${m[2]}`);
    }
    this.checkFirstSync(envelope, from, event);
  }

  /** A first sync as NAF would take it (dataType used as a property key, truthy isFirstSync) must have been checked. */
  private checkFirstSync(envelope: any, from: string, event: string): void {
    if (!envelope || typeof envelope !== 'object') return;
    let dataType: string;
    try {
      dataType = String(envelope.dataType);
    } catch {
      return;
    }
    const data = envelope.data;
    if (!data || typeof data !== 'object') return;
    if (dataType === 'u' && data.isFirstSync) {
      const ok = typeof data.template === 'string' && spawnPermissionFor(data.template) !== undefined && data.creator === from && data.owner === from;
      if (!ok) this.unchecked.push(`${event} u ${JSON.stringify(data).slice(0, 200)}`);
    } else if (dataType === 'um' && data.d && typeof data.d === 'object') {
      for (const e of Object.values(data.d as Record<string, any>)) {
        if (e && typeof e === 'object' && e.isFirstSync) this.unchecked.push(`${event} um ${JSON.stringify(e).slice(0, 200)}`);
      }
    }
  }

  private push(event: string, payload: unknown): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(JSON.stringify([this.jr, String(++this.ref), this.topic, event, payload]));
  }

  sendNafr(): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    const seq = this.nafrSent++;
    const naf = JSON.stringify({ dataType: 'um', data: { d: [{ networkId: `ctl-${this.index}`, owner: this.sessionId, lastOwnerTime: 1, components: { '0': { x: seq, y: 1.6, z: 0 } } }] }, ctl: `${this.index}:${seq}` });
    this.push('nafr', { naf });
  }

  sendChat(): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.push('message', { type: 'chat', body: `ctl ${this.index}:${this.chatSent++}` });
  }

  heartbeat(): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(JSON.stringify([null, String(++this.ref), 'phoenix', 'heartbeat', {}]));
  }
}

// ---------------------------------------------------------------- hostile frames

const HUB_EVENTS = [
  'naf', 'nafr', 'message', 'events:entered', 'events:entering', 'events:entering_cancelled', 'events:profile_updated', 'events:object_spawned',
  'events:begin_streaming', 'events:end_streaming', 'events:begin_recording', 'events:end_recording', 'events:raise_hand', 'events:lower_hand',
  'events:begin_typing', 'events:end_typing', 'kick', 'mute', 'block', 'unblock', 'add_owner', 'remove_owner', 'pin', 'unpin', 'list_entities',
  'save_entity_state', 'update_entity_state', 'delete_entity_state', 'update_hub', 'update_scene', 'close_hub', 'fetch_invite', 'revoke_invite',
  'sign_in', 'sign_out', 'refresh_perms_token', 'phx_leave', 'phx_join',
];
const OTHER_EVENTS = ['refresh_perms_token', 'change_hub', 'auth_request', 'auth_verified', 'heartbeat', 'phx_leave', 'phx_join', '__proto__', 'constructor', 'toString', 'hasOwnProperty'];
const TEMPLATES = ['#x-media', '#interactable-media', '#player-avatar', '#y-camera', '#z-pen', '#d-drawing', '#e-emoji', '#rocket-launcher', '', '__proto__', 'constructor', '#interactable-media-frame', '-media', 'x'.repeat(300)];

/** A hostile socket's view of what it joined. */
interface HostileState {
  joined: Map<string, string>;
  pendingJoins: Map<string, string>;
  nextRef: number;
}

class Hostile {
  private rnd: () => number;
  constructor(
    seed: number,
    readonly controlTopic: string,
    readonly fuzzTopics: string[],
    private readonly controlSessionIds: () => string[],
  ) {
    this.rnd = prng(seed);
  }

  int(n: number): number {
    return Math.floor(this.rnd() * n);
  }
  chance(p: number): boolean {
    return this.rnd() < p;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }

  randomString(max = 24): string {
    const n = this.int(max + 1);
    let s = '';
    for (let i = 0; i < n; i++) {
      const r = this.rnd();
      if (r < 0.6) s += String.fromCharCode(32 + this.int(95));
      else if (r < 0.7) s += String.fromCharCode(this.int(32));
      else if (r < 0.8) s += String.fromCharCode(0xd800 + this.int(0x800)); // lone surrogates
      else if (r < 0.9) s += this.pick(['é', '☃', '𝄞', '\u2028', '\ufeff', '"', '\\', '\u0000']);
      else s += this.pick(['isFirstSync', '__proto__', 'naf', 'from_session_id', 'session_id', 'constructor']);
    }
    return s;
  }

  randomValue(depth = 3): unknown {
    const r = this.rnd();
    if (depth <= 0 || r < 0.35) {
      const s = this.rnd();
      if (s < 0.15) return null;
      if (s < 0.3) return this.chance(0.5);
      if (s < 0.5) return this.pick([0, -1, 1e308, -0, 2 ** 53 + 1, 3.5, 255, 256, 1e-7]);
      return this.randomString();
    }
    if (r < 0.55) return Array.from({ length: this.int(5) }, () => this.randomValue(depth - 1));
    const o: Record<string, unknown> = {};
    for (let i = 0, n = this.int(6); i < n; i++) {
      const key = this.chance(0.3) ? this.pick(['__proto__', 'constructor', 'prototype', 'isFirstSync', 'dataType', 'data', 'session_id', 'from_session_id', 'naf', 'body', 'type', 'profile', 'context']) : this.randomString(10);
      o[key] = this.randomValue(depth - 1);
    }
    return o;
  }

  /** JSON text of a random value that may carry real `__proto__` keys (JSON.stringify cannot write those from an object literal). */
  protoJson(): string {
    const inner = JSON.stringify(this.randomValue(2));
    return this.pick([
      `{"__proto__":{"isFirstSync":true,"template":"#x-media","text_chat":true},"type":"chat","body":${inner}}`,
      `{"constructor":{"prototype":{"polluted":true}},"__proto__":[],"profile":{"__proto__":{"displayName":"x"}},"context":{}}`,
      `{"dataType":"__proto__","data":${inner}}`,
      `{"dataType":"u","data":{"__proto__":{"isFirstSync":true},"networkId":"p","template":"#x-media"}}`,
      `{"naf":"{\\"__proto__\\":{\\"dataType\\":\\"u\\"}}","__proto__":{"naf":"x"}}`,
      `{"session_id":{"__proto__":null},"__proto__":{"session_id":"x"}}`,
    ]);
  }

  ref(st: HostileState): string {
    return String(st.nextRef++);
  }

  /** A topic this socket joined (with its join_ref), or else the control room with a guessed join_ref. */
  joinedTopic(st: HostileState): [string, string | null] {
    const entries = [...st.joined.entries()];
    if (entries.length > 0 && this.chance(0.9)) return this.pick(entries);
    return [this.chance(0.5) ? this.controlTopic : this.pick(this.fuzzTopics), this.pick([null, '1', '999'])];
  }

  joinFrame(st: HostileState, topic: string, params?: unknown): string {
    const jr = this.ref(st);
    st.pendingJoins.set(jr, topic);
    return JSON.stringify([jr, jr, topic, 'phx_join', params ?? { profile: { displayName: `hostile ${this.randomString(8)}` }, context: {} }]);
  }

  /** A well-formed frame (as a base for mutations and spawn attempts). */
  validFrame(st: HostileState): string {
    const [topic, jr] = this.joinedTopic(st);
    const r = this.int(4);
    if (r === 0) return JSON.stringify([jr, this.ref(st), topic, 'message', { type: 'chat', body: this.randomString(40) }]);
    if (r === 1) return JSON.stringify([jr, this.ref(st), topic, 'nafr', { naf: JSON.stringify({ dataType: 'um', data: { d: [{ networkId: 'h', owner: 'h', lastOwnerTime: 1, components: { '0': { x: 1 } } }] } }) }]);
    if (r === 2) return JSON.stringify([jr, this.ref(st), topic, 'naf', this.spawnEnvelope()]);
    return this.joinFrame(st, topic);
  }

  spawnEnvelope(): Record<string, unknown> {
    const victim = this.controlSessionIds();
    const forged = victim.length > 0 && this.chance(0.7) ? this.pick(victim) : this.randomString(12);
    const data: Record<string, unknown> = { networkId: `h-${this.int(1e6)}`, owner: forged, creator: forged, lastOwnerTime: this.pick([1, -1, 1e300, Date.now()]), persistent: this.chance(0.5), parent: this.chance(0.8) ? null : 'p', components: { '0': { x: 0, y: 0, z: 0 } }, isFirstSync: true };
    if (this.chance(0.9)) data.template = this.pick(TEMPLATES);
    if (this.chance(0.2)) return { dataType: 'um', data: { d: [{ networkId: 'ok', owner: forged, lastOwnerTime: 1, components: {} }, data] } };
    return { dataType: this.pick(['u', 'u', 'u', 'um', 'r', 'nn']), data, ...(this.chance(0.3) ? { clientId: forged, from_session_id: forged } : {}) };
  }

  /** A spawn attempt in one of many encodings. */
  spawnFrame(st: HostileState): string {
    const [topic, jr] = this.joinedTopic(st);
    const envelope = this.spawnEnvelope();
    const text = JSON.stringify(envelope);
    const enc = this.int(8);
    const ref = this.ref(st);
    const head = `${JSON.stringify(jr)},${JSON.stringify(ref)},${JSON.stringify(topic)}`;
    const escapedKey = text.replace('"isFirstSync"', `"${this.pick(['is\\u0046irstSync', '\\u0069sFirstSync', 'isFirstSyn\\u0063', '\\u0069\\u0073\\u0046\\u0069\\u0072\\u0073\\u0074\\u0053\\u0079\\u006e\\u0063'])}"`);
    switch (enc) {
      case 0:
        return `[${head},"naf",${text}]`;
      case 1:
        return `[${head},"nafr",${JSON.stringify({ naf: text })}]`;
      case 2: // \u escape inside the naf text
        return `[${head},"nafr",{"naf":${JSON.stringify(escapedKey)}}]`;
      case 3: // the escape's backslash itself escaped in the frame's literal
        return `[${head},"nafr",{"naf":${JSON.stringify(escapedKey).replace(/\\\\u/, this.pick(['\\u005cu', '\\u005c\\u0075', '\\\\\\u0075']))}}]`;
      case 4: // duplicate keys, the last one true
        return `[${head},"nafr",${JSON.stringify({ naf: text.replace('"isFirstSync":true', '"isFirstSync":false,"isFirstSync":true') })}]`;
      case 5: // escaped key in the frame itself
        return `[${head},"naf",${escapedKey}]`;
      case 6: // spaced-out frame (general path)
        return `[ ${head.replace(/,/g, ' , ')} , "nafr" , { "naf" : ${JSON.stringify(escapedKey)} } ]`;
      default: // duplicate outer naf keys: a harmless one first
        return `[${head},"nafr",{"naf":"{\\"dataType\\":\\"r\\",\\"data\\":{\\"networkId\\":\\"x\\"}}","naf":${JSON.stringify(escapedKey)}}]`;
    }
  }

  mutate(s: string): string {
    const chars = [...s];
    for (let i = 0, n = 1 + this.int(5); i < n; i++) {
      const at = this.int(chars.length + 1);
      const op = this.int(4);
      const c = this.pick(['"', '\\', '[', ']', '{', '}', ',', ':', 'u', '0', 'n', '\u0000', 'é', String.fromCharCode(0xd800)]);
      if (op === 0) chars.splice(at, 1);
      else if (op === 1) chars.splice(at, 0, c);
      else if (op === 2) chars[at] = c;
      else chars.splice(at, this.int(10));
    }
    return chars.join('');
  }

  deepJson(depth: number): string {
    const open = this.chance(0.5) ? '[' : '{"a":';
    const close = open === '[' ? ']' : '}';
    return open.repeat(depth) + '1' + close.repeat(depth);
  }

  binaryFrame(): Buffer {
    const r = this.int(4);
    if (r === 0) return Buffer.from(Array.from({ length: this.int(64) }, () => this.int(256)));
    const fields = [this.pick(['', '1', '9'.repeat(255)]), this.pick(['', '2']), this.pick([this.controlTopic, 'phoenix', '', 'hub:' + this.randomString(7)]), this.pick(['naf', 'nafr', 'message', 'phx_join', 'heartbeat', ''])];
    const bytes = fields.map((f) => Buffer.from(f));
    const payload = Buffer.from(this.chance(0.5) ? JSON.stringify(this.randomValue()) : Array.from({ length: this.int(200) }, () => this.int(256)));
    const header = Buffer.from([r === 1 ? this.pick([1, 2, 3, 255]) : 0, ...bytes.map((b) => (this.chance(0.1) ? this.int(256) : b.length))]);
    const frame = Buffer.concat([header, ...bytes, payload]);
    return r === 3 ? frame.subarray(0, this.int(frame.length)) : frame;
  }

  /** One hostile frame (or a short burst), and the generator's name. */
  next(st: HostileState): { kind: string; frames: Array<string | Buffer>; binary: boolean; invalidUtf8?: boolean } {
    const r = this.rnd();
    const one = (kind: string, frame: string | Buffer, binary = false) => ({ kind, frames: [frame], binary });
    if (r < 0.05) return one('garbage-text', this.randomString(200));
    if (r < 0.1) return one('json-not-a-frame', JSON.stringify(this.randomValue()));
    if (r < 0.15) return one('wrong-arity', JSON.stringify(Array.from({ length: this.pick([0, 1, 2, 3, 4, 6, 7, 100]) }, () => this.randomValue(1))));
    if (r < 0.25) return one('mutated', this.mutate(this.validFrame(st)));
    if (r < 0.27) {
      const [topic, jr] = this.joinedTopic(st);
      const size = this.pick([16_000, 60_000, 65_400, 66_000, 200_000]);
      return one('huge', JSON.stringify([jr, this.ref(st), topic, this.pick(['message', 'nafr', 'naf', 'pin']), { type: 'chat', body: 'x'.repeat(size), naf: 'y'.repeat(size) }]));
    }
    if (r < 0.3) {
      const [topic, jr] = this.joinedTopic(st);
      const depth = this.pick([100, 1000, 5000, 20_000, 30_000]);
      const event = this.pick(['naf', 'message', 'pin', 'save_entity_state', 'events:profile_updated', 'phx_join']);
      const payload = this.pick([
        `{"dataType":"x","data":${this.deepJson(depth)}}`,
        `{"type":"chat","body":${this.deepJson(depth)}}`,
        `{"id":"d","gltf_node":${this.deepJson(depth)}}`,
        `{"nid":"d","create_message":${this.deepJson(depth)}}`,
        `{"profile":${this.deepJson(depth)},"context":{}}`,
      ]);
      return one('deep', `[${JSON.stringify(jr)},"${this.ref(st)}",${JSON.stringify(topic)},${JSON.stringify(event)},${payload}]`);
    }
    if (r < 0.35) {
      const [topic, jr] = this.joinedTopic(st);
      return one('unknown-event', JSON.stringify([jr, this.ref(st), topic, this.chance(0.5) ? this.randomString(30) : this.pick(OTHER_EVENTS), this.randomValue()]));
    }
    if (r < 0.5) {
      const [topic, jr] = this.joinedTopic(st);
      return one('hub-event-wrong-payload', JSON.stringify([jr, this.ref(st), topic, this.pick(HUB_EVENTS), this.randomValue()]));
    }
    if (r < 0.56) {
      const [topic, jr] = this.joinedTopic(st);
      const victims = this.controlSessionIds();
      const victim = victims.length > 0 ? this.pick(victims) : 'x';
      const plausible: Array<[string, unknown]> = [
        ['kick', { session_id: victim }], ['mute', { session_id: victim }], ['block', { session_id: victim }], ['unblock', { session_id: victim }],
        ['add_owner', { session_id: victim }], ['close_hub', {}], ['update_hub', { name: this.randomString(), room_size: this.pick([0, 1, -1, 1e9]), member_permissions: { text_chat: false } }],
        ['update_scene', { url: this.pick(['javascript:alert(1)', 'http://127.0.0.1:1/', this.randomString()]) }], ['pin', { id: this.randomString(), gltf_node: this.randomValue() }],
        ['save_entity_state', { nid: this.randomString(), create_message: this.randomValue() }], ['sign_in', { token: this.randomString(200) }], ['sign_out', {}],
        ['events:profile_updated', { profile: this.randomValue() }], ['events:entered', { entryDisplayType: this.randomValue() }], ['message', { type: this.randomString(40), body: this.randomValue() }],
        ['fetch_invite', {}], ['revoke_invite', { hub_invite_id: this.randomString() }], ['list_entities', {}], ['refresh_perms_token', {}],
      ];
      const [event, payload] = this.pick(plausible);
      return one('hub-event-plausible', JSON.stringify([jr, this.ref(st), topic, event, payload]));
    }
    if (r < 0.6) {
      const [topic, jr] = this.joinedTopic(st);
      return one('proto-keys', `[${JSON.stringify(jr)},"${this.ref(st)}",${JSON.stringify(topic)},${JSON.stringify(this.pick(HUB_EVENTS))},${this.protoJson()}]`);
    }
    if (r < 0.64) {
      const [topic, jr] = this.joinedTopic(st);
      const literal = this.pick(['"\\ud800"', '"\\udfff\\ud800"', '"\\u00"', '"\\x41"', '"\\u0000\\u001f"', `"${'\\u0041'.repeat(2000)}"`, '"\\/\\b\\f\\n\\r\\t"']);
      return one('escapes', `[${JSON.stringify(jr)},"${this.ref(st)}",${JSON.stringify(topic)},"${this.pick(['nafr', 'message', 'naf'])}",{"naf":${literal},"type":"chat","body":${literal}}]`);
    }
    if (r < 0.66) return { kind: 'invalid-utf8', frames: [Buffer.from([0x5b, 0xff, 0xfe, 0xc0, 0x80, 0x5d])], binary: false, invalidUtf8: true };
    if (r < 0.72) return one('binary', this.binaryFrame(), true);
    if (r < 0.8) {
      const topic = this.pick([`hub:${this.randomString(7)}`, 'hub:', 'ret', `auth:${this.randomString(6)}`, `link:${this.randomString(4)}`, 'phoenix', '', 'x'.repeat(this.pick([100, 300, 5000])), this.controlTopic, this.pick(this.fuzzTopics)]);
      const params = this.chance(0.5) ? this.randomValue() : { profile: this.randomValue(), context: this.randomValue(), creator_assignment_token: this.chance(0.3) ? this.randomString(200) : undefined, hub_invite_id: this.randomString() };
      const jr = this.chance(0.8) ? this.ref(st) : this.randomValue(1);
      if (typeof jr === 'string') st.pendingJoins.set(jr, topic);
      return one('join-random-topic', JSON.stringify([jr, jr, topic, 'phx_join', params]));
    }
    if (r < 0.86) {
      // rapid join / leave of one room, several join_refs
      const topic = this.chance(0.6) ? this.controlTopic : this.pick(this.fuzzTopics);
      const frames: string[] = [];
      for (let i = 0, n = 1 + this.int(3); i < n; i++) {
        const join = this.joinFrame(st, topic);
        const jr = JSON.parse(join)[0] as string;
        frames.push(join);
        if (this.chance(0.7)) frames.push(JSON.stringify([jr, this.ref(st), topic, 'phx_leave', {}]));
      }
      return { kind: 'join-leave', frames, binary: false };
    }
    if (r < 0.96) return one('spawn', this.spawnFrame(st));
    return one('heartbeat-weird', JSON.stringify([this.randomValue(1), this.randomValue(1), 'phoenix', this.pick(['heartbeat', 'phx_join', 'x']), this.randomValue()]));
  }
}

/** One hostile connection, reconnecting when the server closes it. */
class HostileSocket {
  ws: WebSocket | null = null;
  st: HostileState = { joined: new Map(), pendingJoins: new Map(), nextRef: 1 };
  open = false;
  connects = 0;
  stopped = false;

  constructor(
    private readonly port: number,
    private readonly gen: Hostile,
    private readonly stats: HostileStats,
  ) {}

  connect(): void {
    if (this.stopped) return;
    this.connects++;
    const token = encodeURIComponent(this.gen.randomString(40).replace(/[\ud800-\udfff]/g, '?'));
    const query = this.gen.chance(0.03) ? this.gen.pick(['', '?vsn=1.0.0', '?vsn=2.0.0&vsn=3', '?%zz', `?vsn=2.0.0&session_token=${token}`]) : '?vsn=2.0.0';
    const ws = new WebSocket(`ws://${HOST}:${this.port}/socket/websocket${query}`, { perMessageDeflate: false, handshakeTimeout: 10_000, skipUTF8Validation: true });
    this.ws = ws;
    this.st = { joined: new Map(), pendingJoins: new Map(), nextRef: 1 };
    ws.on('open', () => {
      this.open = true;
      // Usually join a real room first so frames reach the hub channel's handlers.
      if (this.gen.chance(0.8)) {
        const topic = this.gen.chance(0.5) ? this.gen.controlTopic : this.gen.pick(this.gen.fuzzTopics);
        ws.send(this.gen.joinFrame(this.st, topic));
      }
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) return count(this.stats.replies, 'binary frame');
      let f: unknown;
      try {
        f = JSON.parse(data.toString());
      } catch {
        return count(this.stats.replies, 'unparseable');
      }
      if (!Array.isArray(f)) return;
      if (f[3] === 'phx_reply') {
        const status = f[4]?.status;
        const reason = status === 'ok' ? 'ok' : `${status}:${f[4]?.response?.reason ?? '?'}`;
        count(this.stats.replies, reason);
        const jr = f[1] as string;
        const topic = this.st.pendingJoins.get(jr);
        if (topic !== undefined && f[0] === jr) {
          this.st.pendingJoins.delete(jr);
          if (status === 'ok') this.st.joined.set(topic, jr);
        }
      } else if (f[3] === 'phx_close' || f[3] === 'phx_error') {
        for (const [t, jr] of this.st.joined) if (t === f[2] && jr === f[0]) this.st.joined.delete(t);
      }
    });
    ws.on('error', () => count(this.stats.closes, 'socket error'));
    ws.on('unexpected-response', (_req, res) => {
      count(this.stats.closes, `http ${res.statusCode}`);
      ws.terminate();
    });
    ws.on('close', (code: number) => {
      this.open = false;
      count(this.stats.closes, String(code));
      if (!this.stopped) setTimeout(() => this.connect(), 20 + Math.floor(Math.random() * 50));
    });
  }

  /** Sends one generated frame (or burst); returns how many frames went out. */
  send(): number {
    const ws = this.ws;
    if (!ws || !this.open || ws.readyState !== WebSocket.OPEN || ws.bufferedAmount > 512 * 1024) return 0;
    const g = this.gen.next(this.st);
    count(this.stats.kinds, g.kind, g.frames.length);
    for (const f of g.frames) ws.send(f, { binary: g.binary });
    return g.frames.length;
  }

  stop(): void {
    this.stopped = true;
    this.ws?.terminate();
  }
}

interface HostileStats {
  kinds: Map<string, number>;
  replies: Map<string, number>;
  closes: Map<string, number>;
}

// ---------------------------------------------------------------- run

async function createRoom(port: number, name: string): Promise<string> {
  const res = await fetch(`http://${HOST}:${port}/api/v1/hubs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ hub: { name } }) });
  if (res.status !== 200) throw new Error(`room creation failed: ${res.status} ${await res.text()}`);
  return `hub:${((await res.json()) as { hub_id: string }).hub_id}`;
}

async function health(port: number): Promise<string> {
  try {
    const res = await fetch(`http://${HOST}:${port}/health`, { signal: AbortSignal.timeout(5000) });
    return res.ok ? 'ok' : `HTTP ${res.status}`;
  } catch (err) {
    return `unreachable (${(err as Error).message})`;
  }
}

/** RSS (median of 5 samples) and JS heap after full GCs, repeated until RSS settles (as bench/run.ts). */
async function settledMemory(pid: number, inspector: InspectorSession): Promise<{ rss: number; heap: number }> {
  let rss = Number.NaN;
  for (let round = 0; round < 8; round++) {
    await inspector.collectGarbage();
    await sleep(800);
    const samples: number[] = [];
    for (let i = 0; i < 5; i++) {
      samples.push(memory(pid).rss);
      await sleep(40);
    }
    samples.sort((a, b) => a - b);
    const now = samples[2]!;
    const settled = Math.abs(now - rss) < 0.5 * MB;
    rss = now;
    if (settled) break;
  }
  return { rss, heap: (await inspector.heapUsage()).usedSize };
}

const fmtMb = (b: number) => `${(b / MB).toFixed(1)} MB`;

function table(title: string, m: Map<string, number>): string {
  const rows = [...m.entries()].sort((a, b) => b[1] - a[1]);
  return `${title}:\n${rows.map(([k, v]) => `  ${String(v).padStart(7)}  ${k}`).join('\n') || '  (none)'}`;
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const started = Date.now();
  const baseDb = opts.pglite ? null : process.env.TEST_DATABASE_URL?.trim() || null;
  if (baseDb && !/^postgres(ql)?:\/\/([^@/]*@)?(127\.0\.0\.1|localhost)(:\d+)?\//.test(baseDb)) throw new Error('TEST_DATABASE_URL must point at 127.0.0.1 (the fuzzer only touches loopback); use --pglite otherwise');
  // The server child inherits this environment: nothing in it may point away from 127.0.0.1.
  for (const k of Object.keys(process.env)) {
    if (/^(DATABASE_URL|REDIS_URL|SMTP_URL|PUBLIC_URL|AUTH_ALLOWED_ORIGINS|TRUST_PROXY|JANUS|TURN|SFU|TEST_DATABASE_URL|TEST_REDIS_URL)/.test(k)) delete process.env[k];
  }
  const db = baseDb ? await createTestDatabase(baseDb) : null;
  let server: RunningServer | null = null;
  let inspector: InspectorSession | null = null;
  const hardStop = setTimeout(() => {
    process.stderr.write(`fuzz: --max-seconds ${opts.maxSeconds} reached, stopping\n`);
    killAllServers();
    process.exit(2);
  }, opts.maxSeconds * 1000);
  hardStop.unref();
  // Whatever ends this process, the server child goes with it.
  process.on('exit', () => killAllServers());
  process.on('uncaughtException', (err) => {
    process.stderr.write(`fuzz: ${err.stack ?? err.message}\n`);
    killAllServers();
    const drop = db ? Promise.race([db.drop(), sleep(5000)]) : Promise.resolve();
    void drop.catch(() => undefined).then(() => process.exit(1));
  });
  process.on('SIGINT', () => {
    killAllServers();
    process.exit(130);
  });
  let failed = false;
  try {
    server = await startServer('plexus', {
      root: ROOT,
      lifetimeSec: opts.maxSeconds + 30,
      nodeFlags: ['--inspect=127.0.0.1:0'],
      env: { ...(db ? { DATABASE_URL: db.url } : {}), LOG_LEVEL: 'error' },
    });
    const url = inspectorUrl(server.outputTail());
    if (!url) throw new Error(`the server printed no inspector URL:\n${server.outputTail()}`);
    inspector = await connectInspector(url);
    const port = server.port;
    const socketUrl = `ws://${HOST}:${port}/socket/websocket?vsn=2.0.0`;
    process.stdout.write(`fuzz: seed ${opts.seed}, ${opts.frames} hostile frames at ${opts.rate}/s over ${opts.hostile} sockets; server pid ${server.pid} on ${HOST}:${port}, database ${db ? `PostgreSQL ${db.name}` : 'PGlite'}\n`);

    const controlTopic = await createRoom(port, 'Fuzz control');
    const fuzzTopics = [await createRoom(port, 'Fuzz A'), await createRoom(port, 'Fuzz B'), await createRoom(port, 'Fuzz C')];
    const peerIndex = new Map<string, number>();
    const members = Array.from({ length: opts.members }, (_, i) => new ControlMember(i, controlTopic, () => peerIndex));
    for (const m of members) {
      await m.join(socketUrl);
      peerIndex.set(m.sessionId, m.index);
    }
    const before = await settledMemory(server.pid, inspector);
    process.stdout.write(`fuzz: control room ${controlTopic} with ${members.length} members; server RSS ${fmtMb(before.rss)}, heap ${fmtMb(before.heap)}\n`);

    // Control traffic, steady, for the whole hostile phase.
    const timers = [
      ...members.map((m) => setInterval(() => m.sendNafr(), 1000 / opts.hz)),
      ...members.map((m) => setInterval(() => m.sendChat(), 1000 / opts.chatHz)),
      ...members.map((m) => setInterval(() => m.heartbeat(), 10_000)),
    ];

    const stats: HostileStats = { kinds: new Map(), replies: new Map(), closes: new Map() };
    const rootRnd = prng(opts.seed);
    const sids = () => [...peerIndex.keys()];
    const hostiles = Array.from({ length: opts.hostile }, () => new HostileSocket(port, new Hostile(Math.floor(rootRnd() * 2 ** 32), controlTopic, fuzzTopics, sids), stats));
    for (const h of hostiles) h.connect();

    let sent = 0;
    let credit = 0;
    let lastTick = performance.now();
    let lastReport = Date.now();
    let serverDied = false;
    await new Promise<void>((resolve) => {
      const tick = setInterval(() => {
        if (server!.exited()) {
          serverDied = true;
          clearInterval(tick);
          resolve();
          return;
        }
        const now = performance.now();
        credit = Math.min(credit + ((now - lastTick) / 1000) * opts.rate, opts.rate / 10);
        lastTick = now;
        let tries = 0;
        while (credit >= 1 && sent < opts.frames && tries < 4 * opts.hostile) {
          const h = hostiles[Math.floor(rootRnd() * hostiles.length)]!;
          const n = h.send();
          tries++;
          if (n > 0) {
            sent += n;
            credit -= n;
          }
        }
        if (Date.now() - lastReport >= 10_000) {
          lastReport = Date.now();
          process.stdout.write(`fuzz: ${sent}/${opts.frames} hostile frames sent, server RSS ${fmtMb(memory(server!.pid).rss)}\n`);
        }
        if (sent >= opts.frames) {
          clearInterval(tick);
          resolve();
        }
      }, 5);
    });
    for (const h of hostiles) h.stop();
    // Let the server finish what the hostile sockets sent while control traffic goes on.
    await sleep(1000);
    for (const t of timers) clearInterval(t);

    // Drain: wait until every control message has arrived, or 10 s.
    const expectedNafr = members.reduce((a, m) => a + m.nafrSent, 0) * (members.length - 1);
    const expectedChat = members.reduce((a, m) => a + m.chatSent, 0) * members.length;
    const receivedOf = (prefix: string) => members.reduce((a, m) => a + [...m.received].filter((k) => k.startsWith(prefix)).length, 0);
    const drainUntil = Date.now() + 10_000;
    while (Date.now() < drainUntil && receivedOf('n:') + receivedOf('c:') < expectedNafr + expectedChat && !server.exited()) await sleep(100);
    const gotNafr = receivedOf('n:');
    const gotChat = receivedOf('c:');

    const alive = !server.exited();
    const healthNow = alive ? await health(port) : 'process exited';
    const after = alive ? await settledMemory(server.pid, inspector) : { rss: Number.NaN, heap: Number.NaN };
    const unchecked = members.flatMap((m) => m.unchecked);
    const closedControl = members.filter((m) => m.closed !== null);
    const lost = expectedNafr + expectedChat - gotNafr - gotChat;

    const out = [
      '',
      `== fuzz result (seed ${opts.seed}, ${((Date.now() - started) / 1000).toFixed(1)} s) ==`,
      `server still up: ${alive ? 'yes' : 'NO'}; /health: ${healthNow}${serverDied ? ' (died during the run)' : ''}`,
      `hostile frames sent: ${sent} over ${hostiles.reduce((a, h) => a + h.connects, 0)} connections`,
      `control room: nafr expected ${expectedNafr}, received ${gotNafr}; chat expected ${expectedChat}, received ${gotChat}; lost ${lost}; duplicates ${members.reduce((a, m) => a + m.duplicates, 0)}`,
      `control sockets closed: ${closedControl.length === 0 ? 'none' : closedControl.map((m) => `${m.index}:${m.closed}`).join(', ')}`,
      `first syncs that reached control members unchecked: ${unchecked.length}${unchecked.length ? `\n  ${unchecked.slice(0, 10).join('\n  ')}` : ''}`,
      `nafr strings relayed that JSON.parse rejects (relayed unparsed by design): ${members.reduce((a, m) => a + m.unparseableNafr, 0)}`,
      `server RSS before ${fmtMb(before.rss)}, after ${fmtMb(after.rss)} (${after.rss >= before.rss ? '+' : ''}${fmtMb(after.rss - before.rss)}); JS heap before ${fmtMb(before.heap)}, after ${fmtMb(after.heap)} (both after a forced full GC)`,
      table('hostile frames by kind', stats.kinds),
      table('replies to hostile sockets', stats.replies),
      table('hostile socket closes (code)', stats.closes),
    ];
    process.stdout.write(`${out.join('\n')}\n`);
    const tail = server.outputTail().split('\n').filter((l) => /"level":(50|60)/.test(l));
    if (tail.length) process.stdout.write(`server error log lines (last ones):\n  ${tail.slice(-10).join('\n  ')}\n`);
    failed = !alive || healthNow !== 'ok' || lost > 0 || closedControl.length > 0 || unchecked.length > 0;
    process.stdout.write(`fuzz: ${failed ? 'FAILED' : 'passed'}\n`);
    for (const m of members) m.ws.terminate();
  } finally {
    inspector?.close();
    await server?.stop().catch(() => undefined);
    killAllServers();
    await db?.drop().catch((err: unknown) => process.stderr.write(`fuzz: could not drop ${db.name}: ${(err as Error).message}\n`));
    clearTimeout(hardStop);
  }
  process.exit(failed ? 1 : 0);
}

main().catch((err: unknown) => {
  process.stderr.write(`fuzz: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  killAllServers();
  process.exit(1);
});
