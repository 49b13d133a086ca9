import type { ErrorCodes } from '../errors.ts';
import { jsonDepth } from './json-bounds.ts';

/**
 * Phoenix Channels V2 serializer: pure encode/decode of socket frames.
 *
 * Source: the V2 JSON serializer of Phoenix (`v2_json_serializer.ex`) and
 * phoenix.js 1.8 `serializer.js`, as summarized in
 * shared/reference/naf-phoenix-client.md §6.2 (text frames) and §6.3 (binary
 * frames). No I/O here.
 */

/** A `join_ref` or `ref`: an opaque string chosen by the client, or null. */
export type Ref = string | null;

/**
 * One decoded client frame. For text frames `payload` is any JSON value (the
 * channel validates it per event); for binary pushes it is the raw bytes.
 */
export interface PhoenixMessage {
  joinRef: Ref;
  ref: Ref;
  topic: string;
  event: string;
  payload: unknown;
}

/** Why a frame could not be decoded; `ref`/`topic` are filled in when they could be read, so the error can be replied to. */
export interface DecodeError {
  code: (typeof ErrorCodes)['FRAME_NOT_JSON' | 'FRAME_NOT_ARRAY' | 'FRAME_BAD_ARITY' | 'FRAME_BAD_FIELD' | 'FRAME_BAD_BINARY' | 'INVALID_PAYLOAD'];
  message: string;
  joinRef: Ref;
  ref: Ref;
  topic: string | null;
}

/** Result of decoding: the message, or an error that says what was wrong. */
export type DecodeResult = { ok: true; message: PhoenixMessage } | { ok: false; error: DecodeError };

/** Longest topic or event name accepted, in characters (binary frames cap them at 255 bytes too). */
export const MAX_NAME_LENGTH = 255;

/**
 * Deepest nesting of a text frame's payload (objects and arrays; `{}` is 1).
 * A backstop for every channel: deeper payloads are refused with
 * `invalid_payload` before any channel sees them, since serializing them
 * again (a broadcast, a presence list) would overflow the stack. Channels
 * bound their free-form fields tighter (hub channel: 32 levels, see
 * channels/hub/schemas.ts).
 */
export const MAX_PAYLOAD_DEPTH = 64;

function fail(code: DecodeError['code'], message: string, joinRef: Ref = null, ref: Ref = null, topic: string | null = null): DecodeResult {
  return { ok: false, error: { code, message, joinRef, ref, topic } };
}

const isRef = (v: unknown): v is Ref => v === null || typeof v === 'string';
const isName = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= MAX_NAME_LENGTH;

/**
 * Decodes a V2 text frame `[join_ref, ref, topic, event, payload]`.
 * Extra trailing elements are ignored, as the Phoenix server does. A payload
 * nested deeper than {@link MAX_PAYLOAD_DEPTH} is refused (`invalid_payload`,
 * with the frame's refs and topic). A `null`
 * payload (Hubs' phoenix.js 1.5 fork sends it for payload-less pushes) is
 * decoded as `{}`.
 * @param text the frame as received (UTF-8 decoded)
 * @returns the message, or a {@link DecodeError}; never throws
 */
export function decodeText(text: string): DecodeResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return fail('frame_not_json', 'Frame is not valid JSON; send a JSON array [join_ref, ref, topic, event, payload] (Phoenix V2).');
  }
  if (!Array.isArray(value)) {
    return fail('frame_not_array', 'Frame is JSON but not an array; Phoenix V2 frames are [join_ref, ref, topic, event, payload]. Connect with ?vsn=2.0.0.');
  }
  if (value.length < 5) {
    const topic = typeof value[2] === 'string' ? value[2] : null;
    return fail('frame_bad_arity', `Frame has ${value.length} elements; Phoenix V2 frames have 5: [join_ref, ref, topic, event, payload].`, isRef(value[0]) ? value[0] : null, isRef(value[1]) ? value[1] : null, topic);
  }
  const [joinRef, ref, topic, event, payload] = value;
  const jr = isRef(joinRef) ? joinRef : null;
  const r = isRef(ref) ? ref : null;
  const t = isName(topic) ? topic : null;
  if (!isRef(joinRef)) return fail('frame_bad_field', 'join_ref (element 0) must be a string or null.', null, r, t);
  if (!isRef(ref)) return fail('frame_bad_field', 'ref (element 1) must be a string or null.', jr, null, t);
  if (!isName(topic)) return fail('frame_bad_field', `topic (element 2) must be a non-empty string of at most ${MAX_NAME_LENGTH} characters.`, jr, r, null);
  if (!isName(event)) return fail('frame_bad_field', `event (element 3) must be a non-empty string of at most ${MAX_NAME_LENGTH} characters.`, jr, r, t);
  if (jsonDepth(payload, MAX_PAYLOAD_DEPTH) > MAX_PAYLOAD_DEPTH) {
    return fail('invalid_payload', `The payload is nested deeper than ${MAX_PAYLOAD_DEPTH} levels of objects and arrays; it was not handled. Send flatter JSON.`, jr, r, t);
  }
  return { ok: true, message: { joinRef, ref, topic, event, payload: payload === null ? {} : payload } };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

/**
 * Decodes a V2 binary client push (kind 0):
 * `[0][jr_len][ref_len][topic_len][event_len] join_ref ref topic event payload-bytes`,
 * every length one byte. The payload is returned as a `Uint8Array` view.
 * @param bytes the whole frame
 * @returns the message, or a `frame_bad_binary` error; never throws
 */
export function decodeBinary(bytes: Uint8Array): DecodeResult {
  const HEADER = 5;
  if (bytes.length < HEADER) return fail('frame_bad_binary', `Binary frame of ${bytes.length} bytes is shorter than the 5-byte V2 push header.`);
  if (bytes[0] !== 0) return fail('frame_bad_binary', `Binary frame kind ${bytes[0]} is not a client push (kind 0); clients may only send pushes.`);
  const lens = [bytes[1], bytes[2], bytes[3], bytes[4]];
  const total = HEADER + lens[0] + lens[1] + lens[2] + lens[3];
  if (bytes.length < total) return fail('frame_bad_binary', `Binary frame header announces ${total} bytes of header fields but the frame has ${bytes.length}.`);
  const fields: string[] = [];
  let offset = HEADER;
  try {
    for (const len of lens) {
      fields.push(utf8.decode(bytes.subarray(offset, offset + len)));
      offset += len;
    }
  } catch {
    return fail('frame_bad_binary', 'Binary frame header fields are not valid UTF-8.');
  }
  const [joinRef, ref, topic, event] = fields;
  if (topic.length === 0 || event.length === 0) return fail('frame_bad_binary', 'Binary frame has an empty topic or event.', joinRef || null, ref || null, topic || null);
  return {
    ok: true,
    message: { joinRef: joinRef === '' ? null : joinRef, ref: ref === '' ? null : ref, topic, event, payload: bytes.subarray(offset) },
  };
}

/**
 * Encodes a server → client text frame `[join_ref, ref, topic, event, payload]`.
 * @param payload a JSON-serializable object
 */
export function encodeText(joinRef: Ref, ref: Ref, topic: string, event: string, payload: unknown): string {
  return JSON.stringify([joinRef, ref, topic, event, payload]);
}

/**
 * Encodes a reply `[join_ref, ref, topic, "phx_reply", {status, response}]`.
 * @param status conventionally "ok" or "error"
 * @param response a JSON object
 */
export function encodeReply(joinRef: Ref, ref: Ref, topic: string, status: string, response: unknown): string {
  return JSON.stringify([joinRef, ref, topic, 'phx_reply', { status, response }]);
}

/**
 * Encodes a broadcast `[null, null, topic, event, payload]`: the same bytes
 * suit every subscriber, so it is encoded once per broadcast.
 */
export function encodeBroadcast(topic: string, event: string, payload: unknown): string {
  return JSON.stringify([null, null, topic, event, payload]);
}

function binaryFrame(kind: number, fields: string[], payload: Uint8Array): Uint8Array {
  const encoded = fields.map((f) => utf8Encoder.encode(f));
  for (const f of encoded) {
    if (f.length > 255) throw new RangeError('A binary frame field is longer than 255 bytes (Phoenix V2 one-byte length limit).');
  }
  const headerLen = 1 + encoded.length + encoded.reduce((n, f) => n + f.length, 0);
  const out = new Uint8Array(headerLen + payload.length);
  out[0] = kind;
  encoded.forEach((f, i) => (out[1 + i] = f.length));
  let offset = 1 + encoded.length;
  for (const f of encoded) {
    out.set(f, offset);
    offset += f.length;
  }
  out.set(payload, offset);
  return out;
}

/**
 * Binary server push (kind 0): `[0][jr_len][topic_len][event_len] jr topic event payload`.
 * @throws RangeError when a field exceeds 255 bytes
 */
export function encodeBinaryPush(joinRef: Ref, topic: string, event: string, payload: Uint8Array): Uint8Array {
  return binaryFrame(0, [joinRef ?? '', topic, event], payload);
}

/**
 * Binary reply (kind 1): `[1][jr_len][ref_len][topic_len][status_len] jr ref topic status payload`.
 * @throws RangeError when a field exceeds 255 bytes
 */
export function encodeBinaryReply(joinRef: Ref, ref: Ref, topic: string, status: string, payload: Uint8Array): Uint8Array {
  return binaryFrame(1, [joinRef ?? '', ref ?? '', topic, status], payload);
}

/**
 * Binary broadcast (kind 2): `[2][topic_len][event_len] topic event payload`.
 * @throws RangeError when a field exceeds 255 bytes
 */
export function encodeBinaryBroadcast(topic: string, event: string, payload: Uint8Array): Uint8Array {
  return binaryFrame(2, [topic, event], payload);
}
