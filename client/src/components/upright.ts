/**
 * `upright` A-Frame component: cancels the parent's pitch and roll so the
 * entity keeps only the parent's heading. The avatar's root follows the
 * head (camera) rotation; its body and name tag sit in an `upright` child so
 * they do not tilt when the person looks up or down. No schema.
 */

interface UprightState {
  parentQuaternion: THREE.Quaternion;
  parentEuler: THREE.Euler;
}

/** Registers the `upright` component. */
export function registerUpright(): void {
  AFRAME.registerComponent<Record<string, never>, UprightState>('upright', {
    parentQuaternion: new THREE.Quaternion(),
    parentEuler: new THREE.Euler(),
    init() {
      this.parentQuaternion = new THREE.Quaternion();
      this.parentEuler = new THREE.Euler(0, 0, 0, 'YXZ');
    },
    tick() {
      const parent = this.el.object3D.parent;
      if (!parent) return;
      // Parent rotation R = Ry(yaw)·Rx(pitch)·Rz(roll) (order YXZ); the child
      // undoes Rx·Rz: local = Rz(-roll)·Rx(-pitch), i.e. Euler order ZXY.
      this.parentEuler.setFromQuaternion(this.parentQuaternion.copy(parent.quaternion), 'YXZ');
      this.el.object3D.rotation.set(-this.parentEuler.x, 0, -this.parentEuler.z, 'ZXY');
    },
  });
}
