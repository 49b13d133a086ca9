/**
 * Estimates the server's clock from the HTTP `Date` header of `HEAD` requests
 * to the page URL, the way NAF's built-in adapters and Hubs' phoenix adapter do
 * (reference/naf-phoenix-client.md §1.3): for one sample,
 * `offset = (Date + 500 ms) + RTT/2 − now`; the offset used is the mean of
 * several samples, refreshed periodically. NAF uses `now + offset` as
 * `lastOwnerTime`, so two clients' estimates must agree for ownership
 * transfer to work.
 *
 * Difference from Hubs: samples are spaced ~110 ms apart rather than back to
 * back. The `Date` header has one-second resolution, so back-to-back samples
 * share the same truncation error (up to ±500 ms); spreading them over a
 * second makes those errors average out to tens of milliseconds.
 */

/** Milliseconds between successive samples of one round. */
export const SAMPLE_SPACING_MS = 110;
/** Samples per round. */
export const SAMPLES_PER_ROUND = 10;
/** Milliseconds between rounds (Hubs: 5 minutes). */
export const REFRESH_INTERVAL_MS = 5 * 60 * 1000;

/**
 * Clock offset from one sample.
 * @param dateHeader the HTTP `Date` header (RFC 7231, one-second resolution)
 * @param sentAtMs client `Date.now()` when the request was sent
 * @param receivedAtMs client `Date.now()` when the response arrived
 * @returns server minus client time in ms, or null if the header is unusable
 */
export function offsetFromSample(dateHeader: string | null, sentAtMs: number, receivedAtMs: number): number | null {
  if (!dateHeader) return null;
  const serverSecondMs = Date.parse(dateHeader);
  if (Number.isNaN(serverSecondMs)) return null;
  const serverAtReceiveMs = serverSecondMs + 500 + (receivedAtMs - sentAtMs) / 2;
  return serverAtReceiveMs - receivedAtMs;
}

/** Something that answers a HEAD request with headers (window.fetch fits). */
export type HeadFetcher = (url: string) => Promise<{ headers: { get(name: string): string | null } }>;

/** Server-clock estimator; `now()` is NAF's `getServerTime()`. */
export class ServerClock {
  private samples: number[] = [];
  private offsetMs = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;

  /**
   * @param url page URL to `HEAD` (the server answers page routes with `Date`)
   * @param fetcher HEAD implementation; defaults to `fetch` with `cache: no-cache`
   */
  constructor(
    private readonly url: string,
    private readonly fetcher: HeadFetcher = (u) => fetch(u, { method: 'HEAD', cache: 'no-cache' }),
  ) {}

  /** Server time estimate in ms since the epoch (client time until the first sample). */
  now(): number {
    return Date.now() + this.offsetMs;
  }

  /** Current offset estimate in ms (server − client). */
  offset(): number {
    return this.offsetMs;
  }

  /** Number of samples in the current estimate. */
  sampleCount(): number {
    return this.samples.length;
  }

  /**
   * Starts sampling: one round now, then one round every REFRESH_INTERVAL_MS.
   * @returns a promise resolved when the first sample is in (or failed)
   */
  start(): Promise<void> {
    this.stopped = false;
    return new Promise<void>((resolve) => {
      void this.round(resolve);
    });
  }

  /** Stops sampling; `now()` keeps the last estimate. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private async round(onFirstSample: () => void): Promise<void> {
    const fresh: number[] = [];
    for (let i = 0; i < SAMPLES_PER_ROUND && !this.stopped; i++) {
      const sentAt = Date.now();
      try {
        const res = await this.fetcher(this.url);
        const offset = offsetFromSample(res.headers.get('Date'), sentAt, Date.now());
        if (offset !== null) {
          fresh.push(offset);
          // Until this round completes, use what it has so far.
          this.samples = fresh.length >= this.samples.length ? fresh.slice() : this.samples;
          this.offsetMs = mean(this.samples);
        }
      } catch {
        // Network hiccup: keep the previous estimate.
      }
      if (i === 0) onFirstSample();
      if (i < SAMPLES_PER_ROUND - 1) await delay(SAMPLE_SPACING_MS);
    }
    if (fresh.length > 0) {
      this.samples = fresh;
      this.offsetMs = mean(fresh);
    }
    if (!this.stopped) {
      this.timer = setTimeout(() => void this.round(() => {}), REFRESH_INTERVAL_MS);
    }
  }
}

function mean(values: number[]): number {
  let sum = 0;
  for (const v of values) sum += v;
  return values.length ? sum / values.length : 0;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
