import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { permissionsFor, spawnPermissionFor } from '../../auth/permissions.ts';
import type { HubPermissions, Roles } from '../../auth/permissions.ts';
import type { SessionTokens } from '../../auth/session-token.ts';
import { rolesOf } from '../../db/hub-roles.ts';
import { findHubBySid, isCreatorAssignmentToken } from '../../db/hubs.ts';
import { addOwner, removeOwner } from '../../db/hub-roles.ts';
import { banFromHub, bannedUntil } from '../../db/hub-bans.ts';
import { isActiveInvite } from '../../db/hub-updates.ts';
import { CloseCodes } from '../../errors.ts';
import { AppConfigKeys } from '../../app-config.ts';
import type { Connection } from '../../realtime/connection.ts';
import type { ControlledMember, MemberCommand, RoomMembers } from './room-members.ts';
import type { HubRecord } from '../../db/hubs.ts';
import type { PresenceStore, NewPresenceMeta } from '../../presence/presence-store.ts';
import { joinDiff, leaveDiff, updateDiff } from '../../protocol/presence-diff.ts';
import type { PresenceEntries, PresenceMeta } from '../../protocol/presence-diff.ts';
import { error, FALLBACK, ok } from '../../realtime/channel.ts';
import { scanStringLiteral } from '../../protocol/frame-scan.ts';
import type { Channel, ChannelContext, ChannelRoute, Reply } from '../../realtime/channel.ts';
import type { AccountRef, AccountTokenVerifier, HubEventHandlers, HubMember } from './hub-member.ts';
import { hubView } from './hub-view.ts';
import type { HubCounts } from './hub-view.ts';
import { describeErrors } from './schemas.ts';
import type { HubSchemas } from './schemas.ts';

/** What the hub channel needs from the rest of the server. */
export interface HubChannelDeps {
  db: Knex;
  presence: PresenceStore;
  schemas: HubSchemas;
  sessionTokens: SessionTokens;
  defaultRoomSize: number;
  log: Logger;
  /** Verifies `auth_token` join params (signed-in members); without it every member is anonymous. */
  accounts?: AccountTokenVerifier;
  /** Handlers of further events (moderation, room rules, objects, sign-in...), by event name. */
  handlers?: HubEventHandlers;
  /** This node's room members and the control messages between nodes (kick, mute, roles, blocks, room changes). */
  members?: RoomMembers;
  /** Issues the join reply's `perms_token`; without it the reply carries null. */
  permsTokens?: { issueFor(member: HubMember): Promise<string> };
  /** Per-recipient filters of the fan-out (blocks). */
  filters?: { setFilter(topic: string, connection: Connection, sender: string, on: boolean): void };
  /** Runtime switches (`features|require_account_for_join`); absent: all off. */
  appConfig?: { flag(key: string): Promise<boolean> };
}

/** Topic prefix of rooms. */
export const HUB_TOPIC_PREFIX = 'hub:';

/** Counts `room` and `lobby` members in a presence list (first meta of each key), Reticulum's member_count/lobby_count. */
export function countPresence(entries: PresenceEntries): HubCounts {
  let memberCount = 0;
  let lobbyCount = 0;
  for (const { metas } of Object.values(entries)) {
    const meta = metas[metas.length - 1];
    if (!meta) continue;
    if (meta.presence === 'room') memberCount++;
    else lobbyCount++;
  }
  return { memberCount, lobbyCount };
}

/** What a `nafr` payload starts with, up to the string literal's opening quote. */
const NAFR_OPEN = Buffer.from('{"naf":"');
const IS_FIRST_SYNC = Buffer.from('isFirstSync');
/** A `\u` escape could spell "isFirstSync" without its letters. */
const UNICODE_ESCAPE = Buffer.from('\\u');

const PRESENCE_FLAG_EVENTS: Record<string, [string, boolean]> = {
  'events:begin_streaming': ['streaming', true],
  'events:end_streaming': ['streaming', false],
  'events:begin_recording': ['recording', true],
  'events:end_recording': ['recording', false],
  'events:raise_hand': ['hand_raised', true],
  'events:lower_hand': ['hand_raised', false],
  'events:begin_typing': ['typing', true],
  'events:end_typing': ['typing', false],
};

/**
 * The room channel `hub:<hub_sid>`: Reticulum's HubChannel behaviour
 * (reference/reticulum.md §1.2, §1.5, §2) for joins, presence, the NAF relay
 * and chat.
 *
 * - join params `{profile, context, ...}`; errors `not_found`, `closed`;
 *   reply `{hubs:[hub], session_id, session_token, ...}`, then
 *   `presence_state` and a `presence_diff` join to everyone;
 * - `events:entered`, `events:profile_updated`, `events:entering`, hand and
 *   typing flags update the meta as ONE `presence_diff`;
 * - `naf` is checked (spawns by template suffix, creator/owner overwritten)
 *   and relayed to everyone but the sender with `from_session_id`; `nafr`
 *   is relayed without parsing unless it contains `isFirstSync`;
 * - `message` goes to everyone with the sender's `session_id`.
 * Every payload is validated; a bad one gets an error reply and changes nothing.
 */
export class HubChannel implements Channel, HubMember, ControlledMember {
  private hubRecord: HubRecord | null = null;
  private meta: PresenceMeta | null = null;
  roles: Roles = { owner: false, creator: false, signed_in: false };
  private perms: HubPermissions | null = null;
  account: AccountRef | null = null;
  /** The session presented the room's creator_assignment_token (join param): creator without an account. */
  private holdsCreatorToken = false;
  /** Muted by a moderator (`mute`): voice_chat is withheld for the rest of this join. */
  private voiceMuted = false;
  private registered = false;
  readonly sessionId: string;
  /** Presence operations of this channel, run one after another so a leave never overtakes a track or an update. */
  private presenceOps: Promise<unknown> = Promise.resolve();
  private terminated = false;

  constructor(
    readonly ctx: ChannelContext,
    private readonly deps: HubChannelDeps,
  ) {
    this.sessionId = ctx.session.sessionId;
    this.nafrPrefix = Buffer.from(`[null,null,${JSON.stringify(ctx.topic)},"nafr",{"naf":`);
    this.nafrSuffix = Buffer.from(`,"from_session_id":${JSON.stringify(this.sessionId)}}]`);
  }

  /** `nafr` fast path: the relayed frame is this prefix, the client's string literal, this suffix (UTF-8). */
  private readonly nafrPrefix: Buffer;
  private readonly nafrSuffix: Buffer;

  private get hubSid(): string {
    return this.ctx.topic.slice(HUB_TOPIC_PREFIX.length);
  }

  async join(params: unknown): Promise<Reply> {
    const { schemas } = this.deps;
    if (!schemas.joinParams(params)) {
      return error('invalid_payload', `Join params invalid: ${describeErrors(schemas.joinParams.errors)}. Send {profile: {...}, context: {...}}.`);
    }
    const p = params as { profile: Record<string, unknown>; context: Record<string, unknown>; auth_token?: string | null; creator_assignment_token?: string | null };
    const hub = await findHubBySid(this.deps.db, this.hubSid);
    if (!hub) return error('not_found', 'No such Hub: this room does not exist. Check the link, or create a new room from the lobby.');
    if (hub.entryMode === 'deny') return error('closed', 'Hub no longer accessible: the room was closed by its owner.');
    if (p.auth_token) {
      const account = this.deps.accounts ? await this.deps.accounts.verify(p.auth_token) : null;
      if (!account) return error('sign_in_failed', 'Sign in failed: the auth_token is invalid, expired or revoked. Sign in again, or join without it.');
      this.account = account;
    }
    // Reticulum's join_with_hub: with features|require_account_for_join, anonymous members are denied.
    if (!this.account && this.deps.appConfig && (await this.deps.appConfig.flag(AppConfigKeys.REQUIRE_ACCOUNT_FOR_JOIN))) {
      return error('join_denied', 'Join denied: this server requires an account to join rooms; sign in and join with your auth_token.');
    }
    if (p.creator_assignment_token) {
      if (!(await isCreatorAssignmentToken(this.deps.db, hub.id, p.creator_assignment_token))) {
        return error('invalid_token', 'The creator_assignment_token is not this room\'s; join without it, or use the token POST /api/v1/hubs returned for this room.');
      }
      this.holdsCreatorToken = true;
    }
    this.hubRecord = hub;
    this.roles = await this.deriveRoles();
    this.perms = permissionsFor(hub.memberPermissions, this.roles);
    const until = await bannedUntil(this.deps.db, hub.id, this.sessionId, this.account?.accountId ?? null);
    if (until) {
      return error('join_denied', `Join denied: you were removed from this room by a moderator and may come back after ${until.toISOString()}.`, { banned_until: until.toISOString() });
    }
    if (hub.entryMode === 'invite' && !this.perms.update_hub) {
      const invite = (params as { hub_invite_id?: string | null }).hub_invite_id;
      const active = invite ? await isActiveInvite(this.deps.db, hub.id, invite) : false;
      if (!active) return error('join_denied', 'Join denied: this room is invite-only. Ask an owner for an invite link (it carries hub_invite_id).');
    }
    this.meta = {
      phx_ref: '',
      presence: 'lobby',
      profile: p.profile,
      context: p.context,
      roles: this.roles,
      permissions: this.perms,
    };
    const counts = countPresence(await this.deps.presence.list(this.ctx.topic));
    return ok({
      hubs: [hubView(hub, counts, this.deps.defaultRoomSize, null, this.perms.embed_hub)],
      session_id: this.sessionId,
      session_token: await this.deps.sessionTokens.issue(this.sessionId),
      subscriptions: { web_push: false, favorites: false },
      perms_token: this.deps.permsTokens ? await this.deps.permsTokens.issueFor(this) : null,
      hub_requires_oauth: false,
    });
  }

  /** Runs `op` after every earlier presence operation of this channel. */
  private serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.presenceOps.then(op, op);
    this.presenceOps = run.catch(() => undefined);
    return run;
  }

  afterJoin(): Promise<void> {
    return this.serial(async () => {
      if (this.terminated) return;
      const { phx_ref: _ignored, ...meta } = this.meta!;
      this.meta = await this.deps.presence.track(this.ctx.topic, this.sessionId, meta);
      if (this.deps.members && !this.registered) {
        this.registered = true;
        this.deps.members.add(this);
      }
      this.ctx.push('presence_state', await this.deps.presence.list(this.ctx.topic));
      this.ctx.broadcast('presence_diff', joinDiff(this.sessionId, this.meta));
    });
  }

  handleIn(event: string, payload: unknown): Reply | undefined | Promise<Reply | undefined> {
    switch (event) {
      case 'nafr':
        return this.onNafr(payload);
      case 'naf':
        return this.onNaf(payload);
      case 'message':
        return this.onMessage(payload);
      case 'events:entered':
        return this.updateMeta(payload, (m) => {
          const context = { ...(m.context as Record<string, unknown>) };
          delete context.entering;
          const entryDisplayType = (payload as Record<string, unknown>).entryDisplayType;
          if (typeof entryDisplayType === 'string' && entryDisplayType !== 'Screen') context.hmd = true;
          return { ...m, presence: 'room', context };
        }, true);
      case 'events:entering':
        return this.updateMeta(payload, (m) => ({ ...m, context: { ...(m.context as object), entering: true } }));
      case 'events:entering_cancelled':
        return this.updateMeta(payload, (m) => {
          const context = { ...(m.context as Record<string, unknown>) };
          delete context.entering;
          return { ...m, context };
        });
      case 'events:profile_updated': {
        const { schemas } = this.deps;
        if (!schemas.profileUpdated(payload)) return invalid(event, describeErrors(schemas.profileUpdated.errors), '{profile: {...}}');
        const profile = (payload as { profile: Record<string, unknown> }).profile;
        return this.updateMeta(payload, (m) => ({ ...m, profile }));
      }
      case 'events:object_spawned': {
        const { schemas } = this.deps;
        if (!schemas.objectSpawned(payload)) return invalid(event, describeErrors(schemas.objectSpawned.errors), '{object_type: 0..31}');
        return ok();
      }
      default: {
        const handler = this.deps.handlers?.[event];
        if (handler && Object.hasOwn(this.deps.handlers!, event)) return handler(this, payload);
        const flag = PRESENCE_FLAG_EVENTS[event];
        if (flag) return this.updateMeta(payload, (m) => ({ ...m, [flag[0]]: flag[1] }));
        return error('unknown_event', `The hub channel does not handle ${JSON.stringify(event.slice(0, 64))}.`);
      }
    }
  }

  /**
   * The hot path for `nafr` (about 99% of room traffic): when the payload is
   * exactly `{"naf":"<valid JSON string literal>"}` and the literal holds no
   * `isFirstSync` and no `\u` escape (which could spell it), the client's
   * literal is spliced into the outgoing frame as is: no parse, no encode.
   * Everything else goes to {@link handleIn}.
   */
  handleRawIn(event: string, frame: Uint8Array, start: number, end: number): Reply | undefined | typeof FALLBACK {
    if (event !== 'nafr' || end - start < NAFR_OPEN.length + 10) return FALLBACK;
    const bytes = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
    if (bytes.compare(NAFR_OPEN, 0, NAFR_OPEN.length, start, start + NAFR_OPEN.length) !== 0) return FALLBACK;
    const literalStart = start + NAFR_OPEN.length - 1;
    const literalEnd = scanStringLiteral(bytes, literalStart, end);
    if (literalEnd !== end - 1 || bytes[literalEnd] !== 125 /* } */) return FALLBACK;
    const isFirstSync = bytes.indexOf(IS_FIRST_SYNC, literalStart);
    const unicodeEscape = bytes.indexOf(UNICODE_ESCAPE, literalStart);
    if ((isFirstSync >= 0 && isFirstSync < literalEnd) || (unicodeEscape >= 0 && unicodeEscape < literalEnd)) return FALLBACK;
    const prefix = this.nafrPrefix;
    const suffix = this.nafrSuffix;
    const out = Buffer.allocUnsafe(prefix.length + (literalEnd - literalStart) + suffix.length);
    prefix.copy(out, 0);
    bytes.copy(out, prefix.length, literalStart, literalEnd);
    suffix.copy(out, out.length - suffix.length);
    this.ctx.publishFrom(out);
    return undefined;
  }

  /** `nafr`: relayed as an opaque string unless it carries a first sync (reference/reticulum.md §1.5). */
  private onNafr(payload: unknown): Reply | undefined {
    const { schemas } = this.deps;
    if (!schemas.nafr(payload)) return invalid('nafr', describeErrors(schemas.nafr.errors), '{naf: "<JSON string>"}');
    const naf = (payload as { naf: string }).naf;
    if (!naf.includes('isFirstSync')) {
      this.ctx.broadcastFrom('nafr', { naf, from_session_id: this.sessionId });
      return undefined;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(naf);
    } catch {
      return error('invalid_payload', 'nafr.naf is not valid JSON; send {naf: JSON.stringify({dataType, data})}.');
    }
    return this.onNaf(parsed);
  }

  /** `naf`: spawn checks and relay (reference/reticulum.md §1.2 "naf", §1.5). */
  private onNaf(payload: unknown): Reply | undefined {
    const { schemas } = this.deps;
    if (!schemas.naf(payload)) return invalid('naf', describeErrors(schemas.naf.errors), '{dataType, data, clientId?}');
    const envelope = payload as { dataType: string; data: Record<string, unknown>; clientId?: string | null };
    if (envelope.dataType === 'um') {
      const d = (envelope.data as { d: Array<Record<string, unknown>> }).d;
      if (d.some((e) => e.isFirstSync)) {
        return error('invalid_payload', 'An "um" update may not carry isFirstSync; send first syncs as single "u" messages.');
      }
    }
    const data = envelope.data;
    if (envelope.dataType === 'u' && data.isFirstSync === true && data.persistent !== true && typeof data.template === 'string') {
      const needed = spawnPermissionFor(data.template);
      if (needed === undefined) {
        return error('spawn_denied', `Template ${JSON.stringify(data.template.slice(0, 64))} may not be spawned; spawnable templates end in -avatar, -media, -camera, -drawing, -pen or -emoji.`);
      }
      if (needed !== null && !this.perms?.[needed]) {
        return error('spawn_denied', `Spawning ${JSON.stringify(data.template.slice(0, 64))} needs the ${needed} permission, which this room does not give you.`, { permission: needed });
      }
      this.ctx.broadcastFrom('naf', { ...withoutKey(envelope, 'from_session_id'), data: { ...data, creator: this.sessionId, owner: this.sessionId }, from_session_id: this.sessionId });
      return undefined;
    }
    // from_session_id is always the last key: the fan-out's block filters read the sender there.
    this.ctx.broadcastFrom('naf', { ...withoutKey(envelope, 'from_session_id'), from_session_id: this.sessionId });
    return undefined;
  }

  /** `message`: chat and other messages to everyone, sender included, with the sender's session_id. */
  private onMessage(payload: unknown): Reply | undefined {
    const { schemas } = this.deps;
    if (!schemas.message(payload)) return invalid('message', describeErrors(schemas.message.errors), '{type: "chat", body: "..."}');
    if (this.perms && !this.perms.text_chat) {
      return error('permission_denied', 'Sending messages needs the text_chat permission, which this room does not give you.', { permission: 'text_chat' });
    }
    // session_id is always the last key: the fan-out's block filters read the sender there.
    this.ctx.broadcast('message', { ...withoutKey(payload as Record<string, unknown>, 'session_id'), session_id: this.sessionId });
    return undefined;
  }

  /** Replaces this session's meta and broadcasts ONE diff (leave old + join new). */
  private updateMeta(payload: unknown, change: (meta: NewPresenceMeta) => NewPresenceMeta, enters = false): Reply | Promise<Reply | undefined> {
    if (!this.deps.schemas.object(payload)) return error('invalid_payload', 'The payload must be a JSON object (or null).');
    return this.serial(async () => {
      const current = this.meta;
      if (!current?.phx_ref || this.terminated) return undefined;
      const { phx_ref, phx_ref_prev: _prev, ...rest } = current;
      const next = change(rest);
      // room_size is enforced when a member enters (lobby → room); owners may always enter (as Hubs' canEnterRoom).
      const limited = enters && current.presence !== 'room' && !this.perms?.update_hub;
      const limit = this.hubRecord?.roomSize ?? this.deps.defaultRoomSize;
      const updated = limited
        ? await this.deps.presence.updateIfRoomBelow(this.ctx.topic, this.sessionId, phx_ref, next, limit)
        : await this.deps.presence.update(this.ctx.topic, this.sessionId, phx_ref, next);
      if (updated === 'full') {
        return error('room_full', `The room is full: ${limit} people are in it (room_size). Wait in the lobby and try again when someone leaves.`, { room_size: limit });
      }
      if (!updated) return undefined;
      this.meta = updated.meta;
      this.ctx.broadcast('presence_diff', updateDiff(this.sessionId, updated.old, updated.meta));
      // An entry is answered either way (Reticulum sends none), so a client can tell room_full from success.
      return enters ? ok() : undefined;
    });
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
    return this.meta?.presence === 'room' ? 'room' : 'lobby';
  }

  /** Roles from the database, plus creator for a holder of the creator assignment token. */
  private async deriveRoles(): Promise<Roles> {
    const roles = await rolesOf(this.deps.db, this.hub, this.account?.accountId ?? null);
    if (this.holdsCreatorToken) return { ...roles, creator: true, owner: true };
    return roles;
  }

  async setAccount(account: AccountRef | null): Promise<void> {
    this.account = account;
    await this.refreshRoles();
  }

  async reloadHub(): Promise<HubRecord> {
    const hub = await findHubBySid(this.deps.db, this.hubSid);
    if (hub) this.hubRecord = hub;
    return this.hub;
  }

  async refreshRoles(): Promise<boolean> {
    const roles = await this.deriveRoles();
    const perms = permissionsFor(this.hub.memberPermissions, roles);
    if (this.voiceMuted) perms.voice_chat = false;
    if (JSON.stringify(roles) === JSON.stringify(this.roles) && JSON.stringify(perms) === JSON.stringify(this.perms)) return false;
    this.roles = roles;
    this.perms = perms;
    await this.updateMeta({}, (m) => ({ ...m, roles, permissions: perms }));
    return true;
  }

  async roomChanged(): Promise<void> {
    if (this.deps.members) {
      await this.deps.members.toRoom({ op: 'room_changed', topic: this.ctx.topic });
      return;
    }
    await this.reloadHub();
    await this.refreshRoles();
  }

  /** The room's topic (`hub:<hub_sid>`). */
  get topic(): string {
    return this.ctx.topic;
  }

  /** Applies a command from a moderator or a room change, sent by any node (see MemberCommand). */
  async control(command: MemberCommand): Promise<void> {
    if (this.terminated || !this.hubRecord) return;
    switch (command.op) {
      case 'room_changed':
        await this.reloadHub();
        await this.refreshRoles();
        return;
      case 'kick': {
        if (this.account) await banFromHub(this.deps.db, this.hub.id, { accountId: this.account.accountId, until: new Date(command.until) });
        this.ctx.push('kicked', { session_id: this.sessionId, by_session_id: command.by, banned_until: new Date(command.until).toISOString() });
        this.ctx.session.connection.close(CloseCodes.KICKED, 'removed from the room by a moderator');
        return;
      }
      case 'mute':
        this.voiceMuted = true;
        this.ctx.push('mute', { session_id: this.sessionId });
        await this.refreshRoles();
        return;
      case 'set_owner': {
        if (!this.account) return;
        if (command.owner) await addOwner(this.deps.db, this.hub.id, this.account.accountId);
        else await removeOwner(this.deps.db, this.hub.id, this.account.accountId);
        if (await this.refreshRoles()) this.ctx.push('permissions_updated', {});
        return;
      }
      case 'blocked_by':
        this.deps.filters?.setFilter(this.ctx.topic, this.ctx.session.connection, command.by, command.on);
        return;
    }
  }

  terminate(): Promise<void> {
    this.terminated = true;
    if (this.registered) {
      this.registered = false;
      this.deps.members?.remove(this);
    }
    return this.serial(async () => {
      const current = this.meta;
      this.meta = null;
      if (!current?.phx_ref) return;
      const old = await this.deps.presence.untrack(this.ctx.topic, this.sessionId, current.phx_ref);
      if (old) this.ctx.broadcast('presence_diff', leaveDiff(this.sessionId, old));
    });
  }
}

function withoutKey<T extends Record<string, unknown>>(o: T, key: string): T {
  if (!Object.hasOwn(o, key)) return o;
  const copy = { ...o };
  delete copy[key];
  return copy;
}

function invalid(event: string, what: string, expected: string): Reply {
  return error('invalid_payload', `${event}: ${what}; expected ${expected}.`);
}

/** The route that serves `hub:<hub_sid>` topics. */
export function hubChannelRoute(deps: HubChannelDeps): ChannelRoute {
  return {
    matches: (topic) => topic.startsWith(HUB_TOPIC_PREFIX),
    create: (ctx) => new HubChannel(ctx, deps),
  };
}
