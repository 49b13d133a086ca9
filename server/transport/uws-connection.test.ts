/**
 * Write batching of the uWS connection, against a fake uWS socket that
 * records whether each frame was written while that socket was corked
 * (uWS corks only the socket whose callback runs).
 */
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { test } from 'node:test';
import { FlushQueue, UwsConnection, type ConnectionOwner, type UwsSocket } from './uws-connection.ts';

interface FakeSocket {
  ws: UwsSocket;
  /** Frames written, with whether the socket was corked then. */
  writes: Array<{ frame: string; corked: boolean }>;
  /** Set while uWS runs this socket's callback (or a cork). */
  corked: boolean;
}

function fakeSocket(): FakeSocket {
  const fake: FakeSocket = {
    writes: [],
    corked: false,
    ws: {
      send: (frame: string) => {
        fake.writes.push({ frame, corked: fake.corked });
        return 1;
      },
      cork: (fn: () => void) => {
        const was = fake.corked;
        fake.corked = true;
        try {
          fn();
        } finally {
          fake.corked = was;
        }
        return fake.ws;
      },
      end: () => {},
      getBufferedAmount: () => 0,
      subscribe: () => true,
      unsubscribe: () => true,
      publish: () => true,
    } as unknown as UwsSocket,
  };
  return fake;
}

function owner(): ConnectionOwner {
  return { maxBackpressureBytes: 1 << 20, flushes: new FlushQueue(), joined() {}, left() {}, slowConsumer() {} };
}

/** Runs `fn` as uWS runs a socket's callback: that socket corked, and the connection told so. */
function asCallbackOf(fake: FakeSocket, conn: UwsConnection, fn: () => void): void {
  fake.ws.cork(() => conn.inCallback(fn));
}

test("a send to another socket inside one socket's callback waits for the end of the turn and is written corked, while the socket's own send goes at once", async () => {
  const server = owner();
  const a = fakeSocket();
  const b = fakeSocket();
  const connA = new UwsConnection(a.ws, {}, '127.0.0.1', server);
  const connB = new UwsConnection(b.ws, {}, '127.0.0.1', server);
  asCallbackOf(a, connA, () => {
    connA.send('reply to A');
    connB.send('broadcast 1 to B');
    connB.send('broadcast 2 to B');
  });
  assert.deepEqual(a.writes, [{ frame: 'reply to A', corked: true }]);
  assert.deepEqual(b.writes, [], "B's frames wait: uWS has not corked B");
  await nextTurn();
  assert.deepEqual(b.writes, [
    { frame: 'broadcast 1 to B', corked: true },
    { frame: 'broadcast 2 to B', corked: true },
  ]);
});

test("a publish first writes the queued frames of the topic's sockets, and only those", async () => {
  const server = owner();
  const a = fakeSocket();
  const b = fakeSocket();
  const connA = new UwsConnection(a.ws, {}, '127.0.0.1', server);
  const connB = new UwsConnection(b.ws, {}, '127.0.0.1', server);
  connA.subscribe('hub:x');
  connA.send('join reply');
  connB.send('other');
  server.flushes.flushPendingIn('hub:x');
  assert.deepEqual(a.writes, [{ frame: 'join reply', corked: true }]);
  assert.deepEqual(b.writes, []);
  await nextTurn();
  assert.deepEqual(b.writes, [{ frame: 'other', corked: true }]);
  assert.equal(a.writes.length, 1, 'the flushed frame is not written twice');
});

test("each server flushes its own sockets: one server's flush leaves another's queue alone", () => {
  const one = owner();
  const two = owner();
  const a = fakeSocket();
  const b = fakeSocket();
  new UwsConnection(a.ws, {}, '127.0.0.1', one).send('to a');
  new UwsConnection(b.ws, {}, '127.0.0.1', two).send('to b');
  one.flushes.flushAll();
  assert.equal(a.writes.length, 1);
  assert.equal(b.writes.length, 0);
  two.flushes.flushAll();
  assert.equal(b.writes.length, 1);
});
