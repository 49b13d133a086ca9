import type { Logger } from 'pino';
import type { PermsTokens } from '../../auth/perms-token.ts';
import type { SessionTokens } from '../../auth/session-token.ts';
import type { HubRepository } from '../../db/hub-repository.ts';
import type { PresenceStore } from '../../presence/presence-store.ts';
import type { ChannelRoute } from '../../realtime/channel.ts';
import type { Fanout } from '../../realtime/fanout.ts';
import { Admission } from '../../rooms/admission.ts';
import type { Rooms } from '../../rooms/rooms.ts';
import { RoomBlocks } from './blocks.ts';
import { chatHandlers } from './chat.ts';
import { HUB_TOPIC_PREFIX, HubChannel } from './hub-channel.ts';
import type { HubChannelDeps } from './hub-channel.ts';
import { eventTable } from './hub-member.ts';
import type { AccountTokenVerifier, HubEventTable } from './hub-member.ts';
import { moderationHandlers } from './moderation.ts';
import { hubNafHandlers } from './naf-relay.ts';
import { objectHandlers } from './objects.ts';
import { presenceMetaHandlers } from './presence-meta.ts';
import { RoomMembers } from './room-members.ts';
import { roomRuleHandlers } from './room-rules.ts';
import { signInHandlers } from './sign-in.ts';

/** What the hub channel is made of: the node's services and the settings the channel reads. */
export interface HubRouteDeps {
  /** The rows of rooms (db/hub-repository.ts). */
  hubs: HubRepository;
  /** The room domain: views with counts, `room_size`, `hub_refresh` (rooms/rooms.ts). */
  rooms: Rooms;
  presence: PresenceStore;
  /** The node's fan-out: room members' control messages, and the rooms' block filters. */
  fanout: Fanout;
  /** This node's room members (shared with the HTTP API, which tells rooms of changes). */
  members: RoomMembers;
  sessionTokens: SessionTokens;
  accountTokens: AccountTokenVerifier;
  permsTokens: PermsTokens;
  /** Runtime switches (`features|require_account_for_join`). */
  appConfig: { flag(key: string): Promise<boolean> };
  log: Logger;
  /** Config MAX_ROOM_SIZE, KICK_BAN_SECONDS, PRESENCE_META_MAX_BYTES, PRESENCE_UPDATE_* (DEFAULT_ROOM_SIZE is the Rooms'). */
  settings: {
    maxRoomSize: number;
    kickBanSeconds: number;
    presenceMetaMaxBytes: number;
    presenceUpdateRate: { perSecond: number; burst: number };
  };
}

/**
 * The hub channel's one event table, by concern: the NAF relay, presence
 * meta, chat, sign-in, moderation, persistent objects and room rules.
 * @throws Error when two groups handle the same event
 */
export function hubEvents(deps: HubRouteDeps, blocks: RoomBlocks, admission: Admission): HubEventTable {
  const { hubs, rooms, presence, members, accountTokens, permsTokens, appConfig, settings } = deps;
  return eventTable(
    hubNafHandlers(),
    presenceMetaHandlers(),
    chatHandlers(),
    signInHandlers({ hubs, admission, accountTokens, permsTokens, appConfig }),
    moderationHandlers({ hubs, presence, members, blocks, kickBanSeconds: settings.kickBanSeconds }),
    objectHandlers({ hubs }),
    roomRuleHandlers({ hubs, rooms, maxRoomSize: settings.maxRoomSize }),
  );
}

/** The route that serves `hub:<hub_sid>` topics, with its event table and this node's blocks. */
export function hubChannelRoute(deps: HubRouteDeps): ChannelRoute {
  const blocks = new RoomBlocks(deps.fanout);
  const admission = new Admission({ hubs: deps.hubs, appConfig: deps.appConfig });
  const { settings } = deps;
  const channelDeps: HubChannelDeps = {
    hubs: deps.hubs,
    rooms: deps.rooms,
    admission,
    presence: deps.presence,
    sessionTokens: deps.sessionTokens,
    accounts: deps.accountTokens,
    permsTokens: deps.permsTokens,
    log: deps.log,
    members: deps.members,
    blocks,
    events: hubEvents(deps, blocks, admission),
    presenceMetaMaxBytes: settings.presenceMetaMaxBytes,
    presenceUpdateRate: settings.presenceUpdateRate,
  };
  return {
    matches: (topic) => topic.startsWith(HUB_TOPIC_PREFIX),
    create: (ctx) => new HubChannel(ctx, channelDeps),
  };
}
