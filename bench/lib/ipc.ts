/**
 * Messages between the bench runner (parent) and its load workers (children
 * forked with an IPC channel). Every request carries `reqId`; the worker
 * answers with the same `reqId`.
 */

/** Server implementations under test (`plexus2`: two Plexus nodes sharing Redis and PostgreSQL). */
export type ServerKind = 'plexus' | 'plexus2' | 'uws' | 'socketio';

/** True for the kinds that speak Phoenix Channels (one Plexus node or a cluster). */
export function isPlexus(kind: ServerKind): boolean {
  return kind === 'plexus' || kind === 'plexus2';
}

/** One address a client can connect to. */
export interface Endpoint {
  host: string;
  port: number;
}

/**
 * Where and how to reach the server under test. `host`/`port` is the first
 * (or only) node; with several `nodes`, client `index` connects to
 * `nodes[index % nodes.length]`.
 */
export interface Target extends Endpoint {
  kind: ServerKind;
  nodes?: Endpoint[];
}

/** One client to open: its global index, its room, and the source address. */
export interface ClientSpec {
  index: number;
  /** Room index (0-based, global). */
  room: number;
  /** Room key on the server: the hub_sid for Plexus, a room name for the relays. */
  roomKey: string;
  /** Local (source) address, 127.0.0.x. */
  localAddress: string;
}

export type WorkerRequest =
  | { type: 'init'; reqId: number; target: Target; roomSize: number; workerIndex: number; heartbeatMs: number }
  | {
      type: 'connect';
      reqId: number;
      clients: ClientSpec[];
      /** Connections in flight at once (closed loop); ignored when `ratePerSec` is set. */
      concurrency: number;
      /** Open loop: start one connection every 1000/ratePerSec ms regardless of replies. */
      ratePerSec?: number;
      /** Give up on one client after this long (ms). */
      timeoutMs: number;
    }
  | {
      type: 'load';
      reqId: number;
      activeRooms: number;
      hz: number;
      warmupMs: number;
      measureMs: number;
      drainMs: number;
      /** This room still sends, but its sends and receipts are left out of `sent`, `expected`, `received` and `hist` (counted apart in `excludedSent`, `excludedExpected`, `excludedReceived` and `excludedHist`). */
      excludeRoom?: number;
    }
  /** Plexus only: each client of `room` pushes `block` (or `unblock`) for the next `perClient` members of its room; answered `done` once every push got its ok. */
  | { type: 'block'; reqId: number; room: number; perClient: number; unblock?: boolean }
  | { type: 'closeAll'; reqId: number }
  | { type: 'exit'; reqId: number };

/** Answer to `connect`. */
export interface ConnectResult {
  type: 'connected';
  reqId: number;
  ok: number;
  failed: number;
  /** First few error messages. */
  errors: string[];
  /** Histograms (µs, encoded) of WebSocket open time and join time (join sent → join reply). */
  connectHist: string;
  joinHist: string;
  /** Wall time of the whole connect request, ms. */
  elapsedMs: number;
}

/** Answer to `load`. */
export interface LoadResult {
  type: 'loaded';
  reqId: number;
  /** Clients that sent in this step. */
  activeClients: number;
  /** Messages sent within the measure window (without `excludeRoom`'s). */
  sent: number;
  /** Sends the schedule asked for within the window (sent < planned means the worker fell behind). */
  planned: number;
  /** Deliveries expected for the messages sent in the window (each × joined room members − 1). */
  expected: number;
  /** Deliveries received within the window. */
  received: number;
  /** Messages sent within the window by clients of `excludeRoom` (not in `sent`; `sent` + this is what `planned` counts). */
  excludedSent: number;
  /** Deliveries received within the window by clients of `excludeRoom` (0 when none). */
  excludedReceived: number;
  /** Deliveries `excludeRoom`'s sends in the window would make without blocks (each × joined room members − 1; 0 when none). */
  excludedExpected: number;
  /** Latency histogram (µs, encoded) of deliveries received in the window. */
  hist: string;
  /** Latency histogram (µs, encoded) of the `excludeRoom` deliveries counted in `excludedReceived` (empty when none). */
  excludedHist: string;
  /** Worker CPU time during the window, seconds (user + system), and the system part. */
  cpuSeconds: number;
  cpuSystemSeconds: number;
  /** Client sockets that closed unexpectedly since the previous step, and their close codes. */
  disconnects: number;
  closeCodes: Record<string, number>;
  /** Event-loop lag seen by the send scheduler: largest gap between ticks in the window, ms. */
  maxTickGapMs: number;
  /** Bytes still queued in the clients for sending at the end of the window (the server fell behind reading); 0 for Socket.IO (not measured). */
  sendBacklogBytes: number;
}

export interface SimpleResult {
  type: 'done';
  reqId: number;
}

export interface ErrorResult {
  type: 'error';
  reqId: number;
  message: string;
}

export type WorkerResponse = ConnectResult | LoadResult | SimpleResult | ErrorResult;

/** A request without its `reqId` (the pool adds it), kept as a union. */
export type WorkerRequestBody = WorkerRequest extends infer R ? (R extends unknown ? Omit<R, 'reqId'> : never) : never;
