import type { Roles } from '../auth/permissions.ts';
import type { Database } from './database.ts';
import { banFromHub, bannedUntil } from './hub-bans.ts';
import { addOwner, removeOwner, rolesOf } from './hub-roles.ts';
import { activeInvite, isActiveInvite, revokeInvite, updateHub, type HubChanges } from './hub-updates.ts';
import { claimCreatorAssignment, createHub, findHubBySid, isCreatorAssignmentToken, searchPublicHubs, type HubRecord, type NewHub } from './hubs.ts';
import { listPinnedObjects, pinObject, unpinObject } from './room-objects.ts';
import { deleteEntity, listEntities, saveEntity, updateEntity, type EntityUpdate, type SavedEntity } from './entities.ts';

/**
 * The rows of rooms, over the {@link Database}: `hubs`, `hub_role_memberships`,
 * `hub_invites`, `hub_bans` and `room_objects` (Reticulum's tables of the same
 * names, reference/reticulum.md §5), and the saved entities of rooms
 * (`entities`, `sub_entities`, entities.ts). The one way code outside db/
 * reads and writes them (server/rooms/, server/http/, server/channels/hub/);
 * the free functions of hubs.ts, hub-roles.ts, hub-updates.ts, hub-bans.ts,
 * room-objects.ts and entities.ts are its implementation, for db/ only.
 * Every method throws the driver's error (or PlexusError `unavailable` on a
 * timeout, see database.ts) when the database fails.
 */
export class HubRepository {
  constructor(private readonly database: Pick<Database, 'knex'>) {}

  private get db() {
    return this.database.knex;
  }

  /** Creates a room (see {@link createHub}): the stored room and its creator assignment token (null when an account creates it). */
  create(hub: NewHub): Promise<{ hub: HubRecord; creatorAssignmentToken: string | null }> {
    return createHub(this.db, hub);
  }

  /** The room with this hub_sid, or null (also for a malformed sid). */
  findBySid(hubSid: string): Promise<HubRecord | null> {
    return findHubBySid(this.db, hubSid);
  }

  /** True when `token` is the room's unspent creator assignment token. */
  isCreatorAssignmentToken(hubId: string, token: string): Promise<boolean> {
    return isCreatorAssignmentToken(this.db, hubId, token);
  }

  /** Spends the creator assignment token (see {@link claimCreatorAssignment}); true when `accountId` became the creator. */
  claimCreatorAssignment(hubId: string, token: string, accountId: string): Promise<boolean> {
    return claimCreatorAssignment(this.db, hubId, token, accountId);
  }

  /** Public rooms matching `q` by full-text search (see {@link searchPublicHubs}). */
  searchPublic(q: string, offset: number, limit: number): Promise<HubRecord[]> {
    return searchPublicHubs(this.db, q, offset, limit);
  }

  /** An account's roles in the room (creator, owner, signed_in); all false for null. */
  rolesOf(hub: HubRecord, accountId: string | null): Promise<Roles> {
    return rolesOf(this.db, hub, accountId);
  }

  /** Makes the account an owner (no row for the creator, nothing when it already is one). */
  addOwner(hubId: string, accountId: string): Promise<void> {
    return addOwner(this.db, hubId, accountId);
  }

  /** Removes the account's owner row; true when there was one. */
  removeOwner(hubId: string, accountId: string): Promise<boolean> {
    return removeOwner(this.db, hubId, accountId);
  }

  /** Writes `changes` to the room; returns the `stale_fields` of `hub_refresh` (empty: nothing given, nothing written). */
  update(hubId: string, changes: HubChanges): Promise<string[]> {
    return updateHub(this.db, hubId, changes);
  }

  /** The room's active invite id, created when there is none. */
  activeInvite(hubId: string): Promise<string> {
    return activeInvite(this.db, hubId);
  }

  /** True when `inviteSid` is the room's active invite. */
  isActiveInvite(hubId: string, inviteSid: string): Promise<boolean> {
    return isActiveInvite(this.db, hubId, inviteSid);
  }

  /** Revokes the room's active invite `inviteSid` and returns a fresh one; null (nothing changed) for any other id. */
  revokeInvite(hubId: string, inviteSid: string): Promise<string | null> {
    return revokeInvite(this.db, hubId, inviteSid);
  }

  /** Bans a session and/or an account from the room until `until`. */
  ban(hubId: string, ban: { sessionId?: string | null; accountId?: string | null; until: Date }): Promise<void> {
    return banFromHub(this.db, hubId, ban);
  }

  /** When the latest ban in force of this session or account ends, or null. */
  bannedUntil(hubId: string, sessionId: string, accountId: string | null): Promise<Date | null> {
    return bannedUntil(this.db, hubId, sessionId, accountId);
  }

  /** Stores (or replaces) a pinned object's glTF node. */
  pinObject(hubId: string, objectId: string, gltfNode: Record<string, unknown>, accountId: string | null): Promise<void> {
    return pinObject(this.db, hubId, objectId, gltfNode, accountId);
  }

  /** Removes a pinned object; true when there was one. */
  unpinObject(hubId: string, objectId: string): Promise<boolean> {
    return unpinObject(this.db, hubId, objectId);
  }

  /** The room's pinned glTF nodes, oldest first. */
  pinnedObjects(hubId: string): Promise<Array<Record<string, unknown>>> {
    return listPinnedObjects(this.db, hubId);
  }

  /** Every saved entity of the room with its parts' updates, oldest first. */
  entities(hubId: string): Promise<SavedEntity[]> {
    return listEntities(this.db, hubId);
  }

  /**
   * Saves an entity with its updates in one transaction.
   * @throws EntityExistsError when `nid` is already saved in the room
   */
  saveEntity(hubId: string, nid: string, createMessage: unknown, updates: EntityUpdate[], accountId: string | null): Promise<SavedEntity> {
    return saveEntity(this.db, hubId, nid, createMessage, updates, accountId);
  }

  /**
   * Stores the latest update of one part of a saved entity.
   * @throws EntityNotFoundError when the room has no saved entity `update.root_nid`
   */
  updateEntity(hubId: string, update: EntityUpdate): Promise<void> {
    return updateEntity(this.db, hubId, update);
  }

  /** Deletes the saved entity `nid` and any pinned object with that id; true when something was deleted. */
  deleteEntity(hubId: string, nid: string): Promise<boolean> {
    return deleteEntity(this.db, hubId, nid);
  }
}
