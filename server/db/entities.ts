import type { Knex } from 'knex';

/**
 * Saved entity state (Reticulum `entities` and `sub_entities`,
 * reference/reticulum.md §5, the bitECS loader): an entity's create message
 * and the update messages of its parts, per room. Unlike Reticulum, a
 * sub-entity is only ever attached to an entity of the same room.
 */

/** One saved entity as `list_entities` returns it. */
export interface SavedEntity {
  create_message: unknown;
  update_messages: unknown[];
}

/** An update of one part of an entity. */
export interface EntityUpdate {
  root_nid: string;
  nid: string;
  update_message: unknown;
}

/** Thrown when an entity with that nid is already saved in the room (`entity_state_already_exists`). */
export class EntityExistsError extends Error {}

/** Thrown when `root_nid` names no saved entity of the room (`entity_state_does_not_exist`). */
export class EntityNotFoundError extends Error {}

/** jsonb columns come back parsed from both drivers; a string here is a driver that returned text. Messages are always JSON objects. */
const parse = (v: unknown): unknown => (typeof v === 'string' ? JSON.parse(v) : v);

/** PostgreSQL's unique_violation (two saves of one nid racing past the existence check). */
const isUniqueViolation = (err: unknown): boolean => (err as { code?: unknown } | null)?.code === '23505';

/**
 * Saves an entity with its updates in one transaction.
 * @throws EntityExistsError when `nid` is already saved in the room
 */
export async function saveEntity(db: Knex, hubId: string, nid: string, createMessage: unknown, updates: EntityUpdate[], accountId: string | null): Promise<SavedEntity> {
  try {
    return await insertEntity(db, hubId, nid, createMessage, updates, accountId);
  } catch (err) {
    if (isUniqueViolation(err)) throw new EntityExistsError(`entity ${nid} is already saved in this room`);
    throw err;
  }
}

async function insertEntity(db: Knex, hubId: string, nid: string, createMessage: unknown, updates: EntityUpdate[], accountId: string | null): Promise<SavedEntity> {
  // PGlite is one connection: every query below goes through trx.
  return db.transaction(async (trx) => {
    const exists = await trx('entities').where({ hub_id: hubId, nid }).first('entity_id');
    if (exists) throw new EntityExistsError(`entity ${nid} is already saved in this room`);
    const [row] = (await trx('entities').insert({ hub_id: hubId, nid, create_message: JSON.stringify(createMessage), account_id: accountId }).returning('entity_id')) as Array<{ entity_id: string | number }>;
    for (const u of updates) {
      await trx('sub_entities')
        .insert({ hub_id: hubId, entity_id: row!.entity_id, nid: u.nid, update_message: JSON.stringify(u.update_message) })
        .onConflict(['hub_id', 'nid'])
        .merge({ entity_id: row!.entity_id, update_message: JSON.stringify(u.update_message), updated_at: new Date() });
    }
    return { create_message: createMessage, update_messages: updates.map((u) => u.update_message) };
  });
}

/**
 * Stores the latest update of part `nid` of the saved entity `rootNid` in the room.
 * @throws EntityNotFoundError when the room has no saved entity `rootNid`
 */
export async function updateEntity(db: Knex, hubId: string, update: EntityUpdate): Promise<void> {
  await db.transaction(async (trx) => {
    const root = (await trx('entities').where({ hub_id: hubId, nid: update.root_nid }).first('entity_id')) as { entity_id: string } | undefined;
    if (!root) throw new EntityNotFoundError(`no saved entity ${update.root_nid} in this room`);
    await trx('sub_entities')
      .insert({ hub_id: hubId, entity_id: root.entity_id, nid: update.nid, update_message: JSON.stringify(update.update_message) })
      .onConflict(['hub_id', 'nid'])
      .merge({ entity_id: root.entity_id, update_message: JSON.stringify(update.update_message), updated_at: new Date() });
  });
}

/** Deletes the saved entity `nid` (its parts cascade) and any pinned object with that id; returns true when something was deleted. */
export async function deleteEntity(db: Knex, hubId: string, nid: string): Promise<boolean> {
  return db.transaction(async (trx) => {
    const n = await trx('entities').where({ hub_id: hubId, nid }).delete();
    const m = await trx('room_objects').where({ hub_id: hubId, object_id: nid }).delete();
    return n + m > 0;
  });
}

/** Every saved entity of the room with its parts' updates, oldest first. */
export async function listEntities(db: Knex, hubId: string): Promise<SavedEntity[]> {
  const entities = (await db('entities').where({ hub_id: hubId }).orderBy('entity_id').select('entity_id', 'create_message')) as Array<{ entity_id: string | number; create_message: unknown }>;
  const subs = (await db('sub_entities').where({ hub_id: hubId }).orderBy('sub_entity_id').select('entity_id', 'update_message')) as Array<{ entity_id: string | number; update_message: unknown }>;
  const byEntity = new Map<string, unknown[]>();
  for (const s of subs) {
    const k = String(s.entity_id);
    let list = byEntity.get(k);
    if (!list) byEntity.set(k, (list = []));
    list.push(parse(s.update_message));
  }
  return entities.map((e) => ({ create_message: parse(e.create_message), update_messages: byEntity.get(String(e.entity_id)) ?? [] }));
}
