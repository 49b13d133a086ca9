import type { Logger } from 'pino';
import { permissionsFor } from '../../auth/permissions.ts';
import type { HubPermissions, Roles } from '../../auth/permissions.ts';
import type { SessionTokens } from '../../auth/session-token.ts';
import type { HubRecord } from '../../db/hubs.ts';
import { CloseCodes, CloseReasons, ErrorCodes } from '../../errors.ts';
import { error, ok } from '../../realtime/channel.ts';
import type { Channel, ChannelContext, Reply } from '../../realtime/channel.ts';
import { FALLBACK } from '../../realtime/channel.ts';
import type { RoomBlocks } from './blocks.ts';
import type { AccountRef, ClientMetaChange, HubEventTable, HubMember, HubSession } from './hub-member.ts';
import { admit, deriveRoles } from './join.ts';
import type { JoinDeps } from './join.ts';
import { NafrFastPath } from './naf-relay.ts';
import { MemberPresence } from './presence-meta.ts';
import type { PresenceMetaDeps } from './presence-meta.ts';
import type { ControlledMember, MemberCommand, RoomMembers } from './room-members.ts';
import { ROOM_TOPIC_PREFIX } from '../../rooms/rooms.ts';
import type { Rooms } from '../../rooms/rooms.ts';

export { DEFAULT_PRESENCE_META_MAX_BYTES } from './presence-meta.ts';

/** What the hub channel needs from the rest of the server (index.ts builds it). */
export interface HubChannelDeps extends JoinDeps, PresenceMetaDeps {
  /** The room domain: the join reply's view with counts, `room_size`. */
  rooms: Rooms;
  sessionTokens: SessionTokens;
  log: Logger;
  /** The one table of the channel's events (index.ts). */
  events: HubEventTable;
  /** This node's room members and the control messages between nodes (kick, mute, roles, blocks, room changes). */
  members: RoomMembers;
  /** Issues the join reply's `perms_token`. */
  permsTokens: { issueFor(member: HubMember): Promise<string> };
  /** This node's blocks (the fan-out's per-recipient filters of rooms). */
  blocks: RoomBlocks;
}

/** Topic prefix of rooms (rooms/rooms.ts). */
export const HUB_TOPIC_PREFIX = ROOM_TOPIC_PREFIX;

/**
 * The room channel `hub:<hub_sid>`: Reticulum's HubChannel behaviour
 * (reference/reticulum.md §1.2, §1.5, §2). One instance per member's join:
 * - the join (join.ts): reply `{hubs:[hub], session_id, session_token,
 *   perms_token, ...}`, then `presence_state` and a `presence_diff` join to everyone;
 * - every event is looked up in ONE table (index.ts builds it from the
 *   groups of naf-relay.ts, presence-meta.ts, chat.ts, moderation.ts,
 *   objects.ts, room-rules.ts and sign-in.ts); an event it does not hold is
 *   `unknown_event`; `nafr` has a fast path on the frame's bytes
 *   (naf-relay.ts);
 * - commands from other nodes (kick, mute, roles, blocks, room changes)
 *   reach it through {@link control}.
 * Every payload is validated; a bad one gets an error reply and changes
 * nothing. Free-form fields are bounded in depth and size (schemas.ts);
 * `profile` plus `context` by presenceMetaMaxBytes; a member's own meta
 * updates by presenceUpdateRate (`rate_limited`).
 */
export class HubChannel implements Channel, HubSession, ControlledMember {
  private hubRecord: HubRecord | null = null;
  roles: Roles = { owner: false, creator: false, signed_in: false };
  private perms: HubPermissions | null = null;
  account: AccountRef | null = null;
  /**
   * The creator_assignment_token this session joined with (join param, a
   * Plexus addition): while it is the room's unspent token, the session is
   * creator without an account; once an account claims the room it counts for nothing.
   */
  private creatorToken: string | null = null;
  /** Muted by a moderator (`mute`): voice_chat is withheld for the rest of this join. */
  private voiceMuted = false;
  private registered = false;
  readonly sessionId: string;
  private readonly presenceMeta: MemberPresence;
  private readonly nafr: NafrFastPath;
  private terminated = false;

  constructor(
    readonly ctx: ChannelContext,
    private readonly deps: HubChannelDeps,
  ) {
    this.sessionId = ctx.session.sessionId;
    this.presenceMeta = new MemberPresence(deps, ctx, this.sessionId, this);
    this.nafr = new NafrFastPath(ctx, this.sessionId);
  }

  private get hubSid(): string {
    return this.ctx.topic.slice(HUB_TOPIC_PREFIX.length);
  }

  async join(params: unknown): Promise<Reply> {
    const admitted = await admit(this.deps, this.hubSid, this.sessionId, params);
    if ('status' in admitted) return admitted;
    const { hub, account, creatorToken, roles, permissions, profile, context } = admitted;
    this.hubRecord = hub;
    this.account = account;
    this.creatorToken = creatorToken;
    this.roles = roles;
    this.perms = permissions;
    this.presenceMeta.meta = { phx_ref: '', presence: 'lobby', profile, context, roles, permissions };
    return ok({
      hubs: [await this.deps.rooms.view(hub, { embeddable: permissions.embed_hub })],
      session_id: this.sessionId,
      session_token: await this.deps.sessionTokens.issue(this.sessionId),
      subscriptions: { web_push: false, favorites: false },
      perms_token: await this.deps.permsTokens.issueFor(this),
      hub_requires_oauth: false,
    });
  }

  afterJoin(): Promise<void> {
    return this.presenceMeta.track(() => {
      if (this.terminated || this.registered) return;
      this.registered = true;
      this.deps.members.add(this);
    });
  }

  handleIn(event: string, payload: unknown): Reply | undefined | Promise<Reply | undefined> {
    // A Map of own entries: `toString`, `__proto__`, `constructor`... are unknown events.
    const handler = this.deps.events.get(event);
    if (handler) return handler(this, payload);
    return error(ErrorCodes.UNKNOWN_EVENT, `The hub channel does not handle ${JSON.stringify(event.slice(0, 64))}.`);
  }

  /** The `nafr` fast path (naf-relay.ts); everything else goes to {@link handleIn}. */
  handleRawIn(event: string, frame: Uint8Array, start: number, end: number): Reply | undefined | typeof FALLBACK {
    return this.nafr.handle(event, frame, start, end);
  }

  changeMeta(event: string, payload: unknown, change: ClientMetaChange, enters = false): Reply | Promise<Reply | undefined> {
    return this.presenceMeta.clientChange(event, payload, change, enters);
  }

  /** The room's `room_size` (or the server's default), enforced when a member enters. */
  get roomSize(): number {
    return this.hubRecord ? this.deps.rooms.roomSize(this.hubRecord) : this.deps.rooms.defaultRoomSize;
  }

  /** Owners (update_hub) may always enter, as Hubs' canEnterRoom. */
  get mayAlwaysEnter(): boolean {
    return !!this.perms?.update_hub;
  }

  /** The room (after a successful join). */
  get hub(): HubRecord {
    if (!this.hubRecord) throw new Error('HubChannel.hub read before the join succeeded');
    return this.hubRecord;
  }

  /** Current permissions (after a successful join). */
  get permissions(): HubPermissions {
    if (!this.perms) throw new Error('HubChannel.permissions read before the join succeeded');
    return this.perms;
  }

  get presence(): 'lobby' | 'room' {
    return this.presenceMeta.meta?.presence === 'room' ? 'room' : 'lobby';
  }

  async setAccount(account: AccountRef | null): Promise<void> {
    this.account = account;
    await this.refreshRoles();
  }

  async reloadHub(): Promise<HubRecord> {
    const hub = await this.deps.hubs.findBySid(this.hubSid);
    if (hub) this.hubRecord = hub;
    return this.hub;
  }

  async refreshRoles(): Promise<boolean> {
    const derived = await deriveRoles(this.deps.hubs, this.hub, this.account?.accountId ?? null, this.creatorToken);
    this.creatorToken = derived.creatorToken;
    const roles = derived.roles;
    const perms = permissionsFor(this.hub.memberPermissions, roles);
    if (this.voiceMuted) perms.voice_chat = false;
    if (JSON.stringify(roles) === JSON.stringify(this.roles) && JSON.stringify(perms) === JSON.stringify(this.perms)) return false;
    this.roles = roles;
    this.perms = perms;
    await this.presenceMeta.update((m) => ({ ...m, roles, permissions: perms }));
    return true;
  }

  async roomChanged(): Promise<void> {
    await this.deps.members.toRoom({ op: 'room_changed', topic: this.ctx.topic });
  }

  /** The room's topic (`hub:<hub_sid>`). */
  get topic(): string {
    return this.ctx.topic;
  }

  /** Applies a command from a moderator or a room change, sent by any node (see MemberCommand). */
  async control(command: MemberCommand): Promise<void> {
    if (this.terminated || !this.hubRecord) return;
    switch (command.op) {
      case 'room_changed': {
        const before = JSON.stringify(this.roles);
        await this.reloadHub();
        // A change of roles (an account claimed the room: its token's holders are no longer creators) is told as add_owner tells it.
        if ((await this.refreshRoles()) && JSON.stringify(this.roles) !== before) this.ctx.push('permissions_updated', {});
        return;
      }
      case 'kick': {
        if (this.account) await this.deps.hubs.ban(this.hub.id, { accountId: this.account.accountId, until: new Date(command.until) });
        this.ctx.push('kicked', { session_id: this.sessionId, by_session_id: command.by, banned_until: new Date(command.until).toISOString() });
        this.ctx.session.connection.close(CloseCodes.KICKED, CloseReasons.KICKED);
        return;
      }
      case 'mute':
        this.voiceMuted = true;
        this.ctx.push('mute', { session_id: this.sessionId });
        await this.refreshRoles();
        return;
      case 'set_owner': {
        if (!this.account) return;
        if (command.owner) await this.deps.hubs.addOwner(this.hub.id, this.account.accountId);
        else await this.deps.hubs.removeOwner(this.hub.id, this.account.accountId);
        if (await this.refreshRoles()) this.ctx.push('permissions_updated', {});
        return;
      }
      case 'blocked_by':
        this.deps.blocks.set(this.ctx.topic, this.ctx.session.connection, command.by, command.on);
        return;
    }
  }

  terminate(): Promise<void> {
    this.terminated = true;
    this.deps.blocks.forget(this.ctx.topic, this.ctx.session.connection);
    if (this.registered) {
      this.registered = false;
      this.deps.members.remove(this);
    }
    return this.presenceMeta.leave();
  }
}
