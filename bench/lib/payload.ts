/**
 * Builds the benchmark's NAF payload: a Hubs-like `um` (update-multi) message
 * as the `naf` string of a `nafr` push (reference/naf-phoenix-client.md §2.2,
 * §5.5), with the sender's send time inside it.
 *
 * The naf string is `{"bt":<send time>,"dataType":"um","data":{"d":[<entity>]}}`.
 * `bt` ("bench time") is the sender's `performance.now()` in milliseconds with
 * microsecond decimals; it comes first so that a receiver finds it with one
 * `indexOf` near the start of a frame instead of parsing the frame. Senders
 * and receivers of one room live in one worker process, so one monotonic
 * clock measures send → receipt.
 */

/** The naf string split around the send time: `naf = prefix + time + suffix`. */
export interface NafTemplate {
  /** Naf string up to and including `"bt":`. */
  prefix: string;
  /** Naf string after the time. */
  suffix: string;
  /** The same two parts JSON-escaped (no surrounding quotes), for embedding in a Phoenix frame. */
  escapedPrefix: string;
  escapedSuffix: string;
}

/** Marker before the send time in the raw naf string. */
export const TIME_MARK = '"bt":';
/** Marker before the send time once the naf string is itself JSON-encoded (inside a Phoenix frame). */
export const ESCAPED_TIME_MARK = '\\"bt\\":';

/** Fixed-width decimal rendering of a `performance.now()` value, in ms with 3 decimals. */
export function formatTime(ms: number): string {
  return ms.toFixed(3);
}

function num(seed: number, k: number): number {
  // Deterministic, varied coordinates with 3 decimals.
  const x = Math.sin(seed * 12.9898 + k * 78.233) * 43758.5453;
  return Math.round((x - Math.floor(x)) * 20000 - 10000) / 1000;
}

/**
 * Makes the naf template for one client. The entity has the fields NAF's
 * `createSyncData` sends (networkId, owner, creator, lastOwnerTime, template,
 * persistent, parent, components keyed by schema index); components are padded
 * with extra indices until the naf string is about `targetBytes` long with a
 * typical send time.
 * @param clientIndex any integer identifying the sender (varies ids and coordinates)
 * @param ownerId the sender's session id (a UUID in Hubs)
 * @param targetBytes approximate naf string length; default 400
 */
export function buildNafTemplate(clientIndex: number, ownerId: string, targetBytes = 400): NafTemplate {
  const networkId = `b${clientIndex.toString(36).padStart(6, '0')}`;
  const components: Record<string, unknown> = {
    '0': { x: num(clientIndex, 0), y: 1.6, z: num(clientIndex, 1) },
    '1': { x: 0, y: num(clientIndex, 2), z: 0 },
  };
  const build = () => {
    const entity = {
      networkId,
      owner: ownerId,
      creator: ownerId,
      lastOwnerTime: 1716400000123.4,
      template: '#remote-avatar',
      persistent: false,
      parent: null,
      components,
    };
    const body = JSON.stringify({ dataType: 'um', data: { d: [entity] } });
    return { prefix: `{${TIME_MARK}`, suffix: `,${body.slice(1)}` };
  };
  const typicalTime = formatTime(123456.789);
  let parts = build();
  let k = 2;
  while (parts.prefix.length + typicalTime.length + parts.suffix.length < targetBytes - 40 && k < 64) {
    components[String(k)] = { x: num(clientIndex, k * 3), y: num(clientIndex, k * 3 + 1), z: num(clientIndex, k * 3 + 2) };
    k++;
    parts = build();
  }
  return {
    ...parts,
    escapedPrefix: JSON.stringify(parts.prefix).slice(1, -1),
    escapedSuffix: JSON.stringify(parts.suffix).slice(1, -1),
  };
}

/** The naf string for send time `ms`. */
export function nafAt(t: NafTemplate, ms: number): string {
  return t.prefix + formatTime(ms) + t.suffix;
}

/**
 * Reads the send time that follows `mark` in `data` (bytes or string), or
 * returns -1 when the mark is absent. Parses the digits directly, without
 * decoding the whole frame.
 */
export function readSendTime(data: Buffer | string, mark: string, markBytes?: Buffer): number {
  const i = typeof data === 'string' ? data.indexOf(mark) : data.indexOf(markBytes ?? mark);
  if (i < 0) return -1;
  let p = i + mark.length;
  let intPart = 0;
  let frac = 0;
  let scale = 1;
  let seenDot = false;
  let digits = 0;
  for (; p < data.length; p++) {
    const c = typeof data === 'string' ? data.charCodeAt(p) : data[p]!;
    if (c >= 48 && c <= 57) {
      digits++;
      if (seenDot) {
        scale /= 10;
        frac += (c - 48) * scale;
      } else {
        intPart = intPart * 10 + (c - 48);
      }
    } else if (c === 46 && !seenDot) {
      seenDot = true;
    } else {
      break;
    }
  }
  return digits === 0 ? -1 : intPart + frac;
}
