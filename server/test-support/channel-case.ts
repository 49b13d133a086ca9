/**
 * The in-process channel harness, Phoenix.ChannelTest's equivalent: a whole
 * Plexus node as createServer assembles it (channel routes, SocketSession,
 * Fanout, presence, database, HTTP router) with an in-process transport
 * instead of uWebSockets.js. A test connects clients, joins, pushes and
 * asserts replies, pushes and broadcasts; what it sees is exactly the frames
 * (JSON text as the codec wrote it) a client of a real node would get, in
 * the same order, without a socket.
 *
 *   const node = await startChannelCase();
 *   const { hubSid } = await node.createRoom();
 *   const c = await node.connect();
 *   c.assertReply(await c.join(`hub:${hubSid}`, params), 'ok');
 *   await c.assertPush('presence_state');
 *
 * Defaults: MemoryBroker and MemoryPresenceStore (no REDIS_URL), an
 * in-memory PGlite migrated once per harness (pass `database` to share one
 * between harnesses of a file), the same lifted per-IP limits as
 * test-server.ts. Each `connect()` is one socket from 127.0.0.1.
 *
 * What it leaves out, so such tests stay integration tests over real
 * sockets (test-server.ts, raw-client.ts): the uWS codec boundary (UTF-8
 * validation, frame size closes are only mimicked), backpressure and slow
 * consumers, idle timeouts, real close handshakes, HTTP over TCP, Redis and
 * clusters.
 *
 * Timing: frames from a client reach the server on a later turn of the
 * event loop, in order (like frames read from a socket); frames from the
 * server reach the client on a later turn too, in the order the server
 * wrote them, closes after the frames before them. Nothing is ever
 * delivered inside the call that sent it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import type { Logger } from 'pino';
import pino from 'pino';
import { createServer } from '../app.ts';
import { AccountTokens } from '../auth/account-token.ts';
import type { PlexusServer, ServerDeps, ServerTransport, TransportFactory } from '../app.ts';
import { loadConfig } from '../config.ts';
import type { Config } from '../config.ts';
import { openDatabase } from '../db/database.ts';
import type { Database } from '../db/database.ts';
import { CloseCodes, PlexusError } from '../errors.ts';
import type { Connection } from '../realtime/connection.ts';
import type { HttpHandler, HttpRequest, HttpResponse } from '../transport/http-types.ts';
import type { SocketHandlers, SocketReceiver, UpgradeHeaders, UwsServerOptions } from '../transport/uws-server.ts';
import { FrameClient, type Connector, type Frame } from './raw-client.ts';
import { SetMap } from '../realtime/set-map.ts';

/** The port an in-process node says it is bound to (nothing is bound). */
export const IN_PROCESS_PORT = 4000;

const UPGRADE_HEADERS = ['origin', 'host', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host'] as const;
const utf8 = new TextDecoder();
let nextConnectionId = 1;

/** Runs `fn` on a later turn of the event loop. */
const later = (fn: () => void) => void setImmediate(fn);

/** One socket of the in-process transport: the server's {@link Connection}, talking to a {@link ChannelClient}. */
class InProcessConnection implements Connection {
  readonly id = nextConnectionId++;
  closed = false;
  readonly topics = new Set<string>();
  receiver: SocketReceiver | null = null;

  constructor(
    readonly params: Record<string, string>,
    readonly remoteAddress: string,
    private readonly transport: InProcessTransport,
    readonly client: ChannelClient,
  ) {}

  send(frame: string | Uint8Array): void {
    if (this.closed) return;
    // Connection.send: strings are text frames, bytes binary frames.
    if (typeof frame === 'string') this.client.deliver(frame, false);
    else this.client.deliver(Buffer.from(frame), true);
  }

  /** A text frame published to a topic: a string or its UTF-8 bytes. */
  sendText(frame: string | Uint8Array): void {
    if (!this.closed) this.client.deliver(typeof frame === 'string' ? frame : utf8.decode(frame), false);
  }

  subscribe(topic: string): void {
    if (this.closed || this.topics.has(topic)) return;
    this.topics.add(topic);
    this.transport.joined(this, topic);
  }

  unsubscribe(topic: string): void {
    if (this.closed || !this.topics.delete(topic)) return;
    this.transport.left(this, topic);
  }

  /** Closed by the server: the client sees the close after the frames sent before it; the session hears of it on a later turn. */
  close(code: number, reason: string): void {
    if (this.closed) return;
    this.drop();
    const r = reason.slice(0, 120);
    this.client.deliverClose(code, r);
    later(() => this.receiver?.close(code, r));
  }

  /** Closed by the client (`ws.close()`: no status code, 1005). */
  closeFromClient(): void {
    if (this.closed) return;
    this.drop();
    this.receiver?.close(1005, '');
    this.client.deliverClose(1005, '');
  }

  private drop(): void {
    this.closed = true;
    for (const topic of this.topics) this.transport.left(this, topic);
    this.topics.clear();
    this.transport.gone(this);
  }
}

/**
 * A {@link ServerTransport} in process: sockets are {@link ChannelClient}s,
 * topics a map, HTTP requests direct calls of the node's router.
 */
class InProcessTransport implements ServerTransport {
  port = 0;
  private listening = false;
  private readonly open = new Set<InProcessConnection>();
  private readonly topicMembers = new SetMap<string, InProcessConnection>();

  constructor(
    readonly options: UwsServerOptions,
    private readonly http: HttpHandler,
    private readonly sockets: SocketHandlers,
    private readonly log: Logger,
  ) {}

  get connectionCount(): number {
    return this.open.size;
  }

  async listen(): Promise<number> {
    this.listening = true;
    this.port = IN_PROCESS_PORT;
    return this.port;
  }

  stopListening(): void {
    this.listening = false;
  }

  closeAll(code: number, reason: string): void {
    for (const conn of [...this.open]) conn.close(code, reason);
  }

  publishLocal(topic: string, frame: string | Uint8Array, except?: Connection): void {
    for (const conn of [...(this.topicMembers.get(topic) ?? [])]) if (conn !== except) conn.sendText(frame);
  }

  joined(conn: InProcessConnection, topic: string): void {
    this.topicMembers.add(topic, conn);
  }

  left(conn: InProcessConnection, topic: string): void {
    this.topicMembers.delete(topic, conn);
  }

  gone(conn: InProcessConnection): void {
    this.open.delete(conn);
  }

  /**
   * The upgrade as the uWS transport does it: the node's upgrade policy
   * (`vsn` 2.0.0, else its refusal), then the node's `authorize` (a PlexusError refuses with its status), then `open`.
   * @throws Error `Unexpected server response: <status>` (the `ws` client's wording) when refused
   */
  connect(client: ChannelClient, query: string, headers: Record<string, string>): InProcessConnection {
    if (!this.listening) throw new Error('connect ECONNREFUSED: the in-process node is not listening');
    const params: Record<string, string> = Object.create(null);
    for (const [k, v] of new URLSearchParams(query)) params[k] = v;
    const refuse = (status: number, body: string) => Object.assign(new Error(`Unexpected server response: ${status}`), { status, body });
    const refusal = this.options.upgradePolicy?.refuse(params);
    if (refusal) throw refuse(refusal.status, typeof refusal.body === 'string' ? refusal.body : '');
    const lower = lowerCaseHeaders(headers);
    const upgrade: UpgradeHeaders = {};
    for (const name of UPGRADE_HEADERS) if (lower[name] !== undefined && lower[name] !== '') upgrade[name] = lower[name];
    const remoteAddress = '127.0.0.1';
    let data: unknown;
    try {
      data = this.sockets.authorize(params, remoteAddress, upgrade);
    } catch (err) {
      if (!(err instanceof PlexusError)) this.log.error({ err }, 'socket authorization failed');
      const status = err instanceof PlexusError ? err.status : 500;
      const code = err instanceof PlexusError ? err.code : 'internal_error';
      const message = err instanceof PlexusError ? err.message : 'internal error';
      throw refuse(status, JSON.stringify({ error: { code, message } }));
    }
    const conn = new InProcessConnection(params, remoteAddress, this, client);
    this.open.add(conn);
    conn.receiver = this.sockets.open(conn, data);
    return conn;
  }

  /** A frame from a client, as uWS hands it over (frames over MAX_FRAME_BYTES close the socket with 1009). */
  frame(conn: InProcessConnection, data: Uint8Array, isBinary: boolean): void {
    if (conn.closed || !conn.receiver) return;
    if (data.byteLength > this.options.maxFrameBytes) {
      conn.close(CloseCodes.FRAME_TOO_LARGE, `frame of ${data.byteLength} bytes is over the ${this.options.maxFrameBytes}-byte limit`);
      return;
    }
    conn.receiver.frame(data, isBinary);
  }

  /** One HTTP request through the node's router, answered as the uWS transport answers (thrown errors become JSON errors). */
  async request(req: HttpRequest): Promise<HttpResponse> {
    if (req.body && req.body.byteLength > this.options.maxBodyBytes) {
      return { status: 413, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: { code: 'body_too_large', message: `Request body is over ${this.options.maxBodyBytes} bytes.` } }) };
    }
    try {
      return await this.http(req);
    } catch (err) {
      if (err instanceof PlexusError) {
        return { status: err.status, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: { code: err.code, message: err.message } }) };
      }
      this.log.error({ err, method: req.method, path: req.path }, 'http handler failed');
      return { status: 500, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: { code: 'internal_error', message: 'The server failed to handle this request.' } }) };
    }
  }
}

function lowerCaseHeaders(headers: Record<string, string> | Headers | Array<[string, string]> | undefined): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  if (!headers) return out;
  for (const [k, v] of headers instanceof Headers ? headers.entries() : Array.isArray(headers) ? headers : Object.entries(headers)) out[k.toLowerCase()] = v;
  return out;
}

/** What a frame is expected to be in {@link ChannelClient.assertPush} / {@link ChannelClient.assertBroadcast}: a payload to deep-equal, or a predicate. */
export type PayloadMatch = ((payload: any) => boolean) | Record<string, unknown> | unknown[] | string | number | boolean | null;

/**
 * A client socket of an in-process node: the {@link FrameClient} API of
 * raw-client.ts (frames, push, waitFor, reply, join, waitClose) plus
 * Phoenix.ChannelTest-style assertions. `assertPush`/`assertBroadcast`
 * take the first matching frame not taken by an earlier assertion (a
 * mailbox, as `assert_push` does in ExUnit).
 */
export class ChannelClient extends FrameClient {
  private conn: InProcessConnection | null = null;
  private readonly taken = new Set<Frame>();
  private readonly toServer: Array<{ data: Uint8Array; isBinary: boolean } | 'close'> = [];
  private readonly toClient: Array<{ raw: string | Buffer; isBinary: boolean } | { code: number; reason: string }> = [];

  /** @internal opened by {@link ChannelCase.connect}. */
  constructor(private readonly transport: InProcessTransport) {
    super();
  }

  /** @internal */
  attach(conn: InProcessConnection): void {
    this.conn = conn;
  }

  /** The server side of this socket (its session's {@link Connection}). */
  get connection(): Connection {
    return this.conn!;
  }

  /** Sends one frame: a string is a text frame, a Buffer a binary frame. It reaches the server on a later turn. */
  sendRaw(data: string | Buffer): void {
    if (this.closeCode !== null) return;
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : new Uint8Array(data);
    if (this.toServer.push({ data: bytes, isBinary: typeof data !== 'string' }) === 1) later(() => this.flushToServer());
  }

  /** Closes the socket from the client (the server sees 1005, after the frames sent before). */
  close(): void {
    if (this.toServer.push('close') === 1) later(() => this.flushToServer());
  }

  private flushToServer(): void {
    const items = this.toServer.splice(0);
    for (const item of items) {
      const conn = this.conn;
      if (!conn) return;
      if (item === 'close') conn.closeFromClient();
      else this.transport.frame(conn, item.data, item.isBinary);
    }
  }

  /** @internal a frame from the server, seen on a later turn. */
  deliver(raw: string | Buffer, isBinary: boolean): void {
    if (this.toClient.push({ raw, isBinary }) === 1) later(() => this.flushToClient());
  }

  /** @internal the server closed the socket (or echoed the client's close). */
  deliverClose(code: number, reason: string): void {
    if (this.toClient.push({ code, reason }) === 1) later(() => this.flushToClient());
  }

  private flushToClient(): void {
    for (const item of this.toClient.splice(0)) {
      if (this.closeCode !== null) return;
      if ('code' in item) this.closedWith(item.code, item.reason);
      else this.received(item.raw, item.isBinary);
    }
  }

  /**
   * Asserts that the reply `frame` (or the reply to the ref `frame`, waited
   * for) has `status`, and, when given, exactly `response`. Returns the response.
   */
  async assertReply(frame: Frame | string, status: 'ok' | 'error', response?: unknown, timeoutMs = 5000): Promise<any> {
    const f = typeof frame === 'string' ? await this.reply(frame, timeoutMs) : frame;
    assert.equal(f[3], 'phx_reply', `expected a reply, got ${JSON.stringify(f)}`);
    assert.equal(f[4]?.status, status, `expected a ${status} reply, got ${JSON.stringify(f[4])}`);
    if (response !== undefined) assert.deepEqual(f[4].response, response);
    return f[4].response;
  }

  /** Waits for a push `[join_ref, null, topic, event, payload]` to this client; see {@link PayloadMatch}. Returns its payload. */
  assertPush(event: string, payload?: PayloadMatch, opts: { topic?: string; timeoutMs?: number } = {}): Promise<any> {
    return this.take((f) => f[0] !== null && f[1] === null && f[3] === event, event, payload, opts);
  }

  /** Waits for a broadcast `[null, null, topic, event, payload]` reaching this client; see {@link PayloadMatch}. Returns its payload. */
  assertBroadcast(event: string, payload?: PayloadMatch, opts: { topic?: string; timeoutMs?: number } = {}): Promise<any> {
    return this.take((f) => f[0] === null && f[1] === null && f[3] === event, event, payload, opts);
  }

  private async take(kind: (f: Frame) => boolean, event: string, payload: PayloadMatch | undefined, opts: { topic?: string; timeoutMs?: number }): Promise<any> {
    const matches = (f: Frame) => {
      if (this.taken.has(f) || !kind(f) || (opts.topic !== undefined && f[2] !== opts.topic)) return false;
      if (payload === undefined) return true;
      if (typeof payload === 'function') return (payload as (p: any) => boolean)(f[4]);
      try {
        assert.deepEqual(f[4], payload);
        return true;
      } catch {
        return false;
      }
    };
    let f: Frame;
    try {
      f = await this.waitFor(matches, opts.timeoutMs ?? 5000);
    } catch {
      throw new assert.AssertionError({
        message: `no ${event} frame${payload === undefined || typeof payload === 'function' ? '' : ` with payload ${JSON.stringify(payload)}`} arrived; frames so far: ${JSON.stringify(this.frames.slice(-8))}`,
      });
    }
    this.taken.add(f);
    return f[4];
  }
}

/** An in-process node and its clients (see the module docs). */
export interface ChannelCase extends Connector<ChannelClient> {
  readonly server: PlexusServer;
  readonly config: Config;
  /** `http://127.0.0.1:4000`: what the node believes is its address. {@link fetch} takes URLs under it. */
  readonly url: string;
  /** Opens a socket (`?vsn=2.0.0` plus `query`, starting with `&`); refused upgrades reject as the `ws` client does. */
  connect(query?: string, headers?: Record<string, string>): Promise<ChannelClient>;
  /** An HTTP request through the node's router, answered as a WHATWG Response; takes a path or a URL under {@link url}. */
  fetch(url: string, init?: RequestInit): Promise<Response>;
  /** Creates a room through POST /api/v1/hubs; returns its hub_sid and creator token. */
  createRoom(name?: string): Promise<{ hubSid: string; url: string; creatorAssignmentToken: string }>;
  /** Closes the node (sockets get 1001, as on a real node) and its temp data dir; the database too unless it was given. */
  stop(): Promise<void>;
}

/**
 * Starts an in-process node. Config comes from `env` over the test
 * defaults (silent logs, lifted per-IP limits).
 * @param opts.database a database to use (not closed by stop); default a fresh in-memory PGlite
 */
export async function startChannelCase(opts: { env?: Record<string, string>; database?: Database; deps?: ServerDeps } = {}): Promise<ChannelCase> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'plexus-case-'));
  const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'silent', HTTP_CREATE_BURST: '1000000', MAX_CONNECTIONS_PER_IP: '1000000', ...opts.env });
  const ownDatabase = !opts.database;
  const database = opts.database ?? (await openDatabase({ pgliteDir: null }));
  let transport: InProcessTransport | null = null;
  const factory: TransportFactory = (o, h, s, l) => (transport = new InProcessTransport(o, h, s, l));
  // A database given by the caller outlives this node: close() must not close it.
  const lent: Database = ownDatabase ? database : { ...database, close: async () => {} };
  const server = await createServer(config, { logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }), database: lent, ...opts.deps, transport: factory });
  await server.listen();
  const t = transport as InProcessTransport | null;
  if (!t) throw new Error('createServer did not build its transport through the injected factory');
  const url = `http://127.0.0.1:${IN_PROCESS_PORT}`;
  const nodeFetch = async (target: string, init: RequestInit = {}): Promise<Response> => {
    const u = new URL(target, url);
    if (u.origin !== url) throw new Error(`the in-process node answers ${url} only, not ${u.origin}`);
    const method = (init.method ?? 'GET').toUpperCase();
    const headers = lowerCaseHeaders(init.headers as Record<string, string> | undefined);
    headers.host ??= u.host;
    const hasBody = method === 'POST' || method === 'PUT' || method === 'PATCH';
    const body = hasBody ? Buffer.from(init.body === undefined || init.body === null ? '' : typeof init.body === 'string' ? init.body : new Uint8Array(init.body as ArrayBuffer)) : null;
    const res = await t.request({ method, path: u.pathname, query: u.searchParams, headers, remoteAddress: '127.0.0.1', body });
    const noBody = method === 'HEAD' || res.status === 204 || res.status === 304;
    const resBody = res.body ?? '';
    return new Response(noBody ? null : typeof resBody === 'string' ? resBody : Buffer.from(resBody), { status: res.status, headers: res.headers });
  };
  return {
    server,
    config,
    url,
    async connect(query = '', headers = {}) {
      const client = new ChannelClient(t);
      client.attach(t.connect(client, `vsn=2.0.0${query}`, headers));
      return client;
    },
    fetch: nodeFetch,
    async createRoom(name = 'Test room') {
      const res = await nodeFetch('/api/v1/hubs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ hub: { name } }) });
      if (res.status !== 200) throw new Error(`create room failed: ${res.status} ${await res.text()}`);
      const b = (await res.json()) as { hub_id: string; url: string; creator_assignment_token: string };
      return { hubSid: b.hub_id, url: b.url, creatorAssignmentToken: b.creator_assignment_token };
    },
    async stop() {
      await server.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** What {@link channelSuite} hands a test file: set in before(), cleaned in after(). */
export interface ChannelSuite {
  /** The node of the file (read it inside tests and hooks, not at load time). */
  readonly node: ChannelCase;
  /** Account tokens signed with the node's SESSION_SECRET (only with `accountTokens: true`). */
  readonly tokens: AccountTokens;
  /** Clients to close in after(): push every client a test opens. */
  readonly clients: ChannelClient[];
}

/**
 * One in-process node for a whole test file: registers a before() that
 * starts it and an after() that closes `clients` and stops it.
 *
 *   const suite = channelSuite({ accountTokens: true, env: { KICK_BAN_SECONDS: '600' } });
 *   const { clients } = suite;
 *   test('...', async () => { const c = await suite.node.connect(); clients.push(c); });
 *
 * Top-level hooks of one file may run concurrently (node 20), so work that
 * must come before the node starts or after it stops goes in `beforeStart`
 * and `afterStop`, not in hooks of its own.
 *
 * @param opts.env extra config for the node; a function is called in before(), after `beforeStart` (for values known only then)
 * @param opts.accountTokens give the node a random SESSION_SECRET and build `tokens` with it
 * @param opts.beforeStart run in before(), before the node starts
 * @param opts.afterStop run in after(), once the clients are closed and the node stopped
 */
export function channelSuite(
  opts: { env?: Record<string, string> | (() => Record<string, string>); accountTokens?: boolean; beforeStart?: () => Promise<void>; afterStop?: () => Promise<void> } = {},
): ChannelSuite {
  let node: ChannelCase | undefined;
  let tokens: AccountTokens | undefined;
  const clients: ChannelClient[] = [];
  before(async () => {
    await opts.beforeStart?.();
    const env = typeof opts.env === 'function' ? opts.env() : opts.env;
    const secret = opts.accountTokens ? randomBytes(32).toString('hex') : undefined;
    node = await startChannelCase({ env: secret ? { SESSION_SECRET: secret, ...env } : env });
    if (secret) tokens = new AccountTokens(secret, node.server.database);
  });
  after(async () => {
    for (const c of clients) c.close();
    await node?.stop();
    await opts.afterStop?.();
  });
  return {
    get node() {
      if (!node) throw new Error('channelSuite(): the node is read before the before() hook ran');
      return node;
    },
    get tokens() {
      if (!tokens) throw new Error('channelSuite(): tokens need { accountTokens: true } and the before() hook');
      return tokens;
    },
    clients,
  };
}
