import assert from 'node:assert/strict';
import { test } from 'node:test';
import { estimateOffset, offsetFromSample, type ClockSample } from './server-clock.ts';

test('one sample gives Hubs\' estimate: Date + 500 ms + RTT/2 - now', () => {
  const date = new Date(Date.UTC(2026, 0, 1, 12, 0, 0)).toUTCString();
  const serverSecond = Date.parse(date);
  // Sent 100 ms and received 40 ms later, by a client clock 2 s behind.
  const sent = serverSecond - 2000 + 100;
  assert.equal(offsetFromSample(date, sent, sent + 40), serverSecond + 500 + 20 - (sent + 40));
  assert.equal(offsetFromSample(null, 0, 1), null);
  assert.equal(offsetFromSample('not a date', 0, 1), null);
});

/** Samples of a server whose clock is `trueOffset` ahead, taken every `spacing` ms with round trip `rtt`. */
function samples(trueOffset: number, start: number, count: number, spacing: number, rtt: number): ClockSample[] {
  const out: ClockSample[] = [];
  for (let i = 0; i < count; i++) {
    const sentAtMs = start + i * spacing;
    const serverNow = sentAtMs + rtt / 2 + trueOffset;
    out.push({ serverSecondMs: Math.floor(serverNow / 1000) * 1000, sentAtMs, receivedAtMs: sentAtMs + rtt });
  }
  return out;
}

test('spaced samples pin the offset far closer than the one-second Date resolution', () => {
  for (const trueOffset of [-1234, -450, 0, 317, 999, 86_400_123]) {
    for (const start of [1_700_000_000_000, 1_700_000_000_333, 1_700_000_000_901]) {
      const { offsetMs, uncertaintyMs } = estimateOffset(samples(trueOffset, start, 10, 110, 4));
      assert.ok(Math.abs(offsetMs - trueOffset) <= 60, `offset ${trueOffset} from ${start}: estimated ${offsetMs}`);
      assert.ok(uncertaintyMs <= 120, `uncertainty ${uncertaintyMs}`);
    }
  }
});

test('two clients sampling at different moments agree within ~100 ms', () => {
  const a = estimateOffset(samples(0, 1_700_000_000_050, 10, 110, 3)).offsetMs;
  const b = estimateOffset(samples(0, 1_700_000_000_770, 10, 110, 9)).offsetMs;
  assert.ok(Math.abs(a - b) <= 100, `${a} vs ${b}`);
});

test('contradictory samples (a clock jump) fall back to the mean of per-sample estimates', () => {
  const base = 1_700_000_000_000;
  const jumped: ClockSample[] = [
    { serverSecondMs: base, sentAtMs: base, receivedAtMs: base + 10 },
    { serverSecondMs: base + 10_000, sentAtMs: base + 100, receivedAtMs: base + 110 },
  ];
  const { offsetMs, uncertaintyMs } = estimateOffset(jumped);
  assert.equal(uncertaintyMs, Infinity);
  // Per sample: Date + 500 + RTT/2 - received = 495 and 10 395.
  assert.equal(offsetMs, (495 + 10_395) / 2);
});

test('no samples means no offset', () => {
  assert.deepEqual(estimateOffset([]), { offsetMs: 0, uncertaintyMs: Infinity });
});
