/**
 * A fast, partial reader of Phoenix V2 text frames, for the hot path of
 * relayed events: it reads `join_ref`, `ref`, `topic` and `event` without
 * parsing the payload, which stays text. Only the compact form that
 * phoenix.js sends (`JSON.stringify` output: no whitespace between tokens)
 * is recognized; anything else returns null and the caller falls back to
 * {@link decodeText} in `phoenix-codec.ts`, which handles every valid frame.
 * Pure; no I/O.
 */
import { MAX_NAME_LENGTH } from './phoenix-codec.ts';
import type { Ref } from './phoenix-codec.ts';

/** The header of a frame and its payload as raw JSON text (not validated). */
export interface ScannedFrame {
  joinRef: Ref;
  ref: Ref;
  topic: string;
  event: string;
  /** The payload's JSON text, exactly as received (the caller validates it). */
  payloadText: string;
}

const QUOTE = 34; // "
const BACKSLASH = 92; // \

/**
 * Returns the index just past the closing quote of the JSON string literal
 * that opens at `start`, or -1 when the literal is not valid JSON (raw
 * control characters, a bad escape, or no closing quote).
 * @param start index of the opening quote
 */
export function scanStringLiteral(text: string, start: number): number {
  if (text.charCodeAt(start) !== QUOTE) return -1;
  const n = text.length;
  for (let i = start + 1; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) return i + 1;
    if (c < 0x20) return -1;
    if (c === BACKSLASH) {
      const e = text.charCodeAt(++i);
      if (e === 117 /* u */) {
        for (let k = 1; k <= 4; k++) {
          const h = text.charCodeAt(i + k);
          const hex = (h >= 48 && h <= 57) || (h >= 65 && h <= 70) || (h >= 97 && h <= 102);
          if (!hex) return -1;
        }
        i += 4;
      } else if (!(e === QUOTE || e === BACKSLASH || e === 47 || e === 98 || e === 102 || e === 110 || e === 114 || e === 116)) {
        return -1;
      }
    }
  }
  return -1;
}

/** Reads `null` or a string literal at `pos`; returns [value, next index] or null. */
function scanRefOrString(text: string, pos: number): [string | null, number] | null {
  if (text.startsWith('null', pos)) return [null, pos + 4];
  const end = scanStringLiteral(text, pos);
  if (end < 0) return null;
  const raw = text.slice(pos + 1, end - 1);
  return [raw.includes('\\') ? (JSON.parse(text.slice(pos, end)) as string) : raw, end];
}

/**
 * Reads the header of a compact V2 text frame `[jr,ref,"topic","event",payload]`.
 * @returns the header and the payload text, or null when the frame is not in
 *   that compact form (then decode it with `decodeText`)
 */
export function scanFrame(text: string): ScannedFrame | null {
  if (text.charCodeAt(0) !== 91 /* [ */ || text.charCodeAt(text.length - 1) !== 93 /* ] */) return null;
  let pos = 1;
  const parts: Array<string | null> = [];
  for (let k = 0; k < 4; k++) {
    const r = scanRefOrString(text, pos);
    if (!r || text.charCodeAt(r[1]) !== 44 /* , */) return null;
    parts.push(r[0]);
    pos = r[1] + 1;
  }
  const [joinRef, ref, topic, event] = parts;
  if (!topic || !event || topic.length > MAX_NAME_LENGTH || event.length > MAX_NAME_LENGTH) return null;
  return { joinRef, ref, topic, event, payloadText: text.slice(pos, text.length - 1) };
}
