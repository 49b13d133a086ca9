/**
 * `billboard` A-Frame component: turns the entity each frame so its +Z face
 * looks at the active camera (for name tags). No schema.
 */

interface BillboardState {
  target: THREE.Vector3;
}

/** Registers the `billboard` component. */
export function registerBillboard(): void {
  AFRAME.registerComponent<Record<string, never>, BillboardState>('billboard', {
    target: new THREE.Vector3(),
    init() {
      this.target = new THREE.Vector3();
    },
    tick() {
      const camera = this.el.sceneEl.camera;
      if (!camera) return;
      camera.getWorldPosition(this.target);
      this.el.object3D.lookAt(this.target);
    },
  });
}
