import { Ajv } from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';

/**
 * ajv schemas of every event the hub channel accepts, compiled once when
 * {@link compileHubSchemas} runs at start. Shapes follow the Hubs client
 * (reference/naf-phoenix-client.md §5.2-§5.5, reference/reticulum.md §1.2).
 */

const jsonObject = { type: 'object' } as const;

const joinParams = {
  type: 'object',
  required: ['profile', 'context'],
  properties: {
    profile: { type: 'object' },
    context: { type: 'object' },
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
    networkId: { type: 'string', minLength: 1, maxLength: 128 },
    owner: { type: 'string', maxLength: 128 },
    creator: { type: 'string', maxLength: 128 },
    lastOwnerTime: { type: 'number' },
    template: { type: 'string', maxLength: 256 },
    persistent: { type: 'boolean' },
    parent: { type: ['string', 'null'], maxLength: 128 },
    components: { type: 'object' },
    isFirstSync: { type: 'boolean' },
  },
} as const;

const naf = {
  type: 'object',
  required: ['dataType', 'data'],
  properties: {
    dataType: { type: 'string', minLength: 1, maxLength: 64 },
    clientId: { type: ['string', 'null'], maxLength: 128 },
    data: {},
  },
  allOf: [
    { if: { properties: { dataType: { const: 'u' } } }, then: { properties: { data: nafEntity } } },
    {
      if: { properties: { dataType: { const: 'um' } } },
      then: { properties: { data: { type: 'object', required: ['d'], properties: { d: { type: 'array', maxItems: 1024, items: nafEntity } } } } },
    },
    {
      if: { properties: { dataType: { const: 'r' } } },
      then: { properties: { data: { type: 'object', required: ['networkId'], properties: { networkId: { type: 'string', minLength: 1, maxLength: 128 } } } } },
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
    body: {},
  },
} as const;

const profileUpdated = {
  type: 'object',
  required: ['profile'],
  properties: { profile: { type: 'object' } },
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
  const ajv = new Ajv({ allErrors: false, strict: false });
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

/** One line saying what is wrong with a payload, from ajv's first error. */
export function describeErrors(errors: ErrorObject[] | null | undefined): string {
  const e = errors?.[0];
  if (!e) return 'payload is invalid';
  const where = e.instancePath ? `payload${e.instancePath.replace(/\//g, '.')}` : 'payload';
  return `${where} ${e.message ?? 'is invalid'}`;
}
