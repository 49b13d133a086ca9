import type { Fanout } from '../../realtime/fanout.ts';
import { SetMap } from '../../realtime/set-map.ts';

/**
 * What a room member on this node does when another node (or this one)
 * addresses it through a control message. Implemented by HubChannel.
 */
export interface ControlledMember {
  readonly sessionId: string;
  /** The room's topic, `hub:<hub_sid>`. */
  readonly topic: string;
  /** Applies one command addressed to this member or to its whole room. */
  control(command: MemberCommand): Promise<void>;
}

/**
 * Commands between nodes about room members (control messages on the
 * room's control topic `ctl:hub-room:hub:<sid>`, to the whole room or, with
 * `target`, to one session's members of it):
 * - `room_changed`: the room's row changed; reload it and re-derive permissions;
 * - `kick`: close this session's sockets (it is banned until `until`, ms since epoch);
 * - `mute`: tell the member it was muted (`mute` push) and record it;
 * - `set_owner`: add (`owner: true`) or remove the member's owner row (signed-in members only);
 * - `blocked_by`: `by` blocked this member (or unblocked, `on: false`): stop/resume delivering each other's messages.
 */
export type MemberCommand =
  | { op: 'room_changed'; topic: string }
  | { op: 'kick'; topic: string; by: string; until: number }
  | { op: 'mute'; topic: string; by: string }
  | { op: 'set_owner'; topic: string; by: string; owner: boolean }
  | { op: 'blocked_by'; topic: string; by: string; on: boolean };

const OPS = new Set(['room_changed', 'kick', 'mute', 'set_owner', 'blocked_by']);

/**
 * This node's room members, by room, and the control
 * messages that reach them from any node of the cluster. A node subscribes
 * to a room's control topic while it has members of the room (one broker
 * subscription per room, none per session).
 */
export class RoomMembers {
  private readonly byTopic = new SetMap<string, ControlledMember>();

  constructor(private readonly fanout: Fanout) {
    fanout.onControl((topic, message) => void this.receive(topic, message));
  }

  /** Registers a member that joined (call once per successful join). */
  add(member: ControlledMember): void {
    if (this.byTopic.add(member.topic, member)) this.fanout.subscribeControl(roomControlTopic(member.topic));
  }

  /** Reverses {@link add}. */
  remove(member: ControlledMember): void {
    if (this.byTopic.delete(member.topic, member)) this.fanout.unsubscribeControl(roomControlTopic(member.topic));
  }

  /**
   * Sends `command` to every member of its room on every node; resolves when
   * this node's members have applied it.
   */
  toRoom(command: MemberCommand): Promise<void> {
    const local = [...(this.byTopic.get(command.topic) ?? [])];
    this.fanout.publishControl(roomControlTopic(command.topic), command);
    return settle(local.map((m) => m.control(command)));
  }

  /** Sends `command` to the session `sessionId`'s member of `command.topic`, wherever it is connected. */
  toSession(sessionId: string, command: MemberCommand): Promise<void> {
    const local = [...(this.byTopic.get(command.topic) ?? [])].filter((m) => m.sessionId === sessionId);
    // Sent on the room's control topic (every node with members of the room has it), addressed to the session.
    this.fanout.publishControl(roomControlTopic(command.topic), { ...command, target: sessionId });
    return settle(local.map((m) => m.control(command)));
  }

  private async receive(topic: string, message: unknown): Promise<void> {
    const m = message as (MemberCommand & { target?: unknown }) | null;
    if (!m || typeof m !== 'object' || !OPS.has(m.op) || typeof m.topic !== 'string' || !topic.startsWith(ROOM_CONTROL)) return;
    const { target, ...command } = m;
    let targets = [...(this.byTopic.get(topic.slice(ROOM_CONTROL.length)) ?? [])];
    if (target !== undefined) targets = targets.filter((x) => x.sessionId === target);
    await settle(targets.map((t) => t.control(command as MemberCommand)));
  }
}

const ROOM_CONTROL = 'ctl:hub-room:';

/** Control topic of a room (`topic` is `hub:<sid>`). */
export function roomControlTopic(topic: string): string {
  return ROOM_CONTROL + topic;
}


async function settle(work: Array<Promise<void>>): Promise<void> {
  await Promise.allSettled(work);
}
