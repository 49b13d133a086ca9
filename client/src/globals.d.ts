/**
 * Minimal ambient types for the globals that the prebuilt A-Frame 1.8.0 and
 * networked-aframe 0.14.3 bundles put on `window` (`AFRAME`, `THREE`, `NAF`).
 * Only what Plexus' client uses is declared; shapes follow the sources read in
 * /work/shared/reference/naf-phoenix-client.md §1–§3.
 */

/** three.js (super-three 0.184 inside A-Frame 1.8.0), the parts we use. */
declare namespace THREE {
  class Vector3 {
    constructor(x?: number, y?: number, z?: number);
    x: number;
    y: number;
    z: number;
    readonly isVector3: true;
    set(x: number, y: number, z: number): this;
    copy(v: Vector3): this;
    add(v: Vector3): this;
    sub(v: Vector3): this;
    clone(): Vector3;
    multiplyScalar(s: number): this;
    normalize(): this;
    length(): number;
    distanceTo(v: Vector3): number;
    project(camera: Camera): this;
    applyQuaternion(q: Quaternion): this;
  }
  class Quaternion {
    constructor(x?: number, y?: number, z?: number, w?: number);
    x: number;
    y: number;
    z: number;
    w: number;
    setFromEuler(e: Euler): this;
    copy(q: Quaternion): this;
  }
  class Euler {
    constructor(x?: number, y?: number, z?: number, order?: string);
    x: number;
    y: number;
    z: number;
    order: string;
    set(x: number, y: number, z: number, order?: string): this;
    setFromQuaternion(q: Quaternion, order?: string): this;
  }
  class Color {
    constructor(color?: string | number);
    set(color: string | number): this;
  }
  class Object3D {
    position: Vector3;
    rotation: Euler;
    quaternion: Quaternion;
    scale: Vector3;
    visible: boolean;
    parent: Object3D | null;
    renderOrder: number;
    getWorldPosition(target: Vector3): Vector3;
    getWorldQuaternion(target: Quaternion): Quaternion;
    getWorldDirection(target: Vector3): Vector3;
    lookAt(target: Vector3): void;
    updateMatrixWorld(force?: boolean): void;
    add(child: Object3D): this;
    remove(child: Object3D): this;
  }
  class Camera extends Object3D {}
  class Texture {
    needsUpdate: boolean;
    colorSpace: string;
    anisotropy: number;
    dispose(): void;
  }
  class CanvasTexture extends Texture {
    constructor(canvas: HTMLCanvasElement);
  }
  class BufferGeometry {
    dispose(): void;
  }
  class PlaneGeometry extends BufferGeometry {
    constructor(width?: number, height?: number);
  }
  class Material {
    transparent: boolean;
    depthWrite: boolean;
    side: number;
    dispose(): void;
  }
  class MeshBasicMaterial extends Material {
    constructor(params?: { map?: Texture; transparent?: boolean; depthWrite?: boolean; side?: number });
    map: Texture | null;
  }
  class Mesh extends Object3D {
    constructor(geometry?: BufferGeometry, material?: Material);
    geometry: BufferGeometry;
    material: Material;
  }
  const DoubleSide: number;
  const SRGBColorSpace: string;
}

/** An A-Frame entity (`<a-entity>`, `<a-scene>`), as far as Plexus uses it. */
interface AEntity extends HTMLElement {
  object3D: THREE.Object3D;
  components: Record<string, AComponent | undefined>;
  sceneEl: AScene;
  hasLoaded: boolean;
  isPlaying: boolean;
  /** Sets a component (object or property string) or one component property. */
  setAttribute(name: string, value?: unknown): void;
  setAttribute(name: string, property: string, value: unknown): void;
  getObject3D(type: string): THREE.Object3D | undefined;
  setObject3D(type: string, obj: THREE.Object3D): void;
  removeObject3D(type: string): void;
  /** Emits a DOM CustomEvent named `name` with `detail`; bubbles unless told otherwise. */
  emit(name: string, detail?: unknown, bubbles?: boolean): void;
}

/** The `<a-scene>` element. */
interface AScene extends AEntity {
  camera: THREE.Camera;
  canvas: HTMLCanvasElement;
  renderer: unknown;
  systems: Record<string, unknown>;
}

/** A component instance: `el.components[name]`. */
interface AComponent {
  el: AEntity;
  data: unknown;
  name: string;
}

/** `networked` component instance (NAF 0.14.3 src/components/networked.js). */
interface NetworkedComponent extends AComponent {
  data: {
    template: string;
    attachTemplateToLocal: boolean;
    persistent: boolean;
    networkId: string;
    owner: string;
    creator: string;
  };
  /** Server time (ms) of the last ownership change seen locally; -1 = never. */
  lastOwnerTime: number;
  takeOwnership(): boolean;
  isMine(): boolean;
  syncAll(targetClientId?: string, isFirstSync?: boolean): void;
}

/** The `this` that A-Frame gives component methods, for component data `D`. */
interface AComponentThis<D> {
  el: AEntity;
  data: D;
  name: string;
}

/** A component schema property. */
interface ASchemaProperty {
  type?: string;
  default?: unknown;
  oneOf?: readonly string[];
}

/** `AFRAME.registerComponent` definition with a typed `this`. */
type AComponentDefinition<D, T> = {
  schema?: Record<string, ASchemaProperty> | ASchemaProperty;
  multiple?: boolean;
  dependencies?: readonly string[];
  init?(): void;
  update?(oldData: D): void;
  tick?(time: number, timeDelta: number): void;
  tock?(time: number, timeDelta: number): void;
  remove?(): void;
  pause?(): void;
  play?(): void;
} & T & ThisType<AComponentThis<D> & T>;

/** `AFRAME.registerSystem` definition with a typed `this`. */
type ASystemDefinition<T> = {
  schema?: Record<string, ASchemaProperty>;
  init?(): void;
  tick?(time: number, timeDelta: number): void;
} & T & ThisType<{ el: AScene; data: unknown } & T>;

/** The A-Frame global (window.AFRAME). */
declare const AFRAME: {
  version: string;
  components: Record<string, unknown>;
  registerComponent<D, T extends object = object>(name: string, definition: AComponentDefinition<D, T>): void;
  registerSystem<T extends object = object>(name: string, definition: ASystemDefinition<T>): void;
  utils: {
    clone<T>(value: T): T;
  };
};

/** NAF dataTypes reserved by NAF core ("u", "um", "r") or any app string. */
type NafDataType = string;

/** Entity sync data ("u" payload / element of "um".d), NAF ref §2.2. */
interface NafEntityData {
  networkId: string;
  owner: string;
  creator: string;
  lastOwnerTime: number;
  template: string;
  persistent: boolean;
  parent: string | null;
  components: Record<string, unknown>;
  isFirstSync?: boolean;
}

/** The adapter contract NAF core calls (ref §1.1). */
interface NafAdapter {
  setServerUrl(url: string): void;
  setApp(appName: string): void;
  setRoom(roomName: string): void;
  setWebRtcOptions(options: { audio: boolean; video: boolean; datachannel: boolean }): void;
  setServerConnectListeners(success: (clientId: string) => void, failure: (code: unknown, message: string) => void): void;
  setRoomOccupantListener(listener: (occupants: Record<string, unknown>) => void): void;
  setDataChannelListeners(
    open: (clientId: string) => void,
    closed: (clientId: string) => void,
    message: (fromClientId: string, dataType: NafDataType, data: unknown, source: string) => void,
  ): void;
  connect(): Promise<void>;
  shouldStartConnectionTo(client: unknown): boolean;
  startStreamConnection(clientId: string): void;
  closeStreamConnection(clientId: string): void;
  getConnectStatus(clientId: string): string;
  getMediaStream(clientId: string, streamName?: string): Promise<MediaStream>;
  getServerTime(): number;
  sendData(clientId: string, dataType: NafDataType, data: unknown): void;
  sendDataGuaranteed(clientId: string, dataType: NafDataType, data: unknown): void;
  broadcastData(dataType: NafDataType, data: unknown): void;
  broadcastDataGuaranteed(dataType: NafDataType, data: unknown): void;
  disconnect(): void;
}

/** A NAF schema: which components of a template are synced. */
interface NafSchema {
  template: string;
  components: Array<string | { component: string; property?: string; selector?: string }>;
}

/** The networked-aframe global (window.NAF), 0.14.3. */
declare const NAF: {
  clientId: string;
  room: string;
  app: string;
  version: string;
  options: {
    updateRate: number;
    useLerp: boolean;
    firstSyncSource: string | null;
    syncSource: string | null;
    debug: boolean;
  };
  adapters: {
    register(name: string, adapterClass: new () => NafAdapter): void;
    readonly IS_CONNECTED: string;
    readonly CONNECTING: string;
    readonly NOT_CONNECTED: string;
  };
  schemas: {
    add(schema: NafSchema): void;
    hasTemplate(template: string): boolean;
  };
  connection: {
    adapter: NafAdapter | null;
    activeDataChannels: Record<string, boolean>;
    isConnected(): boolean;
    getServerTime(): number;
    getConnectedClients(): Record<string, unknown>;
    entities: {
      completeSync(targetClientId: string | null | undefined, isFirstSync: boolean): void;
    };
  };
  entities: {
    entities: Record<string, AEntity | undefined>;
    getEntity(networkId: string): AEntity | null;
    hasEntity(networkId: string): boolean;
  };
  utils: {
    createNetworkId(): string;
    takeOwnership(el: AEntity): boolean;
    isMine(el: AEntity): boolean;
    getNetworkOwner(el: AEntity): string | null;
    getCreator(el: AEntity): string | null;
    getNetworkId(el: AEntity): string | null;
  };
  log: {
    write(...args: unknown[]): void;
    warn(...args: unknown[]): void;
    error(...args: unknown[]): void;
  };
};
