import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBroker, MemoryBus } from '../broker/memory-broker.ts';
import type { Connection } from './connection.ts';
import { Fanout } from './fanout.ts';

function fakeConnection(id: number): Connection & { topics: Set<string> } {
  const topics = new Set<string>();
  return {
    id,
    remoteAddress: '127.0.0.1',
    params: {},
    closed: false,
    topics,
    send() {},
    subscribe: (t) => void topics.add(t),
    unsubscribe: (t) => void topics.delete(t),
    close() {},
  };
}

test('a broadcast is handed to the local publisher once, as one frame, whatever the number of subscribers', () => {
  const calls: Array<[string, string | Uint8Array, Connection | undefined]> = [];
  const fanout = new Fanout(new MemoryBroker());
  fanout.setPublisher({ publishLocal: (t, f, e) => void calls.push([t, f, e]) });
  for (let i = 0; i < 10; i++) fanout.subscribe(fakeConnection(i), 'hub:a');
  fanout.publish('hub:a', 'FRAME');
  assert.deepEqual(calls, [['hub:a', 'FRAME', undefined]]);
});

test('a node subscribes to the broker on its first local subscriber and unsubscribes after its last', () => {
  const broker = new MemoryBroker();
  const fanout = new Fanout(broker);
  const a = fakeConnection(1);
  const b = fakeConnection(2);
  fanout.subscribe(a, 'hub:a');
  fanout.subscribe(b, 'hub:a');
  assert.equal(broker.subscriptionCount, 1);
  fanout.unsubscribe(a, 'hub:a');
  assert.equal(broker.subscriptionCount, 1);
  fanout.unsubscribe(b, 'hub:a');
  assert.equal(broker.subscriptionCount, 0);
  assert.equal(fanout.localSubscribers('hub:a'), 0);
});

test('frames from another node on a shared bus reach local subscribers once, and never come back to the sender', () => {
  const bus = new MemoryBus();
  const got1: string[] = [];
  const got2: string[] = [];
  const n1 = new Fanout(new MemoryBroker(bus));
  const n2 = new Fanout(new MemoryBroker(bus));
  n1.setPublisher({ publishLocal: (_t, f) => void got1.push(String(f)) });
  n2.setPublisher({ publishLocal: (_t, f) => void got2.push(String(f)) });
  n1.subscribe(fakeConnection(1), 'hub:a');
  n2.subscribe(fakeConnection(2), 'hub:a');
  n2.subscribe(fakeConnection(3), 'hub:a');
  n1.publish('hub:a', 'X');
  assert.deepEqual(got1, ['X']);
  assert.deepEqual(got2, ['X']);
});

test('a frame tagged with a sender that the topic\'s recipient filter excludes goes to each other member one by one; untagged frames and other senders stay one publish', () => {
  const calls: Array<string | Uint8Array> = [];
  const fanout = new Fanout(new MemoryBroker());
  fanout.setPublisher({ publishLocal: (_t, f) => void calls.push(f) });
  const sent = new Map<number, string[]>();
  const members = [1, 2, 3].map((i) => ({ ...fakeConnection(i), send: (f: string | Uint8Array) => void sent.set(i, [...(sent.get(i) ?? []), String(f)]) }));
  for (const c of members) fanout.subscribe(c, 'hub:a');
  fanout.setRecipientFilter('hub:a', { excluded: (sender) => (sender === 's-blocked' ? new Set([members[1]!]) : undefined) });
  // The frame's text names nobody: the fan-out reads the sender from the options, never from the frame.
  fanout.publish('hub:a', Buffer.from('["opaque"]'), { sender: 's-blocked', except: members[0] });
  assert.deepEqual([...sent], [[3, ['["opaque"]']]]);
  fanout.publish('hub:a', '["untagged"]');
  fanout.publish('hub:a', '["other sender"]', { sender: 's-other' });
  fanout.setRecipientFilter('hub:a', null);
  fanout.publish('hub:a', '["after"]', { sender: 's-blocked' });
  assert.deepEqual(calls, ['["untagged"]', '["other sender"]', '["after"]']);
});

test('the sender of a frame from another node reaches the receiving node\'s recipient filter', () => {
  const bus = new MemoryBus();
  const n1 = new Fanout(new MemoryBroker(bus));
  const n2 = new Fanout(new MemoryBroker(bus));
  const published: string[] = [];
  n2.setPublisher({ publishLocal: (_t, f) => void published.push(String(f)) });
  const got: string[] = [];
  const blocked = fakeConnection(2);
  n1.subscribe(fakeConnection(1), 'hub:a');
  n2.subscribe(blocked, 'hub:a');
  n2.subscribe({ ...fakeConnection(3), send: (f) => void got.push(String(f)) }, 'hub:a');
  n2.setRecipientFilter('hub:a', { excluded: (sender) => (sender === 's1' ? new Set([blocked]) : undefined) });
  n1.publish('hub:a', '["from s1"]', { sender: 's1' });
  n1.publish('hub:a', '["from s9"]', { sender: 's9' });
  assert.deepEqual(got, ['["from s1"]']);
  assert.deepEqual(published, ['["from s9"]']);
});
