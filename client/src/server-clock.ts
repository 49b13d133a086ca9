/**
 * Estimates the server's clock from the HTTP `Date` header of `HEAD` requests
 * to the page URL, as NAF's built-in adapters and Hubs' phoenix adapter do
 * (reference/naf-phoenix-client.md §1.3). NAF stamps ownership changes with
 * `getServerTime()` (`lastOwnerTime`) and everyone compares those stamps, so
 * two clients' estimates must agree closely, or a grab made shortly after a
 * spawn is rejected by the others as "older".
 *
 * Hubs' estimate per sample is `offset = (Date + 500 ms) + RTT/2 − now`,
 * averaged over 10 back-to-back samples. The `Date` header has one-second
 * resolution, so back-to-back samples share one truncation error of up to
 * ±500 ms, and two clients can disagree by up to a second. Plexus spaces the
 * samples ~110 ms apart over a little more than a second and intersects what
 * each sample proves: the response was generated while the server clock was
 * in `[Date, Date + 1000)` and the client clock in `[sent, received]`, so
 * `Date − received < offset < Date + 1000 − sent`. The middle of the
 * intersection is typically within ~(spacing + RTT)/2 of the truth. If the
 * intervals do not intersect (a clock jumped), it falls back to Hubs' mean.
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

/** What one sample proves, in ms of client time. */
export interface ClockSample {
  /** Parsed `Date` header, ms since the epoch (a whole second). */
  serverSecondMs: number;
  /** Client `Date.now()` when the request was sent. */
  sentAtMs: number;
  /** Client `Date.now()` when the response arrived. */
  receivedAtMs: number;
}

/**
 * Offset estimate (server − client, ms) from several samples: the middle of
 * the intersection of their bounds, or the mean of `offsetFromSample` when
 * the bounds do not intersect.
 * @returns the estimate and the width of the intersection (Infinity when the fallback was used)
 */
export function estimateOffset(samples: readonly ClockSample[]): { offsetMs: number; uncertaintyMs: number } {
  if (samples.length === 0) return { offsetMs: 0, uncertaintyMs: Infinity };
  let lo = -Infinity;
  let hi = Infinity;
  let sum = 0;
  for (const s of samples) {
    lo = Math.max(lo, s.serverSecondMs - s.receivedAtMs);
    hi = Math.min(hi, s.serverSecondMs + 1000 - s.sentAtMs);
    sum += s.serverSecondMs + 500 + (s.receivedAtMs - s.sentAtMs) / 2 - s.receivedAtMs;
  }
  if (lo <= hi) return { offsetMs: (lo + hi) / 2, uncertaintyMs: hi - lo };
  return { offsetMs: sum / samples.length, uncertaintyMs: Infinity };
}

/** Server-clock estimator; `now()` is NAF's `getServerTime()`. */
export class ServerClock {
  private samples: ClockSample[] = [];
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
   * Starts sampling: one round now (SAMPLES_PER_ROUND samples, about 1.1 s),
   * then one round every REFRESH_INTERVAL_MS.
   * @returns a promise resolved when the first round is over
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

  private async round(onRoundDone: () => void): Promise<void> {
    const fresh: ClockSample[] = [];
    for (let i = 0; i < SAMPLES_PER_ROUND && !this.stopped; i++) {
      const sentAtMs = Date.now();
      try {
        const res = await this.fetcher(this.url);
        const receivedAtMs = Date.now();
        const serverSecondMs = Date.parse(res.headers.get('Date') ?? '');
        if (!Number.isNaN(serverSecondMs)) {
          fresh.push({ serverSecondMs, sentAtMs, receivedAtMs });
          // Until this round completes, use whichever set knows more.
          if (fresh.length >= this.samples.length) {
            this.samples = fresh.slice();
            this.offsetMs = estimateOffset(this.samples).offsetMs;
          }
        }
      } catch {
        // Network hiccup: keep the previous estimate.
      }
      if (i < SAMPLES_PER_ROUND - 1) await delay(SAMPLE_SPACING_MS);
    }
    if (fresh.length > 0) {
      this.samples = fresh;
      this.offsetMs = estimateOffset(fresh).offsetMs;
    }
    onRoundDone();
    if (!this.stopped) {
      this.timer = setTimeout(() => void this.round(() => {}), REFRESH_INTERVAL_MS);
    }
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
