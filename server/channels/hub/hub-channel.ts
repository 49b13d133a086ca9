import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { permissionsFor, spawnPermissionFor } from '../../auth/permissions.ts';
import type { HubPermissions, Roles } from '../../auth/permissions.ts';
import type { SessionTokens } from '../../auth/session-token.ts';
import { rolesOf } from '../../db/hub-roles.ts';
import { findHubBySid, isCreatorAssignmentToken } from '../../db/hubs.ts';
import { addOwner, removeOwner } from '../../db/hub-roles.ts';
import { banFromHub } from '../../db/hub-bans.ts';
import { isActiveInvite } from '../../db/hub-updates.ts';
import { CloseCodes, CloseReasons, ErrorCodes, permissionDeniedMessage } from '../../errors.ts';
import { AppConfigKeys } from '../../app-config.ts';
import type { RoomBlocks } from './blocks.ts';
import type { ControlledMember, MemberCommand, RoomMembers } from './room-members.ts';
import type { HubRecord } from '../../db/hubs.ts';
import type { PresenceStore, NewPresenceMeta } from '../../presence/presence-store.ts';
import { joinDiff, leaveDiff, updateDiff } from '../../protocol/presence-diff.ts';
import type { PresenceEntries, PresenceMeta } from '../../protocol/presence-diff.ts';
import { error, FALLBACK, ok } from '../../realtime/channel.ts';
import { scanStringLiteral } from '../../protocol/frame-scan.ts';
import { nafrLiteralNeedsCheck, nafTextNeedsCheck } from './naf-first-sync.ts';
import { jsonBytes } from '../../protocol/json-bounds.ts';
import { TokenBucket } from '../../realtime/rate-limit.ts';
import type { Channel, ChannelContext, ChannelRoute, Reply } from '../../realtime/channel.ts';
import type { AccountRef, AccountTokenVerifier, HubEventHandlers, HubMember, IdentifiedAccount } from './hub-member.ts';
import { admissionRefusal } from './admission.ts';
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
  /** This node's blocks (the fan-out's per-recipient filters of rooms). */
  filters?: RoomBlocks;
  /** Largest `profile` plus `context` of a member, in bytes of JSON (config PRESENCE_META_MAX_BYTES); default {@link DEFAULT_PRESENCE_META_MAX_BYTES}. */
  presenceMetaMaxBytes?: number;
  /** Per-member token bucket on client-driven presence meta updates (config PRESENCE_UPDATE_*); absent: no limit. */
  presenceUpdateRate?: { perSecond: number; burst: number };
  /** Runtime switches (`features|require_account_for_join`); absent: all off. */
  appConfig?: { flag(key: string): Promise<boolean> };
}

/** Default of {@link HubChannelDeps.presenceMetaMaxBytes}. */
export const DEFAULT_PRESENCE_META_MAX_BYTES = 4096;

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

/** Flag events → the meta field they set and its value (a Map: event names come from clients, so `toString` must not find Object.prototype's). */
const PRESENCE_FLAG_EVENTS = new Map<string, [string, boolean]>([
  ['events:begin_streaming', ['streaming', true]],
  ['events:end_streaming', ['streaming', false]],
  ['events:begin_recording', ['recording', true]],
  ['events:end_recording', ['recording', false]],
  ['events:raise_hand', ['hand_raised', true]],
  ['events:lower_hand', ['hand_raised', false]],
  ['events:begin_typing', ['typing', true]],
  ['events:end_typing', ['typing', false]],
]);

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
 * - `naf` is checked (spawns by template suffix, creator/owner overwritten;
 *   no Object.prototype name as `dataType`, `networkId` or `parent`, which
 *   receivers use as object keys) and relayed to everyone but the sender
 *   with `from_session_id`; `nafr` is relayed without parsing unless its
 *   string could hold a first sync or such a name (it contains
 *   `isFirstSync`, a quoted name or a `\u` escape, at either level of JSON:
 *   see naf-first-sync.ts), in which case it is parsed and handled as `naf`;
 * - a first sync is what a receiving client's `JSON.parse` sees: a `u` whose
 *   `isFirstSync` is true (duplicate keys: the last one), or an `um` element
 *   with one (refused: NAF would create it, the server cannot check it). A
 *   `u` first sync must name a template the sender may spawn, and is relayed
 *   re-encoded, with `creator` and `owner` set to the sender, never as the
 *   bytes it came in. This holds for `persistent: true` first syncs too,
 *   where Reticulum checks nothing. A legitimate one is the state of an
 *   existing persistent entity (pinned, or scene-defined with owner
 *   `"scene"`), sent by its owner to a newcomer (NAF `completeSync`);
 *   NAF never creates an entity from it (it stashes it until the page has
 *   the entity, reference/naf-phoenix-client.md §2.4, §2.6), and neither NAF
 *   nor Hubs reads `creator` or `template` from it, so the rewrite costs
 *   a legitimate sender nothing, while a forged creator is never relayed.
 *   Its owner is the sender in NAF's normal case (`isMine`); when a creator
 *   first-syncs an entity someone else holds, the sender is named owner, as
 *   Reticulum does for every other spawn. A persistent first sync whose
 *   template the sender may not spawn is refused: newcomers then keep the
 *   stored state until the next update (Hubs' `#interactable-media-frame`
 *   scene objects, whose suffix is not spawnable, are among those);
 * - `message` goes to everyone with the sender's `session_id`.
 * Every payload is validated; a bad one gets an error reply and changes
 * nothing. Free-form fields are bounded in depth and size (schemas.ts);
 * `profile` plus `context` by presenceMetaMaxBytes; a member's own meta
 * updates by presenceUpdateRate (`rate_limited`).
 */
export class HubChannel implements Channel, HubMember, ControlledMember {
  private hubRecord: HubRecord | null = null;
  private meta: PresenceMeta | null = null;
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
  /** Limits this member's own meta updates (presenceUpdateRate); null without a limit. */
  private readonly presenceBucket: TokenBucket | null;
  /** Presence operations of this channel, run one after another so a leave never overtakes a track or an update. */
  private presenceOps: Promise<unknown> = Promise.resolve();
  private terminated = false;

  constructor(
    readonly ctx: ChannelContext,
    private readonly deps: HubChannelDeps,
  ) {
    this.sessionId = ctx.session.sessionId;
    const rate = deps.presenceUpdateRate;
    this.presenceBucket = rate ? new TokenBucket(rate.perSecond, rate.burst) : null;
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
      return error(ErrorCodes.INVALID_PAYLOAD, `Join params invalid: ${describeErrors(schemas.joinParams.errors)}. Send {profile: {...}, context: {...}}.`);
    }
    const p = params as { profile: Record<string, unknown>; context: Record<string, unknown>; auth_token?: string | null; creator_assignment_token?: string | null };
    const tooLarge = this.metaTooLarge(p.profile, p.context);
    if (tooLarge) return tooLarge;
    const hub = await findHubBySid(this.deps.db, this.hubSid);
    if (!hub) return error(ErrorCodes.HUB_NOT_FOUND, 'No such Hub: this room does not exist. Check the link, or create a new room from the lobby.');
    if (hub.entryMode === 'deny') return error(ErrorCodes.HUB_CLOSED, 'Hub no longer accessible: the room was closed by its owner.');
    let identified: IdentifiedAccount | null = null;
    if (p.auth_token) {
      identified = this.deps.accounts ? await this.deps.accounts.identify(p.auth_token) : null;
      if (!identified) return error(ErrorCodes.SIGN_IN_FAILED, 'Sign in failed: the auth_token is invalid, expired or revoked. Sign in again, or join without it.');
    }
    // Reticulum's join_with_hub: with features|require_account_for_join, anonymous members are denied.
    if (!identified && this.deps.appConfig && (await this.deps.appConfig.flag(AppConfigKeys.REQUIRE_ACCOUNT_FOR_JOIN))) {
      return error(ErrorCodes.JOIN_DENIED, 'Join denied: this server requires an account to join rooms; sign in and join with your auth_token.');
    }
    const refused = await admissionRefusal(this.deps.db, hub, this.sessionId, identified);
    if (refused) return refused;
    if (identified) this.account = { accountId: identified.accountId, isAdmin: identified.isAdmin };
    // A token that is not (or no longer) the room's is ignored, as Reticulum ignores the param:
    // a page that kept the token after its account claimed the room must still get in.
    if (p.creator_assignment_token) this.creatorToken = p.creator_assignment_token;
    this.hubRecord = hub;
    this.roles = await this.deriveRoles();
    this.perms = permissionsFor(hub.memberPermissions, this.roles);
    if (hub.entryMode === 'invite' && !this.perms.update_hub) {
      const invite = (params as { hub_invite_id?: string | null }).hub_invite_id;
      const active = invite ? await isActiveInvite(this.deps.db, hub.id, invite) : false;
      if (!active) return error(ErrorCodes.JOIN_DENIED, 'Join denied: this room is invite-only. Ask an owner for an invite link (it carries hub_invite_id).');
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

  /**
   * The error reply when `profile` and `context` together are over
   * presenceMetaMaxBytes of JSON (each member's meta is kept on every
   * node's presence and sent in every presence_state); null when they fit.
   */
  private metaTooLarge(profile: unknown, context: unknown): Reply | null {
    const max = this.deps.presenceMetaMaxBytes ?? DEFAULT_PRESENCE_META_MAX_BYTES;
    const bytes = jsonBytes(profile, max) + jsonBytes(context, max);
    if (bytes <= max) return null;
    return error(ErrorCodes.INVALID_PAYLOAD, `profile and context together are over ${max} bytes of JSON (PRESENCE_META_MAX_BYTES); nothing was changed. Send a smaller profile (display name, avatar id) and context.`, { max_bytes: max });
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
        return this.clientUpdate(event, payload, (m) => {
          const context = { ...(m.context as Record<string, unknown>) };
          delete context.entering;
          const entryDisplayType = (payload as Record<string, unknown>).entryDisplayType;
          if (typeof entryDisplayType === 'string' && entryDisplayType !== 'Screen') context.hmd = true;
          return { ...m, presence: 'room', context };
        }, true);
      case 'events:entering':
        return this.clientUpdate(event, payload, (m) => ({ ...m, context: { ...(m.context as object), entering: true } }));
      case 'events:entering_cancelled':
        return this.clientUpdate(event, payload, (m) => {
          const context = { ...(m.context as Record<string, unknown>) };
          delete context.entering;
          return { ...m, context };
        });
      case 'events:profile_updated': {
        const { schemas } = this.deps;
        if (!schemas.profileUpdated(payload)) return invalid(event, describeErrors(schemas.profileUpdated.errors), '{profile: {...}}');
        const profile = (payload as { profile: Record<string, unknown> }).profile;
        return this.clientUpdate(event, payload, (m) => ({ ...m, profile }));
      }
      case 'events:object_spawned': {
        const { schemas } = this.deps;
        if (!schemas.objectSpawned(payload)) return invalid(event, describeErrors(schemas.objectSpawned.errors), '{object_type: 0..31}');
        return ok();
      }
      default: {
        // Own properties only: `toString`, `__proto__`, `constructor`... are unknown events, not Object.prototype's members.
        const handlers = this.deps.handlers;
        if (handlers && Object.hasOwn(handlers, event)) return handlers[event]!(this, payload);
        const flag = PRESENCE_FLAG_EVENTS.get(event);
        if (flag) return this.clientUpdate(event, payload, (m) => ({ ...m, [flag[0]]: flag[1] }));
        return error(ErrorCodes.UNKNOWN_EVENT, `The hub channel does not handle ${JSON.stringify(event.slice(0, 64))}.`);
      }
    }
  }

  /**
   * The hot path for `nafr` (about 99% of room traffic): when the payload is
   * exactly `{"naf":"<valid JSON string literal>"}` and the literal holds no
   * `isFirstSync`, no quoted Object.prototype name and no `\u` escape (so
   * neither level of JSON can hold a first sync or such a name, see
   * naf-first-sync.ts), the client's literal is spliced into
   * the outgoing frame as is: no parse, no encode. Everything else goes to
   * {@link handleIn}.
   */
  handleRawIn(event: string, frame: Uint8Array, start: number, end: number): Reply | undefined | typeof FALLBACK {
    if (event !== 'nafr' || end - start < NAFR_OPEN.length + 10) return FALLBACK;
    const bytes = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
    if (bytes.compare(NAFR_OPEN, 0, NAFR_OPEN.length, start, start + NAFR_OPEN.length) !== 0) return FALLBACK;
    const literalStart = start + NAFR_OPEN.length - 1;
    const literalEnd = scanStringLiteral(bytes, literalStart, end);
    if (literalEnd !== end - 1 || bytes[literalEnd] !== 125 /* } */) return FALLBACK;
    if (nafrLiteralNeedsCheck(bytes, literalStart, literalEnd)) return FALLBACK;
    const prefix = this.nafrPrefix;
    const suffix = this.nafrSuffix;
    const out = Buffer.allocUnsafe(prefix.length + (literalEnd - literalStart) + suffix.length);
    prefix.copy(out, 0);
    bytes.copy(out, prefix.length, literalStart, literalEnd);
    suffix.copy(out, out.length - suffix.length);
    this.ctx.publishFrom(out, this.sessionId);
    return undefined;
  }

  /**
   * `nafr`: relayed as an opaque string when it cannot hold a first sync or
   * an Object.prototype name; else parsed and handled as `naf`, which checks it and relays the checked
   * object (reference/reticulum.md §1.5, where the test is the substring
   * `isFirstSync` only, which a `\u` escape in the inner JSON slips past).
   */
  private onNafr(payload: unknown): Reply | undefined {
    const { schemas } = this.deps;
    if (!schemas.nafr(payload)) return invalid('nafr', describeErrors(schemas.nafr.errors), '{naf: "<JSON string>"}');
    const naf = (payload as { naf: string }).naf;
    if (!nafTextNeedsCheck(naf)) {
      this.ctx.broadcastFrom('nafr', { naf, from_session_id: this.sessionId }, this.sessionId);
      return undefined;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(naf);
    } catch {
      return error(ErrorCodes.INVALID_PAYLOAD, 'nafr.naf is not valid JSON; send {naf: JSON.stringify({dataType, data})}.');
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
        return error(ErrorCodes.INVALID_PAYLOAD, 'An "um" update may not carry isFirstSync; send first syncs as single "u" messages.');
      }
    }
    const data = envelope.data;
    // isFirstSync and persistent are booleans (schema); persistent first syncs are checked too (see the class docstring).
    if (envelope.dataType === 'u' && data.isFirstSync === true) {
      if (typeof data.template !== 'string') {
        return error(ErrorCodes.SPAWN_DENIED, 'A first sync must name its template (data.template), which must be one you may spawn.');
      }
      const needed = spawnPermissionFor(data.template);
      if (needed === undefined) {
        return error(ErrorCodes.SPAWN_DENIED, `Template ${JSON.stringify(data.template.slice(0, 64))} may not be spawned; spawnable templates end in -avatar, -media, -camera, -drawing, -pen or -emoji.`);
      }
      if (needed !== null && !this.perms?.[needed]) {
        return error(ErrorCodes.SPAWN_DENIED, permissionDeniedMessage(`Spawning ${JSON.stringify(data.template.slice(0, 64))}`, needed), { permission: needed });
      }
      this.ctx.broadcastFrom('naf', { ...withoutKey(envelope, 'from_session_id'), data: { ...data, creator: this.sessionId, owner: this.sessionId }, from_session_id: this.sessionId }, this.sessionId);
      return undefined;
    }
    // Tagged with the sender for the room's blocks (blocks.ts); from_session_id stays the last key, as it always was on the wire.
    this.ctx.broadcastFrom('naf', { ...withoutKey(envelope, 'from_session_id'), from_session_id: this.sessionId }, this.sessionId);
    return undefined;
  }

  /** `message`: chat and other messages to everyone, sender included, with the sender's session_id. */
  private onMessage(payload: unknown): Reply | undefined {
    const { schemas } = this.deps;
    if (!schemas.message(payload)) return invalid('message', describeErrors(schemas.message.errors), '{type: "chat", body: "..."}');
    if (this.perms && !this.perms.text_chat) {
      return error(ErrorCodes.PERMISSION_DENIED, permissionDeniedMessage('Sending messages', 'text_chat'), { permission: 'text_chat' });
    }
    // Tagged with the sender for the room's blocks (blocks.ts); session_id stays the last key, as it always was on the wire.
    this.ctx.broadcast('message', { ...withoutKey(payload as Record<string, unknown>, 'session_id'), session_id: this.sessionId }, this.sessionId);
    return undefined;
  }

  /**
   * A client's event that changes its meta (entered, entering, profile, flags):
   * limited per member by presenceUpdateRate, since each one is a
   * presence_diff to everyone in the room.
   */
  private clientUpdate(event: string, payload: unknown, change: (meta: NewPresenceMeta) => NewPresenceMeta, enters = false): Reply | Promise<Reply | undefined> {
    if (this.presenceBucket && !this.presenceBucket.take()) {
      const { perSecond, burst } = this.deps.presenceUpdateRate!;
      return error(ErrorCodes.RATE_LIMITED, `${event}: too many presence updates: at most ${perSecond} a second (bursts of ${burst}, PRESENCE_UPDATE_RATE_PER_SECOND / PRESENCE_UPDATE_BURST); this one was not applied. Send only the latest state, less often.`);
    }
    return this.updateMeta(payload, change, enters);
  }

  /** Replaces this session's meta and broadcasts ONE diff (leave old + join new). */
  private updateMeta(payload: unknown, change: (meta: NewPresenceMeta) => NewPresenceMeta, enters = false): Reply | Promise<Reply | undefined> {
    if (!this.deps.schemas.object(payload)) return error(ErrorCodes.INVALID_PAYLOAD, 'The payload must be a JSON object (or null).');
    return this.serial(async () => {
      const current = this.meta;
      if (!current?.phx_ref || this.terminated) return undefined;
      const { phx_ref, phx_ref_prev: _prev, ...rest } = current;
      const next = change(rest);
      const tooLarge = this.metaTooLarge(next.profile, next.context);
      if (tooLarge) return tooLarge;
      // room_size is enforced when a member enters (lobby → room); owners may always enter (as Hubs' canEnterRoom).
      const limited = enters && current.presence !== 'room' && !this.perms?.update_hub;
      const limit = this.hubRecord?.roomSize ?? this.deps.defaultRoomSize;
      const updated = limited
        ? await this.deps.presence.updateIfRoomBelow(this.ctx.topic, this.sessionId, phx_ref, next, limit)
        : await this.deps.presence.update(this.ctx.topic, this.sessionId, phx_ref, next);
      if (updated === 'full') {
        return error(ErrorCodes.ROOM_FULL, `The room is full: ${limit} people are in it (room_size). Wait in the lobby and try again when someone leaves.`, { room_size: limit });
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

  /** Roles from the database, plus creator for a holder of the room's unspent creator assignment token. */
  private async deriveRoles(): Promise<Roles> {
    const roles = await rolesOf(this.deps.db, this.hub, this.account?.accountId ?? null);
    if (this.creatorToken !== null && !roles.creator) {
      if (await isCreatorAssignmentToken(this.deps.db, this.hub.id, this.creatorToken)) return { ...roles, creator: true, owner: true };
      this.creatorToken = null;
    }
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
      case 'room_changed': {
        const before = JSON.stringify(this.roles);
        await this.reloadHub();
        // A change of roles (an account claimed the room: its token's holders are no longer creators) is told as add_owner tells it.
        if ((await this.refreshRoles()) && JSON.stringify(this.roles) !== before) this.ctx.push('permissions_updated', {});
        return;
      }
      case 'kick': {
        if (this.account) await banFromHub(this.deps.db, this.hub.id, { accountId: this.account.accountId, until: new Date(command.until) });
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
        if (command.owner) await addOwner(this.deps.db, this.hub.id, this.account.accountId);
        else await removeOwner(this.deps.db, this.hub.id, this.account.accountId);
        if (await this.refreshRoles()) this.ctx.push('permissions_updated', {});
        return;
      }
      case 'blocked_by':
        this.deps.filters?.set(this.ctx.topic, this.ctx.session.connection, command.by, command.on);
        return;
    }
  }

  terminate(): Promise<void> {
    this.terminated = true;
    this.deps.filters?.forget(this.ctx.topic, this.ctx.session.connection);
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
  return error(ErrorCodes.INVALID_PAYLOAD, `${event}: ${what}; expected ${expected}.`);
}

/** The route that serves `hub:<hub_sid>` topics. */
export function hubChannelRoute(deps: HubChannelDeps): ChannelRoute {
  return {
    matches: (topic) => topic.startsWith(HUB_TOPIC_PREFIX),
    create: (ctx) => new HubChannel(ctx, deps),
  };
}
