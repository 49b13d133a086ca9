/**
 * Cheap, conservative tests of whether a `nafr` payload could carry a NAF
 * first sync, so that ordinary `nafr` traffic is relayed without parsing and
 * everything else is parsed and checked like `naf`
 * (reference/reticulum.md §1.5, reference/naf-phoenix-client.md §2.4, §5.5).
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
 * `nafr` frame the same argument covers both levels: the decoded `naf` text
 * can only contain `isFirstSync` or a backslash followed by `u` when the
 * literal contains `isFirstSync` or `\u` (a decoded backslash is written `\\`
 * or `\u005c`, both of which contain `\u` when a `u` or `\u0075` follows).
 * False positives (a `\u` with no first sync) only cost a parse. Pure.
 */

const IS_FIRST_SYNC = 'isFirstSync';
const UNICODE_ESCAPE = '\\u';
const IS_FIRST_SYNC_BYTES = Buffer.from(IS_FIRST_SYNC);
const UNICODE_ESCAPE_BYTES = Buffer.from(UNICODE_ESCAPE);

/**
 * True when the JSON text of a `nafr.naf` string may hold an `isFirstSync`
 * key once parsed (it contains `isFirstSync` or a `\u` escape); false proves
 * it holds none.
 * @param naf the `naf` string, after the frame was decoded
 */
export function nafTextMayHoldFirstSync(naf: string): boolean {
  return naf.includes(IS_FIRST_SYNC) || naf.includes(UNICODE_ESCAPE);
}

/**
 * True when a JSON string literal, still encoded as UTF-8 bytes in the frame,
 * may decode to a `naf` text that holds an `isFirstSync` key at either level
 * of decoding; false proves it holds none.
 * @param bytes the frame
 * @param start offset of the literal's opening quote
 * @param end offset just past its closing quote
 */
export function nafrLiteralMayHoldFirstSync(bytes: Buffer, start: number, end: number): boolean {
  const name = bytes.indexOf(IS_FIRST_SYNC_BYTES, start);
  if (name >= 0 && name < end) return true;
  const escape = bytes.indexOf(UNICODE_ESCAPE_BYTES, start);
  return escape >= 0 && escape < end;
}
