import { STATUS_CODES } from 'node:http';
import uWS from 'uWebSockets.js';
import type { HttpRequest as UwsRequest, HttpResponse as UwsResponse, TemplatedApp, WebSocket, us_listen_socket } from 'uWebSockets.js';
import type { Logger } from 'pino';
import { CloseCodes, CloseReasons, ErrorCodes, PlexusError } from '../errors.ts';
import type { Connection, LocalPublisher } from '../realtime/connection.ts';
import type { HttpHandler, HttpResponse } from './http-types.ts';

/** What the application does with WebSocket connections. */
export interface SocketHandlers {
  /**
   * Decides, before the upgrade, whether to accept the socket; returns the
   * session data passed to {@link open}. Throwing a PlexusError answers the
   * upgrade with its status and `{error: {code, message}}`.
   *
   * Synchronous on purpose: the upgrade completes inside uWS's upgrade
   * handler. uWebSockets 20.30 can close a socket upgraded later, from a
   * corked callback, right after its open event (code 1006, nothing sent;
   * uNetworking/uWebSockets PR #1929), and warns about every uncorked one.
   * Work that must wait (verifying a token) goes in the returned data as a
   * Promise, for the socket's handlers to wait on.
   */
  authorize(params: Record<string, string>, remoteAddress: string, headers: UpgradeHeaders): unknown;
  /** A socket opened; returns the receiver of its frames and close. */
  open(connection: Connection, data: unknown): SocketReceiver;
}

/** The upgrade request's headers that {@link SocketHandlers.authorize} may check (absent ones are missing). */
export interface UpgradeHeaders {
  origin?: string;
  host?: string;
  'x-forwarded-for'?: string;
  'x-forwarded-proto'?: string;
  'x-forwarded-host'?: string;
}

const UPGRADE_HEADERS = ['origin', 'host', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host'] as const;

/** Receives one socket's frames and its close. */
export interface SocketReceiver {
  /**
   * One frame. `data` is a view that is valid only during the call: copy it
   * to keep it. Text frames are valid UTF-8 (uWS closes sockets that send
   * anything else).
   */
  frame(data: Uint8Array, isBinary: boolean): void;
  close(code: number, reason: string): void;
}

/** Options of {@link UwsServer}. */
export interface UwsServerOptions {
  host: string;
  port: number;
  /** Frames larger than this close the socket with code 1009. */
  maxFrameBytes: number;
  /** Seconds without any frame from the client before the socket is closed. */
  idleTimeoutSeconds: number;
  /**
   * Bytes queued for one socket (not yet taken by the kernel) at which it
   * is closed as a slow consumer, with 4008 and a log line. Checked after
   * every send to it that met backpressure and at the end of every
   * event-loop turn in which its topics were published to. Frames past
   * twice this are dropped (a burst within one turn); the close frame then
   * may be too, and the client sees 1006.
   */
  maxBackpressureBytes: number;
  /** Largest HTTP request body accepted, in bytes. */
  maxBodyBytes: number;
  /** URL path of the WebSocket endpoint. */
  socketPath: string;
}

interface UserData {
  connection: UwsConnection | null;
  params: Record<string, string>;
  remoteAddress: string;
  data: unknown;
}

const decoder = new TextDecoder();
let nextConnectionId = 1;
/** How often a socket near its backpressure limit is checked again, ms. */
const SUSPECT_RECHECK_MS = 50;

/** Pending sends made outside a uWS callback, flushed once per event-loop turn. */
const pendingFlush = new Set<UwsConnection>();
let flushScheduled = false;
function scheduleFlush(conn: UwsConnection): void {
  pendingFlush.add(conn);
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flushAll);
  }
}
function flushAll(): void {
  flushScheduled = false;
  for (const conn of pendingFlush) conn.flush();
  pendingFlush.clear();
}
/**
 * Writes now the queued frames of the sockets subscribed to `topic`, before
 * a publish to it: uWS writes a publish at once, so a reply still waiting in
 * a socket's outbox (say a join reply) would otherwise reach it after the
 * broadcast that followed it. Costs a walk over this turn's pending sockets,
 * usually none.
 */
function flushPendingIn(topic: string): void {
  if (pendingFlush.size === 0) return;
  for (const conn of pendingFlush) {
    if (!conn.topics.has(topic)) continue;
    conn.flush();
    pendingFlush.delete(conn);
  }
}

/** Depth of uWS callbacks on the stack: inside one, uWS has already corked the socket. */
let inCallback = 0;

/** What a connection tells its server: topic membership (for the backpressure check) and slow-consumer closes. */
interface ConnectionOwner {
  readonly maxBackpressureBytes: number;
  joined(conn: UwsConnection, topic: string): void;
  left(conn: UwsConnection, topic: string): void;
  slowConsumer(conn: UwsConnection, buffered: number): void;
}

class UwsConnection implements Connection {
  readonly id = nextConnectionId++;
  closed = false;
  private outbox: Array<string | Uint8Array> = [];

  /** Topics this socket is subscribed to (uWS keeps its own copy; this one lets the server find a topic's sockets). */
  readonly topics = new Set<string>();

  constructor(
    private readonly ws: WebSocket<UserData>,
    readonly params: Record<string, string>,
    readonly remoteAddress: string,
    private readonly owner: ConnectionOwner,
  ) {}

  send(frame: string | Uint8Array): void {
    if (this.closed) return;
    if (inCallback > 0 && this.outbox.length === 0) {
      this.write(frame);
      return;
    }
    this.outbox.push(frame);
    scheduleFlush(this);
  }

  private write(frame: string | Uint8Array): void {
    // 2: uWS dropped the frame, the socket is at its backpressure limit.
    if (this.ws.send(frame, typeof frame !== 'string') !== 1) this.checkBackpressure();
  }

  /**
   * Closes the socket with 4008 when more than `maxBackpressureBytes` wait
   * in its send queue (uWS would otherwise drop frames silently, or close
   * without a close frame: 1006).
   */
  checkBackpressure(): void {
    if (this.closed) return;
    const buffered = this.ws.getBufferedAmount();
    if (buffered >= this.owner.maxBackpressureBytes) this.owner.slowConsumer(this, buffered);
  }

  /** Writes the frames queued outside callbacks, corked into one batch. */
  flush(): void {
    if (this.closed || this.outbox.length === 0) return;
    const frames = this.outbox;
    this.outbox = [];
    this.ws.cork(() => {
      for (const f of frames) {
        if (this.closed) break;
        this.write(f);
      }
    });
  }

  subscribe(topic: string): void {
    if (this.closed || this.topics.has(topic)) return;
    this.ws.subscribe(topic);
    this.topics.add(topic);
    this.owner.joined(this, topic);
  }

  unsubscribe(topic: string): void {
    if (this.closed || !this.topics.delete(topic)) return;
    this.ws.unsubscribe(topic);
    this.owner.left(this, topic);
  }

  /** Bytes waiting in this socket's send queue (0 once closed). */
  bufferedAmount(): number {
    return this.closed ? 0 : this.ws.getBufferedAmount();
  }

  /** Publishes a text frame (string or UTF-8 bytes) to `topic`, except to this socket. */
  publishExceptSelf(topic: string, frame: string | Uint8Array): void {
    if (!this.closed) this.ws.publish(topic, frame, false);
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.flush();
    if (this.closed) return;
    this.closed = true;
    // Corked: outside a uWS callback the close frame would otherwise be an uncorked write.
    this.ws.cork(() => this.ws.end(code, reason.slice(0, 120)));
  }

  /** @internal marks the socket closed after uWS reported the close; returns the topics it was in. */
  markClosed(): Set<string> {
    this.closed = true;
    this.outbox = [];
    return this.topics;
  }
}

function statusLine(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? 'Unknown'}`;
}

/**
 * The uWebSockets.js transport: one HTTP + WebSocket server. It is the only
 * module that imports uWebSockets.js. HTTP requests go to one
 * {@link HttpHandler}; WebSocket frames to {@link SocketHandlers}. Local
 * fan-out uses uWS's native topics, so a published frame is written to every
 * subscriber from the same bytes.
 */
export class UwsServer implements LocalPublisher, ConnectionOwner {
  private readonly app: TemplatedApp;
  private listenSocket: us_listen_socket | null = null;
  private readonly connections = new Set<UwsConnection>();
  /** Local sockets per topic, for the backpressure check after publishes. */
  private readonly topicMembers = new Map<string, Set<UwsConnection>>();
  /** Topics published to in this event-loop turn, checked for slow consumers at its end. */
  private readonly published = new Set<string>();
  private checkScheduled = false;
  /** Sockets found with a send queue at over half the limit: checked again shortly (uWS may write a turn's publishes later). */
  private readonly suspects = new Set<UwsConnection>();
  private suspectTimer: NodeJS.Timeout | null = null;
  readonly maxBackpressureBytes: number;
  /** The port actually bound (useful with port 0). */
  port = 0;

  constructor(
    private readonly options: UwsServerOptions,
    private readonly http: HttpHandler,
    private readonly sockets: SocketHandlers,
    private readonly log: Logger,
  ) {
    this.maxBackpressureBytes = options.maxBackpressureBytes;
    this.app = uWS.App();
    this.app.ws<UserData>(options.socketPath, {
      maxPayloadLength: Math.max(options.maxFrameBytes * 4, 64 * 1024),
      idleTimeout: options.idleTimeoutSeconds,
      sendPingsAutomatically: false,
      // Plexus closes a socket with 4008 once its queue passes the limit (checkBackpressure). uWS's own limit is twice
      // that: past it uWS drops frames, and a close frame too (the client would see 1006), so it must stay above
      // where Plexus closes. uWS is not asked to close (it would close without a close frame: 1006).
      maxBackpressure: options.maxBackpressureBytes * 2,
      closeOnBackpressureLimit: 0,
      upgrade: (res, req, context) => this.upgrade(res, req, context),
      open: (ws) => {
        const ud = ws.getUserData();
        const conn = new UwsConnection(ws, ud.params, ud.remoteAddress, this);
        ud.connection = conn;
        this.connections.add(conn);
        inCallback++;
        try {
          const receiver = this.sockets.open(conn, ud.data);
          (ud as UserData & { receiver?: SocketReceiver }).receiver = receiver;
        } finally {
          inCallback--;
        }
      },
      message: (ws, message, isBinary) => {
        const ud = ws.getUserData() as UserData & { receiver?: SocketReceiver };
        const conn = ud.connection;
        if (!conn || conn.closed || !ud.receiver) return;
        if (message.byteLength > options.maxFrameBytes) {
          conn.close(CloseCodes.FRAME_TOO_LARGE, `frame of ${message.byteLength} bytes is over the ${options.maxFrameBytes}-byte limit`);
          return;
        }
        inCallback++;
        try {
          ud.receiver.frame(new Uint8Array(message), isBinary);
        } finally {
          inCallback--;
        }
      },
      close: (ws, code, message) => {
        const ud = ws.getUserData() as UserData & { receiver?: SocketReceiver };
        const conn = ud.connection;
        if (conn) {
          for (const topic of conn.markClosed()) this.left(conn, topic);
          this.connections.delete(conn);
          this.suspects.delete(conn);
        }
        ud.receiver?.close(code, decoder.decode(message));
      },
    });
    this.app.any('/*', (res, req) => this.handleHttp(res, req));
  }

  private upgrade(res: UwsResponse, req: UwsRequest, context: uWS.us_socket_context_t): void {
    const query = new URLSearchParams(req.getQuery() ?? '');
    // Null prototype: a query parameter named __proto__ or constructor is just a key.
    const params: Record<string, string> = Object.create(null);
    for (const [k, v] of query) params[k] = v;
    const key = req.getHeader('sec-websocket-key');
    const requested = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    // phoenix.js 1.8's authToken option offers subprotocols "phoenix, base64url.bearer.phx.<token>"; answer "phoenix".
    const protocol = requested.split(',').map((s) => s.trim()).includes('phoenix') ? 'phoenix' : '';
    const remoteAddress = decoder.decode(res.getRemoteAddressAsText());
    const headers: UpgradeHeaders = {};
    for (const name of UPGRADE_HEADERS) {
      const value = req.getHeader(name);
      if (value !== '') headers[name] = value;
    }
    if (params.vsn !== '2.0.0') {
      res.writeStatus(statusLine(400)).writeHeader('content-type', 'text/plain').end(`Plexus speaks Phoenix Channels V2 only: connect to ${this.options.socketPath}?vsn=2.0.0`);
      return;
    }
    let data: unknown;
    try {
      data = this.sockets.authorize(params, remoteAddress, headers);
    } catch (err) {
      const status = err instanceof PlexusError ? err.status : 500;
      const code = err instanceof PlexusError ? err.code : ErrorCodes.INTERNAL;
      const message = err instanceof PlexusError ? err.message : 'internal error';
      if (!(err instanceof PlexusError)) this.log.error({ err }, 'socket authorization failed');
      // The same shape as the HTTP API's errors: {error: {code, message}}.
      res.writeStatus(statusLine(status)).writeHeader('content-type', 'application/json').end(JSON.stringify({ error: { code, message } }));
      return;
    }
    // Inside the upgrade handler, so uWS has the response corked already.
    res.upgrade<UserData>({ connection: null, params, remoteAddress, data }, key, protocol, extensions, context);
  }

  private handleHttp(res: UwsResponse, req: UwsRequest): void {
    const method = req.getCaseSensitiveMethod().toUpperCase();
    const path = req.getUrl();
    const query = new URLSearchParams(req.getQuery() ?? '');
    const headers: Record<string, string> = Object.create(null);
    req.forEach((k, v) => {
      headers[k] = v;
    });
    const remoteAddress = decoder.decode(res.getRemoteAddressAsText());
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const respond = (r: HttpResponse) => {
      if (aborted) return;
      res.cork(() => {
        res.writeStatus(statusLine(r.status));
        for (const [k, v] of Object.entries(r.headers ?? {})) res.writeHeader(k, v);
        const body = r.body ?? '';
        if (method === 'HEAD') {
          res.endWithoutBody(typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength);
        } else {
          res.end(body);
        }
      });
    };
    const run = (body: Buffer | null) => {
      let result: HttpResponse | Promise<HttpResponse>;
      try {
        result = this.http({ method, path, query, headers, remoteAddress, body });
      } catch (err) {
        result = Promise.reject(err);
      }
      Promise.resolve(result).then(respond, (err: unknown) => {
        if (err instanceof PlexusError) {
          // An expected failure with its own code and status, e.g. 503 `unavailable` (the database did not answer).
          this.log.warn({ err: err.message, code: err.code, method, path }, 'http handler failed');
          respond({ status: err.status, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: { code: err.code, message: err.message } }) });
          return;
        }
        this.log.error({ err, method, path }, 'http handler failed');
        respond({ status: 500, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: { code: ErrorCodes.INTERNAL, message: 'The server failed to handle this request.' } }) });
      });
    };
    if (method !== 'POST' && method !== 'PUT' && method !== 'PATCH') {
      run(null);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    res.onData((chunk, isLast) => {
      if (tooLarge) return;
      size += chunk.byteLength;
      if (size > this.options.maxBodyBytes) {
        tooLarge = true;
        respond({ status: 413, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: { code: ErrorCodes.HTTP_BODY_TOO_LARGE, message: `Request body is over ${this.options.maxBodyBytes} bytes.` } }) });
        return;
      }
      chunks.push(Buffer.from(chunk.slice(0)));
      if (isLast) run(Buffer.concat(chunks));
    });
  }

  /**
   * Publishes a text frame to a topic's local subscribers; see
   * {@link LocalPublisher}. At the end of the turn the topic's sockets are
   * checked for slow consumers (closed with 4008).
   */
  publishLocal(topic: string, frame: string | Uint8Array, except?: Connection): void {
    flushPendingIn(topic);
    if (except instanceof UwsConnection && !except.closed) {
      except.publishExceptSelf(topic, frame);
    } else {
      this.app.publish(topic, frame, false);
    }
    this.published.add(topic);
    if (!this.checkScheduled) {
      this.checkScheduled = true;
      setImmediate(() => this.checkPublished());
    }
  }

  /** The backpressure check of every socket in a topic published to this turn: once per socket per turn, whatever the number of frames. */
  private checkPublished(): void {
    this.checkScheduled = false;
    const half = this.maxBackpressureBytes / 2;
    for (const topic of this.published) {
      for (const conn of this.topicMembers.get(topic) ?? []) {
        if (conn.closed) continue;
        conn.checkBackpressure();
        if (!conn.closed && conn.bufferedAmount() > half) this.suspects.add(conn);
      }
    }
    this.published.clear();
    if (this.suspects.size > 0 && !this.suspectTimer) {
      this.suspectTimer = setTimeout(() => this.checkSuspects(), SUSPECT_RECHECK_MS);
      this.suspectTimer.unref();
    }
  }

  /** Checks the sockets that were close to the limit again, until they drain below half of it or are closed. */
  private checkSuspects(): void {
    this.suspectTimer = null;
    const half = this.maxBackpressureBytes / 2;
    for (const conn of this.suspects) {
      conn.checkBackpressure();
      if (conn.closed || conn.bufferedAmount() <= half) this.suspects.delete(conn);
    }
    if (this.suspects.size > 0) {
      this.suspectTimer = setTimeout(() => this.checkSuspects(), SUSPECT_RECHECK_MS);
      this.suspectTimer.unref();
    }
  }

  /** @internal a socket subscribed to `topic`. */
  joined(conn: UwsConnection, topic: string): void {
    let set = this.topicMembers.get(topic);
    if (!set) this.topicMembers.set(topic, (set = new Set()));
    set.add(conn);
  }

  /** @internal a socket left `topic` (or closed). */
  left(conn: UwsConnection, topic: string): void {
    const set = this.topicMembers.get(topic);
    if (!set?.delete(conn)) return;
    if (set.size === 0) this.topicMembers.delete(topic);
  }

  /** @internal closes a socket whose send queue passed the limit: 4008, logged. */
  slowConsumer(conn: UwsConnection, buffered: number): void {
    this.log.warn(
      { code: CloseCodes.SLOW_CONSUMER, connection: conn.id, remoteAddress: conn.remoteAddress, bufferedBytes: buffered, limit: this.maxBackpressureBytes },
      'closing slow consumer: its send queue passed MAX_BACKPRESSURE_BYTES',
    );
    conn.close(CloseCodes.SLOW_CONSUMER, CloseReasons.SLOW_CONSUMER);
  }

  /** Local subscribers of `topic` as uWS counts them. */
  numSubscribers(topic: string): number {
    return this.app.numSubscribers(topic);
  }

  /** Open sockets on this node. */
  get connectionCount(): number {
    return this.connections.size;
  }

  /**
   * Starts listening.
   * @returns the bound port
   * @throws Error when the address cannot be bound (port in use)
   */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.app.listen(this.options.host, this.options.port, (socket) => {
        if (!socket) {
          reject(new Error(`Could not listen on ${this.options.host}:${this.options.port}: the port is in use or the address is not local. Set PORT/HOST to a free port and a local address.`));
          return;
        }
        this.listenSocket = socket;
        this.port = uWS.us_socket_local_port(socket);
        resolve(this.port);
      });
    });
  }

  /** Stops accepting new connections (open sockets stay). */
  stopListening(): void {
    if (this.listenSocket) {
      uWS.us_listen_socket_close(this.listenSocket);
      this.listenSocket = null;
    }
  }

  /** Closes every open socket with `code` and `reason`. */
  closeAll(code: number, reason: string): void {
    for (const conn of [...this.connections]) conn.close(code, reason);
  }
}
