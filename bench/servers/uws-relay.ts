/**
 * The ceiling for our stack: a bare uWebSockets.js relay. Each socket is
 * subscribed to the topic named by its `?room=` query parameter during the
 * upgrade, and every message it sends is published, unchanged, to that topic
 * (uWS excludes the sender). No protocol, no parsing, no presence.
 *
 * Env: PORT (0 = any free port), HOST (default 127.0.0.1),
 * MAX_BACKPRESSURE_BYTES (default 1 MiB, like Plexus; over it uWS drops
 * messages for that subscriber). Prints one JSON line
 * `{"msg":"listening","port":N}` once it accepts connections; exits on
 * SIGTERM/SIGINT, or when its parent process goes away.
 */
import uWS from 'uWebSockets.js';

interface UserData {
  room: string;
}

const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? 0);
const maxBackpressure = Number(process.env.MAX_BACKPRESSURE_BYTES ?? 1024 * 1024);

const app = uWS.App().ws<UserData>('/*', {
  compression: uWS.DISABLED,
  maxPayloadLength: 64 * 1024,
  idleTimeout: 0,
  maxBackpressure,
  upgrade: (res, req, context) => {
    const room = new URLSearchParams(req.getQuery() ?? '').get('room') ?? 'default';
    res.upgrade<UserData>(
      { room },
      req.getHeader('sec-websocket-key'),
      req.getHeader('sec-websocket-protocol'),
      req.getHeader('sec-websocket-extensions'),
      context,
    );
  },
  open: (ws) => {
    ws.subscribe(ws.getUserData().room);
  },
  message: (ws, message, isBinary) => {
    ws.publish(ws.getUserData().room, message, isBinary);
  },
});

app.listen(host, port, (socket) => {
  if (!socket) {
    process.stderr.write(`uws-relay: cannot listen on ${host}:${port}\n`);
    process.exit(1);
  }
  process.stdout.write(`${JSON.stringify({ msg: 'listening', port: uWS.us_socket_local_port(socket) })}\n`);
});

const ppid = process.ppid;
setInterval(() => {
  if (process.ppid !== ppid) process.exit(0);
}, 1000).unref();
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
