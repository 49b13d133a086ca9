import type { AccountRef } from '../../auth/account-ref.ts';
import type { HubPermissions, Roles } from '../../auth/permissions.ts';
import type { HubRecord } from '../../db/hubs.ts';
import type { ChannelContext, Reply } from '../../realtime/channel.ts';
import type { NewPresenceMeta } from '../../presence/presence-store.ts';

export type { AccountRef, AccountTokenVerifier, IdentifiedAccount } from '../../auth/account-ref.ts';

/**
 * One joined member of a room, as the hub channel's event handlers see it
 * (server/channels/hub/*.ts modules). Everything here is this member's view
 * on this node.
 */
export interface HubMember {
  /** The channel context: push to this member, broadcast to the room. */
  readonly ctx: ChannelContext;
  readonly sessionId: string;
  /** The room as last read from the database (refreshed by {@link reloadHub}). */
  readonly hub: HubRecord;
  /** The signed-in account, or null for an anonymous member. */
  readonly account: AccountRef | null;
  /** Current roles (creator, owner, signed_in). */
  readonly roles: Roles;
  /** Current permissions (roles plus the room's member permissions). */
  readonly permissions: HubPermissions;
  /** Presence meta `presence`: `lobby` until `events:entered`, then `room`. */
  readonly presence: 'lobby' | 'room';
  /**
   * Sets or clears the signed-in account, then re-derives roles and
   * permissions (see {@link refreshRoles}).
   */
  setAccount(account: AccountRef | null): Promise<void>;
  /** Reads the room again from the database (after `update_hub`, `close_hub`...). */
  reloadHub(): Promise<HubRecord>;
  /**
   * Re-derives roles (creator = the room's `created_by_account_id`, owner =
   * creator or a `hub_role_memberships` row) and permissions from the
   * database; when they changed, updates this member's presence meta (one
   * `presence_diff`). Returns true when something changed.
   */
  refreshRoles(): Promise<boolean>;
  /**
   * After a change to the room's row (`update_hub`, `close_hub`, PATCH...):
   * every member of the room on every node reloads the room and re-derives
   * its permissions (presence metas follow). Call it after the database
   * write and before broadcasting `hub_refresh`.
   */
  roomChanged(): Promise<void>;
}

/** A change of a member's own presence meta (entered, entering, profile, flags, roles). */
export type MetaChange = (meta: NewPresenceMeta) => NewPresenceMeta;

/** A change a client's event makes to its meta, given the event's payload (a JSON object). */
export type ClientMetaChange = (meta: NewPresenceMeta, payload: Record<string, unknown>) => NewPresenceMeta;

/**
 * The member as the hub channel's own event handlers see it: a
 * {@link HubMember} that can also change its presence meta (presence-meta.ts).
 */
export interface HubSession extends HubMember {
  /**
   * Applies `change` to this member's meta as ONE `presence_diff`, after its
   * earlier presence operations, limited by PRESENCE_UPDATE_* (`rate_limited`
   * names `event`); `payload` must be a JSON object (`invalid_payload`).
   * With `enters`, the room's size is enforced and the member is answered
   * `{}` or `room_full`.
   */
  changeMeta(event: string, payload: unknown, change: ClientMetaChange, enters?: boolean): Reply | Promise<Reply | undefined>;
}

/**
 * Handles one incoming event of the hub channel for one member. It must
 * validate `payload` itself (validation/validator.ts) and check the member's
 * permissions; a denied or invalid event gets an error reply and changes nothing.
 * @returns a reply to the push (`undefined` sends none)
 */
export type HubEventHandler = (member: HubSession, payload: unknown) => Reply | undefined | Promise<Reply | undefined>;

/** Event name → handler: each module of channels/hub/ exports one group; index.ts makes them the one table. */
export type HubEventHandlers = Record<string, HubEventHandler>;

/**
 * The hub channel's one table from event name to handler. A Map: event
 * names come from clients, so `toString` or `__proto__` must never find an
 * Object.prototype member (they are `unknown_event`).
 */
export type HubEventTable = ReadonlyMap<string, HubEventHandler>;

/**
 * Makes the one table from the groups of handlers.
 * @throws Error when two groups handle the same event
 */
export function eventTable(...groups: HubEventHandlers[]): HubEventTable {
  const table = new Map<string, HubEventHandler>();
  for (const group of groups) {
    for (const [event, handler] of Object.entries(group)) {
      if (table.has(event)) throw new Error(`hub event ${JSON.stringify(event)} is handled twice`);
      table.set(event, handler);
    }
  }
  return table;
}
