/**
 * Pinned boxes (Reticulum's pin/unpin, reference/reticulum.md §1.2 and §5):
 * a box the person holds or last spawned can be pinned, which stores it on
 * the server as a glTF node; after joining, the page fetches
 * `/<hub_sid>/objects.gltf` and recreates every pinned box nobody has
 * brought into the scene yet, with the same networkId, where it was.
 * Moving a pinned box and letting go pins it again at its new place.
 */
import { grabSystemOf } from './grab-system.ts';
import { BOX_TEMPLATE } from './naf-schemas.ts';
import type { PinChange, RoomConnection } from './room-connection.ts';

/** The glTF node of a pinned box: name = networkId, world transform, and the Hubs pinnable marker. */
export function boxToGltfNode(networkId: string, el: AEntity): Record<string, unknown> {
  const o = el.object3D;
  return {
    name: networkId,
    translation: [o.position.x, o.position.y, o.position.z],
    rotation: [o.quaternion.x, o.quaternion.y, o.quaternion.z, o.quaternion.w],
    extensions: { HUBS_components: { pinnable: { pinned: true }, plexus: { template: BOX_TEMPLATE } } },
  };
}

/** The pinned boxes of one room page. */
export class PinBoard {
  /** networkIds of the room's pinned objects, as the server last told us. */
  readonly pinned = new Set<string>();
  /** networkId of the box spawned last on this page. */
  lastSpawned: string | null = null;
  private heldBefore: string | null = null;

  constructor(
    private readonly room: RoomConnection,
    private readonly scene: AScene,
    private readonly hubSid: string,
    private readonly onChange: () => void,
  ) {
    room.pinChanged.on((change: PinChange) => {
      if (change.pinned) this.pinned.add(change.objectId);
      else this.pinned.delete(change.objectId);
      this.onChange();
    });
    // Letting go of a pinned box pins it again where it now is.
    setInterval(() => {
      const held = this.heldId();
      if (this.heldBefore && this.heldBefore !== held && this.pinned.has(this.heldBefore)) void this.pinAgain(this.heldBefore);
      this.heldBefore = held;
      // Selection follows the held box and newly spawned boxes as NAF registers them.
      this.onChange();
    }, 200);
  }

  /** The box a pin button acts on: the held one, else the last spawned one still in the scene. */
  selected(): string | null {
    const held = this.heldId();
    if (held) return held;
    return this.lastSpawned && entityOf(this.lastSpawned) ? this.lastSpawned : null;
  }

  /** Pins the selected box, or unpins it when it is pinned. */
  async toggle(): Promise<void> {
    const id = this.selected();
    if (!id) return;
    const el = entityOf(id);
    if (this.pinned.has(id)) await this.room.setPinned(id, null);
    else if (el) await this.room.setPinned(id, boxToGltfNode(id, el));
  }

  /** Fetches the room's pinned objects and recreates the boxes the scene does not have yet. */
  async restore(): Promise<void> {
    const res = await fetch(`/${this.hubSid}/objects.gltf`, { cache: 'no-store' });
    if (!res.ok) return;
    const gltf = (await res.json()) as { nodes?: Array<{ name?: unknown; translation?: number[]; rotation?: number[] }> };
    for (const node of gltf.nodes ?? []) {
      if (typeof node.name !== 'string') continue;
      this.pinned.add(node.name);
      if (entityOf(node.name)) continue;
      const el = document.createElement('a-entity') as AEntity;
      el.setAttribute('networked', { template: BOX_TEMPLATE, persistent: false, networkId: node.name });
      const [x, y, z] = node.translation ?? [0, 1.1, -2];
      el.setAttribute('position', { x: x ?? 0, y: y ?? 1.1, z: z ?? -2 });
      const q = node.rotation;
      if (q && q.length === 4) {
        const e = new THREE.Euler().setFromQuaternion(new THREE.Quaternion(q[0], q[1], q[2], q[3]), 'YXZ');
        const deg = 180 / Math.PI;
        el.setAttribute('rotation', { x: e.x * deg, y: e.y * deg, z: e.z * deg });
      }
      this.scene.appendChild(el);
    }
    this.onChange();
  }

  private heldId(): string | null {
    const held = grabSystemOf(this.scene).held;
    return held ? networkIdOf(held) : null;
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

function networkIdOf(el: AEntity): string | null {
  return NAF.utils.getNetworkId(el);
}

/** The entity of a networkId in this page's scene, if NAF knows it. */
function entityOf(networkId: string): AEntity | null {
  return NAF.entities.getEntity(networkId);
}
