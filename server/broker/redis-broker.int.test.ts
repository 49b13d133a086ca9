import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { startRedis, type RedisServer } from '../../ops/dev/redis.ts';
import { brokerContract, type BrokerClusterFactory } from './broker-contract.ts';
import { RedisBroker } from './redis-broker.ts';
import { useTestRedis } from '../test-support/test-redis.ts';

const redisUrl = useTestRedis();
const extraServers: RedisServer[] = [];

after(async () => {
  for (const s of extraServers) await s.stop();
});

/** A cluster of RedisBrokers on their own channel prefix, so tests never see each other's traffic. */
function clusterFactory(sharded: boolean, url: () => string = redisUrl): BrokerClusterFactory {
  return async (n) => {
    const channelPrefix = `plexus:test:${randomBytes(4).toString('hex')}:t:`;
    const nodes = Array.from({ length: n }, () => new RedisBroker({ url: url(), channelPrefix, sharded }));
    const settle = async () => {
      await Promise.all(nodes.map((b) => b.synced()));
    };
    await settle();
    return {
      nodes,
      settle,
      dispose: async () => {
        for (const b of nodes) await b.close();
      },
    };
  };
}

brokerContract('RedisBroker', clusterFactory(false));
brokerContract('RedisBroker (sharded pub/sub)', clusterFactory(true));

/** Waits until `pred()` resolves true, polling every 20 ms, failing after `timeoutMs`. */
async function eventually(pred: () => Promise<boolean> | boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('RedisBroker on Redis', () => {
  subscriptionAndEnvelopeTests();
  connectionTests();
  batchingTests();
  pacingTests();
});

/** Registers the tests of Redis channel subscriptions and of messages in another envelope format. */
function subscriptionAndEnvelopeTests(): void {
  test('a node subscribes to a Redis channel once however many times subscribe is called, and leaves it on unsubscribe', async () => {
    const prefix = `plexus:test:${randomBytes(4).toString('hex')}:t:`;
    const node = new RedisBroker({ url: redisUrl(), channelPrefix: prefix });
    const other = new RedisBroker({ url: redisUrl(), channelPrefix: prefix });
    const admin = new Redis(redisUrl());
    try {
      const numsub = async (topic: string) => {
        const reply = (await admin.call('PUBSUB', 'NUMSUB', prefix + topic)) as [string, number];
        return Number(reply[1]);
      };
      for (let i = 0; i < 5; i++) node.subscribe('hub:count');
      other.subscribe('hub:count');
      await node.synced();
      await other.synced();
      assert.equal(await numsub('hub:count'), 2);
      node.unsubscribe('hub:count');
      await node.synced();
      assert.equal(await numsub('hub:count'), 1);
      assert.equal(node.status().topics, 0);
      node.unsubscribe('hub:count');
      await node.synced();
      assert.equal(await numsub('hub:count'), 1);
    } finally {
      await node.close();
      await other.close();
      admin.disconnect();
    }
  });

  test('a message of another envelope format (a node of another version) is dropped, and the format-2 message after it arrives with its sender', async () => {
    const prefix = `plexus:test:${randomBytes(4).toString('hex')}:t:`;
    const sender = new RedisBroker({ url: redisUrl(), channelPrefix: prefix });
    const receiver = new RedisBroker({ url: redisUrl(), channelPrefix: prefix });
    const raw = new Redis(redisUrl());
    try {
      const got: Array<[string, string | undefined]> = [];
      receiver.onFrame((_topic, frame, from) => got.push([Buffer.from(frame as Uint8Array).toString('utf8'), from]));
      receiver.subscribe('hub:v');
      await sender.synced();
      await receiver.synced();
      // Format 1: node id, then frames as a 4-byte length and the bytes (no format byte, no sender).
      const old = Buffer.from('["old format"]', 'utf8');
      const length = Buffer.alloc(4);
      length.writeUInt32BE(old.length, 0);
      await raw.publish(prefix + 'hub:v', Buffer.concat([randomBytes(16), length, old]));
      sender.publish('hub:v', '["new format"]', 'session-1');
      await eventually(() => got.length >= 1, 'the format-2 frame');
      assert.deepEqual(got, [['["new format"]', 'session-1']]);
    } finally {
      await sender.close();
      await receiver.close();
      raw.disconnect();
    }
  });
}

/** Registers the tests of the connections: status(), close(), and delivery resuming after a Redis restart. */
function connectionTests(): void {
  test('status() reports both connections ready, and close() ends them', async () => {
    const node = new RedisBroker({ url: redisUrl() });
    await node.synced();
    assert.equal(node.status().connected, true);
    assert.equal(node.status().publisher, 'ready');
    await node.close();
    assert.equal(node.status().connected, false);
  });

  test('after Redis is stopped and started again on the same port, delivery resumes by itself within 5 s', async () => {
    const server = await startRedis();
    extraServers.push(server);
    const prefix = `plexus:test:${randomBytes(4).toString('hex')}:t:`;
    const a = new RedisBroker({ url: server.url, channelPrefix: prefix });
    const b = new RedisBroker({ url: server.url, channelPrefix: prefix });
    const got: string[] = [];
    b.onFrame((_topic, frame) => got.push(Buffer.from(frame).toString('utf8')));
    try {
      b.subscribe('hub:outage');
      await a.synced();
      await b.synced();
      a.publish('hub:outage', 'before');
      await eventually(() => got.includes('before'), '"before"');

      await server.halt();
      // Both connections of both nodes must have noticed (a's publisher in particular, or 'during' would be sent).
      await eventually(
        () => [a.status(), b.status()].every((st) => st.publisher !== 'ready' && st.subscriber !== 'ready'),
        'both nodes to notice the outage',
      );
      a.publish('hub:outage', 'during');
      // Counted when the batch is flushed at the end of the turn, or when Redis refuses it.
      await eventually(() => a.status().droppedWhileDisconnected >= 1, 'a publish during the outage to be dropped and counted');
      await server.start();

      // Nothing is re-sent by hand: ioredis reconnects and autoResubscribe subscribes b again.
      let n = 0;
      await eventually(
        () => {
          a.publish('hub:outage', `after-${n++}`);
          return got.some((t) => t.startsWith('after-'));
        },
        'a frame published after the restart to arrive',
        5000,
      );
      assert.equal(b.status().connected, true);
      assert.equal(b.status().topics, 1);
      assert.ok(!got.includes('during'));
    } finally {
      await a.close();
      await b.close();
    }
  });
}

/** Registers the test of frames batched per topic within one turn. */
function batchingTests(): void {
  test('frames published in one turn go out batched per topic and arrive one by one, in order, with views and big frames intact', async () => {
    const prefix = `plexus:test:${randomBytes(4).toString('hex')}:t:`;
    const sender = new RedisBroker({ url: redisUrl(), channelPrefix: prefix });
    const receiver = new RedisBroker({ url: redisUrl(), channelPrefix: prefix });
    const monitor = new Redis(redisUrl());
    try {
      const got: Array<[string, string]> = [];
      receiver.onFrame((topic, frame) => got.push([topic, Buffer.from(frame as Uint8Array).toString('utf8')]));
      receiver.subscribe('hub:a');
      receiver.subscribe('hub:b');
      await sender.synced();
      await receiver.synced();
      const statsBefore = Number(/total_commands_processed:(\d+)/.exec(await monitor.info('stats'))![1]);
      const sent: Array<[string, string]> = [];
      const shared = Buffer.from('xxxx["frame in a view"]yyyy', 'utf8');
      for (let i = 0; i < 200; i++) {
        const topic = i % 2 === 0 ? 'hub:a' : 'hub:b';
        const text = `["${i}","é ${i}"]`;
        sender.publish(topic, i % 3 === 0 ? text : Buffer.from(text, 'utf8'));
        sent.push([topic, text]);
      }
      // A view into a larger buffer: only the viewed bytes are sent, even if the buffer changes afterwards.
      sender.publish('hub:a', new Uint8Array(shared.buffer, shared.byteOffset + 4, shared.length - 8));
      shared.fill(0);
      sent.push(['hub:a', '["frame in a view"]']);
      // A frame bigger than one batch goes out by itself, still in order.
      const big = `["${'z'.repeat(300 * 1024)}"]`;
      sender.publish('hub:b', big);
      sent.push(['hub:b', big]);
      await eventually(() => got.length === sent.length, `${sent.length} frames`);
      const order = (topic: string, list: Array<[string, string]>) => list.filter(([t]) => t === topic).map(([, f]) => f);
      assert.deepEqual(order('hub:a', got), order('hub:a', sent));
      assert.deepEqual(order('hub:b', got), order('hub:b', sent));
      // 202 frames took far fewer than 202 PUBLISH commands.
      const statsAfter = Number(/total_commands_processed:(\d+)/.exec(await monitor.info('stats'))![1]);
      assert.ok(statsAfter - statsBefore < 20, `${statsAfter - statsBefore} commands for ${sent.length} frames`);
      // A Redis that lost its scripts (restart, SCRIPT FLUSH): the two-topic batch still goes out, in order.
      await monitor.script('FLUSH');
      const more: Array<[string, string]> = [['hub:a', '["after flush a"]'], ['hub:b', '["after flush b"]'], ['hub:a', '["after flush a2"]']];
      for (const [topic, text] of more) sender.publish(topic, text);
      await eventually(() => got.length === sent.length + more.length, 'the frames published after SCRIPT FLUSH');
      assert.deepEqual(got.slice(sent.length).sort(), [...more].sort());
      assert.deepEqual(order('hub:a', got.slice(sent.length)), ['["after flush a"]', '["after flush a2"]']);
    } finally {
      await sender.close();
      await receiver.close();
      monitor.disconnect();
    }
  });
}

/** Registers the test of flushIntervalMs pacing frames published one per turn. */
function pacingTests(): void {
  test('frames published one per turn leave at most once per flushIntervalMs, in order; with 0 every turn sends', async () => {
    const prefix = `plexus:test:${randomBytes(4).toString('hex')}:t:`;
    const paced = new RedisBroker({ url: redisUrl(), channelPrefix: prefix, flushIntervalMs: 10 });
    const eager = new RedisBroker({ url: redisUrl(), channelPrefix: prefix, flushIntervalMs: 0 });
    const receiver = new RedisBroker({ url: redisUrl(), channelPrefix: prefix });
    const monitor = new Redis(redisUrl());
    const commands = async () => Number(/total_commands_processed:(\d+)/.exec(await monitor.info('stats'))![1]);
    try {
      const got: string[] = [];
      receiver.onFrame((_topic, frame) => got.push(Buffer.from(frame as Uint8Array).toString('utf8')));
      receiver.subscribe('hub:p');
      await Promise.all([paced.synced(), eager.synced(), receiver.synced()]);
      /** Publishes `n` frames through `b`, one per event-loop turn; returns [commands Redis processed, ms taken]. */
      const onePerTurn = async (b: RedisBroker, tag: string, n: number): Promise<[number, number]> => {
        const before = await commands();
        const start = performance.now();
        for (let i = 0; i < n; i++) {
          b.publish('hub:p', `["${tag}",${i}]`);
          await new Promise((r) => setImmediate(r));
        }
        const ms = performance.now() - start;
        await eventually(() => got.filter((f) => f.startsWith(`["${tag}"`)).length === n, `${n} ${tag} frames`);
        // -1: the INFO call itself.
        return [(await commands()) - before - 1, ms];
      };
      const [pacedCommands, pacedMs] = await onePerTurn(paced, 'paced', 300);
      assert.ok(pacedCommands <= Math.ceil(pacedMs / 10) + 2, `${pacedCommands} commands in ${pacedMs.toFixed(0)} ms at one send per 10 ms`);
      assert.deepEqual(got.filter((f) => f.startsWith('["paced"')), Array.from({ length: 300 }, (_, i) => `["paced",${i}]`));
      const [eagerCommands] = await onePerTurn(eager, 'eager', 100);
      assert.ok(eagerCommands >= 50, `flushIntervalMs 0 sends at the end of each turn: ${eagerCommands} commands for 100 turns`);
      assert.throws(() => new RedisBroker({ url: redisUrl(), flushIntervalMs: -1 }), /flushIntervalMs/);
    } finally {
      await Promise.all([paced.close(), eager.close(), receiver.close()]);
      monitor.disconnect();
    }
  });
}
