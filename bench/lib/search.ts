/**
 * The load search: raise the offered load (a positive integer "level": the
 * number of active rooms, or the send rate in Hz) by a factor until a step
 * fails, then bisect between the highest passing and the lowest failing level.
 * Pure functions; the runner measures each step.
 */

/** Options of the search. */
export interface SearchOptions {
  /** First level tried. */
  start: number;
  /** Growth factor while every step passes (> 1). */
  factor: number;
  /** Highest level allowed (client and fd limits). */
  max: number;
  /** Steps at most, whatever the bracket. */
  maxSteps: number;
  /** Stop bisecting when (lowest fail − highest pass) ≤ max(1, highest pass × precision). */
  precision: number;
}

/** One measured step. */
export interface StepOutcome {
  level: number;
  pass: boolean;
}

/**
 * The next level to measure, or null when the search is done.
 * A failure below a passing level (noise) does not bracket anything above it.
 * When the first level fails, the search goes down by `factor` until a pass or level 1.
 */
export function nextLevel(opts: SearchOptions, history: readonly StepOutcome[]): number | null {
  if (history.length === 0) return Math.max(1, Math.min(opts.start, opts.max));
  if (history.length >= opts.maxSteps) return null;
  const tried = new Set(history.map((h) => h.level));
  const passes = history.filter((h) => h.pass).map((h) => h.level);
  if (passes.length === 0) {
    const lowest = Math.min(...history.map((h) => h.level));
    const down = Math.floor(lowest / opts.factor);
    return down >= 1 && !tried.has(down) ? down : null;
  }
  const bestPass = Math.max(...passes);
  const failsAbove = history.filter((h) => !h.pass && h.level > bestPass).map((h) => h.level);
  if (failsAbove.length === 0) {
    const up = Math.min(opts.max, Math.max(bestPass + 1, Math.ceil(bestPass * opts.factor)));
    return up > bestPass && !tried.has(up) ? up : null;
  }
  const lowestFail = Math.min(...failsAbove);
  if (lowestFail - bestPass <= Math.max(1, bestPass * opts.precision)) return null;
  const mid = Math.round((bestPass + lowestFail) / 2);
  return mid > bestPass && mid < lowestFail && !tried.has(mid) ? mid : null;
}

/** What a step measured that decides pass or fail. */
export interface StepMeasure {
  /** p99 delivery latency, ms. */
  p99: number;
  /** Received deliveries / (sent messages × (room size − 1)) within the window. */
  deliveredRatio: number;
  /** Client sockets closed by the server or lost during the step. */
  disconnects: number;
}

/** Criteria of a passing step. */
export interface PassCriteria {
  /** p99 latency bound, ms. */
  p99BoundMs: number;
  /** Lowest acceptable delivered ratio, e.g. 0.95. */
  minDeliveredRatio: number;
}

/** Judges a step: pass, or the reasons it failed. */
export function judgeStep(m: StepMeasure, c: PassCriteria): { pass: boolean; reasons: string[] } {
  const reasons: string[] = [];
  if (!(m.p99 <= c.p99BoundMs)) reasons.push(`p99 ${m.p99.toFixed(1)} ms > ${c.p99BoundMs} ms`);
  if (!(m.deliveredRatio >= c.minDeliveredRatio)) reasons.push(`delivered ${(m.deliveredRatio * 100).toFixed(1)}% < ${(c.minDeliveredRatio * 100).toFixed(0)}%`);
  if (m.disconnects > 0) reasons.push(`${m.disconnects} client(s) disconnected`);
  return { pass: reasons.length === 0, reasons };
}

/** The passing step with the highest delivered rate, or undefined. */
export function bestStep<T extends { pass: boolean; deliveredPerSec: number }>(steps: readonly T[]): T | undefined {
  let best: T | undefined;
  for (const s of steps) if (s.pass && (!best || s.deliveredPerSec > best.deliveredPerSec)) best = s;
  return best;
}
