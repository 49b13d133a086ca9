import type { Ajv, ErrorObject } from 'ajv';
import { Type } from '@sinclair/typebox';
import type { Static, TUnsafe } from '@sinclair/typebox';
import { compile, describeErrors as describeAny, jsonBounds, jsonObject, MAX_FIELD_DEPTH, nullable, sharedAjv } from '../../validation/validator.ts';
import { OBJECT_PROTOTYPE_NAMES } from './naf-first-sync.ts';

/**
 * TypeBox schemas of the hub channel's own events (join, NAF, chat,
 * presence meta), compiled once when this module loads by the one schema
 * module (validation/validator.ts); each validator narrows the payload to
 * the schema's type. Shapes follow the Hubs client
 * (reference/naf-phoenix-client.md §5.2-§5.5, reference/reticulum.md §1.2).
 *
 * Every free-form field (profile, context, message body, naf data, glTF
 * nodes, entity messages, user_data) carries the `jsonBounds` keyword
 * (see {@link createAjv}): at most MAX_FIELD_DEPTH (validation/validator.ts)
 * levels of nesting and, where given, a size in bytes of JSON.
 */

/** Largest `message.body`, in bytes of JSON (a chat line, or a photo/video `{src, ...}`). */
export const MAX_MESSAGE_BODY_BYTES = 16 * 1024;

/** `{jsonBounds: {maxDepth, maxBytes?}}`: the bound of one free-form field. */
export function bounded(maxBytes?: number): { jsonBounds: { maxDepth: number; maxBytes?: number } } {
  return jsonBounds({ maxDepth: MAX_FIELD_DEPTH, maxBytes });
}

/**
 * The shared ajv instance of validation/validator.ts (`strict: false`,
 * `verbose`), which knows the `jsonBounds` keyword:
 * `{jsonBounds: {maxDepth: n, maxBytes?: m}}` fails when the value is nested
 * deeper than `n` levels or (with `maxBytes`) serializes to more than `m`
 * bytes of UTF-8 JSON. Every module compiling schemas with free-form fields
 * must use it: a plain `strict: false` ajv silently ignores the keyword.
 * `options.verbose` is kept for callers; the one instance is always verbose
 * (the hub schemas need each error's schema to name the Object.prototype rule).
 */
export function createAjv(_options: { verbose?: boolean } = {}): Ajv {
  return sharedAjv();
}

/** A free-form JSON value: any JSON, bounded by {@link bounded}. */
export function freeForm(maxBytes?: number): TUnsafe<unknown> {
  return Type.Unsafe<unknown>(bounded(maxBytes));
}

/** A free-form JSON object (`{type: "object", jsonBounds}`). */
export function freeObject(maxBytes?: number): TUnsafe<Record<string, unknown>> {
  return jsonObject(bounded(maxBytes));
}

/** `{type: ["object", "null"]}`: the payload of events that take none (`{}`, or null). */
export const emptyPayload = nullable(jsonObject());

/**
 * A NAF field that receiving clients use as a key of a plain object
 * (`dataType`, `networkId`, `parent`; see naf-first-sync.ts): not an
 * Object.prototype name ({@link describeErrors} names the rule; it needs the
 * `verbose` errors of the one ajv instance to tell this `not` apart).
 */
const nafKey = { not: { enum: OBJECT_PROTOTYPE_NAMES } } as const;
const NAF_KEY_RULE = JSON.stringify(nafKey.not);

const optionalString = (options: Record<string, unknown> = {}) => Type.Optional(nullable(Type.String(options)));

/** `phx_join` params of `hub:<sid>`. */
export const JoinParams = Type.Object({
  profile: freeObject(),
  context: freeObject(),
  push_subscription_endpoint: optionalString(),
  auth_token: optionalString(),
  perms_token: optionalString(),
  bot_access_key: optionalString(),
  // Looked up in the database, which cannot take U+0000.
  hub_invite_id: optionalString({ maxLength: 128, pattern: '^[^\\u0000]*$' }),
  creator_assignment_token: optionalString({ maxLength: 128 }),
});
export type JoinParams = Static<typeof JoinParams>;

/** One NAF entity (`u` data, an `um` element). */
export const NafEntity = Type.Object({
  networkId: Type.String({ minLength: 1, maxLength: 128, ...nafKey }),
  owner: Type.Optional(Type.String({ maxLength: 128 })),
  creator: Type.Optional(Type.String({ maxLength: 128 })),
  lastOwnerTime: Type.Optional(Type.Number()),
  template: Type.Optional(Type.String({ maxLength: 256 })),
  persistent: Type.Optional(Type.Boolean()),
  parent: Type.Optional(nullable(Type.String({ maxLength: 128, ...nafKey }))),
  components: Type.Optional(jsonObject()),
  isFirstSync: Type.Optional(Type.Boolean()),
});
export type NafEntity = Static<typeof NafEntity>;

const NafUpdateMany = Type.Object({ d: Type.Array(NafEntity, { maxItems: 1024 }) });
const NafRemove = Type.Object({ networkId: Type.String({ minLength: 1, maxLength: 128, ...nafKey }) });

/**
 * A `naf` message `{dataType, data, clientId?}`; `data` is free-form, and
 * for `u` an entity, for `um` `{d: [entity, ...]}`, for `r` `{networkId}`
 * (narrow with {@link isEntityUpdate} and {@link isMultiUpdate}).
 */
export const NafMessage = Type.Object(
  {
    dataType: Type.String({ minLength: 1, maxLength: 64, ...nafKey }),
    clientId: optionalString({ maxLength: 128 }),
    data: freeForm(),
  },
  {
    allOf: [
      { if: { properties: { dataType: { const: 'u' } } }, then: { properties: { data: NafEntity } } },
      { if: { properties: { dataType: { const: 'um' } } }, then: { properties: { data: NafUpdateMany } } },
      { if: { properties: { dataType: { const: 'r' } } }, then: { properties: { data: NafRemove } } },
    ],
  },
);
export type NafMessage = Static<typeof NafMessage>;

/** A `naf` message of dataType `u`. */
export type NafEntityUpdate = NafMessage & { data: NafEntity };

/** A valid `naf` message whose dataType is `u`: its data is an entity (the schema's `allOf`). */
export function isEntityUpdate(m: NafMessage): m is NafEntityUpdate {
  return m.dataType === 'u';
}

/** A valid `naf` message whose dataType is `um`: its data is `{d: [entity, ...]}` (the schema's `allOf`). */
export function isMultiUpdate(m: NafMessage): m is NafMessage & { data: Static<typeof NafUpdateMany> } {
  return m.dataType === 'um';
}

/** A `nafr` message: `{naf: "<JSON of a naf message>"}`. */
export const NafrMessage = Type.Object({ naf: Type.String({ minLength: 2 }) });

/** A `message` (chat, photo, video...). */
export const ChatMessage = Type.Object({
  type: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
  body: freeForm(MAX_MESSAGE_BODY_BYTES),
});

/** `events:profile_updated`. */
export const ProfileUpdated = Type.Object({ profile: freeObject() });

/** `events:object_spawned`. */
export const ObjectSpawned = Type.Object({ object_type: Type.Integer({ minimum: 0, maximum: 31 }) });

/** The compiled validators of the schemas above (compiled once, at module load). */
export const hubSchemas = {
  joinParams: compile(JoinParams),
  naf: compile(NafMessage),
  nafr: compile(NafrMessage),
  message: compile(ChatMessage),
  profileUpdated: compile(ProfileUpdated),
  objectSpawned: compile(ObjectSpawned),
  /** Any JSON object (for events whose payload is `{}` or ignored). */
  object: compile(jsonObject()),
  /** A JSON object or null (events that take no payload). */
  empty: compile(emptyPayload),
};

/** One line saying what is wrong with a payload, from ajv's first error (validation/validator.ts), naming the Object.prototype rule of NAF keys. */
export function describeErrors(errors: ErrorObject[] | null | undefined): string {
  const e = errors?.[0];
  if (e && e.keyword === 'not' && JSON.stringify(e.schema) === NAF_KEY_RULE) {
    const where = e.instancePath ? `payload${e.instancePath.replace(/\//g, '.')}` : 'payload';
    return `${where} may not be an Object.prototype property name such as "__proto__" or "constructor" (receiving NAF clients use it as an object key)`;
  }
  return describeAny(errors);
}
