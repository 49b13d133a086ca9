import type { WebSocket } from 'uWebSockets.js';
import type { Connection } from '../realtime/connection.ts';
import type { SocketReceiver } from './socket-types.ts';

/** What uWS keeps for each socket (its user data). */
export interface UserData {
  connection: UwsConnection | null;
  params: Record<string, string>;
  remoteAddress: string;
  /** What {@link SocketHandlers.authorize} returned. */
  data: unknown;
  receiver?: SocketReceiver;
}

/** The part of a uWS socket a {@link UwsConnection} uses (a fake in unit tests). */
export type UwsSocket = Pick<WebSocket<UserData>, 'send' | 'cork' | 'end' | 'getBufferedAmount' | 'subscribe' | 'unsubscribe' | 'publish'>;

/** What a connection tells its server: topic membership (for the backpressure check) and slow-consumer closes. */
export interface ConnectionOwner {
  readonly maxBackpressureBytes: number;
  /** The server's queue of sockets with frames to write at the end of the turn. */
  readonly flushes: FlushQueue;
  joined(conn: UwsConnection, topic: string): void;
  left(conn: UwsConnection, topic: string): void;
  slowConsumer(conn: UwsConnection, buffered: number): void;
}

/**
 * One server's sockets with frames waiting in their outbox (sends made while
 * uWS had not corked them), written once per event-loop turn, each socket
 * corked into one batch.
 */
export class FlushQueue {
  private readonly pending = new Set<UwsConnection>();
  private scheduled = false;

  /** Queues `conn` for the end-of-turn flush. */
  add(conn: UwsConnection): void {
    this.pending.add(conn);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flushAll());
    }
  }

  /** Writes every queued socket's outbox now. */
  flushAll(): void {
    this.scheduled = false;
    const conns = [...this.pending];
    this.pending.clear();
    for (const conn of conns) conn.flush();
  }

  /**
   * Writes now the queued frames of the sockets subscribed to `topic`, before
   * a publish to it: uWS writes a publish at once, so a reply still waiting in
   * a socket's outbox (say a join reply) would otherwise reach it after the
   * broadcast that followed it. Costs a walk over this turn's pending sockets,
   * usually none.
   */
  flushPendingIn(topic: string): void {
    if (this.pending.size === 0) return;
    for (const conn of this.pending) {
      if (!conn.topics.has(topic)) continue;
      conn.flush();
      this.pending.delete(conn);
    }
  }
}

let nextConnectionId = 1;

/**
 * One uWS WebSocket as the realtime layer's {@link Connection}.
 *
 * Writes are corked: uWS corks a socket during its own callbacks (open,
 * message) only, and only that socket. A send to this socket during one of
 * its callbacks is written at once (uWS batches it); any other send (after an
 * await, from a timer, or from another socket's callback) waits in the
 * outbox and is written at the end of the turn, corked into one batch.
 */
export class UwsConnection implements Connection {
  readonly id = nextConnectionId++;
  closed = false;
  private outbox: Array<string | Uint8Array> = [];
  /** Depth of this socket's uWS callbacks on the stack: inside one, uWS has corked this socket (and no other). */
  private callbackDepth = 0;

  /** Topics this socket is subscribed to (uWS keeps its own copy; this one lets the server find a topic's sockets). */
  readonly topics = new Set<string>();

  constructor(
    private readonly ws: UwsSocket,
    readonly params: Record<string, string>,
    readonly remoteAddress: string,
    private readonly owner: ConnectionOwner,
  ) {}

  /** Runs `fn` as this socket's uWS callback (uWS has corked this socket meanwhile). */
  inCallback<T>(fn: () => T): T {
    this.callbackDepth++;
    try {
      return fn();
    } finally {
      this.callbackDepth--;
    }
  }

  send(frame: string | Uint8Array): void {
    if (this.closed) return;
    if (this.callbackDepth > 0 && this.outbox.length === 0) {
      this.write(frame);
      return;
    }
    this.outbox.push(frame);
    this.owner.flushes.add(this);
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

  /** Writes the frames queued outside this socket's callbacks, corked into one batch. */
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
