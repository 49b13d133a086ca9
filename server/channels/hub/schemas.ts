import type { Ajv, ErrorObject, ValidateFunction } from 'ajv';
import { describeErrors as describeAny, sharedAjv } from '../../validation/validator.ts';
import { OBJECT_PROTOTYPE_NAMES } from './naf-first-sync.ts';

/**
 * ajv schemas of every event the hub channel accepts, compiled once when
 * {@link compileHubSchemas} runs at start. Shapes follow the Hubs client
 * (reference/naf-phoenix-client.md §5.2-§5.5, reference/reticulum.md §1.2).
 *
 * Every free-form field (profile, context, message body, naf data, glTF
 * nodes, entity messages, user_data) carries the `jsonBounds` keyword
 * (see {@link createAjv}): at most {@link MAX_FIELD_DEPTH} levels of
 * nesting and, where given, a size in bytes of JSON.
 */

/**
 * Deepest nesting of a free-form field (objects and arrays; `{}` is 1).
 * Hubs sends about 3 levels in a profile or context, 3-5 in NAF components
 * (`components: {"0": {x, y, z}}`) and glTF nodes
 * (`extensions.HUBS_components.media.src`); 32 leaves room and keeps every
 * later serialization (presence lists, broadcasts) far from the stack limit.
 */
export const MAX_FIELD_DEPTH = 32;

/** Largest `message.body`, in bytes of JSON (a chat line, or a photo/video `{src, ...}`). */
export const MAX_MESSAGE_BODY_BYTES = 16 * 1024;

/** `{jsonBounds: {maxDepth, maxBytes?}}`: the bound of one free-form field. */
export function bounded(maxBytes?: number): { jsonBounds: { maxDepth: number; maxBytes?: number } } {
  return { jsonBounds: maxBytes === undefined ? { maxDepth: MAX_FIELD_DEPTH } : { maxDepth: MAX_FIELD_DEPTH, maxBytes } };
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

const jsonObject = { type: 'object' } as const;

/**
 * A NAF field that receiving clients use as a key of a plain object
 * (`dataType`, `networkId`, `parent`; see naf-first-sync.ts): not an
 * Object.prototype name ({@link describeErrors} names the rule; it needs the
 * `verbose` errors of {@link compileHubSchemas} to tell this `not` apart).
 */
const nafKey = { not: { enum: OBJECT_PROTOTYPE_NAMES } } as const;

const joinParams = {
  type: 'object',
  required: ['profile', 'context'],
  properties: {
    profile: { type: 'object', ...bounded() },
    context: { type: 'object', ...bounded() },
    push_subscription_endpoint: { type: ['string', 'null'] },
    auth_token: { type: ['string', 'null'] },
    perms_token: { type: ['string', 'null'] },
    bot_access_key: { type: ['string', 'null'] },
    // Looked up in the database, which cannot take U+0000.
    hub_invite_id: { type: ['string', 'null'], maxLength: 128, pattern: '^[^\\u0000]*$' },
    creator_assignment_token: { type: ['string', 'null'], maxLength: 128 },
  },
} as const;

const nafEntity = {
  type: 'object',
  required: ['networkId'],
  properties: {
    networkId: { type: 'string', minLength: 1, maxLength: 128, ...nafKey },
    owner: { type: 'string', maxLength: 128 },
    creator: { type: 'string', maxLength: 128 },
    lastOwnerTime: { type: 'number' },
    template: { type: 'string', maxLength: 256 },
    persistent: { type: 'boolean' },
    parent: { type: ['string', 'null'], maxLength: 128, ...nafKey },
    components: { type: 'object' },
    isFirstSync: { type: 'boolean' },
  },
} as const;

const naf = {
  type: 'object',
  required: ['dataType', 'data'],
  properties: {
    dataType: { type: 'string', minLength: 1, maxLength: 64, ...nafKey },
    clientId: { type: ['string', 'null'], maxLength: 128 },
    data: bounded(),
  },
  allOf: [
    { if: { properties: { dataType: { const: 'u' } } }, then: { properties: { data: nafEntity } } },
    {
      if: { properties: { dataType: { const: 'um' } } },
      then: { properties: { data: { type: 'object', required: ['d'], properties: { d: { type: 'array', maxItems: 1024, items: nafEntity } } } } },
    },
    {
      if: { properties: { dataType: { const: 'r' } } },
      then: { properties: { data: { type: 'object', required: ['networkId'], properties: { networkId: { type: 'string', minLength: 1, maxLength: 128, ...nafKey } } } } },
    },
  ],
} as const;

const nafr = {
  type: 'object',
  required: ['naf'],
  properties: { naf: { type: 'string', minLength: 2 } },
} as const;

const message = {
  type: 'object',
  required: ['body'],
  properties: {
    type: { type: 'string', minLength: 1, maxLength: 32 },
    body: bounded(MAX_MESSAGE_BODY_BYTES),
  },
} as const;

const profileUpdated = {
  type: 'object',
  required: ['profile'],
  properties: { profile: { type: 'object', ...bounded() } },
} as const;

const objectSpawned = {
  type: 'object',
  required: ['object_type'],
  properties: { object_type: { type: 'integer', minimum: 0, maximum: 31 } },
} as const;

/** The compiled validators. */
export interface HubSchemas {
  joinParams: ValidateFunction;
  naf: ValidateFunction;
  nafr: ValidateFunction;
  message: ValidateFunction;
  profileUpdated: ValidateFunction;
  objectSpawned: ValidateFunction;
  /** Any JSON object (for events whose payload is `{}` or ignored). */
  object: ValidateFunction;
}

/** Compiles the hub channel's schemas (about 10 ms each; call once at start). */
export function compileHubSchemas(): HubSchemas {
  const ajv = createAjv({ verbose: true });
  return {
    joinParams: ajv.compile(joinParams),
    naf: ajv.compile(naf),
    nafr: ajv.compile(nafr),
    message: ajv.compile(message),
    profileUpdated: ajv.compile(profileUpdated),
    objectSpawned: ajv.compile(objectSpawned),
    object: ajv.compile(jsonObject),
  };
}

/** One line saying what is wrong with a payload, from ajv's first error (validation/validator.ts), naming the Object.prototype rule of NAF keys. */
export function describeErrors(errors: ErrorObject[] | null | undefined): string {
  const e = errors?.[0];
  if (e && e.keyword === 'not' && e.schema === nafKey.not) {
    const where = e.instancePath ? `payload${e.instancePath.replace(/\//g, '.')}` : 'payload';
    return `${where} may not be an Object.prototype property name such as "__proto__" or "constructor" (receiving NAF clients use it as an object key)`;
  }
  return describeAny(errors);
}
