/**
 * One person's connection to one room over Phoenix Channels V2 (the `phoenix`
 * npm client): socket `/socket/websocket?vsn=2.0.0`, channel `hub:<hub_sid>`,
 * Phoenix Presence, chat and the NAF relay events. Shapes follow Reticulum's
 * hub channel (reference/reticulum.md §1, reference/naf-phoenix-client.md
 * §5.1–§5.5, and the Plexus brief):
 *
 * - join params `{profile: {displayName, avatarId?}, context: {mobile, embed, hmd}}`;
 * - join ok `{hubs: [hub], session_id, session_token}`; join error
 *   `{reason: "not_found" | "closed", message}`, after which we leave the
 *   channel so phoenix.js stops re-joining;
 * - `presence_state` / `presence_diff`, key = session_id, metas
 *   `{presence: "lobby" | "room", profile, context, roles, permissions, phx_ref}`;
 * - pushes `events:entered`, `events:profile_updated`, `message`, `naf`, `nafr`;
 * - events `message {session_id, type, body}`, `naf`, `nafr`.
 *
 * NAF messages that arrive before the NAF adapter is listening are buffered
 * (a peer first-syncs its objects to us as soon as our presence appears,
 * which can be before NAF is connected).
 *
 * Cluster failover: the connection remembers the cluster's nodes (`nodes` of
 * `/api/v1/meta`, asked at start and refreshed by every later answer). After
 * a socket error it asks meta at the page's origin, then at each remembered
 * node (the failing one last), and points phoenix.js's next reconnect at the
 * node named (`endPoint`, as Hubs does); the `session_token` socket param
 * keeps our session_id on any node. It also joins `ret` (params `{hub_id}`)
 * on the same socket: on `notice {event: "ret-deploy"}` it waits 0–2 s
 * (spreading the load, as Hubs does), finds another node the same way and
 * reconnects the socket there; the channels rejoin by themselves.
 */
import { Presence, Socket, type Channel } from 'phoenix';
import { NodeFinder, nodeOfSocketUrl, sameNode, socketUrlForNode, type NodeAddress } from './cluster-nodes.ts';
import type { HubInfo } from './hub-api.ts';
import { decodeNafEvent, decodeNafrEvent, type IncomingNaf, type NafPush } from './naf-transport.ts';

/** Permissions a member has in the room (join reply `member_permissions`, presence `permissions`). */
export interface MemberPermissions {
  spawn_and_move_media?: boolean;
  spawn_camera?: boolean;
  spawn_drawing?: boolean;
  pin_objects?: boolean;
  spawn_emoji?: boolean;
  fly?: boolean;
  voice_chat?: boolean;
  text_chat?: boolean;
  [other: string]: boolean | undefined;
}

/** Room description in the join reply. */
export interface JoinedHub extends HubInfo {
  member_permissions?: MemberPermissions;
}

/** Profile sent in join params and `events:profile_updated`. */
export interface Profile {
  displayName: string;
  avatarId?: string;
}

/** One presence meta, as the server tracks it. */
export interface PresenceMeta {
  presence?: string;
  profile?: Partial<Profile>;
  context?: Record<string, unknown>;
  roles?: Record<string, boolean>;
  permissions?: MemberPermissions;
  phx_ref?: string;
}

/** A person in the room, from presence (newest meta of the key). */
export interface Person {
  /** Presence key = session_id = NAF clientId. */
  sessionId: string;
  displayName: string;
  /** "lobby" before `events:entered`, "room" after. */
  presence: string;
  permissions: MemberPermissions;
}

/** A chat line received on the channel. */
export interface ChatMessage {
  sessionId: string;
  type: string;
  body: string;
}

/** Why joining failed: the server's reason and message, or a local one. */
export interface JoinFailure {
  reason: string;
  message: string;
}

/** Connection state shown to the person. */
export type LinkState = 'connecting' | 'joined' | 'reconnecting' | 'failed';

type Listener<T> = (value: T) => void;

class Emitter<T> {
  private listeners = new Set<Listener<T>>();
  on(listener: Listener<T>): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  emit(value: T): void {
    for (const listener of [...this.listeners]) listener(value);
  }
}

/** Most NAF messages kept while nobody listens; older ones are dropped first. */
export const NAF_BUFFER_LIMIT = 2000;

/** Topic of Reticulum's per-session channel, whose `notice` announces a node's shutdown. */
export const RET_TOPIC = 'ret';
/** Longest random wait before moving to another node after `ret-deploy` (ms), as Hubs spreads reconnects. */
export const RET_DEPLOY_MAX_DELAY_MS = 2000;
/** Longest wait for the bridge connection of a ret-deploy move to be in the room before moving anyway (ms). */
export const BRIDGE_JOIN_MS = 5000;
/** Longest a bridge connection stays open when the moved hub channel does not re-join (ms). */
export const BRIDGE_MAX_MS = 20000;

/** Options of {@link RoomConnection} (tests and debugging). */
export interface RoomConnectionOptions {
  /** Phoenix endpoint, default `/socket` (same host as the page). */
  endpoint?: string;
  /** Finds live nodes through `/api/v1/meta`; default one over `location` and `fetch`. */
  finder?: NodeFinder;
  /** Random number in [0, 1) for the ret-deploy delay; default `Math.random`. */
  random?: () => number;
  /** The room's creator assignment token (kept by the lobby that created the room): sent as a join param, it gives the creator role. */
  creatorAssignmentToken?: string | null;
}

/** A pin or unpin of an object in the room (`pin` / `unpin` broadcasts). */
export interface PinChange {
  objectId: string;
  pinned: boolean;
  /** The stored glTF node (pins only). */
  gltfNode?: Record<string, unknown>;
}

/**
 * The room connection. Create it, subscribe to its emitters, then `join()`.
 */
export class RoomConnection {
  /** session_id from the last join ok (null before the first one). */
  sessionId: string | null = null;
  /** session_token from the last join ok; sent as socket param on reconnects. */
  sessionToken: string | null = null;
  /** The room from the last join ok. */
  hub: JoinedHub | null = null;
  /** Current link state. */
  state: LinkState = 'connecting';
  /** How many times the join succeeded (2+ means re-joins after reconnects). */
  joinCount = 0;

  /** Fires with each join ok (first join and re-joins). */
  readonly joined = new Emitter<{ sessionId: string; rejoin: boolean; sessionChanged: boolean }>();
  /** Fires when the join is refused for good (not_found, closed, ...). */
  readonly failed = new Emitter<JoinFailure>();
  /** Fires after every presence sync with the full list of people. */
  readonly presenceChanged = new Emitter<Person[]>();
  /** Fires for each chat message (our own ones too: the server echoes them). */
  readonly chatReceived = new Emitter<ChatMessage>();
  /** Fires when the link state changes. */
  readonly stateChanged = new Emitter<LinkState>();
  /** Fires for each `pin` / `unpin` broadcast (our own ones too). */
  readonly pinChanged = new Emitter<PinChange>();
  /** Fires with the node's socket URL each time the socket is pointed at another node. */
  readonly endpointChanged = new Emitter<string>();
  /** How many times the socket moved to another node after a `ret-deploy` notice. */
  deployMoves = 0;

  private readonly socketParams: Record<string, string> = {};
  private readonly joinParams: { profile: Profile; context: { mobile: boolean; embed: boolean; hmd: boolean }; creator_assignment_token?: string };
  private readonly socket: Socket;
  private readonly channel: Channel;
  private readonly retChannel: Channel;
  private readonly presence: Presence;
  private readonly finder: NodeFinder;
  private readonly random: () => number;
  private nafListener: ((message: IncomingNaf) => void) | null = null;
  private nafBuffer: IncomingNaf[] = [];
  private entered = false;
  private closed = false;
  private moving = false;

  /**
   * @param hubSid the room's hub_sid (topic `hub:<hub_sid>`)
   * @param profile initial profile for the join params
   * @param options endpoint, node finder, random source
   */
  constructor(
    readonly hubSid: string,
    profile: Profile,
    options: RoomConnectionOptions = {},
  ) {
    this.joinParams = { profile: { ...profile }, context: { mobile: false, embed: false, hmd: false } };
    if (options.creatorAssignmentToken) this.joinParams.creator_assignment_token = options.creatorAssignmentToken;
    this.finder = options.finder ?? new NodeFinder(location);
    this.random = options.random ?? Math.random;
    // phoenix.js evaluates params when it (re)connects: the object is read each time.
    // After a kick this tab comes back with the kicked session, which the server refuses until the ban ends.
    const kicked = readKickedSession(hubSid);
    if (kicked) this.socketParams['session_token'] = kicked;
    this.socket = new Socket(options.endpoint ?? '/socket', { params: () => ({ ...this.socketParams }) });
    this.socket.onError(() => {
      this.setState(this.state === 'failed' ? 'failed' : 'reconnecting');
      this.refreshEndpoint();
    });
    this.socket.onClose(() => {
      if (this.state === 'joined') this.setState('reconnecting');
    });
    this.retChannel = this.socket.channel(RET_TOPIC, { hub_id: hubSid });
    this.retChannel.on('notice', (payload: unknown) => {
      const p = payload as { event?: unknown } | null;
      if (p?.event === 'ret-deploy') this.moveForDeploy();
    });
    this.channel = this.socket.channel(`hub:${hubSid}`, this.joinParams);
    this.presence = new Presence(this.channel);
    this.presence.onSync(() => this.presenceChanged.emit(this.people()));
    this.channel.on('message', (payload: unknown) => {
      const p = payload as { session_id?: unknown; type?: unknown; body?: unknown } | null;
      if (p && typeof p.session_id === 'string' && typeof p.body === 'string') {
        this.chatReceived.emit({ sessionId: p.session_id, type: typeof p.type === 'string' ? p.type : 'chat', body: p.body });
      }
    });
    // A moderator removed us (kick): the server closes the socket and refuses rejoins until the ban ends.
    this.channel.on('kicked', (payload: unknown) => {
      const until = (payload as { banned_until?: unknown } | null)?.banned_until;
      const when = typeof until === 'string' ? ` You can come back after ${new Date(until).toLocaleTimeString()}.` : '';
      if (this.sessionToken && typeof until === 'string') rememberKickedSession(this.hubSid, this.sessionToken, until);
      this.fail({ reason: 'kicked', message: `You were removed from this room by a moderator.${when}` });
      this.socket.disconnect();
    });
    this.channel.on('pin', (payload: unknown) => {
      const p = payload as { object_id?: unknown; gltf_node?: unknown } | null;
      if (typeof p?.object_id === 'string') this.pinChanged.emit({ objectId: p.object_id, pinned: true, gltfNode: p.gltf_node as Record<string, unknown> });
    });
    this.channel.on('unpin', (payload: unknown) => {
      const p = payload as { object_id?: unknown } | null;
      if (typeof p?.object_id === 'string') this.pinChanged.emit({ objectId: p.object_id, pinned: false });
    });
    this.channel.on('naf', (payload: unknown) => this.receiveNaf(decodeNafEvent(payload)));
    this.channel.on('nafr', (payload: unknown) => this.receiveNaf(decodeNafrEvent(payload)));
  }

  /** Opens the socket and joins the hub and ret channels; results arrive through `joined` / `failed`. */
  join(): void {
    void this.finder.learn();
    this.socket.connect();
    // The ret channel only carries notices; a failed join is retried by phoenix.js and changes nothing else.
    this.retChannel.join();
    this.channel
      .join()
      .receive('ok', (response: unknown) => this.onJoinOk(response))
      .receive('error', (response: unknown) => {
        const r = response as { reason?: unknown; message?: unknown } | undefined;
        const reason = typeof r?.reason === 'string' ? r.reason : 'join_failed';
        const message = typeof r?.message === 'string' ? r.message : `Could not join the room (${reason}).`;
        this.fail({ reason, message });
      })
      .receive('timeout', () => this.setState('reconnecting'));
  }

  /** Leaves the channels and closes the socket. */
  close(): void {
    this.closed = true;
    this.channel.leave();
    this.retChannel.leave();
    this.socket.disconnect();
  }

  /** The socket's endpoint as an absolute `ws(s)://host:port/socket/websocket` URL (without params). */
  socketEndpoint(): string {
    const endPoint = (this.socket as unknown as { endPoint: string }).endPoint;
    const node = nodeOfSocketUrl(endPoint, location);
    return node ? socketUrlForNode(node, location) : endPoint;
  }

  /** The cluster's nodes as last learned from `/api/v1/meta` (empty on a single node). */
  clusterNodes(): NodeAddress[] {
    return this.finder.nodes.map((n) => ({ ...n }));
  }

  private endpointRefresh: Promise<void> | null = null;

  /** The node the socket currently points at. */
  private currentNode(): NodeAddress | null {
    return nodeOfSocketUrl((this.socket as unknown as { endPoint: string }).endPoint, location);
  }

  /** Points phoenix.js's next (re)connect at `node` (its `endPoint` field, as Hubs does). */
  private pointAt(node: NodeAddress): void {
    const url = socketUrlForNode(node, location);
    const socket = this.socket as unknown as { endPoint: string };
    if (socket.endPoint === url) return;
    socket.endPoint = url;
    this.endpointChanged.emit(url);
  }

  /**
   * After a socket error, finds a live node through `/api/v1/meta` (page
   * origin first, then the remembered nodes, the failing one last) and
   * points phoenix.js's next reconnect there. One search at a time.
   */
  private refreshEndpoint(): void {
    if (this.endpointRefresh || this.closed) return;
    const failing = this.currentNode();
    this.endpointRefresh = this.finder.find(failing).then((node) => {
      if (node && !this.closed) this.pointAt(node);
      this.endpointRefresh = null;
    });
  }

  /**
   * `ret-deploy`: our node is shutting down. After a random 0–2 s, find
   * another node and reconnect the socket there (the hub and ret channels
   * rejoin on the new connection, with our session_token). Make before
   * break, as Hubs overlaps its old and new sockets: a bridge connection
   * joins the room on the new node first, so our presence key never empties
   * on others' pages (an empty key makes their NAF delete our avatar and
   * every object we created, including ones they now own), and leaves once
   * the moved hub channel has re-joined and received its `presence_state`. When no other node answers, stay:
   * the node closes us and the reconnect path takes over.
   */
  private moveForDeploy(): void {
    if (this.moving || this.closed) return;
    this.moving = true;
    const delay = Math.floor(this.random() * RET_DEPLOY_MAX_DELAY_MS);
    setTimeout(() => {
      void this.moveTo(this.currentNode()).finally(() => {
        this.moving = false;
      });
    }, delay);
  }

  private async moveTo(leaving: NodeAddress | null): Promise<void> {
    const node = await this.finder.find(leaving);
    if (!node || this.closed || (leaving && sameNode(node, leaving, location))) return;
    const closeBridge = this.sessionId ? await this.openBridge(node) : () => {};
    if (this.closed) {
      closeBridge();
      return;
    }
    this.pointAt(node);
    this.deployMoves++;
    // Close the bridge when the moved channel's presence_state arrives, not at its join reply: the
    // server tracks the re-joined channel after replying and sends the others its join diff in the
    // same turn as this presence_state, so the bridge's leave diff can only come after it.
    const stateRef = this.channel.on('presence_state', () => done());
    const offFailed = this.failed.on(() => done());
    const timer = setTimeout(() => done(), BRIDGE_MAX_MS);
    let finished = false;
    const done = (): void => {
      if (finished) return;
      finished = true;
      this.channel.off('presence_state', stateRef);
      offFailed();
      clearTimeout(timer);
      closeBridge();
    };
    this.socket.disconnect();
    this.socket.connect();
  }

  /**
   * Joins the room on `node` over a second, temporary socket with our
   * session_token (so under our session_id) and, when we are in the room,
   * marks that presence "room". Resolves once the server tracked it
   * (`presence_state` arrived) or after {@link BRIDGE_JOIN_MS}, with a
   * function that leaves and closes it.
   */
  private openBridge(node: NodeAddress): Promise<() => void> {
    const url = socketUrlForNode(node, location).replace(/\/websocket$/, '');
    const socket = new Socket(url, { params: { ...this.socketParams }, reconnectAfterMs: () => BRIDGE_MAX_MS });
    const channel = socket.channel(`hub:${this.hubSid}`, { ...this.joinParams, profile: { ...this.joinParams.profile } });
    let closed = false;
    const close = (): void => {
      if (closed) return;
      closed = true;
      channel.leave();
      socket.disconnect();
    };
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(close), BRIDGE_JOIN_MS);
      channel.on('presence_state', () => {
        if (this.entered) channel.push('events:entered', { entryDisplayType: 'Screen', userAgent: navigator.userAgent });
        clearTimeout(timer);
        resolve(close);
      });
      socket.connect();
      channel
        .join()
        .receive('ok', (response: unknown) => {
          // Another session would be a second person in the room: drop it.
          if ((response as { session_id?: unknown } | undefined)?.session_id !== this.sessionId) {
            close();
            clearTimeout(timer);
            resolve(close);
          }
        })
        .receive('error', () => {
          close();
          clearTimeout(timer);
          resolve(close);
        });
    });
  }

  /** True while the WebSocket is open (unreliable NAF sends are dropped otherwise). */
  isSocketOpen(): boolean {
    return this.socket.connectionState() === 'open';
  }

  /** Presence keys (session_ids) currently present, in presence order. */
  occupants(): string[] {
    return this.presence.list((key: string) => key);
  }

  /** Everyone present, from the newest meta of each key. */
  people(): Person[] {
    return this.presence.list((key: string, entry: { metas?: PresenceMeta[] }) => {
      const metas = entry.metas ?? [];
      const meta: PresenceMeta = metas[metas.length - 1] ?? {};
      return {
        sessionId: key,
        displayName: typeof meta.profile?.displayName === 'string' ? meta.profile.displayName : '',
        presence: typeof meta.presence === 'string' ? meta.presence : 'lobby',
        permissions: meta.permissions ?? {},
      };
    });
  }

  /** The `phx_ref` of each presence meta of `sessionId` (one per connection joined under that session), oldest first. */
  presenceRefs(sessionId: string): string[] {
    const refs: string[] = [];
    this.presence.list((key: string, entry: { metas?: PresenceMeta[] }) => {
      if (key === sessionId) for (const meta of entry.metas ?? []) if (typeof meta.phx_ref === 'string') refs.push(meta.phx_ref);
    });
    return refs;
  }

  /** Display name of a session from presence, or null when not present. */
  displayNameOf(sessionId: string): string | null {
    return this.people().find((p) => p.sessionId === sessionId)?.displayName ?? null;
  }

  /**
   * Moves our presence from "lobby" to "room" (`events:entered`); again after
   * each re-join, as Hubs does.
   */
  enter(): void {
    this.entered = true;
    this.channel.push('events:entered', { entryDisplayType: 'Screen', userAgent: navigator.userAgent });
  }

  /** Changes our profile (`events:profile_updated`) and the params of future joins. */
  updateProfile(profile: Profile): void {
    this.joinParams.profile = { ...profile };
    this.channel.push('events:profile_updated', { profile: { ...profile } });
  }

  /** The profile we join with. */
  profile(): Profile {
    return { ...this.joinParams.profile };
  }

  /** Sends a chat line (`message {type: "chat", body}`); it comes back through `chatReceived`. */
  /** True when our presence meta lets us pin: `pin_objects` and the creator role or a signed-in account. */
  canPin(): boolean {
    if (!this.sessionId) return false;
    const metas = (this.presence.list((key: string, entry: { metas?: PresenceMeta[] }) => (key === this.sessionId ? entry.metas ?? [] : null)) as Array<PresenceMeta[] | null>).find((m) => m !== null);
    const meta = metas?.[metas.length - 1];
    return !!meta?.permissions?.pin_objects && !!(meta.roles?.['creator'] || meta.roles?.['signed_in']);
  }

  /**
   * Pins (`pin {id, gltf_node}`) or unpins (`unpin {id}`) an object; resolves
   * on the server's ok, rejects with its message otherwise.
   */
  setPinned(objectId: string, gltfNode: Record<string, unknown> | null): Promise<void> {
    return new Promise((resolve, reject) => {
      const push = gltfNode ? this.channel.push('pin', { id: objectId, gltf_node: gltfNode }) : this.channel.push('unpin', { id: objectId });
      push
        .receive('ok', () => resolve())
        .receive('error', (r: unknown) => reject(new Error(String((r as { message?: unknown } | null)?.message ?? 'refused'))))
        .receive('timeout', () => reject(new Error('no answer from the server')));
    });
  }

  sendChat(body: string): void {
    this.channel.push('message', { type: 'chat', body });
  }

  /** Pushes a NAF message built by `encodeNafPush`. */
  pushNaf(push: NafPush): void {
    this.channel.push(push.event, push.payload);
  }

  /**
   * Sets (or clears, with null) the one consumer of incoming NAF messages;
   * messages buffered meanwhile are delivered first, in order.
   */
  setNafListener(listener: ((message: IncomingNaf) => void) | null): void {
    this.nafListener = listener;
    if (!listener) return;
    const buffered = this.nafBuffer;
    this.nafBuffer = [];
    for (const message of buffered) listener(message);
  }

  private receiveNaf(message: IncomingNaf | null): void {
    if (!message) return;
    if (this.nafListener) {
      this.nafListener(message);
      return;
    }
    this.nafBuffer.push(message);
    if (this.nafBuffer.length > NAF_BUFFER_LIMIT) this.nafBuffer.shift();
  }

  private onJoinOk(response: unknown): void {
    const r = response as { hubs?: JoinedHub[]; session_id?: unknown; session_token?: unknown } | undefined;
    if (typeof r?.session_id !== 'string') {
      this.fail({ reason: 'bad_reply', message: 'The server accepted the join but sent no session_id.' });
      return;
    }
    // The meta fetch at start can fail (e.g. a busy page timing it out): learn the cluster's nodes now,
    // so that a later failover or ret-deploy move has somewhere to go.
    if (this.finder.nodes.length === 0) void this.finder.learn();
    const previous = this.sessionId;
    this.sessionId = r.session_id;
    if (typeof r.session_token === 'string') {
      this.sessionToken = r.session_token;
      this.socketParams['session_token'] = r.session_token;
    }
    this.hub = r.hubs?.[0] ?? this.hub;
    this.joinCount++;
    this.setState('joined');
    const rejoin = this.joinCount > 1;
    if (rejoin && this.entered) this.enter();
    this.joined.emit({ sessionId: r.session_id, rejoin, sessionChanged: previous !== null && previous !== r.session_id });
  }

  private fail(failure: JoinFailure): void {
    this.setState('failed');
    // Stop phoenix.js from re-joining every few seconds.
    this.channel.leave();
    this.failed.emit(failure);
  }

  private setState(state: LinkState): void {
    if (this.state === state) return;
    this.state = state;
    this.stateChanged.emit(state);
  }
}

/** sessionStorage key of the session a moderator kicked from room `hubSid`. */
function kickedKey(hubSid: string): string {
  return `plexus:kicked:${hubSid}`;
}

/** Keeps the kicked session's token for this tab until the ban ends (a reload then rejoins as that session and is refused). */
function rememberKickedSession(hubSid: string, sessionToken: string, bannedUntil: string): void {
  try {
    sessionStorage.setItem(kickedKey(hubSid), JSON.stringify({ sessionToken, bannedUntil }));
  } catch {
    // Storage may be unavailable (privacy mode); the server still refuses this session.
  }
}

/** The kicked session's token for `hubSid` while its ban lasts, else null. */
function readKickedSession(hubSid: string): string | null {
  try {
    const raw = sessionStorage.getItem(kickedKey(hubSid));
    if (!raw) return null;
    const v = JSON.parse(raw) as { sessionToken?: unknown; bannedUntil?: unknown };
    if (typeof v.sessionToken === 'string' && typeof v.bannedUntil === 'string' && Date.parse(v.bannedUntil) > Date.now()) return v.sessionToken;
    sessionStorage.removeItem(kickedKey(hubSid));
  } catch {
    // unreadable: ignore
  }
  return null;
}
