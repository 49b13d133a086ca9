import { ErrorCodes, permissionDeniedMessage } from '../../errors.ts';
import { error, ok } from '../../realtime/channel.ts';
import type { Reply } from '../../realtime/channel.ts';
import type { HubEventHandlers, HubSession } from './hub-member.ts';
import { describeErrors, hubSchemas } from './schemas.ts';
import { withoutKey } from './naf-relay.ts';

/** `message`: chat and other messages to everyone, sender included, with the sender's session_id. */
function onMessage(member: HubSession, payload: unknown): Reply | undefined {
  const valid = hubSchemas.message;
  if (!valid(payload)) return error(ErrorCodes.INVALID_PAYLOAD, `message: ${describeErrors(valid.errors)}; expected {type: "chat", body: "..."}.`);
  if (!member.permissions.text_chat) {
    return error(ErrorCodes.PERMISSION_DENIED, permissionDeniedMessage('Sending messages', 'text_chat'), { permission: 'text_chat' });
  }
  // Tagged with the sender for the room's blocks (blocks.ts); session_id stays the last key, as it always was on the wire.
  member.ctx.broadcast('message', { ...withoutKey(payload, 'session_id'), session_id: member.sessionId }, member.sessionId);
  return undefined;
}

/**
 * Messages of the room (reference/reticulum.md §1.2): `message {type?, body}`
 * goes to everyone with the sender's `session_id` (`text_chat`; body at
 * most MAX_MESSAGE_BODY_BYTES); `events:object_spawned {object_type: 0..31}`
 * is checked and answered `{}` (Reticulum records it for stats only).
 */
export function chatHandlers(): HubEventHandlers {
  return {
    message: onMessage,
    'events:object_spawned': (_member, payload) => {
      const valid = hubSchemas.objectSpawned;
      if (!valid(payload)) return error(ErrorCodes.INVALID_PAYLOAD, `events:object_spawned: ${describeErrors(valid.errors)}; expected {object_type: 0..31}.`);
      return ok();
    },
  };
}
