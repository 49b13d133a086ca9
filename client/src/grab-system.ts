/**
 * Grabbing networked boxes with the mouse. A click (A-Frame `cursor` with
 * `rayOrigin: mouse`, raycasting `.grabbable`) on a box takes NAF ownership
 * (`NAF.utils.takeOwnership`, reference/naf-phoenix-client.md §3) and the box
 * then follows 1.5 m in front of the camera while held; a second click
 * releases it. Losing ownership to someone else also releases it.
 *
 * Registered as the A-Frame system `plexus-grab`; the page and the debug hook
 * call `grab` / `release` on it.
 */
import { networkedRoot } from './components/networked-root.ts';

/** Distance of a held object in front of the camera, metres. */
export const HOLD_DISTANCE_M = 1.5;
/** Height of a held object relative to the eyes, metres. */
export const HOLD_DROP_M = 0.45;

/** The `plexus-grab` system's public surface. */
export interface GrabSystem {
  /** The entity being held, or null. */
  held: AEntity | null;
  /**
   * Grabs the networked entity containing `el`: takes ownership if needed.
   * @returns true when it is now held by us
   */
  grab(el: AEntity): boolean;
  /** Lets go of the held entity, leaving it where it is. */
  release(): void;
}

interface GrabState extends GrabSystem {
  cameraPosition: THREE.Vector3;
  forward: THREE.Vector3;
  onClick(event: Event): void;
  onOwnershipLost(event: Event): void;
}

/** Registers the `plexus-grab` system. */
export function registerGrabSystem(): void {
  AFRAME.registerSystem<GrabState>('plexus-grab', {
    held: null,
    cameraPosition: new THREE.Vector3(),
    forward: new THREE.Vector3(),

    init() {
      this.held = null;
      this.cameraPosition = new THREE.Vector3();
      this.forward = new THREE.Vector3();
      this.onClick = this.onClick.bind(this);
      this.onOwnershipLost = this.onOwnershipLost.bind(this);
      this.el.addEventListener('click', this.onClick);
    },

    onClick(event: Event) {
      const target = event.target instanceof Element ? event.target.closest('.grabbable') : null;
      if (!target) return;
      const root = networkedRoot(target);
      if (!root) return;
      if (this.held) {
        const wasHeld = this.held === root.el;
        this.release();
        if (wasHeld) return;
      }
      this.grab(root.el);
    },

    grab(el: AEntity): boolean {
      const root = networkedRoot(el);
      if (!root || !NAF.connection.isConnected()) return false;
      if (this.held && this.held !== root.el) this.release();
      if (!root.networked.isMine() && !NAF.utils.takeOwnership(root.el)) return false;
      this.held = root.el;
      root.el.addEventListener('ownership-lost', this.onOwnershipLost);
      root.el.classList.add('held');
      return true;
    },

    release() {
      const held = this.held;
      if (!held) return;
      this.held = null;
      held.removeEventListener('ownership-lost', this.onOwnershipLost);
      held.classList.remove('held');
    },

    onOwnershipLost(event: Event) {
      if (event.currentTarget === this.held) this.release();
    },

    tick() {
      const held = this.held;
      if (!held) return;
      if (!held.isConnected || !NAF.utils.isMine(held)) {
        this.release();
        return;
      }
      const camera = this.el.camera;
      if (!camera) return;
      camera.getWorldPosition(this.cameraPosition);
      camera.getWorldDirection(this.forward);
      this.forward.y = 0;
      if (this.forward.length() < 1e-6) this.forward.set(0, 0, -1);
      this.forward.normalize();
      const position = held.object3D.position;
      position.copy(this.cameraPosition).add(this.forward.multiplyScalar(HOLD_DISTANCE_M));
      position.y = Math.max(0.25, this.cameraPosition.y - HOLD_DROP_M);
      held.object3D.rotation.set(0, Math.atan2(-this.forward.x, -this.forward.z), 0);
    },
  });
}

/** The `plexus-grab` system of a scene. */
export function grabSystemOf(scene: AScene): GrabSystem {
  const system = scene.systems['plexus-grab'] as GrabSystem | undefined;
  if (!system) throw new Error('plexus-grab system missing: call registerGrabSystem() before the scene loads.');
  return system;
}
