import { Type } from '@sinclair/typebox';
import { EntityExistsError, EntityNotFoundError } from '../../db/entities.ts';
import type { HubRepository } from '../../db/hub-repository.ts';
import { ErrorCodes, permissionDeniedMessage } from '../../errors.ts';
import { error, ok } from '../../realtime/channel.ts';
import type { Reply } from '../../realtime/channel.ts';
import { compile, nullable } from '../../validation/validator.ts';
import type { Validator } from '../../validation/validator.ts';
import type { HubEventHandlers, HubMember } from './hub-member.ts';
import { describeErrors, freeObject, hubSchemas } from './schemas.ts';
import { findNul } from '../../protocol/nul-bytes.ts';

/**
 * Largest JSON of one object event's payload (glTF node, create message plus
 * updates, update message), in UTF-16 units of `JSON.stringify`. Half the
 * default 64 KiB WebSocket frame limit (MAX_FRAME_BYTES), so a stored node
 * always fits in the frames that carry it to others.
 */
export const MAX_OBJECT_JSON = 32 * 1024;

const nid = () => Type.String({ minLength: 1, maxLength: 128 });
/** Accepted and ignored (no file store yet). */
const fileFields = () => ({
  file_id: Type.Optional(nullable(Type.String({ maxLength: 128 }))),
  file_access_token: Type.Optional(nullable(Type.String({ maxLength: 256 }))),
  promotion_token: Type.Optional(nullable(Type.String({ maxLength: 256 }))),
});
const EntityUpdate = Type.Object({ root_nid: nid(), nid: nid(), update_message: freeObject() });

/** The payload checks of the object events, compiled once. */
const valid = {
  pin: compile(Type.Object({ id: nid(), gltf_node: freeObject(), ...fileFields() })),
  unpin: compile(Type.Object({ id: nid(), ...fileFields() })),
  save_entity_state: compile(Type.Object({ nid: nid(), create_message: freeObject(), updates: Type.Optional(Type.Array(EntityUpdate, { maxItems: 256 })), ...fileFields() })),
  update_entity_state: compile(EntityUpdate),
  delete_entity_state: compile(Type.Object({ nid: nid(), ...fileFields() })),
};

/** The reply to a payload its schema refused. */
function invalid(event: string, v: Validator<unknown>): Reply {
  return error(ErrorCodes.INVALID_PAYLOAD, `${event}: ${describeErrors(v.errors)}.`);
}

/** After the schema: at most {@link MAX_OBJECT_JSON} of JSON, and no NUL character; null when it may be stored. */
function storable(event: string, payload: unknown): Reply | null {
  if (JSON.stringify(payload).length > MAX_OBJECT_JSON) return error(ErrorCodes.INVALID_PAYLOAD, `${event}: the payload is over ${MAX_OBJECT_JSON} bytes of JSON.`);
  const nul = findNul(payload);
  if (nul) return error(ErrorCodes.INVALID_PAYLOAD, `${event}: ${nul} contains a NUL character (\\u0000), which cannot be stored.`);
  return null;
}

/** pin / unpin: the payload, then pin_objects, then a known person (`permission_denied` naming what is missing). */
function mayPin(member: HubMember, event: string, payload: unknown): Reply | null {
  const bad = storable(event, payload);
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
function mayWriteEntity(member: HubMember, event: string, payload: unknown): Reply | null {
  const bad = storable(event, payload);
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

/** The pinned-object events: `pin`, `unpin`. */
function pinHandlers(hubs: HubRepository): HubEventHandlers {
  return {
    pin: async (member, payload) => {
      if (!valid.pin(payload)) return invalid('pin', valid.pin);
      const bad = mayPin(member, 'pin', payload);
      if (bad) return bad;
      await hubs.pinObject(member.hub.id, payload.id, payload.gltf_node, accountOf(member));
      member.ctx.broadcast('pin', { object_id: payload.id, gltf_node: payload.gltf_node, pinned_by: member.sessionId });
      return ok();
    },
    unpin: async (member, payload) => {
      if (!valid.unpin(payload)) return invalid('unpin', valid.unpin);
      const bad = mayPin(member, 'unpin', payload);
      if (bad) return bad;
      if (await hubs.unpinObject(member.hub.id, payload.id)) member.ctx.broadcast('unpin', { object_id: payload.id });
      return ok();
    },
  };
}

/** The saved-entity events: `list_entities`, `save_entity_state`, `update_entity_state`, `delete_entity_state`. */
function entityHandlers(hubs: HubRepository): HubEventHandlers {
  return {
    list_entities: async (member, payload) => {
      if (!hubSchemas.empty(payload)) return error(ErrorCodes.INVALID_PAYLOAD, 'list_entities takes no payload ({}).');
      return ok({ data: await hubs.entities(member.hub.id) });
    },
    save_entity_state: async (member, payload) => {
      const v = valid.save_entity_state;
      if (!v(payload)) return invalid('save_entity_state', v);
      const bad = mayWriteEntity(member, 'save_entity_state', payload);
      if (bad) return bad;
      try {
        const entity = await hubs.saveEntity(member.hub.id, payload.nid, payload.create_message, payload.updates ?? [], accountOf(member));
        member.ctx.broadcast('entity_state_saved', { data: [entity] });
        return ok();
      } catch (err) {
        if (err instanceof EntityExistsError) return error(ErrorCodes.ENTITY_STATE_ALREADY_EXISTS, `Entity ${payload.nid} is already saved in this room; update it with update_entity_state.`);
        throw err;
      }
    },
    update_entity_state: async (member, payload) => {
      const v = valid.update_entity_state;
      if (!v(payload)) return invalid('update_entity_state', v);
      const bad = mayWriteEntity(member, 'update_entity_state', payload);
      if (bad) return bad;
      try {
        await hubs.updateEntity(member.hub.id, payload);
      } catch (err) {
        if (err instanceof EntityNotFoundError) return error(ErrorCodes.ENTITY_STATE_DOES_NOT_EXIST, `No saved entity ${payload.root_nid} in this room; save it first with save_entity_state.`);
        throw err;
      }
      member.ctx.broadcast('entity_state_updated', payload.update_message);
      return ok();
    },
    delete_entity_state: async (member, payload) => {
      const v = valid.delete_entity_state;
      if (!v(payload)) return invalid('delete_entity_state', v);
      const bad = mayWriteEntity(member, 'delete_entity_state', payload);
      if (bad) return bad;
      if (!(await hubs.deleteEntity(member.hub.id, payload.nid))) {
        return error(ErrorCodes.ENTITY_STATE_DOES_NOT_EXIST, `No saved entity or pinned object ${payload.nid} in this room; nothing was deleted.`);
      }
      member.ctx.broadcast('entity_state_deleted', { nid: payload.nid, creator: member.sessionId });
      return ok();
    },
  };
}

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
 * MAX_FIELD_DEPTH (validation/validator.ts), or with a NUL character (U+0000) in any
 * string or key, are refused.
 */
export function objectHandlers(deps: { hubs: HubRepository }): HubEventHandlers {
  return { ...pinHandlers(deps.hubs), ...entityHandlers(deps.hubs) };
}
