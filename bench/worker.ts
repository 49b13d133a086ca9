/**
 * Load worker: a child process of the bench runner that opens WebSocket
 * clients to one server under test, sends NAF `um` updates at a fixed rate and
 * measures deliveries. Every client of a room lives in the same worker, so
 * send → receipt latency is measured on one monotonic clock
 * (`performance.now()`).
 *
 * Client protocols (same ~400-byte naf string in each):
 * - plexus: Phoenix Channels V2 over `ws` — `phx_join` on `hub:<sid>`, wait for
 *   the ok reply, push `nafr {naf}`, heartbeat on topic `phoenix`;
 * - plexus2: the same against a two-node cluster, client `index` connecting
 *   to node `index % 2` (`Target.nodes`);
 * - uws: raw WebSocket to the bare uWebSockets.js relay, room in the URL, the
 *   naf string is the whole message;
 * - socketio: socket.io-client 4 (websocket transport only), `join` with an
 *   ack, then `nafr {naf}` events.
 *
 * The worker exits when its parent goes away or after `BENCH_WORKER_MAX_MS`.
 */
import { performance } from 'node:perf_hooks';
import { io } from 'socket.io-client';
import type { Socket as IoSocket } from 'socket.io-client';
import WebSocket from 'ws';
import { encodeHistogram, newHistogram, recordMs } from './lib/histogram.ts';
import type { ClientSpec, ConnectResult, LoadResult, Target, WorkerRequest, WorkerResponse } from './lib/ipc.ts';
import { ESCAPED_TIME_MARK, TIME_MARK, buildNafTemplate, formatTime, readSendTime } from './lib/payload.ts';
import type { NafTemplate } from './lib/payload.ts';

const maxLifetimeMs = Number(process.env.BENCH_WORKER_MAX_MS ?? 30 * 60_000);
setTimeout(() => {
  process.stderr.write(`bench worker ${process.pid}: lifetime limit reached, exiting\n`);
  process.exit(3);
}, maxLifetimeMs).unref();
process.on('disconnect', () => process.exit(0));

const ESCAPED_MARK_BYTES = Buffer.from(ESCAPED_TIME_MARK);
const MARK_BYTES = Buffer.from(TIME_MARK);
const PHX_REPLY_BYTES = Buffer.from('"phx_reply"');

/** Per-step measurement state shared by all clients of this worker. */
const window = {
  start: Number.POSITIVE_INFINITY,
  end: Number.NEGATIVE_INFINITY,
  received: 0,
  excludedReceived: 0,
  /** Room left out of the statistics in this load step (-1: none). */
  excludeRoom: -1,
  hist: newHistogram(),
  /** Latencies (µs) of the excluded room's deliveries, kept apart. */
  excludedHist: newHistogram(),
};

function onDelivery(sendTime: number, room = -2): void {
  const now = performance.now();
  if (now >= window.start && now < window.end) {
    if (room === window.excludeRoom) {
      window.excludedReceived++;
      recordMs(window.excludedHist, now - sendTime);
      return;
    }
    window.received++;
    recordMs(window.hist, now - sendTime);
  }
}

let disconnects = 0;
let closeCodes: Record<string, number> = {};
function onUnexpectedClose(code: number | string): void {
  disconnects++;
  const k = String(code);
  closeCodes[k] = (closeCodes[k] ?? 0) + 1;
}

interface JoinTimes {
  connectMs: number;
  joinMs: number;
}

/** One benchmark client, whatever the protocol. */
interface BenchClient {
  readonly spec: ClientSpec;
  /** True between a successful join and a close. */
  joined: boolean;
  /** Opens the socket and joins the room. */
  connect(timeoutMs: number): Promise<JoinTimes>;
  /** Sends one NAF update stamped with the current time. */
  sendNaf(): void;
  /** Keeps an idle socket alive (Phoenix heartbeat); no-op where the protocol has its own. */
  heartbeat(): void;
  /** Bytes queued in the client for sending (the server is not reading fast enough); 0 where unknown. */
  backlog(): number;
  /** Closes deliberately (not counted as a disconnect). */
  close(): void;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string, onTimeout: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => {
      onTimeout();
      reject(new Error(`${what} timed out after ${ms} ms`));
    }, ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/** Phoenix Channels V2 client for Plexus (reference/naf-phoenix-client.md §5.5, §6). */
class PlexusClient implements BenchClient {
  joined = false;
  private ws: WebSocket | null = null;
  private ref = 1;
  private closing = false;
  private template: NafTemplate | null = null;
  private readonly topic: string;
  private readonly framePrefix: string;
  /** session_id from the join reply. */
  sessionId = '';
  /** Replies awaited by ref (block pushes). */
  private readonly awaiting = new Map<string, (ok: boolean) => void>();

  constructor(
    readonly spec: ClientSpec,
    private readonly target: Target,
  ) {
    this.topic = `hub:${spec.roomKey}`;
    this.framePrefix = `["1","`;
  }

  connect(timeoutMs: number): Promise<JoinTimes> {
    this.closing = false;
    const t0 = performance.now();
    let connectMs = 0;
    let joinSent = 0;
    const ws = new WebSocket(`ws://${this.target.host}:${this.target.port}/socket/websocket?vsn=2.0.0`, {
      perMessageDeflate: false,
      skipUTF8Validation: true,
      localAddress: this.spec.localAddress,
      handshakeTimeout: timeoutMs,
    });
    this.ws = ws;
    const joined = new Promise<JoinTimes>((resolve, reject) => {
      ws.on('open', () => {
        connectMs = performance.now() - t0;
        this.ref = 1;
        joinSent = performance.now();
        ws.send(JSON.stringify(['1', '1', this.topic, 'phx_join', { profile: { displayName: `bench ${this.spec.index}` }, context: {} }]));
      });
      ws.on('message', (data: Buffer) => {
        if (this.joined) {
          const t = readSendTime(data, ESCAPED_TIME_MARK, ESCAPED_MARK_BYTES);
          if (t >= 0) onDelivery(t, this.spec.room);
          else if (this.awaiting.size > 0 && data.indexOf(PHX_REPLY_BYTES) >= 0) {
            const msg = JSON.parse(data.toString()) as [string | null, string | null, string, string, { status: string }];
            const done = msg[1] !== null ? this.awaiting.get(msg[1]) : undefined;
            if (done) {
              this.awaiting.delete(msg[1]!);
              done(msg[4].status === 'ok');
            }
          }
          return;
        }
        if (data.indexOf(PHX_REPLY_BYTES) < 0) return;
        const msg = JSON.parse(data.toString()) as [string | null, string | null, string, string, { status: string; response: { session_id?: string; reason?: string } }];
        if (msg[1] !== '1' || msg[2] !== this.topic) return;
        if (msg[4].status !== 'ok') {
          reject(new Error(`join refused: ${JSON.stringify(msg[4].response)}`));
          ws.terminate();
          return;
        }
        const sessionId = msg[4].response.session_id ?? `bench-${this.spec.index}`;
        this.sessionId = sessionId;
        this.template = buildNafTemplate(this.spec.index, sessionId);
        this.joined = true;
        resolve({ connectMs, joinMs: performance.now() - joinSent });
      });
      ws.on('error', (err) => reject(err));
      ws.on('close', (code) => {
        const wasJoined = this.joined;
        this.joined = false;
        if (wasJoined && !this.closing) onUnexpectedClose(code);
        reject(new Error(`closed with ${code} before the join reply`));
      });
    });
    return withTimeout(joined, timeoutMs, 'plexus join', () => ws.terminate());
  }

  sendNaf(): void {
    const t = this.template!;
    const ref = ++this.ref;
    this.ws!.send(`${this.framePrefix}${ref}","${this.topic}","nafr",{"naf":"${t.escapedPrefix}${formatTime(performance.now())}${t.escapedSuffix}"}]`);
  }

  heartbeat(): void {
    if (!this.joined) return;
    const ref = ++this.ref;
    this.ws!.send(`[null,"${ref}","phoenix","heartbeat",{}]`);
  }

  /** Pushes `block` (or `unblock`) `{session_id}`; resolves true on the ok reply. */
  block(sessionId: string, unblock: boolean): Promise<boolean> {
    const ref = String(++this.ref);
    return new Promise((resolve) => {
      this.awaiting.set(ref, resolve);
      this.ws!.send(JSON.stringify(['1', ref, this.topic, unblock ? 'unblock' : 'block', { session_id: sessionId }]));
    });
  }

  backlog(): number {
    return this.ws?.bufferedAmount ?? 0;
  }

  close(): void {
    this.closing = true;
    this.joined = false;
    this.ws?.terminate();
    this.ws = null;
  }
}

/** Raw WebSocket client for the bare uWebSockets.js relay. */
class UwsClient implements BenchClient {
  joined = false;
  private ws: WebSocket | null = null;
  private closing = false;
  private readonly template: NafTemplate;

  constructor(
    readonly spec: ClientSpec,
    private readonly target: Target,
  ) {
    this.template = buildNafTemplate(spec.index, `00000000-0000-4000-8000-${spec.index.toString(16).padStart(12, '0')}`);
  }

  connect(timeoutMs: number): Promise<JoinTimes> {
    this.closing = false;
    const t0 = performance.now();
    const ws = new WebSocket(`ws://${this.target.host}:${this.target.port}/?room=${encodeURIComponent(this.spec.roomKey)}`, {
      perMessageDeflate: false,
      skipUTF8Validation: true,
      localAddress: this.spec.localAddress,
      handshakeTimeout: timeoutMs,
    });
    this.ws = ws;
    const opened = new Promise<JoinTimes>((resolve, reject) => {
      ws.on('open', () => {
        // The relay subscribes the socket to its room during the upgrade: open = joined.
        const ms = performance.now() - t0;
        this.joined = true;
        resolve({ connectMs: ms, joinMs: ms });
      });
      ws.on('message', (data: Buffer) => {
        const t = readSendTime(data, TIME_MARK, MARK_BYTES);
        if (t >= 0) onDelivery(t);
      });
      ws.on('error', (err) => reject(err));
      ws.on('close', (code) => {
        const wasJoined = this.joined;
        this.joined = false;
        if (wasJoined && !this.closing) onUnexpectedClose(code);
        reject(new Error(`closed with ${code} before open`));
      });
    });
    return withTimeout(opened, timeoutMs, 'uws connect', () => ws.terminate());
  }

  sendNaf(): void {
    const t = this.template;
    this.ws!.send(`${t.prefix}${formatTime(performance.now())}${t.suffix}`);
  }

  heartbeat(): void {
    // The relay has no idle timeout.
  }

  backlog(): number {
    return this.ws?.bufferedAmount ?? 0;
  }

  close(): void {
    this.closing = true;
    this.joined = false;
    this.ws?.terminate();
    this.ws = null;
  }
}

/** socket.io-client 4 client for the Socket.IO relay. */
class SocketIoClient implements BenchClient {
  joined = false;
  private socket: IoSocket | null = null;
  private closing = false;
  private template: NafTemplate | null = null;

  constructor(
    readonly spec: ClientSpec,
    private readonly target: Target,
  ) {}

  connect(timeoutMs: number): Promise<JoinTimes> {
    this.closing = false;
    const t0 = performance.now();
    const socket = io(`http://${this.target.host}:${this.target.port}`, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      timeout: timeoutMs,
      localAddress: this.spec.localAddress,
    } as Parameters<typeof io>[1]);
    this.socket = socket;
    const joined = new Promise<JoinTimes>((resolve, reject) => {
      socket.on('connect', () => {
        const connectMs = performance.now() - t0;
        const joinSent = performance.now();
        socket.emit('join', this.spec.roomKey, (reply: { ok: boolean; id: string }) => {
          if (!reply?.ok) {
            reject(new Error(`join refused: ${JSON.stringify(reply)}`));
            return;
          }
          this.template = buildNafTemplate(this.spec.index, reply.id);
          this.joined = true;
          resolve({ connectMs, joinMs: performance.now() - joinSent });
        });
      });
      socket.on('nafr', (payload: { naf: string }) => {
        const t = readSendTime(payload.naf, TIME_MARK);
        if (t >= 0) onDelivery(t);
      });
      socket.on('connect_error', (err) => reject(err));
      socket.on('disconnect', (reason) => {
        const wasJoined = this.joined;
        this.joined = false;
        if (wasJoined && !this.closing) onUnexpectedClose(reason);
        reject(new Error(`disconnected (${reason}) before the join ack`));
      });
    });
    return withTimeout(joined, timeoutMs, 'socket.io join', () => socket.disconnect());
  }

  sendNaf(): void {
    const t = this.template!;
    this.socket!.emit('nafr', { naf: `${t.prefix}${formatTime(performance.now())}${t.suffix}` });
  }

  heartbeat(): void {
    // engine.io answers the server's pings itself.
  }

  backlog(): number {
    return 0; // engine.io keeps its own write buffer; not measured
  }

  close(): void {
    this.closing = true;
    this.joined = false;
    this.socket?.disconnect();
    this.socket = null;
  }
}

let target: Target | null = null;
let roomSize = 25;
let heartbeatTimer: NodeJS.Timeout | null = null;
const clients: BenchClient[] = [];

function makeClient(spec: ClientSpec): BenchClient {
  switch (target!.kind) {
    case 'plexus':
      return new PlexusClient(spec, target!);
    case 'plexus2': {
      // Client i goes to node i % nodes: a room's members alternate between the nodes.
      const nodes = target!.nodes?.length ? target!.nodes : [target!];
      return new PlexusClient(spec, { ...target!, ...nodes[spec.index % nodes.length]! });
    }
    case 'uws':
      return new UwsClient(spec, target!);
    case 'socketio':
      return new SocketIoClient(spec, target!);
  }
}

async function connectAll(req: Extract<WorkerRequest, { type: 'connect' }>): Promise<ConnectResult> {
  const t0 = performance.now();
  const connectHist = newHistogram();
  const joinHist = newHistogram();
  const errors: string[] = [];
  let ok = 0;
  let failed = 0;
  const one = async (spec: ClientSpec) => {
    let client = clients[spec.index];
    if (!client) {
      client = makeClient(spec);
      clients[spec.index] = client;
    }
    if (client.joined) {
      ok++;
      return;
    }
    try {
      const times = await client.connect(req.timeoutMs);
      recordMs(connectHist, times.connectMs);
      recordMs(joinHist, times.joinMs);
      ok++;
    } catch (err) {
      failed++;
      client.close();
      if (errors.length < 5) errors.push((err as Error).message);
    }
  };
  if (req.ratePerSec && req.ratePerSec > 0) {
    // Open loop: one new client every 1000/rate ms, whatever the server does.
    const interval = 1000 / req.ratePerSec;
    const pending: Promise<void>[] = [];
    const start = performance.now();
    for (let i = 0; i < req.clients.length; i++) {
      const due = start + i * interval;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      pending.push(one(req.clients[i]!));
    }
    await Promise.all(pending);
  } else {
    let next = 0;
    const lane = async () => {
      while (next < req.clients.length) await one(req.clients[next++]!);
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(req.concurrency, req.clients.length)) }, lane));
  }
  return {
    type: 'connected',
    reqId: req.reqId,
    ok,
    failed,
    errors,
    connectHist: encodeHistogram(connectHist),
    joinHist: encodeHistogram(joinHist),
    elapsedMs: performance.now() - t0,
  };
}

function runLoad(req: Extract<WorkerRequest, { type: 'load' }>): Promise<LoadResult> {
  // Interleave rooms so each room's sends spread over the whole period.
  const byRoom = new Map<number, BenchClient[]>();
  for (const c of clients) {
    if (!c || !c.joined || c.spec.room >= req.activeRooms) continue;
    let list = byRoom.get(c.spec.room);
    if (!list) byRoom.set(c.spec.room, (list = []));
    list.push(c);
  }
  const rooms = [...byRoom.values()];
  const active: BenchClient[] = [];
  for (let k = 0; k < roomSize; k++) for (const list of rooms) if (list[k]) active.push(list[k]!);
  const roomMembers = new Map<number, number>();
  for (const [room, list] of byRoom) roomMembers.set(room, list.length);

  const rate = active.length * req.hz;
  const t0 = performance.now();
  window.start = t0 + req.warmupMs;
  window.end = window.start + req.measureMs;
  window.received = 0;
  window.excludedReceived = 0;
  window.excludeRoom = req.excludeRoom ?? -1;
  window.hist.reset();
  window.excludedHist.reset();
  let cpuStart: NodeJS.CpuUsage | null = null;
  let sentTotal = 0;
  let skipped = 0;
  let sentInWindow = 0;
  let plannedInWindow = 0;
  let expected = 0;
  let excludedSent = 0;
  let excludedExpected = 0;
  let pointer = 0;
  let lastTick = t0;
  let maxTickGapMs = 0;
  const maxBurst = Math.max(1, Math.ceil(rate * 0.1)); // at most 100 ms of sends at once

  return new Promise((resolve) => {
    const tick = () => {
      const now = performance.now();
      if (now >= window.start && cpuStart === null) cpuStart = process.cpuUsage();
      if (now >= window.start && now < window.end) maxTickGapMs = Math.max(maxTickGapMs, now - lastTick);
      lastTick = now;
      if (now >= window.end) {
        const cpu = process.cpuUsage(cpuStart ?? undefined);
        let sendBacklogBytes = 0;
        for (const c of active) sendBacklogBytes += c.backlog();
        const windowPlanned = Math.round((rate * req.measureMs) / 1000);
        plannedInWindow = windowPlanned;
        setTimeout(() => {
          const hist = encodeHistogram(window.hist);
          const result: LoadResult = {
            type: 'loaded',
            reqId: req.reqId,
            activeClients: active.length,
            sent: sentInWindow,
            planned: plannedInWindow,
            expected,
            received: window.received,
            excludedSent,
            excludedReceived: window.excludedReceived,
            excludedExpected,
            hist,
            excludedHist: encodeHistogram(window.excludedHist),
            cpuSeconds: (cpu.user + cpu.system) / 1e6,
            cpuSystemSeconds: cpu.system / 1e6,
            disconnects,
            closeCodes,
            maxTickGapMs,
            sendBacklogBytes,
          };
          disconnects = 0;
          closeCodes = {};
          window.start = Number.POSITIVE_INFINITY;
          window.end = Number.NEGATIVE_INFINITY;
          window.excludeRoom = -1;
          resolve(result);
        }, req.drainMs);
        return;
      }
      if (active.length > 0) {
        let due = Math.floor(((now - t0) / 1000) * rate) - sentTotal - skipped;
        if (due > maxBurst) {
          skipped += due - maxBurst;
          due = maxBurst;
        }
        const inWindow = now >= window.start;
        for (let i = 0; i < due; i++) {
          const c = active[pointer]!;
          pointer = pointer + 1 === active.length ? 0 : pointer + 1;
          if (!c.joined) continue;
          c.sendNaf();
          sentTotal++;
          if (!inWindow) continue;
          const receivers = (roomMembers.get(c.spec.room) ?? 1) - 1;
          if (c.spec.room === window.excludeRoom) {
            excludedSent++;
            excludedExpected += receivers;
            continue;
          }
          sentInWindow++;
          expected += receivers;
        }
      }
      setTimeout(tick, 1);
    };
    tick();
  });
}

function startHeartbeats(intervalMs: number): void {
  if (heartbeatTimer) clearInterval(heartbeatTimer);
  // Every second, heartbeat the clients whose slot comes up, so each beats once per intervalMs.
  const slots = Math.max(1, Math.round(intervalMs / 1000));
  let slot = 0;
  heartbeatTimer = setInterval(() => {
    for (let i = slot; i < clients.length; i += slots) clients[i]?.heartbeat();
    slot = (slot + 1) % slots;
  }, 1000);
  heartbeatTimer.unref();
}

function reply(msg: WorkerResponse): void {
  process.send?.(msg);
}

process.on('message', (raw: unknown) => {
  const req = raw as WorkerRequest;
  const fail = (err: unknown) => reply({ type: 'error', reqId: req.reqId, message: err instanceof Error ? err.stack ?? err.message : String(err) });
  try {
    switch (req.type) {
      case 'init':
        target = req.target;
        roomSize = req.roomSize;
        startHeartbeats(req.heartbeatMs);
        reply({ type: 'done', reqId: req.reqId });
        break;
      case 'connect':
        connectAll(req).then(reply, fail);
        break;
      case 'load':
        runLoad(req).then(reply, fail);
        break;
      case 'block': {
        const members = clients.filter((c): c is PlexusClient => c instanceof PlexusClient && c.joined && c.spec.room === req.room);
        const pushes: Array<Promise<boolean>> = [];
        members.forEach((c, i) => {
          for (let k = 1; k <= req.perClient && k < members.length; k++) pushes.push(c.block(members[(i + k) % members.length]!.sessionId, req.unblock === true));
        });
        Promise.all(pushes).then(
          (oks) => (oks.every(Boolean) ? reply({ type: 'done', reqId: req.reqId }) : fail(new Error(`${oks.filter((x) => !x).length} block pushes refused`))),
          fail,
        );
        break;
      }
      case 'closeAll':
        for (const c of clients) c?.close();
        clients.length = 0;
        disconnects = 0;
        closeCodes = {};
        // Let the close frames go out.
        setTimeout(() => reply({ type: 'done', reqId: req.reqId }), 200);
        break;
      case 'exit':
        for (const c of clients) c?.close();
        reply({ type: 'done', reqId: req.reqId });
        setTimeout(() => process.exit(0), 100);
        break;
    }
  } catch (err) {
    fail(err);
  }
});
