import uWS from 'uWebSockets.js';
import type { HttpRequest as UwsRequest, HttpResponse as UwsResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import type { Logger } from 'pino';
import { CloseCodes, CloseReasons, ErrorCodes, PlexusError } from '../errors.ts';
import type { Connection, LocalPublisher } from '../realtime/connection.ts';
import type { HttpHandler } from './http-types.ts';
import { UPGRADE_HEADERS } from './socket-types.ts';
import type { SocketHandlers, UpgradeHeaders, UpgradePolicy } from './socket-types.ts';
import { FlushQueue, UwsConnection, type ConnectionOwner, type UserData } from './uws-connection.ts';
import { errorResponse, serveHttp, writeInHandler } from './uws-http.ts';
import { SetMap } from '../realtime/set-map.ts';

export type { SocketHandlers, SocketReceiver, UpgradeHeaders, UpgradePolicy } from './socket-types.ts';

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
  /** The protocol's upgrade rules (realtime's phoenixUpgradePolicy); default: any query, no subprotocol. */
  upgradePolicy?: UpgradePolicy;
}


const decoder = new TextDecoder();
/** How often a socket near its backpressure limit is checked again, ms. */
const SUSPECT_RECHECK_MS = 50;
/** Accepts every upgrade and answers no subprotocol. */
const PLAIN_WEBSOCKET: UpgradePolicy = { refuse: () => null, subprotocol: () => '' };

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
  private readonly topicMembers = new SetMap<string, UwsConnection>();
  /** Topics published to in this event-loop turn, checked for slow consumers at its end. */
  private readonly published = new Set<string>();
  private checkScheduled = false;
  /** Sockets found with a send queue at over half the limit: checked again shortly (uWS may write a turn's publishes later). */
  private readonly suspects = new Set<UwsConnection>();
  private suspectTimer: NodeJS.Timeout | null = null;
  readonly maxBackpressureBytes: number;
  /** Sockets with frames waiting for the end-of-turn flush (this server's; see {@link UwsConnection}). */
  readonly flushes = new FlushQueue();
  private readonly policy: UpgradePolicy;
  /** The port actually bound (useful with port 0). */
  port = 0;

  constructor(
    private readonly options: UwsServerOptions,
    private readonly http: HttpHandler,
    private readonly sockets: SocketHandlers,
    private readonly log: Logger,
  ) {
    this.maxBackpressureBytes = options.maxBackpressureBytes;
    this.policy = options.upgradePolicy ?? PLAIN_WEBSOCKET;
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
        // uWS has corked this socket during open and message: its own sends are written at once, others' wait.
        ud.receiver = conn.inCallback(() => this.sockets.open(conn, ud.data));
      },
      message: (ws, message, isBinary) => {
        const ud = ws.getUserData();
        const conn = ud.connection;
        const receiver = ud.receiver;
        if (!conn || conn.closed || !receiver) return;
        if (message.byteLength > options.maxFrameBytes) {
          conn.close(CloseCodes.FRAME_TOO_LARGE, `frame of ${message.byteLength} bytes is over the ${options.maxFrameBytes}-byte limit`);
          return;
        }
        conn.inCallback(() => receiver.frame(new Uint8Array(message), isBinary));
      },
      close: (ws, code, message) => {
        const ud = ws.getUserData();
        const conn = ud.connection;
        if (conn) {
          for (const topic of conn.markClosed()) this.left(conn, topic);
          this.connections.delete(conn);
          this.suspects.delete(conn);
        }
        ud.receiver?.close(code, decoder.decode(message));
      },
    });
    this.app.any('/*', (res, req) => serveHttp(res, req, this.http, options.maxBodyBytes, this.log));
  }

  private upgrade(res: UwsResponse, req: UwsRequest, context: uWS.us_socket_context_t): void {
    const query = new URLSearchParams(req.getQuery() ?? '');
    // Null prototype: a query parameter named __proto__ or constructor is just a key.
    const params: Record<string, string> = Object.create(null);
    for (const [k, v] of query) params[k] = v;
    const key = req.getHeader('sec-websocket-key');
    const requested = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    const protocol = this.policy.subprotocol(requested.split(',').map((s) => s.trim()).filter((s) => s !== ''));
    const remoteAddress = decoder.decode(res.getRemoteAddressAsText());
    const headers: UpgradeHeaders = {};
    for (const name of UPGRADE_HEADERS) {
      const value = req.getHeader(name);
      if (value !== '') headers[name] = value;
    }
    const refusal = this.policy.refuse(params);
    if (refusal) {
      writeInHandler(res, refusal);
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
      writeInHandler(res, errorResponse(status, code, message));
      return;
    }
    // Inside the upgrade handler, so uWS has the response corked already.
    res.upgrade<UserData>({ connection: null, params, remoteAddress, data }, key, protocol, extensions, context);
  }

  /**
   * Publishes a text frame to a topic's local subscribers; see
   * {@link LocalPublisher}. At the end of the turn the topic's sockets are
   * checked for slow consumers (closed with 4008).
   */
  publishLocal(topic: string, frame: string | Uint8Array, except?: Connection): void {
    this.flushes.flushPendingIn(topic);
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
    this.topicMembers.add(topic, conn);
  }

  /** @internal a socket left `topic` (or closed). */
  left(conn: UwsConnection, topic: string): void {
    this.topicMembers.delete(topic, conn);
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
