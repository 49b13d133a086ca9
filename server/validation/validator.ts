import { Ajv } from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { Type } from '@sinclair/typebox';
import type { Static, TSchema, TUnsafe } from '@sinclair/typebox';
import { checkJsonBounds, describeJsonBounds } from '../protocol/json-bounds.ts';

/**
 * The one schema module: every payload, body and setting is described by a
 * TypeBox schema (its TypeScript type is derived from it with `Static`) and
 * checked by validators from {@link compile}, all made by ONE ajv instance
 * that knows the `jsonBounds` keyword. Compile at start (module load or
 * route setup), never per message.
 */

/** `{jsonBounds: {maxDepth, maxBytes?}}`: how deep and large a free-form JSON value may be. */
export interface JsonBounds {
  maxDepth: number;
  maxBytes?: number;
}

/**
 * The one ajv instance: `strict: false` (TypeBox and hand-written schemas
 * carry extra annotations), first error only (`allErrors: false`), and
 * `verbose` (each error keeps its schema: the hub schemas use it to name the
 * Object.prototype rule). It knows the `jsonBounds` keyword:
 * `{jsonBounds: {maxDepth: n, maxBytes?: m}}` fails when the value is nested
 * deeper than `n` levels or (with `maxBytes`) serializes to more than `m`
 * bytes of UTF-8 JSON, with the error "is nested deeper than n levels" /
 * "is over m bytes of JSON". Measured without recursion
 * (protocol/json-bounds.ts), so a hostile 100,000-level value is refused
 * rather than overflowing the stack (a plain ajv would silently ignore the
 * keyword).
 */
const ajv = new Ajv({ allErrors: false, strict: false, verbose: true });
ajv.addKeyword({
  keyword: 'jsonBounds',
  schemaType: 'object',
  errors: true,
  validate: function jsonBounds(schema: JsonBounds, data: unknown): boolean {
    const v = checkJsonBounds(data, schema.maxDepth, schema.maxBytes);
    if (!v) return true;
    (jsonBounds as unknown as { errors: Partial<ErrorObject>[] }).errors = [{ keyword: 'jsonBounds', message: describeJsonBounds(v), params: { ...v } }];
    return false;
  },
});

/** The shared ajv instance (for modules that compile hand-written JSON schemas through `createAjv`). */
export function sharedAjv(): Ajv {
  return ajv;
}

/** A compiled validator: a type guard narrowing to `T`; after a `false`, `errors` says why (first error). */
export type Validator<T> = ValidateFunction<T>;

/**
 * Compiles a schema with the one ajv instance.
 * @param schema a TypeBox schema (or any JSON schema wrapped in `Type.Unsafe<T>`)
 * @returns a validator whose `true` narrows the value to `Static<S>`, so callers need no cast
 */
export function compile<S extends TSchema>(schema: S): Validator<Static<S>> {
  return ajv.compile<Static<S>>(schema);
}

/**
 * `schema` or null, written as ajv's type list (`{type: ["string", "null"], ...}`)
 * rather than TypeBox's `anyOf`, so the error for a wrong type stays one line
 * ("must be string,null") as the wire has always said.
 * @param schema a schema with a single `type` (string, integer, number, boolean, object)
 */
export function nullable<S extends TSchema>(schema: S): TUnsafe<Static<S> | null> {
  // String keys only: TypeBox's symbol annotations would name the wrong kind.
  const { type, ...rest } = Object.fromEntries(Object.entries(schema)) as { type: string };
  return Type.Unsafe<Static<S> | null>({ ...rest, type: [type, 'null'] });
}

/** Any JSON object (`{type: "object"}`), typed as a record of unknown values. */
export function jsonObject(options: Record<string, unknown> = {}): TUnsafe<Record<string, unknown>> {
  return Type.Unsafe<Record<string, unknown>>({ ...options, type: 'object' });
}

/**
 * Deepest nesting of a free-form field (objects and arrays; `{}` is 1) that
 * payloads and bodies may carry. Hubs sends about 3 levels in a profile or
 * context, 3-5 in NAF components (`components: {"0": {x, y, z}}`) and glTF
 * nodes (`extensions.HUBS_components.media.src`); 32 leaves room and keeps
 * every later serialization (presence lists, broadcasts) far from the stack limit.
 */
export const MAX_FIELD_DEPTH = 32;

/** `{jsonBounds: ...}` as schema options (spread into a TypeBox schema or a hand-written one). */
export function jsonBounds(bounds: JsonBounds): { jsonBounds: JsonBounds } {
  return { jsonBounds: bounds.maxBytes === undefined ? { maxDepth: bounds.maxDepth } : { maxDepth: bounds.maxDepth, maxBytes: bounds.maxBytes } };
}

/** One line saying what is wrong with a value, from ajv's first error: `payload.hub_id must be string,null`. */
export function describeErrors(errors: ErrorObject[] | null | undefined): string {
  const e = errors?.[0];
  if (!e) return 'payload is invalid';
  const where = e.instancePath ? `payload${e.instancePath.replace(/\//g, '.')}` : 'payload';
  return `${where} ${e.message ?? 'is invalid'}`;
}
