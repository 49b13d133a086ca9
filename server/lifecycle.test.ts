import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OpenSessions, shutdownNode, type ShutdownParts } from './lifecycle.ts';

const session = (log: string[], name: string) => ({ end: async () => void log.push(`end ${name}`) });

test('untilEmpty resolves as soon as the last session closes, or false at its timeout', async (t) => {
  const open = new OpenSessions<{ end(): Promise<void> }>();
  assert.equal(await open.untilEmpty(10), true, 'none open: at once');
  const [a, b] = [session([], 'a'), session([], 'b')];
  open.add(a);
  open.add(b);
  const waiting = open.untilEmpty(60_000);
  open.delete(a);
  open.delete(a);
  open.delete(b);
  assert.equal(await waiting, true);
  t.mock.timers.enable({ apis: ['setTimeout'] });
  open.add(a);
  const timedOut = open.untilEmpty(5000);
  t.mock.timers.tick(5000);
  assert.equal(await timedOut, false);
  assert.equal(open.size, 1);
});

/** Parts that record every step, with `ret` members when `retMembers` > 0. */
function recordingParts(retMembers: number): { parts: ShutdownParts; log: string[]; open: OpenSessions<{ end(): Promise<void> }> } {
  const log: string[] = [];
  const open = new OpenSessions<{ end(): Promise<void> }>();
  const parts: ShutdownParts = {
    stopTimers: () => void log.push('stop timers'),
    markDraining: () => void log.push('draining'),
    directory: { refresh: async () => void log.push('directory refresh') },
    fanout: { localSubscribers: (topic) => (topic === 'ret' ? retMembers : 0) },
    transport: {
      publishLocal: (topic, frame) => void log.push(`publish ${topic} ${frame}`),
      stopListening: () => void log.push('stop listening'),
      closeAll: (code) => void log.push(`close all ${code}`),
    },
    sessions: open,
    graceMs: 60_000,
    version: '1.2.3',
    closeBackends: async () => void log.push('close backends'),
  };
  return { parts, log, open };
}

test('shutdown drains, tells ret members to move and waits only until the last socket closed, then closes the rest in order', async () => {
  const { parts, log, open } = recordingParts(1);
  const s = session(log, 's1');
  open.add(s);
  // The socket leaves as the notice goes out: shutdown goes on at once, not after the 60 s grace period.
  const publish = parts.transport.publishLocal;
  parts.transport.publishLocal = (topic, frame) => {
    publish(topic, frame);
    queueMicrotask(() => open.delete(s));
  };
  await shutdownNode(parts);
  assert.deepEqual(log, [
    'stop timers',
    'draining',
    'directory refresh',
    'publish ret [null,null,"ret","notice",{"event":"ret-deploy","ret_version":"1.2.3","ret_pool":"default"}]',
    'stop listening',
    'close all 1001',
    'close backends',
  ]);
});

test('without ret members there is no notice and no wait; sessions left are ended before the backends close', async () => {
  const { parts, log, open } = recordingParts(0);
  open.add(session(log, 's1'));
  await shutdownNode(parts);
  assert.deepEqual(log, ['stop timers', 'draining', 'directory refresh', 'stop listening', 'close all 1001', 'end s1', 'close backends']);
});
