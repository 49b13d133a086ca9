/**
 * Pinned boxes (Reticulum's pin/unpin, reference/reticulum.md §1.2 and §5):
 * a box the person holds or last spawned can be pinned, which stores it on
 * the server as a glTF node; after joining, the page fetches
 * `/<hub_sid>/objects.gltf` and recreates every pinned box nobody has
 * brought into the scene yet, with the same networkId, where it was.
 * Moving a pinned box and letting go pins it again at its new place.
 *
 * Ownership follows NAF's persistent entities, as Hubs does with its pinned
 * objects: a pinned box is `persistent` on every page (when its owner
 * leaves, the others take it over instead of removing it); a recreated box
 * starts owned by nobody ({@link SCENE_OWNER}), adopts the owner of a first
 * sync that came before it (NAF stashes those for persistent entities) or
 * after it, and this page takes ownership when nobody else has it: at once
 * when it is alone in the room, else after {@link CLAIM_AFTER_MS}.
 */
import { grabSystemOf } from './grab-system.ts';
import { BOX_TEMPLATE } from './naf-schemas.ts';
import type { PinChange, RoomConnection } from './room-connection.ts';

/** NAF owner of a recreated box until someone takes it (Hubs' "scene" owner). */
export const SCENE_OWNER = 'scene';
/** How long a recreated box waits for a present owner's sync before this page takes it, ms. */
export const CLAIM_AFTER_MS = 1500;
/** Class of the ring shown under a pinned box. */
export const PIN_MARKER_CLASS = 'pin-marker';

/**
 * The glTF node of a pinned box: name = networkId, local transform
 * (translation, rotation quaternion, scale) and the Hubs components:
 * `pinnable {pinned: true}`, and `plexus {template}` to recreate it. The
 * colour is not stored: a box is tinted by its owner (owner-tint).
 */
export function boxToGltfNode(networkId: string, el: AEntity): Record<string, unknown> {
  const o = el.object3D;
  return {
    name: networkId,
    translation: [o.position.x, o.position.y, o.position.z],
    rotation: [o.quaternion.x, o.quaternion.y, o.quaternion.z, o.quaternion.w],
    scale: [o.scale.x, o.scale.y, o.scale.z],
    extensions: { HUBS_components: { pinnable: { pinned: true }, plexus: { template: BOX_TEMPLATE } } },
  };
}

/** A stored glTF node as `objects.gltf` returns it (fields may be missing or wrong: it is checked). */
interface GltfNode {
  name?: unknown;
  translation?: unknown;
  rotation?: unknown;
  scale?: unknown;
}

const numbers = (v: unknown, n: number): number[] | null =>
  Array.isArray(v) && v.length === n && v.every((x) => typeof x === 'number' && Number.isFinite(x)) ? (v as number[]) : null;

/** The pinned boxes of one room page. */
export class PinBoard {
  /** networkIds of the room's pinned objects, as the server last told us. */
  readonly pinned = new Set<string>();
  /** networkId of the box spawned last on this page. */
  lastSpawned: string | null = null;
  /** Boxes this page recreated and may still have to claim: networkId → when (ms, performance.now). */
  private readonly unclaimed = new Map<string, number>();

  constructor(
    private readonly room: RoomConnection,
    private readonly scene: AScene,
    private readonly hubSid: string,
    private readonly onChange: () => void,
  ) {
    room.pinChanged.on((change: PinChange) => {
      if (change.pinned) this.pinned.add(change.objectId);
      else this.pinned.delete(change.objectId);
      this.showPins();
      this.onChange();
    });
    // Letting go of a pinned box pins it again where it now is: the grab
    // system marks a held box with the class `held` and removes it on release.
    new MutationObserver((records) => {
      for (const r of records) {
        const el = r.target as AEntity;
        if (!r.oldValue?.split(/\s+/).includes('held') || el.classList.contains('held') || !el.components?.['networked']) continue;
        const id = NAF.utils.getNetworkId(el);
        if (id && this.pinned.has(id)) void this.pinAgain(id);
      }
    }).observe(scene, { subtree: true, attributes: true, attributeFilter: ['class'], attributeOldValue: true });
    // A box NAF creates (from another page's first sync) shows at once whether it is pinned.
    document.body.addEventListener('entityCreated', () => this.showPins());
    setInterval(() => this.tick(), 200);
  }

  /** The box a pin button acts on: the held one, else the last spawned one still in the scene. */
  selected(): string | null {
    const held = this.heldId();
    if (held) return held;
    return this.lastSpawned && entityOf(this.lastSpawned) ? this.lastSpawned : null;
  }

  /** Pins the selected box, or unpins it when it is pinned; rejects with the server's message when refused. */
  async toggle(): Promise<void> {
    const id = this.selected();
    if (!id) return;
    const el = entityOf(id);
    if (this.pinned.has(id)) await this.room.setPinned(id, null);
    else if (el) await this.room.setPinned(id, boxToGltfNode(id, el));
  }

  /**
   * Fetches the room's pinned objects and recreates the boxes the scene
   * does not have yet (same networkId, stored transform, persistent, owned
   * by {@link SCENE_OWNER} until claimed).
   * @throws when the fetch fails (network error)
   */
  async restore(): Promise<void> {
    const res = await fetch(`/${this.hubSid}/objects.gltf`, { cache: 'no-store' });
    if (!res.ok) return;
    const gltf = (await res.json()) as { nodes?: GltfNode[] };
    for (const node of gltf.nodes ?? []) {
      if (typeof node.name !== 'string' || !node.name) continue;
      const id = node.name;
      this.pinned.add(id);
      if (entityOf(id)) continue;
      const el = document.createElement('a-entity') as AEntity;
      el.setAttribute('networked', { template: BOX_TEMPLATE, persistent: true, networkId: id, owner: SCENE_OWNER });
      const [x, y, z] = numbers(node.translation, 3) ?? [0, 1.1, -2];
      el.setAttribute('position', { x, y, z });
      const q = numbers(node.rotation, 4);
      if (q) {
        const e = new THREE.Euler().setFromQuaternion(new THREE.Quaternion(q[0], q[1], q[2], q[3]), 'YXZ');
        const deg = 180 / Math.PI;
        el.setAttribute('rotation', { x: e.x * deg, y: e.y * deg, z: e.z * deg });
      }
      const s = numbers(node.scale, 3);
      if (s) el.setAttribute('scale', { x: s[0], y: s[1], z: s[2] });
      // A first sync of this persistent box that came before it existed here is stashed by NAF: apply it.
      el.addEventListener('instantiated', () => (el.components['networked'] as NetworkedComponent & { applyPersistentFirstSync(): void }).applyPersistentFirstSync(), { once: true });
      this.unclaimed.set(id, performance.now());
      this.scene.appendChild(el);
    }
    this.showPins();
    this.onChange();
  }

  private tick(): void {
    this.claim();
    this.showPins();
    // Selection follows the held box and newly spawned boxes as NAF registers them.
    this.onChange();
  }

  /** Takes ownership of recreated boxes nobody has claimed (NAF: `takeOwnership`). */
  private claim(): void {
    if (this.unclaimed.size === 0 || !NAF.clientId) return;
    const alone = this.room.occupants().every((key) => key === this.room.sessionId);
    for (const [id, since] of this.unclaimed) {
      const el = entityOf(id);
      const networked = el?.components['networked'] as NetworkedComponent | undefined;
      if (!el || !networked) continue;
      if (networked.data.owner !== SCENE_OWNER) {
        this.unclaimed.delete(id);
      } else if (alone || performance.now() - since >= CLAIM_AFTER_MS) {
        NAF.utils.takeOwnership(el);
        this.unclaimed.delete(id);
      }
    }
  }

  /** Pinned boxes are persistent and wear a ring; unpinned ones are neither. */
  private showPins(): void {
    for (const [id, el] of Object.entries(NAF.entities.entities)) {
      const networked = el?.components['networked'] as NetworkedComponent | undefined;
      if (!el || !networked || networked.data.template !== BOX_TEMPLATE) continue;
      const pinned = this.pinned.has(id);
      if (networked.data.persistent !== pinned) el.setAttribute('networked', { persistent: pinned });
      const marker = el.querySelector(`.${PIN_MARKER_CLASS}`);
      if (pinned && !marker) el.appendChild(pinMarker());
      else if (!pinned && marker) marker.remove();
    }
  }

  private heldId(): string | null {
    const held = grabSystemOf(this.scene).held;
    return held ? NAF.utils.getNetworkId(held) : null;
  }

  private async pinAgain(id: string): Promise<void> {
    const el = entityOf(id);
    if (!el) return;
    try {
      await this.room.setPinned(id, boxToGltfNode(id, el));
    } catch {
      // Refused (no longer allowed): the pin stays where it was stored.
    }
  }
}

/** A red ring around the foot of a box: the sign that it is pinned. */
function pinMarker(): AEntity {
  const ring = document.createElement('a-entity') as AEntity;
  ring.classList.add(PIN_MARKER_CLASS);
  ring.setAttribute('geometry', { primitive: 'torus', radius: 0.3, radiusTubular: 0.018, segmentsTubular: 48 });
  ring.setAttribute('material', { color: '#d62f2f', emissive: '#7a0d0d', roughness: 0.4 });
  ring.setAttribute('rotation', { x: 90, y: 0, z: 0 });
  ring.setAttribute('position', { x: 0, y: -0.19, z: 0 });
  return ring;
}

/** The entity of a networkId in this page's scene, if NAF knows it. */
function entityOf(networkId: string): AEntity | null {
  return NAF.entities.getEntity(networkId);
}
