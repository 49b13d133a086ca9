import { ErrorCodes } from '../../errors.ts';
import type { PresenceStore } from '../../presence/presence-store.ts';
import { joinDiff, leaveDiff, updateDiff } from '../../protocol/presence-diff.ts';
import type { PresenceEntries, PresenceMeta } from '../../protocol/presence-diff.ts';
import { jsonBytes } from '../../protocol/json-bounds.ts';
import { error, ok } from '../../realtime/channel.ts';
import type { ChannelContext, Reply } from '../../realtime/channel.ts';
import { TokenBucket } from '../../realtime/rate-limit.ts';
import { describeErrors, hubSchemas } from './schemas.ts';
import type { ClientMetaChange, HubEventHandlers, MetaChange } from './hub-member.ts';

/** Default of {@link PresenceMetaDeps.presenceMetaMaxBytes} (config PRESENCE_META_MAX_BYTES). */
export const DEFAULT_PRESENCE_META_MAX_BYTES = 4096;

/** What a member's presence meta needs. */
export interface PresenceMetaDeps {
  presence: PresenceStore;
  /** Largest `profile` plus `context` of a member, in bytes of JSON (config PRESENCE_META_MAX_BYTES). */
  presenceMetaMaxBytes: number;
  /** Per-member token bucket on client-driven presence meta updates (config PRESENCE_UPDATE_*). */
  presenceUpdateRate: { perSecond: number; burst: number };
}

/** What {@link MemberPresence} asks its room when a member enters (lobby → room). */
export interface RoomSize {
  /** The room's `room_size` (or the server's default). */
  readonly roomSize: number;
  /** True when the member may enter a full room (owners, as Hubs' canEnterRoom). */
  readonly mayAlwaysEnter: boolean;
}

/**
 * The error reply when `profile` and `context` together are over `max`
 * bytes of JSON (each member's meta is kept on every node's presence and
 * sent in every presence_state); null when they fit.
 */
export function metaTooLarge(profile: unknown, context: unknown, max: number): Reply | null {
  const bytes = jsonBytes(profile, max) + jsonBytes(context, max);
  if (bytes <= max) return null;
  return error(ErrorCodes.INVALID_PAYLOAD, `profile and context together are over ${max} bytes of JSON (PRESENCE_META_MAX_BYTES); nothing was changed. Send a smaller profile (display name, avatar id) and context.`, { max_bytes: max });
}

/**
 * One member's presence in its room: its meta, tracked after the join,
 * changed as ONE `presence_diff` (leave old + join new) per update, and
 * untracked when it leaves. Every presence operation of the member runs
 * after the earlier ones (a leave never overtakes a track or an update);
 * client-driven updates are limited by presenceUpdateRate (`rate_limited`).
 */
export class MemberPresence {
  /** The current meta: the join's until tracked, then the store's (with `phx_ref`); null once left. */
  meta: PresenceMeta | null = null;
  private ops: Promise<unknown> = Promise.resolve();
  private ended = false;
  private readonly bucket: TokenBucket;

  constructor(
    private readonly deps: PresenceMetaDeps,
    private readonly ctx: ChannelContext,
    private readonly sessionId: string,
    private readonly room: RoomSize,
  ) {
    this.bucket = new TokenBucket(deps.presenceUpdateRate.perSecond, deps.presenceUpdateRate.burst);
  }

  /** The error reply when `profile` and `context` are over presenceMetaMaxBytes; null when they fit. */
  tooLarge(profile: unknown, context: unknown): Reply | null {
    return metaTooLarge(profile, context, this.deps.presenceMetaMaxBytes);
  }

  /** Runs `op` after every earlier presence operation of this member. */
  private serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.ops.then(op, op);
    this.ops = run.catch(() => undefined);
    return run;
  }

  /** Tracks the join's meta, then (unless the member left meanwhile) calls `tracked`, pushes `presence_state` and broadcasts the join diff. */
  track(tracked: () => void): Promise<void> {
    return this.serial(async () => {
      if (this.ended) return;
      const { phx_ref: _ignored, ...meta } = this.meta!;
      this.meta = await this.deps.presence.track(this.ctx.topic, this.sessionId, meta);
      tracked();
      this.ctx.push('presence_state', await this.deps.presence.list(this.ctx.topic));
      this.ctx.broadcast('presence_diff', joinDiff(this.sessionId, this.meta));
    });
  }

  /**
   * A client's event that changes its meta (entered, entering, profile, flags):
   * limited per member by presenceUpdateRate, since each one is a
   * presence_diff to everyone in the room. `payload` must be an object.
   */
  clientChange(event: string, payload: unknown, change: ClientMetaChange, enters = false): Reply | Promise<Reply | undefined> {
    if (!this.bucket.take()) {
      const { perSecond, burst } = this.deps.presenceUpdateRate;
      return error(ErrorCodes.RATE_LIMITED, `${event}: too many presence updates: at most ${perSecond} a second (bursts of ${burst}, PRESENCE_UPDATE_RATE_PER_SECOND / PRESENCE_UPDATE_BURST); this one was not applied. Send only the latest state, less often.`);
    }
    if (!hubSchemas.object(payload)) return error(ErrorCodes.INVALID_PAYLOAD, 'The payload must be a JSON object (or null).');
    return this.update((meta) => change(meta, payload), enters);
  }

  /** Replaces this member's meta and broadcasts ONE diff (leave old + join new); with `enters`, enforces room_size and answers. */
  update(change: MetaChange, enters = false): Promise<Reply | undefined> {
    return this.serial(async () => {
      const current = this.meta;
      if (!current?.phx_ref || this.ended) return undefined;
      const { phx_ref, phx_ref_prev: _prev, ...rest } = current;
      const next = change(rest);
      const tooLarge = this.tooLarge(next.profile, next.context);
      if (tooLarge) return tooLarge;
      // room_size is enforced when a member enters (lobby → room); owners may always enter (as Hubs' canEnterRoom).
      const limited = enters && current.presence !== 'room' && !this.room.mayAlwaysEnter;
      const limit = this.room.roomSize;
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

  /** Ends this member's presence: no update applies any more; the meta is untracked (a leave diff) after the operations before. */
  leave(): Promise<void> {
    this.ended = true;
    return this.serial(async () => {
      const current = this.meta;
      this.meta = null;
      if (!current?.phx_ref) return;
      const old = await this.deps.presence.untrack(this.ctx.topic, this.sessionId, current.phx_ref);
      if (old) this.ctx.broadcast('presence_diff', leaveDiff(this.sessionId, old));
    });
  }
}

/** Flag events → the meta field they set and its value. */
const PRESENCE_FLAGS: ReadonlyArray<[event: string, field: string, value: boolean]> = [
  ['events:begin_streaming', 'streaming', true],
  ['events:end_streaming', 'streaming', false],
  ['events:begin_recording', 'recording', true],
  ['events:end_recording', 'recording', false],
  ['events:raise_hand', 'hand_raised', true],
  ['events:lower_hand', 'hand_raised', false],
  ['events:begin_typing', 'typing', true],
  ['events:end_typing', 'typing', false],
];

/**
 * The events that change a member's own meta, each ONE `presence_diff`
 * (reference/reticulum.md §1.2): `events:entered` (presence `room`, `hmd`
 * for a non-Screen entryDisplayType; room_size enforced, answered `{}` or
 * `room_full`), `events:entering` / `events:entering_cancelled` (context
 * `entering`), `events:profile_updated {profile}`, and the streaming,
 * recording, hand and typing flags.
 */
export function presenceMetaHandlers(): HubEventHandlers {
  const handlers: HubEventHandlers = {
    'events:entered': (member, payload) =>
      member.changeMeta('events:entered', payload, (m, p) => {
        const context = { ...(m.context as Record<string, unknown>) };
        delete context.entering;
        if (typeof p.entryDisplayType === 'string' && p.entryDisplayType !== 'Screen') context.hmd = true;
        return { ...m, presence: 'room', context };
      }, true),
    'events:entering': (member, payload) => member.changeMeta('events:entering', payload, (m) => ({ ...m, context: { ...(m.context as Record<string, unknown>), entering: true } })),
    'events:entering_cancelled': (member, payload) =>
      member.changeMeta('events:entering_cancelled', payload, (m) => {
        const context = { ...(m.context as Record<string, unknown>) };
        delete context.entering;
        return { ...m, context };
      }),
    'events:profile_updated': (member, payload) => {
      const valid = hubSchemas.profileUpdated;
      if (!valid(payload)) return error(ErrorCodes.INVALID_PAYLOAD, `events:profile_updated: ${describeErrors(valid.errors)}; expected {profile: {...}}.`);
      const profile = payload.profile;
      return member.changeMeta('events:profile_updated', payload, (m) => ({ ...m, profile }));
    },
  };
  for (const [event, field, value] of PRESENCE_FLAGS) handlers[event] = (member, payload) => member.changeMeta(event, payload, (m) => ({ ...m, [field]: value }));
  return handlers;
}
