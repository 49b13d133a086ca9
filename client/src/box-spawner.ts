/**
 * Spawning a networked box (`#box-media` template, non-persistent) in front
 * of the camera. The template id ends in `-media`, which the server allows
 * for people with `spawn_and_move_media` (reference/naf-phoenix-client.md
 * §5.5); NAF first-syncs it as soon as it is created while connected.
 */
import { BOX_TEMPLATE } from './naf-schemas.ts';

/** How far in front of the camera a box appears, metres. */
export const SPAWN_DISTANCE_M = 2;
/** Height of a spawned box's centre above the floor, metres. */
export const SPAWN_HEIGHT_M = 1.1;

/**
 * Creates a box 2 m in front of the scene camera (horizontally) and returns
 * its NAF networkId.
 */
export function spawnBox(scene: AScene): string {
  const networkId = NAF.utils.createNetworkId();
  const camera = scene.camera;
  const position = new THREE.Vector3(0, SPAWN_HEIGHT_M, -SPAWN_DISTANCE_M);
  let yaw = 0;
  if (camera) {
    const cameraPosition = camera.getWorldPosition(new THREE.Vector3());
    const forward = camera.getWorldDirection(new THREE.Vector3());
    forward.y = 0;
    if (forward.length() < 1e-6) forward.set(0, 0, -1);
    forward.normalize();
    yaw = Math.atan2(-forward.x, -forward.z);
    position.copy(cameraPosition).add(forward.multiplyScalar(SPAWN_DISTANCE_M));
    position.y = SPAWN_HEIGHT_M;
  }
  const el = document.createElement('a-entity') as AEntity;
  el.setAttribute('networked', { template: BOX_TEMPLATE, persistent: false, networkId });
  el.setAttribute('position', { x: position.x, y: position.y, z: position.z });
  el.setAttribute('rotation', { x: 0, y: (yaw * 180) / Math.PI, z: 0 });
  scene.appendChild(el);
  return networkId;
}
