import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PresenceEntries } from '../protocol/presence-diff.ts';
import { startPresenceResync } from './resync.ts';

/** A store whose resync the test triggers, listing `entries` for every topic (or failing for `failing`). */
function fakeStore(entries: PresenceEntries, failing = new Set<string>()) {
  let handler: (() => void) | null = null;
  return {
    resync: () => handler?.(),
    list: async (topic: string) => {
      if (failing.has(topic)) throw new Error('redis down');
      return entries;
    },
    onResync: (h: () => void) => {
      handler = h;
    },
  };
}

const meta = { phx_ref: 'r1', presence: 'room' } as unknown as PresenceEntries[string]['metas'][number];

test('after a resync, once the delay has passed, every local hub topic gets its whole presence_state again and other topics nothing', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const store = fakeStore({ s1: { metas: [meta] } });
  const sent: Array<[string, string]> = [];
  const warnings: unknown[] = [];
  let delivered!: () => void;
  const done = new Promise<void>((r) => (delivered = r));
  startPresenceResync({
    presence: store,
    localTopics: () => ['hub:a', 'ret', 'hub:b'],
    publishLocal: (topic, frame) => {
      sent.push([topic, frame]);
      if (sent.length === 2) delivered();
    },
    log: { warn: (o: unknown) => void warnings.push(o) } as never,
    delayMs: 3000,
  });
  store.resync();
  t.mock.timers.tick(2999);
  await Promise.resolve();
  assert.equal(sent.length, 0, 'nothing before one heartbeat');
  t.mock.timers.tick(1);
  await done;
  assert.deepEqual(
    sent.map(([topic, frame]) => [topic, JSON.parse(frame)]),
    ['hub:a', 'hub:b'].map((topic) => [topic, [null, null, topic, 'presence_state', { s1: { metas: [meta] } }]]),
  );
  assert.deepEqual(warnings, []);
});

test('a topic whose presence cannot be listed is logged and skipped, and nothing is sent after stop', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const store = fakeStore({}, new Set(['hub:bad']));
  const sent: string[] = [];
  let warned!: (o: unknown) => void;
  const warning = new Promise<unknown>((r) => (warned = r));
  const resync = startPresenceResync({
    presence: store,
    localTopics: () => ['hub:bad'],
    publishLocal: (topic) => void sent.push(topic),
    log: { warn: (o: unknown) => warned(o) } as never,
    delayMs: 10,
  });
  store.resync();
  t.mock.timers.tick(10);
  assert.deepEqual(await warning, { err: 'redis down', topic: 'hub:bad' });
  store.resync();
  resync.stop();
  t.mock.timers.tick(10);
  store.resync();
  t.mock.timers.tick(10);
  await Promise.resolve();
  assert.deepEqual(sent, []);
});
