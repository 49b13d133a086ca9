/**
 * SocketSession in process, with channel routes injected: heartbeats are
 * answered while a handler is pending, and a channel whose handler throws is
 * crashed the Phoenix way (phx_error, terminate) without touching the socket
 * or its other channels.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { MemoryBroker } from '../broker/memory-broker.ts';
import { ErrorCodes, PlexusError } from '../errors.ts';
import type { Channel, ChannelRoute, Reply, TerminateReason } from './channel.ts';
import { ok } from './channel.ts';
import type { Connection } from './connection.ts';
import { Fanout } from './fanout.ts';
import { SocketSession } from './socket-session.ts';

type Frame = [string | null, string | null, string, string, any];

function memoryConnection(): Connection & { frames: Frame[]; topics: Set<string>; closedWith: number | null } {
  const frames: Frame[] = [];
  const topics = new Set<string>();
  const conn = {
    id: 1,
    remoteAddress: '127.0.0.1',
    params: {},
    closed: false,
    frames,
    topics,
    closedWith: null as number | null,
    send(frame: string | Uint8Array) {
      if (typeof frame === 'string') frames.push(JSON.parse(frame) as Frame);
    },
    subscribe: (t: string) => void topics.add(t),
    unsubscribe: (t: string) => void topics.delete(t),
    close(code: number) {
      conn.closed = true;
      conn.closedWith = code;
    },
  };
  return conn;
}

/** A test channel: `wait` blocks until `release()`, `boom` throws, `reject` rejects, `unavailable` rejects with a PlexusError. */
class TestChannel implements Channel {
  static gate: { promise: Promise<void>; release: () => void } | null = null;
  static terminated: Array<[string, TerminateReason]> = [];
  constructor(private readonly topic: string) {}
  join(): Reply {
    return ok({});
  }
  handleIn(event: string): Reply | Promise<Reply> {
    switch (event) {
      case 'wait':
        return TestChannel.gate!.promise.then(() => ok({ waited: true }));
      case 'boom':
        throw new Error('handler bug');
      case 'reject':
        return Promise.reject(new Error('async handler bug'));
      case 'unavailable':
        return Promise.reject(new PlexusError(ErrorCodes.UNAVAILABLE, 'The database did not answer within 2000 ms; try again shortly.', 503));
      default:
        return ok({ echo: event });
    }
  }
  terminate(reason: TerminateReason): void {
    TestChannel.terminated.push([this.topic, reason]);
  }
}

const route: ChannelRoute = { matches: (t) => t.startsWith('test:'), create: (ctx) => new TestChannel(ctx.topic) };

function setup() {
  TestChannel.terminated = [];
  const conn = memoryConnection();
  const session = new SocketSession('s1', conn, [route], new Fanout(new MemoryBroker()), pino({ level: 'silent' }), { maxChannels: 10, maxQueuedFrames: 100 });
  const push = (frame: Frame) => session.handleFrame(new TextEncoder().encode(JSON.stringify(frame)), false);
  return { conn, session, push };
}

/** Waits (on the event loop, not a timer) until `pred` holds for some received frame. */
async function frame(conn: { frames: Frame[] }, pred: (f: Frame) => boolean): Promise<Frame> {
  for (let i = 0; i < 1000; i++) {
    const f = conn.frames.find(pred);
    if (f) return f;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`no such frame; got ${JSON.stringify(conn.frames)}`);
}

const reply = (ref: string) => (f: Frame) => f[1] === ref && f[3] === 'phx_reply';

test('a heartbeat sent while a handler is pending is answered at once, and later pushes keep their order', async () => {
  const { conn, push } = setup();
  push(['1', '1', 'test:a', 'phx_join', {}]);
  await frame(conn, reply('1'));
  let release!: () => void;
  TestChannel.gate = { promise: new Promise<void>((r) => (release = r)), release: () => release() };
  push(['1', '2', 'test:a', 'wait', {}]);
  push(['1', '3', 'test:a', 'after-wait', {}]);
  push([null, '4', 'phoenix', 'heartbeat', {}]);
  const hb = await frame(conn, reply('4'));
  assert.deepEqual(hb, [null, '4', 'phoenix', 'phx_reply', { status: 'ok', response: {} }]);
  assert.equal(conn.frames.some(reply('2')), false, 'the pending push is still pending');
  assert.equal(conn.frames.some(reply('3')), false, 'the push behind it still waits');
  release();
  await frame(conn, reply('3'));
  const order = conn.frames.filter((f) => f[3] === 'phx_reply').map((f) => f[1]);
  assert.deepEqual(order, ['1', '4', '2', '3']);
});

test('a heartbeat in non-compact JSON is answered at once too while a handler is pending', async () => {
  const { conn, session, push } = setup();
  push(['1', '1', 'test:a', 'phx_join', {}]);
  await frame(conn, reply('1'));
  let release!: () => void;
  TestChannel.gate = { promise: new Promise<void>((r) => (release = r)), release: () => release() };
  push(['1', '2', 'test:a', 'wait', {}]);
  session.handleFrame(new TextEncoder().encode('[ null, "5", "phoenix", "heartbeat", {} ]'), false);
  await frame(conn, reply('5'));
  release();
  await frame(conn, reply('2'));
});

for (const [kind, event] of [['synchronously', 'boom'], ['asynchronously', 'reject']] as const) {
  test(`a channel whose handler throws ${kind} gets an error reply and phx_error, and is terminated; the socket and other channels carry on`, async () => {
    const { conn, push } = setup();
    push(['1', '1', 'test:a', 'phx_join', {}]);
    push(['2', '2', 'test:b', 'phx_join', {}]);
    await frame(conn, reply('2'));
    push(['1', '3', 'test:a', event, {}]);
    const err = await frame(conn, (f) => f[3] === 'phx_error');
    // Phoenix's encode_on_exit: join_ref and ref are both the join_ref, payload {}.
    assert.deepEqual(err, ['1', '1', 'test:a', 'phx_error', {}]);
    const r = conn.frames.find(reply('3'))!;
    assert.equal(r[4].status, 'error');
    assert.equal(r[4].response.reason, 'internal_error');
    assert.ok(conn.frames.indexOf(r) < conn.frames.indexOf(err), 'the reply comes before phx_error');
    assert.deepEqual(TestChannel.terminated, [['test:a', 'crash']]);
    assert.equal(conn.topics.has('test:a'), false, 'the crashed channel no longer receives broadcasts');
    // The crashed topic is no longer joined; the other channel still answers; the socket is open.
    push(['1', '4', 'test:a', 'hello', {}]);
    assert.equal((await frame(conn, reply('4')))[4].response.reason, 'unmatched topic');
    push(['2', '5', 'test:b', 'hello', {}]);
    assert.deepEqual((await frame(conn, reply('5')))[4], { status: 'ok', response: { echo: 'hello' } });
    assert.equal(conn.closedWith, null);
    // And the client may rejoin, as phoenix.js does after phx_error.
    push(['6', '6', 'test:a', 'phx_join', {}]);
    assert.equal((await frame(conn, reply('6')))[4].status, 'ok');
  });
}

test('a handler failing with a PlexusError (e.g. unavailable) gets an error reply naming it, and the channel stays joined', async () => {
  const { conn, push } = setup();
  push(['1', '1', 'test:a', 'phx_join', {}]);
  push(['1', '2', 'test:a', 'unavailable', {}]);
  const r = await frame(conn, reply('2'));
  assert.equal(r[4].status, 'error');
  assert.equal(r[4].response.reason, 'unavailable');
  assert.match(r[4].response.message, /did not answer/);
  assert.equal(conn.frames.some((f) => f[3] === 'phx_error'), false);
  push(['1', '3', 'test:a', 'hello', {}]);
  assert.equal((await frame(conn, reply('3')))[4].status, 'ok');
  assert.deepEqual(TestChannel.terminated, []);
});
