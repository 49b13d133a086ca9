/**
 * The networked-aframe adapter for Plexus, registered as `plexus`
 * (`networked-scene="adapter: plexus"`). Modelled on the behaviour of Hubs'
 * phoenix adapter (reference/naf-phoenix-client.md §1.1, §5.5):
 *
 * - NAF data goes over the room's hub channel, encoded by `encodeNafPush`
 *   (`naf` for first syncs, `nafr` otherwise); unreliable sends are dropped
 *   while the socket is not open, reliable ones are buffered by phoenix.js.
 * - `NAF.clientId` = our session_id (= presence key).
 * - NAF occupancy follows Phoenix Presence: a key's first appearance opens
 *   its "data channel" (`openListener`, so NAF first-syncs our objects to
 *   it), a key that disappears closes it (`closedListener`, so NAF removes
 *   that person's objects). Meta updates (lobby → room, profile) change
 *   nothing. The occupant map given to NAF is the presence keys, so NAF's
 *   `canSync` sees who is really here.
 * - Incoming `naf`/`nafr` are handed to NAF with source `phx-reliable`, and
 *   `NAF.options.syncSource = firstSyncSource = "phx-reliable"` as in Hubs.
 * - `getServerTime()` comes from `ServerClock` (HEAD `Date` header).
 *
 * NAF creates adapters with `new PlexusAdapter()`; the page attaches its
 * `RoomConnection` on the scene's `adapter-ready` event (as Hubs injects its
 * hub channel) before NAF calls `connect()`.
 */
import type { RoomConnection } from './room-connection.ts';
import { encodeNafPush } from './naf-transport.ts';
import { ServerClock } from './server-clock.ts';

/** The NAF message source name Hubs uses for channel traffic. */
export const PHX_RELIABLE_SOURCE = 'phx-reliable';
/** Name the adapter is registered under (NAF lower-cases requested names). */
export const PLEXUS_ADAPTER_NAME = 'plexus';
/**
 * Longest `connect()` waits for the first clock round (~1.1 s) before going
 * on with a rougher estimate (ms). Objects we stamp with `lastOwnerTime`
 * before the clock settles could lose ownership races they should win.
 */
export const CLOCK_WAIT_MS = 2500;

type OpenListener = (clientId: string) => void;
type MessageListener = (fromClientId: string, dataType: string, data: unknown, source: string) => void;

/** NAF adapter over a Plexus `RoomConnection`. */
export class PlexusAdapter implements NafAdapter {
  private room: RoomConnection | null = null;
  private clock: ServerClock | null = null;
  private readonly occupants = new Set<string>();
  private unsubscribers: Array<() => void> = [];
  private onConnectSuccess: ((clientId: string) => void) | null = null;
  private onConnectFailure: ((code: unknown, message: string) => void) | null = null;
  private onOccupants: ((occupants: Record<string, unknown>) => void) | null = null;
  private onOpen: OpenListener | null = null;
  private onClosed: OpenListener | null = null;
  private onMessage: MessageListener | null = null;

  /**
   * Gives the adapter its room connection and, optionally, a clock (default:
   * a `ServerClock` on `location.href`). Must happen before `connect()`.
   */
  attach(room: RoomConnection, clock?: ServerClock): void {
    this.room = room;
    this.clock = clock ?? new ServerClock(location.href);
  }

  /** NAF: ignored (the room connection already knows its endpoint). */
  setServerUrl(_url: string): void {}
  /** NAF: ignored. */
  setApp(_appName: string): void {}
  /** NAF: ignored (the room connection already knows its hub_sid). */
  setRoom(_roomName: string): void {}
  /** NAF: ignored (no WebRTC yet). */
  setWebRtcOptions(_options: { audio: boolean; video: boolean; datachannel: boolean }): void {}

  /** NAF: listeners for connect success (called with our session_id) and failure. */
  setServerConnectListeners(success: (clientId: string) => void, failure: (code: unknown, message: string) => void): void {
    this.onConnectSuccess = success;
    this.onConnectFailure = failure;
  }

  /** NAF: listener given `{session_id: true}` for every presence key on each presence change. */
  setRoomOccupantListener(listener: (occupants: Record<string, unknown>) => void): void {
    this.onOccupants = listener;
  }

  /** NAF: data channel open/closed per presence key, and message delivery. */
  setDataChannelListeners(open: OpenListener, closed: OpenListener, message: MessageListener): void {
    this.onOpen = open;
    this.onClosed = closed;
    this.onMessage = message;
  }

  /**
   * NAF: connects once the room connection has joined. Resolves after
   * `NAF.clientId` is set and current presence keys are opened.
   * @throws Error if no room connection was attached or the join failed
   */
  async connect(): Promise<void> {
    const room = this.room;
    if (!room || !this.clock) {
      const message = 'PlexusAdapter.connect() called before attach(room): attach on the scene\'s adapter-ready event.';
      this.onConnectFailure?.('not_attached', message);
      throw new Error(message);
    }
    NAF.options.syncSource = PHX_RELIABLE_SOURCE;
    NAF.options.firstSyncSource = PHX_RELIABLE_SOURCE;

    const sessionId = room.sessionId ?? (await waitForJoin(room));
    await Promise.race([this.clock.start(), new Promise((resolve) => setTimeout(resolve, CLOCK_WAIT_MS))]);

    this.onConnectSuccess?.(sessionId);
    this.unsubscribers.push(room.presenceChanged.on(() => this.syncOccupants()));
    this.unsubscribers.push(
      room.joined.on(({ rejoin, sessionChanged }) => {
        // After a re-join the server's relay state is fresh: first-sync
        // everything we own again, as Hubs does on re-join.
        if (rejoin && !sessionChanged && NAF.connection.isConnected()) {
          NAF.connection.entities.completeSync(null, true);
        }
      }),
    );
    this.syncOccupants();
    room.setNafListener((message) => this.onMessage?.(message.fromSessionId, message.dataType, message.data, PHX_RELIABLE_SOURCE));
  }

  /** NAF: never asks NAF to start a stream; presence drives occupancy. */
  shouldStartConnectionTo(_client: unknown): boolean {
    return false;
  }
  /** NAF: no-op (no peer connections). */
  startStreamConnection(_clientId: string): void {}
  /** NAF: no-op (no peer connections). */
  closeStreamConnection(_clientId: string): void {}

  /** NAF: IS_CONNECTED for present presence keys, NOT_CONNECTED otherwise. */
  getConnectStatus(clientId: string): string {
    return this.occupants.has(clientId) ? NAF.adapters.IS_CONNECTED : NAF.adapters.NOT_CONNECTED;
  }

  /** NAF: no audio/video in Plexus' client yet; always rejects. */
  getMediaStream(_clientId: string, _streamName?: string): Promise<MediaStream> {
    return Promise.reject(new Error('Plexus client has no media streams yet.'));
  }

  /** NAF: server time estimate in ms since the epoch (HEAD `Date` average). */
  getServerTime(): number {
    return this.clock ? this.clock.now() : Date.now();
  }

  /** NAF: unreliable targeted send (the server relays to everyone but us; the target filters nothing). */
  sendData(clientId: string, dataType: string, data: unknown): void {
    this.send(false, dataType, data, clientId);
  }
  /** NAF: reliable targeted send. */
  sendDataGuaranteed(clientId: string, dataType: string, data: unknown): void {
    this.send(true, dataType, data, clientId);
  }
  /** NAF: unreliable broadcast (e.g. `um` every sync tick). */
  broadcastData(dataType: string, data: unknown): void {
    this.send(false, dataType, data, undefined);
  }
  /** NAF: reliable broadcast (e.g. `u` full syncs, `r` removals). */
  broadcastDataGuaranteed(dataType: string, data: unknown): void {
    this.send(true, dataType, data, undefined);
  }

  /** NAF: closes every open data channel and stops listening. */
  disconnect(): void {
    for (const unsubscribe of this.unsubscribers) unsubscribe();
    this.unsubscribers = [];
    this.room?.setNafListener(null);
    this.clock?.stop();
    const self = this.room?.sessionId;
    for (const key of [...this.occupants]) {
      this.occupants.delete(key);
      if (key !== self) this.onClosed?.(key);
    }
  }

  private send(reliable: boolean, dataType: string, data: unknown, clientId: string | undefined): void {
    const room = this.room;
    if (!room) return;
    if (!reliable && !room.isSocketOpen()) return;
    room.pushNaf(encodeNafPush(dataType, data, clientId));
  }

  private syncOccupants(): void {
    const room = this.room;
    if (!room) return;
    const self = room.sessionId;
    const keys = room.occupants();
    const current = new Set(keys);
    const map: Record<string, unknown> = {};
    for (const key of keys) map[key] = true;
    this.onOccupants?.(map);
    for (const key of [...this.occupants]) {
      if (!current.has(key)) {
        this.occupants.delete(key);
        if (key !== self) this.onClosed?.(key);
      }
    }
    for (const key of keys) {
      if (!this.occupants.has(key)) {
        this.occupants.add(key);
        if (key !== self) this.onOpen?.(key);
      }
    }
  }
}

function waitForJoin(room: RoomConnection): Promise<string> {
  return new Promise((resolve, reject) => {
    const offJoined = room.joined.on(({ sessionId }) => {
      offJoined();
      offFailed();
      resolve(sessionId);
    });
    const offFailed = room.failed.on((failure) => {
      offJoined();
      offFailed();
      reject(new Error(failure.message));
    });
  });
}

/** Registers `PlexusAdapter` with NAF under the lower-case name `plexus`. */
export function registerPlexusAdapter(): void {
  NAF.adapters.register(PLEXUS_ADAPTER_NAME, PlexusAdapter);
}
