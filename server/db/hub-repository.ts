import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type { Roles } from '../auth/permissions.ts';
import type { Database } from './database.ts';
import { hubChangeRow, type HubChanges } from './hub-updates.ts';
import { createHub, hashToken, hubFromRow, HUB_SID_PATTERN, searchPublicHubs, type HubRecord, type HubRow, type NewHub } from './hubs.ts';
import { deleteEntity, listEntities, saveEntity, updateEntity, type EntityUpdate, type SavedEntity } from './entities.ts';

/**
 * The rows of rooms, over the {@link Database}: `hubs`, `hub_role_memberships`,
 * `hub_invites`, `hub_bans` and `room_objects` (Reticulum's tables of the same
 * names, reference/reticulum.md §5), and the saved entities of rooms
 * (`entities`, `sub_entities`, entities.ts). The one way code outside db/
 * reads and writes them (server/rooms/, server/http/, server/channels/hub/).
 * Roles (reference/reticulum.md §3.1): `creator` is `hubs.created_by_account_id`,
 * owners have a `hub_role_memberships` row (the creator is one without a row).
 * Bans (a Plexus addition: Reticulum's kick has no ban, §1.2 "kick") name a
 * session, an account, or both. Pinned objects are one glTF node per (room,
 * object_id), replayed through `GET /<hub_sid>/objects.gltf`.
 * Every method throws the driver's error (or PlexusError `unavailable` on a
 * timeout, see database.ts) when the database fails.
 */
export class HubRepository {
  constructor(private readonly database: Pick<Database, 'knex'>) {}

  private get db(): Knex {
    return this.database.knex;
  }

  /** Creates a room (see {@link createHub}): the stored room and its creator assignment token (null when an account creates it). */
  create(hub: NewHub): Promise<{ hub: HubRecord; creatorAssignmentToken: string | null }> {
    return createHub(this.db, hub);
  }

  /** The room with this hub_sid, or null (also for a malformed sid). */
  async findBySid(hubSid: string): Promise<HubRecord | null> {
    if (!HUB_SID_PATTERN.test(hubSid)) return null;
    const row = await this.db<HubRow>('hubs').where({ hub_sid: hubSid }).first();
    return row ? hubFromRow(row as HubRow) : null;
  }

  /** True when `token` is the room's unspent creator assignment token (compared by hash; see {@link claimCreatorAssignment}). */
  async isCreatorAssignmentToken(hubId: string, token: string): Promise<boolean> {
    const row = (await this.db('hubs').where({ hub_id: hubId }).first('creator_assignment_token_hash')) as { creator_assignment_token_hash: string | null } | undefined;
    return !!row?.creator_assignment_token_hash && row.creator_assignment_token_hash === hashToken(token);
  }

  /**
   * Spends the room's creator assignment token: when `token` is the room's
   * unspent token and the room has no creator account yet, `accountId` becomes
   * its creator and the token is cleared, in one UPDATE (two racing claims give
   * one creator). Afterwards the token works nowhere (sign_in, the join param,
   * PATCH); Reticulum's Hub.changeset_for_creator_assignment ("disallow creator
   * assignment if token is already used").
   * @returns true when this call made `accountId` the creator; false when the
   *   token is wrong, already spent, or the room has a creator
   */
  async claimCreatorAssignment(hubId: string, token: string, accountId: string): Promise<boolean> {
    const rows = await this.db('hubs')
      .where({ hub_id: hubId, creator_assignment_token_hash: hashToken(token) })
      .whereNull('created_by_account_id')
      .update({ created_by_account_id: accountId, creator_assignment_token_hash: null, updated_at: new Date() })
      .returning('hub_id');
    return rows.length > 0;
  }

  /** Public rooms matching `q` by full-text search (see {@link searchPublicHubs}). */
  searchPublic(q: string, offset: number, limit: number): Promise<HubRecord[]> {
    return searchPublicHubs(this.db, q, offset, limit);
  }

  /**
   * An account's roles in the room: `creator` when the account created (or
   * claimed) it, `owner` when creator or with an owner row, `signed_in` when
   * there is an account; all false for null.
   */
  async rolesOf(hub: HubRecord, accountId: string | null): Promise<Roles> {
    if (accountId === null) return { owner: false, creator: false, signed_in: false };
    const creator = hub.createdByAccountId === accountId;
    const owner = creator || (await this.db('hub_role_memberships').where({ hub_id: hub.id, account_id: accountId }).first('hub_role_membership_id')) !== undefined;
    return { owner, creator, signed_in: true };
  }

  /**
   * Makes the account an owner of the room; nothing happens when it already is
   * one, and no row is written for the room's creator (an owner without one, as
   * Reticulum's Hub.add_owner!), so the creator's rights never hang on a row.
   */
  async addOwner(hubId: string, accountId: string): Promise<void> {
    const creator = (await this.db('hubs').where({ hub_id: hubId, created_by_account_id: accountId }).first('hub_id')) !== undefined;
    if (creator) return;
    await this.db('hub_role_memberships').insert({ hub_id: hubId, account_id: accountId }).onConflict(['hub_id', 'account_id']).ignore();
  }

  /** Removes the account's owner row; true when there was one. */
  async removeOwner(hubId: string, accountId: string): Promise<boolean> {
    return (await this.db('hub_role_memberships').where({ hub_id: hubId, account_id: accountId }).delete()) > 0;
  }

  /** Writes `changes` to the room's row (see {@link hubChangeRow}); returns the `stale_fields` of `hub_refresh` (empty: nothing given, nothing written). */
  async update(hubId: string, changes: HubChanges): Promise<string[]> {
    const { row, stale } = hubChangeRow(changes);
    if (stale.length === 0) return [];
    row.updated_at = new Date();
    await this.db('hubs').where({ hub_id: hubId }).update(row);
    return stale;
  }

  /** The room's active invite id (`hub_invite_id`), created when there is none. */
  async activeInvite(hubId: string): Promise<string> {
    const row = (await this.db('hub_invites').where({ hub_id: hubId, state: 'active' }).first('hub_invite_sid')) as { hub_invite_sid: string } | undefined;
    if (row) return row.hub_invite_sid;
    const sid = randomBytes(6).toString('base64url');
    await this.db('hub_invites').insert({ hub_id: hubId, hub_invite_sid: sid, state: 'active' });
    return sid;
  }

  /** True when `inviteSid` is the room's active invite. */
  async isActiveInvite(hubId: string, inviteSid: string): Promise<boolean> {
    return (await this.db('hub_invites').where({ hub_id: hubId, hub_invite_sid: inviteSid, state: 'active' }).first('hub_invite_id')) !== undefined;
  }

  /**
   * Revokes the room's active invite `inviteSid` and returns a fresh active one;
   * there is one active invite per room, as in Reticulum.
   * @returns null (and nothing changes) when `inviteSid` is not this room's active
   *   invite: another room's, an unknown one, or one already revoked
   */
  async revokeInvite(hubId: string, inviteSid: string): Promise<string | null> {
    const n = await this.db('hub_invites').where({ hub_id: hubId, hub_invite_sid: inviteSid, state: 'active' }).update({ state: 'revoked', updated_at: new Date() });
    if (n === 0) return null;
    await this.db('hub_invites').where({ hub_id: hubId, state: 'active' }).update({ state: 'revoked', updated_at: new Date() });
    return this.activeInvite(hubId);
  }

  /** Bans a session and/or an account from the room until `until`. */
  async ban(hubId: string, ban: { sessionId?: string | null; accountId?: string | null; until: Date }): Promise<void> {
    await this.db('hub_bans').insert({ hub_id: hubId, session_id: ban.sessionId ?? null, account_id: ban.accountId ?? null, expires_at: ban.until });
  }

  /** When the latest ban in force of this session or account in the room ends, or null. */
  async bannedUntil(hubId: string, sessionId: string, accountId: string | null): Promise<Date | null> {
    const row = (await this.db('hub_bans')
      .where({ hub_id: hubId })
      .andWhere('expires_at', '>', new Date())
      .andWhere((q) => {
        q.where({ session_id: sessionId });
        if (accountId !== null) q.orWhere({ account_id: accountId });
      })
      .max('expires_at as until')
      .first()) as { until: Date | string | null } | undefined;
    return row?.until ? new Date(row.until) : null;
  }

  /** Stores (or replaces) the pinned glTF node of `objectId` in the room. */
  async pinObject(hubId: string, objectId: string, gltfNode: Record<string, unknown>, accountId: string | null): Promise<void> {
    await this.db('room_objects')
      .insert({ hub_id: hubId, object_id: objectId, gltf_node: JSON.stringify(gltfNode), account_id: accountId })
      .onConflict(['hub_id', 'object_id'])
      .merge({ gltf_node: JSON.stringify(gltfNode), updated_at: new Date() });
  }

  /** Removes a pinned object; true when there was one. */
  async unpinObject(hubId: string, objectId: string): Promise<boolean> {
    return (await this.db('room_objects').where({ hub_id: hubId, object_id: objectId }).delete()) > 0;
  }

  /** The room's pinned glTF nodes, oldest first. */
  async pinnedObjects(hubId: string): Promise<Array<Record<string, unknown>>> {
    const rows = (await this.db('room_objects').where({ hub_id: hubId }).orderBy('room_object_id').select('gltf_node')) as Array<{ gltf_node: unknown }>;
    return rows.map((r) => (typeof r.gltf_node === 'string' ? JSON.parse(r.gltf_node) : r.gltf_node) as Record<string, unknown>);
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
