import type { IdentifiedAccount } from '../auth/account-ref.ts';
import type { HubRepository } from '../db/hub-repository.ts';
import type { HubRecord } from '../db/hubs.ts';
import { ErrorCodes, type ErrorCode } from '../errors.ts';
import { AppConfigKeys } from '../app-config.ts';

/** Why someone may not come in: a reason of the catalog, what to do, and extra reply fields. A channel sends it as an error reply. */
export interface Refusal {
  reason: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

/** What {@link Admission} needs. */
export interface AdmissionDeps {
  hubs: HubRepository;
  /** Runtime switches (`features|require_account_for_join`); absent: all off. */
  appConfig?: { flag(key: string): Promise<boolean> };
}

/**
 * Who may come into a room (Reticulum's HubChannel join, reference/reticulum.md
 * §1.2 join steps, §3.1): the room must exist and be open, the server may
 * require an account, a disabled account and a banned session or account
 * stay out, an invite-only room needs its active invite (except for those
 * who may manage it), and entering from the lobby is bounded by `room_size`
 * (presence's `updateIfRoomBelow`; owners may always enter). Each check
 * returns a {@link Refusal} or null; none changes anything.
 */
export class Admission {
  constructor(private readonly deps: AdmissionDeps) {}

  /** The room, or `not_found` (no such room) / `closed` (entry_mode `deny`). */
  async openRoom(hubSid: string): Promise<{ hub: HubRecord } | { refusal: Refusal }> {
    const hub = await this.deps.hubs.findBySid(hubSid);
    if (!hub) return { refusal: { reason: ErrorCodes.HUB_NOT_FOUND, message: 'No such Hub: this room does not exist. Check the link, or create a new room from the lobby.' } };
    if (hub.entryMode === 'deny') return { refusal: { reason: ErrorCodes.HUB_CLOSED, message: 'Hub no longer accessible: the room was closed by its owner.' } };
    return { hub };
  }

  /** `join_denied` for an anonymous member when `features|require_account_for_join` is on (Reticulum's join_with_hub). */
  async accountRequired(account: IdentifiedAccount | null): Promise<Refusal | null> {
    if (account || !this.deps.appConfig || !(await this.deps.appConfig.flag(AppConfigKeys.REQUIRE_ACCOUNT_FOR_JOIN))) return null;
    return { reason: ErrorCodes.JOIN_DENIED, message: 'Join denied: this server requires an account to join rooms; sign in and join with your auth_token.' };
  }

  /**
   * Whether this session, as this account (or anonymous), may be in the room:
   * the one check the join and `sign_in` both run, so that signing in inside
   * the room can never let in someone the door would refuse.
   * - a disabled account → `join_denied`;
   * - a ban in force (a kick) of the session or of the account → `join_denied {banned_until}` (ISO 8601).
   */
  async memberRefusal(hub: HubRecord, sessionId: string, account: IdentifiedAccount | null): Promise<Refusal | null> {
    if (account?.disabled) {
      return { reason: ErrorCodes.JOIN_DENIED, message: 'Join denied: this account is disabled. Ask the server\'s admin, or come in without signing in.' };
    }
    const until = await this.deps.hubs.bannedUntil(hub.id, sessionId, account?.accountId ?? null);
    if (!until) return null;
    return {
      reason: ErrorCodes.JOIN_DENIED,
      message: `Join denied: you were removed from this room by a moderator and may come back after ${until.toISOString()}.`,
      details: { banned_until: until.toISOString() },
    };
  }

  /**
   * The invite check of an invite-only room (entry_mode `invite`): those who
   * may manage the room (`update_hub`) come in without one; others need the
   * room's active `hub_invite_id`.
   */
  async inviteRefusal(hub: HubRecord, mayManage: boolean, inviteId: string | null | undefined): Promise<Refusal | null> {
    if (hub.entryMode !== 'invite' || mayManage) return null;
    if (inviteId && (await this.deps.hubs.isActiveInvite(hub.id, inviteId))) return null;
    return { reason: ErrorCodes.JOIN_DENIED, message: 'Join denied: this room is invite-only. Ask an owner for an invite link (it carries hub_invite_id).' };
  }

  /** Whether entering from the lobby is bounded by room_size: owners (`update_hub`) may always enter, as Hubs' canEnterRoom. */
  sizeApplies(mayManage: boolean): boolean {
    return !mayManage;
  }

  /** `room_full` when `limit` people are in the room. */
  roomFull(limit: number): Refusal {
    return {
      reason: ErrorCodes.ROOM_FULL,
      message: `The room is full: ${limit} people are in it (room_size). Wait in the lobby and try again when someone leaves.`,
      details: { room_size: limit },
    };
  }
}
