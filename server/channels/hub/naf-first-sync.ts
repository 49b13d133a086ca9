/**
 * Cheap, conservative tests of whether a `nafr` payload must be parsed and
 * checked like `naf` (it could carry a NAF first sync, or a field value that
 * receivers use as an object key), so that ordinary `nafr` traffic is relayed
 * without parsing (reference/reticulum.md §1.5, reference/naf-phoenix-client.md
 * §2.4, §5.5).
 *
 * What counts is what a receiving client sees: it decodes the frame with
 * `JSON.parse`, then `JSON.parse`s the `naf` string, and NAF creates an entity
 * for a `u` (or an element of `um`) whose `isFirstSync` is truthy. A JSON
 * string literal (an object key among them) can only produce characters that
 * are not written out in it through escapes, and the only escapes that yield
 * letters are `\uXXXX` (the short ones are `\" \\ \/ \b \f \n \r \t`). So a
 * parsed object can have an `isFirstSync` key only when its text contains
 * `isFirstSync` or a `\u`. Duplicate keys (JSON.parse keeps the last) need the
 * key too, so they are covered. Applied to the outer string literal of a
 * `nafr` frame the same argument covers both levels: without a `\u` the naf
 * text's key is written `"isFirstSync"`, so the literal holds
 * `\"isFirstSync\"` (a quote can only be written `\"` or `\u0022`), and the
 * decoded text holds a backslash followed by `u` only when the literal holds
 * `\u`, or `\\` followed by `u` (a decoded backslash is written `\\` or
 * `\u005c`). False positives (a `\u` with no first sync) only cost a parse.
 * Pure.
 *
 * Object keys. A receiving NAF 0.14.3 looks received fields up in plain
 * objects (`{}`, so every {@link OBJECT_PROTOTYPE_NAMES} entry is "present"):
 * - `dataType`: `dataChannelSubs[dataType](…)` (src/NetworkConnection.js
 *   `receivedData`): `__proto__` is truthy but not callable, and
 *   `__defineGetter__`/`__defineSetter__` refuse a string, so the receiver
 *   throws; `constructor`, `hasOwnProperty`… are called as if they were
 *   handlers.
 * - `networkId` of `u`, of each `um` element and of `r`: `entities[networkId]`
 *   (src/NetworkEntities.js `hasEntity`, `updateEntity`, `removeEntity`):
 *   any such name counts as an existing entity, so the update throws on
 *   `.components.networked` and the removal on `.parentNode.removeChild`;
 *   `_persistentFirstSyncs` and `ChildEntityCache.dict` (src/ChildEntityCache.js)
 *   are plain objects keyed by it too (`__proto__` would replace their prototype).
 * - `parent` of a first sync: `hasEntity(parent)` then
 *   `entities[parent].appendChild(…)` (`addEntityToParent`): the new entity is
 *   created and registered, then the receiver throws before it is on the page.
 * The other fields are harmless there: `owner` is only compared
 * (`activeDataChannels[owner] !== false`), `template` (`Schemas.js`
 * `templateCache`) matters only in first syncs, whose templates the spawn check
 * restricts to known suffixes, `components` is read by numeric index, and
 * `clientId` is ignored on receipt. So the hub schemas refuse those names in
 * `dataType`, `networkId` and `parent` (schemas.ts), and a `nafr` literal that
 * may hold one as a JSON string is parsed and checked: a parsed string equals
 * such a name only when its text is the name in quotes, as none of them can be
 * spelled with short escapes; in the frame's literal that is `\"name\"`, or
 * there is a `\u` (same argument as above).
 */

/** Names every plain object has through Object.prototype (`constructor`, `__proto__`, `toString`…; the same in browsers). */
export const OBJECT_PROTOTYPE_NAMES: readonly string[] = Object.freeze(Object.getOwnPropertyNames(Object.prototype).sort());

const IS_FIRST_SYNC = 'isFirstSync';
const UNICODE_ESCAPE = '\\u';
/** The names as JSON strings in the naf text (`"__proto__"`). */
const QUOTED_NAMES = OBJECT_PROTOTYPE_NAMES.map((n) => `"${n}"`);
/**
 * What may follow a `\"` in the frame's literal to make it an `isFirstSync`
 * key or a name as a JSON string of the naf text (`__proto__\"`), grouped by
 * first byte.
 */
const AFTER_ESCAPED_QUOTE: ReadonlyArray<readonly Buffer[] | undefined> = (() => {
  const table: Buffer[][] = [];
  for (const n of [IS_FIRST_SYNC, ...OBJECT_PROTOTYPE_NAMES]) (table[n.charCodeAt(0)] ??= []).push(Buffer.from(`${n}\\"`));
  return table;
})();

/**
 * True when the JSON text of a `nafr.naf` string may hold an `isFirstSync`
 * key or an Object.prototype name as a string once parsed (it contains
 * `isFirstSync`, a quoted name or a `\u` escape); false proves it holds none.
 * @param naf the `naf` string, after the frame was decoded
 */
export function nafTextNeedsCheck(naf: string): boolean {
  if (naf.includes(IS_FIRST_SYNC) || naf.includes(UNICODE_ESCAPE)) return true;
  for (const name of QUOTED_NAMES) if (naf.includes(name)) return true;
  return false;
}

/**
 * True when a JSON string literal, still encoded as UTF-8 bytes in the frame,
 * may decode to a `naf` text that holds an `isFirstSync` key, or an
 * Object.prototype name as a string, at either level of decoding (the literal
 * holds a `\u`, or `\"isFirstSync\"` or `\"<name>\"`); false proves it holds
 * none. One pass over the bytes (about 1 µs for a 500-byte `um`).
 * @param bytes the frame
 * @param start offset of the literal's opening quote
 * @param end offset just past its closing quote
 */
export function nafrLiteralNeedsCheck(bytes: Buffer, start: number, end: number): boolean {
  for (let i = start + 1; i < end - 1; i++) {
    if (bytes[i] !== 92 /* \ */) continue;
    const e = bytes[++i];
    // `\u`, or `\\` then `u`: the naf text gets a `\u` escape
    if (e === 117 /* u */ || (e === 92 && bytes[i + 1] === 117)) return true;
    if (e !== 34 /* " */) continue;
    const candidates = AFTER_ESCAPED_QUOTE[bytes[i + 1]!];
    if (candidates === undefined) continue;
    for (const c of candidates) if (i + 1 + c.length <= end && matchesAt(bytes, i + 1, c)) return true;
  }
  return false;
}

/** `bytes` holds `needle` at `at` (a plain loop: these needles are short, a native compare costs more). */
function matchesAt(bytes: Buffer, at: number, needle: Buffer): boolean {
  for (let k = 1; k < needle.length; k++) if (bytes[at + k] !== needle[k]) return false;
  return true;
}
