/**
 * Latency histograms (HDR, hdr-histogram-js, pure JS build) recorded in
 * microseconds in each worker, shipped to the orchestrator as compressed
 * base64 and merged there.
 */
import * as hdr from 'hdr-histogram-js';
import type { Histogram } from 'hdr-histogram-js';

/** Highest recordable value: 120 s in microseconds (larger values are clamped). */
export const HIGHEST_US = 120_000_000;

/** A new empty histogram: microseconds, 3 significant digits. */
export function newHistogram(): Histogram {
  return hdr.build({ bitBucketSize: 32, highestTrackableValue: HIGHEST_US, numberOfSignificantValueDigits: 3, useWebAssembly: false });
}

/** Records a latency given in milliseconds (clamped to [0, HIGHEST_US] µs). */
export function recordMs(h: Histogram, ms: number): void {
  const us = Math.round(ms * 1000);
  h.recordValue(us < 0 ? 0 : us > HIGHEST_US ? HIGHEST_US : us);
}

/** Serializes a histogram for IPC. */
export function encodeHistogram(h: Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

/** Merges encoded histograms into one new histogram. */
export function mergeEncoded(encoded: readonly string[]): Histogram {
  const total = newHistogram();
  for (const e of encoded) {
    if (!e) continue;
    const h = hdr.decodeFromCompressedBase64(e, 32, false);
    total.add(h);
    h.destroy();
  }
  return total;
}

/** Percentiles in milliseconds (3 decimals) of a histogram of microseconds. */
export interface LatencySummary {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Summarizes a µs histogram as milliseconds; an empty histogram gives zeros. */
export function summarize(h: Histogram): LatencySummary {
  const ms = (us: number) => Math.round(us) / 1000;
  if (h.totalCount === 0) return { count: 0, p50: 0, p95: 0, p99: 0, max: 0, mean: 0 };
  return {
    count: h.totalCount,
    p50: ms(h.getValueAtPercentile(50)),
    p95: ms(h.getValueAtPercentile(95)),
    p99: ms(h.getValueAtPercentile(99)),
    max: ms(h.maxValue),
    mean: ms(h.mean),
  };
}
