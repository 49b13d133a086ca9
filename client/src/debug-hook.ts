/**
 * `window.__plexus`: a test and debugging hook on the room page. End-to-end
 * tests read state through it and prefer real UI actions (clicking "Spawn
 * box", typing in chat, clicking a box on the canvas at `screenToBox`).
 *
 * ```ts
 * window.__plexus: {
 *   sessionId: string | null      // our session_id = NAF clientId, null before join
 *   joined: boolean               // hub channel joined and NAF connected
 *   entered: boolean              // we pushed events:entered (presence "room")
 *   occupants(): string[]         // presence keys
 *   people(): {sessionId, displayName, presence: "lobby"|"room"}[]
 *   entities(): {networkId, template, owner, creator, position: {x,y,z}}[]
 *                                 // every NAF entity this page knows, ours included;
 *                                 // position in metres, world space
 *   chat: {sessionId, body}[]     // chat lines received, oldest first
 *   spawnBox(): string            // spawns a #box-media box, returns its networkId
 *   grab(networkId): boolean      // take ownership and hold; false if refused/unknown
 *   release(): void               // let go of the held box
 *   held(): string | null         // networkId of the held box
 *   pinned(): string[]            // networkIds of the room's pinned objects
 *   hovered(): string | null      // networkId of the grabbable under the mouse cursor
 *   move(dx, dz): void            // moves our camera rig by dx, dz metres (world x, z)
 *   turn(yawDeg): void            // sets our heading: 0 looks along -z, 90 along -x
 *   thirdPerson(on): void         // switches to a camera behind our own avatar (V key), or back
 *   screenToBox(networkId): {x, y} | null
 *                                 // page pixel (CSS px) of a box's centre on the
 *                                 // canvas, null if unknown or off screen
 *   serverTimeOffset(): number    // ms, server clock − client clock estimate
 *   socketEndpoint: string        // ws(s)://host:port/socket/websocket the socket (re)connects to
 *   linkState: "connecting" | "joined" | "reconnecting" | "failed"
 *   joinCount: number             // hub channel join oks (2+ after re-joins)
 *   deployMoves: number           // moves to another node after a ret-deploy notice
 *   clusterNodes(): {phx_host, phx_port}[]  // the cluster's nodes as last learned from /api/v1/meta
 *   presenceRefs(sessionId): string[]       // phx_ref of each presence meta of that key, oldest first
 * }
 * ```
 */
import type { RoomConnection } from './room-connection.ts';
import type { ChatLine } from './chat-panel.ts';
import { grabSystemOf } from './grab-system.ts';
import { spawnBox } from './box-spawner.ts';
import { networkedRoot } from './components/networked-root.ts';
import { setThirdPerson } from './third-person.ts';
import { setHeading } from './player-rig.ts';

/** A NAF entity as the hook reports it. */
export interface EntitySnapshot {
  networkId: string;
  template: string;
  owner: string;
  creator: string;
  position: { x: number; y: number; z: number };
}

/** The shape of `window.__plexus` (see the module comment). */
export interface PlexusDebugHook {
  readonly sessionId: string | null;
  readonly joined: boolean;
  readonly entered: boolean;
  occupants(): string[];
  people(): Array<{ sessionId: string; displayName: string; presence: string }>;
  entities(): EntitySnapshot[];
  readonly chat: Array<{ sessionId: string; body: string }>;
  spawnBox(): string;
  grab(networkId: string): boolean;
  release(): void;
  held(): string | null;
  /** networkIds of the room's pinned objects as this page knows them. */
  pinned(): string[];
  hovered(): string | null;
  move(dx: number, dz: number): void;
  turn(yawDeg: number): void;
  thirdPerson(on: boolean): void;
  screenToBox(networkId: string): { x: number; y: number } | null;
  serverTimeOffset(): number;
  readonly socketEndpoint: string;
  readonly linkState: string;
  readonly joinCount: number;
  readonly deployMoves: number;
  clusterNodes(): Array<{ phx_host: string; phx_port: string | null }>;
  presenceRefs(sessionId: string): string[];
}

declare global {
  interface Window {
    /** Test/debug hook of the room page; see client/src/debug-hook.ts. */
    __plexus?: PlexusDebugHook;
  }
}

/** What the hook reads from the room page. */
export interface DebugHookDeps {
  room: RoomConnection;
  scene: AScene;
  /** The local camera entity (our avatar when in the room). */
  player: AEntity;
  chat: ChatLine[];
  isJoined(): boolean;
  isEntered(): boolean;
  serverTimeOffset(): number;
  /** networkIds of the room's pinned objects. */
  pinnedIds(): string[];
}

/** Builds the hook object over the page's live state. */
export function createDebugHook(deps: DebugHookDeps): PlexusDebugHook {
  const { room, scene, player } = deps;
  const chatView: Array<{ sessionId: string; body: string }> = [];
  const syncChat = (): Array<{ sessionId: string; body: string }> => {
    for (let i = chatView.length; i < deps.chat.length; i++) {
      const line = deps.chat[i]!;
      chatView.push({ sessionId: line.sessionId, body: line.body });
    }
    return chatView;
  };
  const networkIdOf = (el: AEntity | null | undefined): string | null => (el ? (networkedRoot(el)?.networked.data.networkId ?? null) : null);

  return {
    get sessionId() {
      return room.sessionId;
    },
    get joined() {
      return deps.isJoined();
    },
    get entered() {
      return deps.isEntered();
    },
    get chat() {
      return syncChat();
    },
    get socketEndpoint() {
      return room.socketEndpoint();
    },
    get linkState() {
      return room.state;
    },
    get joinCount() {
      return room.joinCount;
    },
    get deployMoves() {
      return room.deployMoves;
    },
    clusterNodes: () => room.clusterNodes(),
    presenceRefs: (sessionId: string) => room.presenceRefs(sessionId),
    occupants: () => room.occupants(),
    people: () => room.people().map(({ sessionId, displayName, presence }) => ({ sessionId, displayName, presence })),
    entities: () => {
      const out: EntitySnapshot[] = [];
      const position = new THREE.Vector3();
      for (const [networkId, el] of Object.entries(NAF.entities.entities)) {
        const networked = el?.components['networked'] as NetworkedComponent | undefined;
        if (!el || !networked) continue;
        el.object3D.getWorldPosition(position);
        out.push({
          networkId,
          template: networked.data.template,
          owner: networked.data.owner,
          creator: networked.data.creator,
          position: { x: position.x, y: position.y, z: position.z },
        });
      }
      return out;
    },
    spawnBox: () => spawnBox(scene),
    grab: (networkId: string) => {
      const el = NAF.entities.getEntity(networkId);
      return el ? grabSystemOf(scene).grab(el) : false;
    },
    release: () => grabSystemOf(scene).release(),
    held: () => networkIdOf(grabSystemOf(scene).held),
    hovered: () => {
      const cursor = scene.components['cursor'] as (AComponent & { intersectedEl?: AEntity | null }) | undefined;
      return networkIdOf(cursor?.intersectedEl);
    },
    move: (dx: number, dz: number) => {
      player.object3D.position.x += dx;
      player.object3D.position.z += dz;
    },
    turn: (yawDeg: number) => setHeading(player, yawDeg),
    thirdPerson: (on: boolean) => setThirdPerson(player, on),
    screenToBox: (networkId: string) => {
      const el = NAF.entities.getEntity(networkId);
      const camera = scene.camera;
      if (!el || !camera) return null;
      camera.updateMatrixWorld();
      const ndc = el.object3D.getWorldPosition(new THREE.Vector3()).project(camera);
      if (ndc.z > 1 || ndc.z < -1 || Math.abs(ndc.x) > 1 || Math.abs(ndc.y) > 1) return null;
      const rect = scene.canvas.getBoundingClientRect();
      return { x: rect.left + ((ndc.x + 1) / 2) * rect.width, y: rect.top + ((1 - ndc.y) / 2) * rect.height };
    },
    serverTimeOffset: () => deps.serverTimeOffset(),
    pinned: () => deps.pinnedIds(),
  };
}
