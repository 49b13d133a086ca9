/**
 * A slow consumer over a real socket: a client that stops reading while its
 * room floods it is closed with 4008 (the code the README documents), the
 * close is logged, and the rest of the room is unaffected.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import pino from 'pino';
import type WebSocket from 'ws';
import { joinRoom, type RawClient } from '../test-support/raw-client.ts';
import { createRoom, startTestServer, type TestServer } from '../test-support/test-server.ts';

const LIMIT = 64 * 1024;
let node: TestServer;
const clients: RawClient[] = [];
const logs: Array<Record<string, unknown>> = [];

before(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  node = await startTestServer({
    env: { MAX_BACKPRESSURE_BYTES: String(LIMIT), SOCKET_RATE_PER_SECOND: '100000', SOCKET_RATE_BURST: '100000' },
    deps: { logger: pino({ level: 'warn' }, sink) },
  });
});

after(async () => {
  for (const c of clients) c.close();
  await node?.stop();
});

/** The underlying TCP socket of a `ws` client (ws keeps it in `_socket`). */
function tcp(ws: WebSocket): import('node:net').Socket {
  return (ws as unknown as { _socket: import('node:net').Socket })._socket;
}

test('a client that stops reading while its room floods it is closed with 4008 and the close is logged; the others carry on', async () => {
  const topic = `hub:${(await createRoom(node.url)).hubSid}`;
  const flooder = await joinRoom(node.url, topic, {}, { track: clients });
  const calm = await joinRoom(node.url, topic, {}, { track: clients });
  const slow = await joinRoom(node.url, topic, {}, { track: clients });
  tcp(slow.c.ws).pause();

  // Flood the room until the server gives up on the slow client (the kernel buffers take some megabytes first).
  const naf = (seq: number) => JSON.stringify({ dataType: 'u', data: { networkId: 'n1', owner: flooder.sessionId, lastOwnerTime: 1, components: { 0: 'x'.repeat(30_000), 1: seq } } });
  let sent = 0;
  while (node.server.connectionCount() === 3) {
    assert.ok(sent < 5000, `the slow client was not closed after ${sent} frames of 30 KB`);
    const mark = calm.c.frames.length;
    // Two frames (60 KB) at a time: less than the limit per event-loop turn, so the slow socket is closed below uWS's own cap.
    for (let i = 0; i < 2; i++) flooder.c.push(flooder.jr, topic, 'nafr', { naf: naf(++sent) });
    // Paced by the calm client, which reads: it never falls behind, the slow one does. Waits on the event, not a timer.
    const last = `"1":${sent}}`;
    await calm.c.waitFor((f) => f[3] === 'nafr' && String(f[4].naf).endsWith(last + '}}'), 10_000, mark);
  }
  const entry = logs.find((l) => l.code === 4008);
  assert.ok(entry, `the server logged the slow consumer's close with code 4008 (after ${sent} frames)`);
  assert.match(String(entry.msg), /slow consumer/);
  assert.equal(entry.limit, LIMIT);

  // When the slow client reads again, what was queued drains and the close frame says 4008.
  tcp(slow.c.ws).resume();
  assert.equal(await slow.c.waitClose(20_000), 4008);
  assert.match(slow.c.closeReason, /slow consumer/);

  // The others are still in the room.
  calm.c.push(calm.jr, topic, 'message', { type: 'chat', body: 'still here' });
  await flooder.c.waitFor((f) => f[3] === 'message' && f[4].body === 'still here', 10_000);
  assert.equal(calm.c.closeCode, null);
  assert.equal(flooder.c.closeCode, null);
});
