/**
 * Bad input over a real socket: each case asserts the reply (or close) and
 * that the server still serves a room of other people afterwards.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { RawClient } from '../test-support/raw-client.ts';
import type { Frame } from '../test-support/raw-client.ts';
import { createRoom, startTestServer } from '../test-support/test-server.ts';
import type { TestServer } from '../test-support/test-server.ts';

const MAX_FRAME = 4096;
const params = { profile: { displayName: 'x' }, context: {} };
let srv: TestServer;
let topic: string;
let watcherA: RawClient;
let watcherB: RawClient;

before(async () => {
  srv = await startTestServer({ env: { MAX_FRAME_BYTES: String(MAX_FRAME) } });
  topic = `hub:${(await createRoom(srv.url)).hubSid}`;
  watcherA = await RawClient.connect(srv.url);
  watcherB = await RawClient.connect(srv.url);
  assert.equal((await watcherA.join(topic, params))[4].status, 'ok');
  assert.equal((await watcherB.join(topic, params))[4].status, 'ok');
});
after(async () => {
  watcherA.close();
  watcherB.close();
  await srv.stop();
});

/** The room still works: A's chat message reaches B. */
async function roomStillWorks(): Promise<void> {
  const body = `still alive ${Math.random()}`;
  const from = watcherB.frames.length;
  watcherA.push(null, topic, 'message', { type: 'chat', body });
  await watcherB.waitFor((f) => f[3] === 'message' && f[4].body === body, 5000, from);
}

/** The offender's own socket still answers heartbeats. */
async function stillAnswers(c: RawClient): Promise<void> {
  const ref = c.push(null, 'phoenix', 'heartbeat', {});
  const reply = await c.reply(ref);
  assert.equal(reply[4].status, 'ok');
}

function errorReply(f: Frame): { reason: string; message: string } {
  assert.equal(f[3], 'phx_reply');
  assert.equal(f[4].status, 'error');
  assert.equal(typeof f[4].response.message, 'string');
  return f[4].response;
}

interface Case {
  name: string;
  run(c: RawClient): Promise<void>;
}

const cases: Case[] = [
  {
    name: 'a frame that is not JSON gets frame_not_json on topic phoenix',
    async run(c) {
      c.sendRaw('this is not json');
      const f = await c.waitFor((f) => f[2] === 'phoenix' && f[3] === 'phx_reply');
      assert.equal(errorReply(f).reason, 'frame_not_json');
    },
  },
  {
    name: 'JSON that is not an array gets frame_not_array',
    async run(c) {
      c.sendRaw('{"topic":"hub:x","event":"phx_join"}');
      assert.equal(errorReply(await c.waitFor((f) => f[3] === 'phx_reply')).reason, 'frame_not_array');
    },
  },
  {
    name: 'an array of the wrong arity gets frame_bad_arity with its ref',
    async run(c) {
      c.sendRaw('[null,"77","hub:x"]');
      const f = await c.reply('77');
      assert.equal(errorReply(f).reason, 'frame_bad_arity');
    },
  },
  {
    name: 'a join of an unknown topic gets "unmatched topic"',
    async run(c) {
      const f = await c.join('nosuch:topic', {});
      assert.equal(errorReply(f).reason, 'unmatched topic');
    },
  },
  {
    name: 'a push before joining gets "unmatched topic"',
    async run(c) {
      const ref = c.push(null, topic, 'message', { type: 'chat', body: 'sneaky' });
      assert.equal(errorReply(await c.reply(ref)).reason, 'unmatched topic');
    },
  },
  {
    name: 'an unknown event on a joined room gets unknown_event',
    async run(c) {
      const jr = (await c.join(topic, params))[0]!;
      const ref = c.push(jr, topic, 'launch_rockets', {});
      assert.equal(errorReply(await c.reply(ref)).reason, 'unknown_event');
    },
  },
  {
    name: 'join params of the wrong types get invalid_payload and no presence',
    async run(c) {
      const before = watcherA.frames.length;
      const f = await c.join(topic, { profile: 'me', context: 5 });
      assert.equal(errorReply(f).reason, 'invalid_payload');
      await roomStillWorks();
      assert.equal(watcherA.frames.slice(before).filter((f) => f[3] === 'presence_diff').length, 0);
    },
  },
  {
    name: 'naf, nafr and message payloads of the wrong types get invalid_payload and are not relayed',
    async run(c) {
      const jr = (await c.join(topic, params))[0]!;
      const before = watcherA.frames.length;
      for (const [event, payload] of [
        ['naf', { dataType: 5, data: {} }],
        ['naf', { dataType: 'u', data: { networkId: 7 } }],
        ['naf', { dataType: 'um', data: { d: 'x' } }],
        ['nafr', { naf: 12 }],
        ['nafr', { naf: '{"isFirstSync": tru' }],
        ['message', { type: 'chat' }],
        ['message', 'hello'],
        ['events:profile_updated', { profile: 'x' }],
      ] as const) {
        const ref = c.push(jr, topic, event, payload);
        assert.equal(errorReply(await c.reply(ref)).reason, 'invalid_payload', `${event} ${JSON.stringify(payload)}`);
      }
      await roomStillWorks();
      assert.deepEqual(watcherA.frames.slice(before).filter((f) => f[3] === 'naf' || f[3] === 'nafr'), []);
    },
  },
  {
    name: 'a well-formed binary push to a joined room is refused with binary_not_supported and its ref, and is not relayed',
    async run(c) {
      const jr = (await c.join(topic, params))[0]!;
      const before = watcherA.frames.length;
      const beforeRaw = watcherA.rawFrames.length;
      const fields = [jr, '99', topic, 'message'].map((s) => Buffer.from(s));
      const payload = Buffer.from(JSON.stringify({ type: 'chat', body: 'binary hello' }));
      c.sendRaw(Buffer.concat([Buffer.from([0, ...fields.map((f) => f.length)]), ...fields, payload]));
      const f = await c.reply('99');
      assert.deepEqual([f[0], f[2]], [jr, topic]);
      const e = errorReply(f);
      assert.equal(e.reason, 'binary_not_supported');
      assert.match(e.message, /text frame/);
      await roomStillWorks();
      assert.deepEqual(watcherA.frames.slice(before).filter((x) => x[3] === 'message' && x[4].body === 'binary hello'), []);
      assert.equal(watcherA.rawFrames.slice(beforeRaw).filter((x) => typeof x !== 'string').length, 0);
    },
  },
  {
    name: 'binary garbage gets frame_bad_binary',
    async run(c) {
      c.sendRaw(Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0x01]));
      assert.equal(errorReply(await c.waitFor((f) => f[3] === 'phx_reply')).reason, 'frame_bad_binary');
    },
  },
];

for (const kase of cases) {
  test(kase.name, async () => {
    const c = await RawClient.connect(srv.url);
    try {
      await kase.run(c);
      await stillAnswers(c);
      await roomStillWorks();
    } finally {
      c.close();
    }
  });
}

test('a frame over MAX_FRAME_BYTES closes that socket with 1009 and a reason, and others are unaffected', async () => {
  const c = await RawClient.connect(srv.url);
  c.push(null, topic, 'message', { type: 'chat', body: 'x'.repeat(MAX_FRAME + 10) });
  assert.equal(await c.waitClose(), 1009);
  assert.match(c.closeReason, /over the 4096-byte limit/);
  await roomStillWorks();
});

test('a socket without vsn=2.0.0 is refused with a message saying which version to use', async () => {
  const ws = new WebSocket(`${srv.url.replace('http', 'ws')}/socket/websocket`);
  const [status, body] = await new Promise<[number, string]>((resolve, reject) => {
    ws.on('open', () => reject(new Error('the upgrade was accepted')));
    ws.on('error', () => {});
    ws.on('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve([res.statusCode ?? 0, text]));
    });
  });
  assert.equal(status, 400);
  assert.match(body, /vsn=2\.0\.0/);
});
