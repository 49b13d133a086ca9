import type { Knex } from 'knex';

/**
 * Pinned objects (Reticulum `room_objects`, reference/reticulum.md §5): one
 * glTF node per (room, object_id), replayed through `GET /<hub_sid>/objects.gltf`.
 */

/**
 * Stores (or replaces) the pinned glTF node of `objectId` in the room.
 * @deprecated for channels/hub until the rooms pass; elsewhere use HubRepository (hub-repository.ts).
 */
export async function pinObject(db: Knex, hubId: string, objectId: string, gltfNode: Record<string, unknown>, accountId: string | null): Promise<void> {
  await db('room_objects')
    .insert({ hub_id: hubId, object_id: objectId, gltf_node: JSON.stringify(gltfNode), account_id: accountId })
    .onConflict(['hub_id', 'object_id'])
    .merge({ gltf_node: JSON.stringify(gltfNode), updated_at: new Date() });
}

/**
 * Removes a pinned object; returns true when there was one.
 * @deprecated for channels/hub until the rooms pass; elsewhere use HubRepository (hub-repository.ts).
 */
export async function unpinObject(db: Knex, hubId: string, objectId: string): Promise<boolean> {
  return (await db('room_objects').where({ hub_id: hubId, object_id: objectId }).delete()) > 0;
}

/** The room's pinned glTF nodes, oldest first. */
export async function listPinnedObjects(db: Knex, hubId: string): Promise<Array<Record<string, unknown>>> {
  const rows = (await db('room_objects').where({ hub_id: hubId }).orderBy('room_object_id').select('gltf_node')) as Array<{ gltf_node: unknown }>;
  return rows.map((r) => (typeof r.gltf_node === 'string' ? JSON.parse(r.gltf_node) : r.gltf_node) as Record<string, unknown>);
}
