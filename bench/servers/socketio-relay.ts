/**
 * What a Node team would build instead: a Socket.IO 4 relay. A client emits
 * `join` (room name, with an ack), then `nafr` events `{naf}`; each `nafr` is
 * re-emitted to the rest of the room (`socket.to(room).emit`, sender
 * excluded) with `from_session_id` added, as Plexus does.
 *
 * {@link createRelay} takes an optional adapter constructor so the cluster
 * case can plug in `@socket.io/redis-adapter` (`createAdapter(pub, sub)`)
 * without changing the relay.
 *
 * Env: PORT (0 = any free port), HOST (default 127.0.0.1). Prints one JSON
 * line `{"msg":"listening","port":N}`; exits on SIGTERM/SIGINT, or when its
 * parent process goes away.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { Server } from 'socket.io';
import type { ServerOptions } from 'socket.io';

/** Options of {@link createRelay}. */
export interface RelayOptions {
  host: string;
  port: number;
  /** Socket.IO adapter (e.g. the Redis adapter's `createAdapter(...)` result); default in-memory. */
  adapter?: ServerOptions['adapter'];
}

/** A started relay. */
export interface Relay {
  port: number;
  close(): Promise<void>;
}

/**
 * Starts the relay.
 * @returns the bound port and a close function
 */
export function createRelay(opts: RelayOptions): Promise<Relay> {
  const http = createServer();
  const io = new Server(http, {
    transports: ['websocket'],
    serveClient: false,
    perMessageDeflate: false,
    ...(opts.adapter ? { adapter: opts.adapter } : {}),
  });
  io.on('connection', (socket) => {
    let room: string | null = null;
    socket.on('join', (name: unknown, ack: unknown) => {
      if (typeof name !== 'string' || room !== null) {
        if (typeof ack === 'function') ack({ ok: false });
        return;
      }
      room = name;
      void socket.join(name);
      if (typeof ack === 'function') ack({ ok: true, id: socket.id });
    });
    socket.on('nafr', (payload: unknown) => {
      if (room === null || typeof payload !== 'object' || payload === null) return;
      const naf = (payload as { naf?: unknown }).naf;
      if (typeof naf !== 'string') return;
      socket.to(room).emit('nafr', { naf, from_session_id: socket.id });
    });
  });
  return new Promise((resolve, reject) => {
    http.once('error', reject);
    http.listen(opts.port, opts.host, () => {
      resolve({
        port: (http.address() as AddressInfo).port,
        close: () => new Promise<void>((r) => io.close(() => r())),
      });
    });
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const relay = await createRelay({ host: process.env.HOST ?? '127.0.0.1', port: Number(process.env.PORT ?? 0) });
  process.stdout.write(`${JSON.stringify({ msg: 'listening', port: relay.port })}\n`);
  const ppid = process.ppid;
  setInterval(() => {
    if (process.ppid !== ppid) process.exit(0);
  }, 1000).unref();
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => process.exit(0));
}
