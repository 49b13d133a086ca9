/**
 * The in-process harness itself: a join, a push and a broadcast seen as a
 * client of a real node sees them, with the ChannelTest-style assertions.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startChannelCase, type ChannelCase } from './channel-case.ts';

let node: ChannelCase;
before(async () => {
  node = await startChannelCase();
});
after(async () => {
  await node.stop();
});

test('a join is answered, presence_state is pushed, a chat is broadcast to both members and a heartbeat answered; stop closes sockets with 1001', async () => {
  const { hubSid } = await node.createRoom('Harness');
  const topic = `hub:${hubSid}`;
  const a = await node.connect();
  const b = await node.connect();
  const ja = await a.assertReply(await a.join(topic, { profile: { displayName: 'A' }, context: {} }), 'ok');
  assert.equal(ja.hubs[0].name, 'Harness');
  await a.assertPush('presence_state', (p) => !!p[ja.session_id]);
  const jb = await b.assertReply(await b.join(topic, { profile: { displayName: 'B' }, context: {} }), 'ok');
  await a.assertBroadcast('presence_diff', (d) => !!d.joins[jb.session_id]);
  const jr = a.frames.find((f) => f[3] === 'phx_reply')![0];
  a.push(jr, topic, 'message', { type: 'chat', body: 'hi' });
  for (const c of [a, b]) await c.assertBroadcast('message', { type: 'chat', body: 'hi', session_id: ja.session_id }, { topic });
  await a.assertReply(a.push(null, 'phoenix', 'heartbeat', {}), 'ok', {});
  assert.equal((await node.fetch('/api/v1/hubs/' + hubSid)).status, 200);
  await assert.rejects(node.connect('&vsn=1.0.0'), /Unexpected server response: 400/);
  assert.equal(node.server.connectionCount(), 2);
  await node.stop();
  assert.deepEqual([await a.waitClose(), await b.waitClose()], [1001, 1001]);
  node = await startChannelCase();
});
