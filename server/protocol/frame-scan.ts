/**
 * A fast, partial reader of Phoenix V2 text frames as UTF-8 bytes, for the
 * hot path of relayed events: it reads `join_ref`, `ref`, `topic` and
 * `event` without decoding or parsing the payload, which stays bytes. Only
 * the compact form that phoenix.js sends (`JSON.stringify` output: no
 * whitespace between tokens) is recognized; anything else returns null and
 * the caller decodes the frame with {@link decodeText} in
 * `phoenix-codec.ts`, which handles every valid frame. JSON's structural
 * characters are ASCII and never occur inside a UTF-8 multi-byte sequence,
 * so scanning bytes is exact. Pure; no I/O.
 */
import { MAX_NAME_LENGTH } from './phoenix-codec.ts';
import type { Ref } from './phoenix-codec.ts';

/** The header of a frame and where its payload's JSON text lies. */
export interface ScannedFrame {
  joinRef: Ref;
  ref: Ref;
  topic: string;
  event: string;
  /** Byte offset of the payload's first byte. */
  payloadStart: number;
  /** Byte offset just past the payload (before the closing `]`). */
  payloadEnd: number;
}

const QUOTE = 34; // "
const BACKSLASH = 92; // \
const COMMA = 44;
const utf8 = new TextDecoder();

/**
 * Returns the offset just past the closing quote of the JSON string literal
 * that opens at `start`, or -1 when the literal is not valid JSON (raw
 * control characters, a bad escape, or no closing quote).
 * @param bytes UTF-8 text
 * @param start offset of the opening quote
 * @param end offset to stop at (default: the end of `bytes`)
 */
export function scanStringLiteral(bytes: Uint8Array, start: number, end: number = bytes.length): number {
  if (bytes[start] !== QUOTE) return -1;
  for (let i = start + 1; i < end; i++) {
    const c = bytes[i];
    if (c === QUOTE) return i + 1;
    if (c < 0x20) return -1;
    if (c === BACKSLASH) {
      const e = bytes[++i];
      if (e === 117 /* u */) {
        if (i + 4 >= end) return -1;
        for (let k = 1; k <= 4; k++) {
          const h = bytes[i + k];
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

/** Reads `null` or a string literal at `pos`; returns [value, next offset] or null. */
function scanRefOrString(bytes: Uint8Array, pos: number): [string | null, number] | null {
  if (bytes[pos] === 110 /* n */ && bytes[pos + 1] === 117 && bytes[pos + 2] === 108 && bytes[pos + 3] === 108) return [null, pos + 4];
  const end = scanStringLiteral(bytes, pos);
  if (end < 0) return null;
  let escaped = false;
  for (let i = pos + 1; i < end - 1; i++) {
    if (bytes[i] === BACKSLASH) {
      escaped = true;
      break;
    }
  }
  const literal = utf8.decode(bytes.subarray(escaped ? pos : pos + 1, escaped ? end : end - 1));
  return [escaped ? (JSON.parse(literal) as string) : literal, end];
}

/**
 * Reads the header of a compact V2 text frame `[jr,ref,"topic","event",payload]`.
 * @param bytes the frame's UTF-8 bytes
 * @returns the header and the payload's offsets, or null when the frame is
 *   not in that compact form (then decode it with `decodeText`)
 */
export function scanFrame(bytes: Uint8Array): ScannedFrame | null {
  const n = bytes.length;
  if (n < 2 || bytes[0] !== 91 /* [ */ || bytes[n - 1] !== 93 /* ] */) return null;
  let pos = 1;
  const parts: Array<string | null> = [];
  for (let k = 0; k < 4; k++) {
    const r = scanRefOrString(bytes, pos);
    if (!r || bytes[r[1]] !== COMMA) return null;
    parts.push(r[0]);
    pos = r[1] + 1;
  }
  const [joinRef, ref, topic, event] = parts;
  if (!topic || !event || topic.length > MAX_NAME_LENGTH || event.length > MAX_NAME_LENGTH) return null;
  return { joinRef, ref, topic, event, payloadStart: pos, payloadEnd: n - 1 };
}
