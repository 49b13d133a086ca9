/**
 * How NAF messages travel over the hub channel, as Hubs' transport-for-channel
 * does it (reference/naf-phoenix-client.md §5.5):
 *
 * - envelope `{dataType, data, clientId?}` (clientId only for targeted sends;
 *   the server ignores it and relays to everyone but the sender);
 * - if the message carries a first sync (`data.isFirstSync`, or for `um` any
 *   element of `data.d` with `isFirstSync`), push event `naf` with the envelope
 *   as a plain JSON object, so the server can check and rewrite the spawn;
 * - otherwise strip every `isFirstSync` key and push `nafr`
 *   `{naf: JSON.stringify(envelope)}`, which the server relays unparsed.
 *
 * NAF reuses and mutates `data` between ticks, so everything here serializes
 * synchronously and returns fresh objects.
 */

/** The envelope carried by `naf` (as an object) and `nafr` (as a JSON string). */
export interface NafEnvelope {
  dataType: string;
  data: unknown;
  clientId?: string;
}

/** A push to make on the hub channel: event name and payload. */
export type NafPush =
  | { event: 'naf'; payload: NafEnvelope }
  | { event: 'nafr'; payload: { naf: string } };

/** A NAF message received from the server, with the sender's session_id. */
export interface IncomingNaf {
  fromSessionId: string;
  dataType: string;
  data: unknown;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/**
 * True when a NAF message is (or, for `um`, contains) a first sync.
 * @param dataType NAF dataType (`u`, `um`, `r`, or an app type)
 * @param data the NAF payload as given to the adapter
 */
export function hasFirstSync(dataType: string, data: unknown): boolean {
  if (!isRecord(data)) return false;
  if (dataType === 'um') {
    const d = data['d'];
    return Array.isArray(d) && d.some((entry) => isRecord(entry) && entry['isFirstSync'] === true);
  }
  return data['isFirstSync'] === true;
}

/**
 * Builds the hub-channel push for one NAF message (Hubs transport-for-channel).
 * @param dataType NAF dataType
 * @param data NAF payload; read synchronously and never kept
 * @param clientId target session_id for targeted sends, undefined to broadcast
 * @returns `naf` with a deep copy of the envelope, or `nafr` with the JSON
 *   string of the envelope without any `isFirstSync` key
 */
export function encodeNafPush(dataType: string, data: unknown, clientId?: string): NafPush {
  const envelope: NafEnvelope = clientId === undefined ? { dataType, data } : { dataType, data, clientId };
  if (hasFirstSync(dataType, data)) {
    return { event: 'naf', payload: JSON.parse(JSON.stringify(envelope)) as NafEnvelope };
  }
  const naf = JSON.stringify(envelope, (key, value: unknown) => (key === 'isFirstSync' ? undefined : value));
  return { event: 'nafr', payload: { naf } };
}

/**
 * Reads a server `naf` event payload `{dataType, data, clientId?, from_session_id}`.
 * @returns null when the payload is not shaped like a NAF relay
 */
export function decodeNafEvent(payload: unknown): IncomingNaf | null {
  if (!isRecord(payload)) return null;
  const from = payload['from_session_id'];
  const dataType = payload['dataType'];
  if (typeof from !== 'string' || typeof dataType !== 'string') return null;
  return { fromSessionId: from, dataType, data: payload['data'] };
}

/**
 * Reads a server `nafr` event payload `{naf: "<json envelope>", from_session_id}`.
 * @returns null when the payload or the inner JSON is malformed
 */
export function decodeNafrEvent(payload: unknown): IncomingNaf | null {
  if (!isRecord(payload)) return null;
  const from = payload['from_session_id'];
  const naf = payload['naf'];
  if (typeof from !== 'string' || typeof naf !== 'string') return null;
  let inner: unknown;
  try {
    inner = JSON.parse(naf);
  } catch {
    return null;
  }
  if (!isRecord(inner) || typeof inner['dataType'] !== 'string') return null;
  return { fromSessionId: from, dataType: inner['dataType'], data: inner['data'] };
}
