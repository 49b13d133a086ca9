/**
 * Depth and size of a JSON value, measured without recursion: pure
 * functions, no I/O.
 *
 * `JSON.parse` in V8 takes any nesting, but `JSON.stringify` (and
 * `structuredClone`, and any recursive walk) overflows the stack on a few
 * thousand levels: a 16 KB `[[[[...]]]]` kept in presence would make every
 * later `presence_state` and `presence_diff` throw. Untrusted values are
 * measured here before they are kept or sent on.
 */

/**
 * Nesting depth: a scalar is 0, `{}` and `[]` are 1, `{"a": []}` is 2.
 * Stops as soon as the depth passes `limit` (the result is then `limit + 1`),
 * so measuring a hostile value costs at most its first `limit + 1` levels
 * along each path.
 */
export function jsonDepth(value: unknown, limit = Number.MAX_SAFE_INTEGER): number {
  if (value === null || typeof value !== 'object') return 0;
  let max = 0;
  const stack: Array<[object, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (depth > max) {
      max = depth;
      if (max > limit) return max;
    }
    const children = Array.isArray(v) ? v : Object.values(v);
    for (const c of children) {
      if (c !== null && typeof c === 'object') stack.push([c, depth + 1]);
    }
  }
  return max;
}

const utf8Length = (s: string): number => Buffer.byteLength(s, 'utf8');

/**
 * Bytes of `JSON.stringify(value)` in UTF-8 (exact for values made by
 * `JSON.parse`; object members whose value is `undefined` or a function are
 * skipped as `JSON.stringify` skips them). Iterative; stops once the count
 * passes `limit` (the result is then some number above `limit`).
 */
export function jsonBytes(value: unknown, limit = Number.MAX_SAFE_INTEGER): number {
  let total = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    switch (typeof v) {
      case 'string':
        total += utf8Length(JSON.stringify(v));
        break;
      case 'number':
        total += Number.isFinite(v) ? String(v).length : 4;
        break;
      case 'boolean':
        total += v ? 4 : 5;
        break;
      case 'object':
        if (v === null) {
          total += 4;
        } else if (Array.isArray(v)) {
          total += 2 + Math.max(0, v.length - 1);
          for (const c of v) stack.push(c === undefined || typeof c === 'function' ? null : c);
        } else {
          let members = 0;
          for (const [k, c] of Object.entries(v)) {
            if (c === undefined || typeof c === 'function') continue;
            members++;
            total += utf8Length(JSON.stringify(k)) + 1;
            stack.push(c);
          }
          total += 2 + Math.max(0, members - 1);
        }
        break;
      default:
        // undefined, functions, symbols at the top: JSON.stringify gives nothing.
        break;
    }
    if (total > limit) return total;
  }
  return total;
}

/** Why a value is outside its bounds; null when it is within them. */
export type JsonBoundsViolation = { kind: 'depth'; limit: number } | { kind: 'bytes'; limit: number } | null;

/**
 * Checks `value` against a nesting limit and (optionally) a size limit in
 * UTF-8 bytes of JSON, depth first (so the size is only measured on values
 * that are safe to serialize).
 */
export function checkJsonBounds(value: unknown, maxDepth: number, maxBytes?: number): JsonBoundsViolation {
  if (jsonDepth(value, maxDepth) > maxDepth) return { kind: 'depth', limit: maxDepth };
  if (maxBytes !== undefined && jsonBytes(value, maxBytes) > maxBytes) return { kind: 'bytes', limit: maxBytes };
  return null;
}

/** One phrase for a violation, e.g. "is nested deeper than 32 levels". */
export function describeJsonBounds(v: Exclude<JsonBoundsViolation, null>): string {
  return v.kind === 'depth' ? `is nested deeper than ${v.limit} levels` : `is over ${v.limit} bytes of JSON`;
}
