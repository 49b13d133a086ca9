import { spawnPermissionFor } from '../../auth/permissions.ts';
import { ErrorCodes, permissionDeniedMessage } from '../../errors.ts';
import { scanStringLiteral } from '../../protocol/frame-scan.ts';
import { error, FALLBACK } from '../../realtime/channel.ts';
import type { ChannelContext, Reply } from '../../realtime/channel.ts';
import type { HubEventHandlers, HubSession } from './hub-member.ts';
import { nafrLiteralNeedsCheck, nafTextNeedsCheck } from './naf-first-sync.ts';
import { describeErrors, hubSchemas, isEntityUpdate, isMultiUpdate } from './schemas.ts';
import type { NafEntityUpdate } from './schemas.ts';

/** What a `nafr` payload starts with, up to the string literal's opening quote. */
const NAFR_OPEN = Buffer.from('{"naf":"');

/**
 * The `nafr` fast path of one member (about 99% of room traffic): when the
 * payload is exactly `{"naf":"<valid JSON string literal>"}` and the literal
 * holds no `isFirstSync`, no quoted Object.prototype name and no `\u`
 * escape (so neither level of JSON can hold a first sync or such a name,
 * see naf-first-sync.ts), the client's literal is spliced into the outgoing
 * frame as is: no parse, no encode; the frame is tagged with the sender for
 * the room's blocks. Everything else goes to the `nafr` handler.
 */
export class NafrFastPath {
  /** The relayed frame is this prefix, the client's string literal, this suffix (UTF-8). */
  private readonly prefix: Buffer;
  private readonly suffix: Buffer;

  constructor(
    private readonly ctx: ChannelContext,
    private readonly sessionId: string,
  ) {
    this.prefix = Buffer.from(`[null,null,${JSON.stringify(ctx.topic)},"nafr",{"naf":`);
    this.suffix = Buffer.from(`,"from_session_id":${JSON.stringify(sessionId)}}]`);
  }

  /** Channel.handleRawIn for this member: relays a plain `nafr`, else {@link FALLBACK}. */
  handle(event: string, frame: Uint8Array, start: number, end: number): undefined | typeof FALLBACK {
    if (event !== 'nafr' || end - start < NAFR_OPEN.length + 10) return FALLBACK;
    const bytes = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
    if (bytes.compare(NAFR_OPEN, 0, NAFR_OPEN.length, start, start + NAFR_OPEN.length) !== 0) return FALLBACK;
    const literalStart = start + NAFR_OPEN.length - 1;
    const literalEnd = scanStringLiteral(bytes, literalStart, end);
    if (literalEnd !== end - 1 || bytes[literalEnd] !== 125 /* } */) return FALLBACK;
    if (nafrLiteralNeedsCheck(bytes, literalStart, literalEnd)) return FALLBACK;
    const { prefix, suffix } = this;
    const out = Buffer.allocUnsafe(prefix.length + (literalEnd - literalStart) + suffix.length);
    prefix.copy(out, 0);
    bytes.copy(out, prefix.length, literalStart, literalEnd);
    suffix.copy(out, out.length - suffix.length);
    this.ctx.publishFrom(out, this.sessionId);
    return undefined;
  }
}

function invalid(event: string, what: string, expected: string): Reply {
  return error(ErrorCodes.INVALID_PAYLOAD, `${event}: ${what}; expected ${expected}.`);
}

/** `o` without its own property `key` (a copy when it has one). */
export function withoutKey<T extends object>(o: T, key: string): T {
  if (!Object.hasOwn(o, key)) return o;
  const copy = { ...o };
  Reflect.deleteProperty(copy, key);
  return copy;
}

/**
 * `nafr`: relayed as an opaque string when it cannot hold a first sync or
 * an Object.prototype name; else parsed and handled as `naf`, which checks it and relays the checked
 * object (reference/reticulum.md §1.5, where the test is the substring
 * `isFirstSync` only, which a `\u` escape in the inner JSON slips past).
 */
function onNafr(member: HubSession, payload: unknown): Reply | undefined {
  const valid = hubSchemas.nafr;
  if (!valid(payload)) return invalid('nafr', describeErrors(valid.errors), '{naf: "<JSON string>"}');
  const naf = payload.naf;
  if (!nafTextNeedsCheck(naf)) {
    member.ctx.broadcastFrom('nafr', { naf, from_session_id: member.sessionId }, member.sessionId);
    return undefined;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(naf);
  } catch {
    return error(ErrorCodes.INVALID_PAYLOAD, 'nafr.naf is not valid JSON; send {naf: JSON.stringify({dataType, data})}.');
  }
  return onNaf(member, parsed);
}

/** `naf`: spawn checks and relay (reference/reticulum.md §1.2 "naf", §1.5). */
function onNaf(member: HubSession, payload: unknown): Reply | undefined {
  const valid = hubSchemas.naf;
  if (!valid(payload)) return invalid('naf', describeErrors(valid.errors), '{dataType, data, clientId?}');
  if (isMultiUpdate(payload) && payload.data.d.some((e) => e.isFirstSync)) {
    return error(ErrorCodes.INVALID_PAYLOAD, 'An "um" update may not carry isFirstSync; send first syncs as single "u" messages.');
  }
  // isFirstSync and persistent are booleans (schema); persistent first syncs are checked too (see hubNafHandlers).
  if (isEntityUpdate(payload) && payload.data.isFirstSync === true) return relayFirstSync(member, payload);
  // Tagged with the sender for the room's blocks (blocks.ts); from_session_id stays the last key, as it always was on the wire.
  member.ctx.broadcastFrom('naf', { ...withoutKey(payload, 'from_session_id'), from_session_id: member.sessionId }, member.sessionId);
  return undefined;
}

/** A `u` first sync: its template must be one the sender may spawn; relayed with `creator` and `owner` set to the sender. */
function relayFirstSync(member: HubSession, message: NafEntityUpdate): Reply | undefined {
  const data = message.data;
  if (typeof data.template !== 'string') {
    return error(ErrorCodes.SPAWN_DENIED, 'A first sync must name its template (data.template), which must be one you may spawn.');
  }
  const needed = spawnPermissionFor(data.template);
  if (needed === undefined) {
    return error(ErrorCodes.SPAWN_DENIED, `Template ${JSON.stringify(data.template.slice(0, 64))} may not be spawned; spawnable templates end in -avatar, -media, -camera, -drawing, -pen or -emoji.`);
  }
  if (needed !== null && !member.permissions[needed]) {
    return error(ErrorCodes.SPAWN_DENIED, permissionDeniedMessage(`Spawning ${JSON.stringify(data.template.slice(0, 64))}`, needed), { permission: needed });
  }
  const relayed = { ...withoutKey(message, 'from_session_id'), data: { ...data, creator: member.sessionId, owner: member.sessionId }, from_session_id: member.sessionId };
  member.ctx.broadcastFrom('naf', relayed, member.sessionId);
  return undefined;
}

/**
 * The NAF relay (reference/reticulum.md §1.2, §1.5):
 * - `naf` is checked (spawns by template suffix, creator/owner overwritten;
 *   no Object.prototype name as `dataType`, `networkId` or `parent`, which
 *   receivers use as object keys) and relayed to everyone but the sender
 *   with `from_session_id`; `nafr` is relayed without parsing unless its
 *   string could hold a first sync or such a name (it contains
 *   `isFirstSync`, a quoted name or a `\u` escape, at either level of JSON:
 *   see naf-first-sync.ts), in which case it is parsed and handled as `naf`
 *   ({@link NafrFastPath} relays the plain ones without decoding the frame);
 * - a first sync is what a receiving client's `JSON.parse` sees: a `u` whose
 *   `isFirstSync` is true (duplicate keys: the last one), or an `um` element
 *   with one (refused: NAF would create it, the server cannot check it). A
 *   `u` first sync must name a template the sender may spawn, and is relayed
 *   re-encoded, with `creator` and `owner` set to the sender, never as the
 *   bytes it came in. This holds for `persistent: true` first syncs too,
 *   where Reticulum checks nothing. A legitimate one is the state of an
 *   existing persistent entity (pinned, or scene-defined with owner
 *   `"scene"`), sent by its owner to a newcomer (NAF `completeSync`);
 *   NAF never creates an entity from it (it stashes it until the page has
 *   the entity, reference/naf-phoenix-client.md §2.4, §2.6), and neither NAF
 *   nor Hubs reads `creator` or `template` from it, so the rewrite costs
 *   a legitimate sender nothing, while a forged creator is never relayed.
 *   Its owner is the sender in NAF's normal case (`isMine`); when a creator
 *   first-syncs an entity someone else holds, the sender is named owner, as
 *   Reticulum does for every other spawn. A persistent first sync whose
 *   template the sender may not spawn is refused: newcomers then keep the
 *   stored state until the next update (Hubs' `#interactable-media-frame`
 *   scene objects, whose suffix is not spawnable, are among those).
 * Relayed frames are tagged with the sender's session id, so the room's
 * blocks (blocks.ts) withhold them from whoever blocked it.
 */
export function hubNafHandlers(): HubEventHandlers {
  return { naf: onNaf, nafr: onNafr };
}
