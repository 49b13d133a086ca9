import type { Knex } from 'knex';
import { deleteEntity, EntityExistsError, EntityNotFoundError, listEntities, saveEntity, updateEntity } from '../../db/entities.ts';
import { pinObject, unpinObject } from '../../db/room-objects.ts';
import { ErrorCodes, permissionDeniedMessage } from '../../errors.ts';
import { error, ok } from '../../realtime/channel.ts';
import type { Reply } from '../../realtime/channel.ts';
import type { HubEventHandlers, HubMember } from './hub-member.ts';
import { bounded, createAjv, describeErrors } from './schemas.ts';
import { findNul } from '../../protocol/nul-bytes.ts';

/**
 * Largest JSON of one object event's payload (glTF node, create message plus
 * updates, update message), in UTF-16 units of `JSON.stringify`. Half the
 * default 64 KiB WebSocket frame limit (MAX_FRAME_BYTES), so a stored node
 * always fits in the frames that carry it to others.
 */
export const MAX_OBJECT_JSON = 32 * 1024;

const nid = { type: 'string', minLength: 1, maxLength: 128 } as const;
const fileFields = {
  file_id: { type: ['string', 'null'], maxLength: 128 },
  file_access_token: { type: ['string', 'null'], maxLength: 256 },
  promotion_token: { type: ['string', 'null'], maxLength: 256 },
} as const;
const update = {
  type: 'object',
  required: ['root_nid', 'nid', 'update_message'],
  properties: { root_nid: nid, nid, update_message: { type: 'object', ...bounded() } },
} as const;

const schemas = {
  pin: { type: 'object', required: ['id', 'gltf_node'], properties: { id: nid, gltf_node: { type: 'object', ...bounded() }, ...fileFields } },
  unpin: { type: 'object', required: ['id'], properties: { id: nid, ...fileFields } },
  save_entity_state: {
    type: 'object',
    required: ['nid', 'create_message'],
    properties: { nid, create_message: { type: 'object', ...bounded() }, updates: { type: 'array', maxItems: 256, items: update }, ...fileFields },
  },
  update_entity_state: update,
  delete_entity_state: { type: 'object', required: ['nid'], properties: { nid, ...fileFields } },
} as const;

/**
 * The hub channel's persistent objects (reference/reticulum.md §1.2 pin,
 * unpin, list_entities, save/update/delete_entity_state; §5). Writing needs
 * `pin_objects` and a known person: signed in, or the room's creator (Reticulum
 * requires signing in; Plexus also lets the holder of the creator assignment
 * token pin). Anyone may `list_entities`. `pin` / `unpin` refusals are
 * `permission_denied {permission}`; the entity events answer as Reticulum:
 * `not_logged_in` for an anonymous member, then `unauthorized {permission:
 * "pin_objects"}`.
 * - `pin {id, gltf_node}` stores the node and broadcasts `pin {object_id, gltf_node, pinned_by}`;
 * - `unpin {id}` deletes it and broadcasts `unpin {object_id}` (a Plexus addition);
 * - `save_entity_state {nid, create_message, updates?}` → `entity_state_saved {data: [entity]}`
 *   (`entity_state_already_exists` when `nid` is saved in the room already);
 * - `update_entity_state {root_nid, nid, update_message}` → `entity_state_updated` whose payload is the
 *   `update_message` itself, as Reticulum sends it (`entity_state_does_not_exist` when the room has no saved `root_nid`);
 * - `delete_entity_state {nid}` → `entity_state_deleted {nid, creator}` (`entity_state_does_not_exist`
 *   when the room has neither a saved entity nor a pinned object `nid`);
 * - `list_entities` → reply `{data: [{create_message, update_messages}]}`.
 * `create_message`, `update_message` and `gltf_node` are JSON objects; ids
 * (`id`, `nid`, `root_nid`) are 1-128 characters; `file_id`,
 * `file_access_token` and `promotion_token` are accepted and ignored (no file
 * store yet). Each reply is `{}` or an error that changed nothing. Payloads over
 * {@link MAX_OBJECT_JSON}, and messages or nodes nested deeper than
 * MAX_FIELD_DEPTH (schemas.ts), or with a NUL character (U+0000) in any
 * string or key, are refused.
 */
export function objectHandlers(deps: { db: Knex }): HubEventHandlers {
  const ajv = createAjv();
  const validEmpty = ajv.compile({ type: ['object', 'null'] });
  const valid = Object.fromEntries(Object.entries(schemas).map(([k, s]) => [k, ajv.compile(s)]));

  function checkPayload(event: string, payload: unknown): Reply | null {
    const v = valid[event]!;
    if (!v(payload)) return error(ErrorCodes.INVALID_PAYLOAD, `${event}: ${describeErrors(v.errors)}.`);
    if (JSON.stringify(payload).length > MAX_OBJECT_JSON) return error(ErrorCodes.INVALID_PAYLOAD, `${event}: the payload is over ${MAX_OBJECT_JSON} bytes of JSON.`);
    const nul = findNul(payload);
    if (nul) return error(ErrorCodes.INVALID_PAYLOAD, `${event}: ${nul} contains a NUL character (\\u0000), which cannot be stored.`);
    return null;
  }

  /** pin / unpin: the payload, then pin_objects, then a known person (`permission_denied` naming what is missing). */
  function check(member: HubMember, event: string, payload: unknown): Reply | null {
    const bad = checkPayload(event, payload);
    if (bad) return bad;
    if (!member.permissions.pin_objects) {
      return error(ErrorCodes.PERMISSION_DENIED, permissionDeniedMessage(event, 'pin_objects'), { permission: 'pin_objects' });
    }
    if (!member.roles.signed_in && !member.roles.creator) {
      return error(ErrorCodes.PERMISSION_DENIED, `${event} needs you to be signed in (objects that persist belong to an account).`, { permission: 'signed_in' });
    }
    return null;
  }

  /**
   * Entity state events, as Reticulum's `authorize(socket, :write_entity_state)`: the payload,
   * then a known person (`not_logged_in`), then pin_objects (`unauthorized`).
   */
  function checkEntity(member: HubMember, event: string, payload: unknown): Reply | null {
    const bad = checkPayload(event, payload);
    if (bad) return bad;
    if (!member.roles.signed_in && !member.roles.creator) {
      return error(ErrorCodes.NOT_LOGGED_IN, `${event} needs you to be signed in (saved entities belong to an account).`);
    }
    if (!member.permissions.pin_objects) {
      return error(ErrorCodes.UNAUTHORIZED, permissionDeniedMessage(event, 'pin_objects'), { permission: 'pin_objects' });
    }
    return null;
  }

  const accountOf = (m: HubMember) => m.account?.accountId ?? null;

  return {
    pin: async (member, payload) => {
      const bad = check(member, 'pin', payload);
      if (bad) return bad;
      const p = payload as { id: string; gltf_node: Record<string, unknown> };
      await pinObject(deps.db, member.hub.id, p.id, p.gltf_node, accountOf(member));
      member.ctx.broadcast('pin', { object_id: p.id, gltf_node: p.gltf_node, pinned_by: member.sessionId });
      return ok();
    },
    unpin: async (member, payload) => {
      const bad = check(member, 'unpin', payload);
      if (bad) return bad;
      const id = (payload as { id: string }).id;
      if (await unpinObject(deps.db, member.hub.id, id)) member.ctx.broadcast('unpin', { object_id: id });
      return ok();
    },
    list_entities: async (member, payload) => {
      if (!validEmpty(payload)) return error(ErrorCodes.INVALID_PAYLOAD, 'list_entities takes no payload ({}).');
      return ok({ data: await listEntities(deps.db, member.hub.id) });
    },
    save_entity_state: async (member, payload) => {
      const bad = checkEntity(member, 'save_entity_state', payload);
      if (bad) return bad;
      const p = payload as { nid: string; create_message: unknown; updates?: Array<{ root_nid: string; nid: string; update_message: unknown }> };
      try {
        const entity = await saveEntity(deps.db, member.hub.id, p.nid, p.create_message, p.updates ?? [], accountOf(member));
        member.ctx.broadcast('entity_state_saved', { data: [entity] });
        return ok();
      } catch (err) {
        if (err instanceof EntityExistsError) return error(ErrorCodes.ENTITY_STATE_ALREADY_EXISTS, `Entity ${p.nid} is already saved in this room; update it with update_entity_state.`);
        throw err;
      }
    },
    update_entity_state: async (member, payload) => {
      const bad = checkEntity(member, 'update_entity_state', payload);
      if (bad) return bad;
      const p = payload as { root_nid: string; nid: string; update_message: Record<string, unknown> };
      try {
        await updateEntity(deps.db, member.hub.id, p);
      } catch (err) {
        if (err instanceof EntityNotFoundError) return error(ErrorCodes.ENTITY_STATE_DOES_NOT_EXIST, `No saved entity ${p.root_nid} in this room; save it first with save_entity_state.`);
        throw err;
      }
      member.ctx.broadcast('entity_state_updated', p.update_message);
      return ok();
    },
    delete_entity_state: async (member, payload) => {
      const bad = checkEntity(member, 'delete_entity_state', payload);
      if (bad) return bad;
      const n = (payload as { nid: string }).nid;
      if (!(await deleteEntity(deps.db, member.hub.id, n))) {
        return error(ErrorCodes.ENTITY_STATE_DOES_NOT_EXIST, `No saved entity or pinned object ${n} in this room; nothing was deleted.`);
      }
      member.ctx.broadcast('entity_state_deleted', { nid: n, creator: member.sessionId });
      return ok();
    },
  };
}
