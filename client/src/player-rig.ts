/**
 * The local player's rig: the camera entity `#player` (camera, look-controls,
 * wasd-controls). Heading is owned by look-controls, which rebuilds the
 * camera rotation every frame from its yaw and pitch objects, so changing
 * the heading goes through them.
 */

/** Eye height above the floor, metres. */
export const EYE_HEIGHT_M = 1.6;
/** Distance from the room centre where people appear, metres. */
export const SPAWN_RADIUS_M = 3;
/** People appear within ±this angle (degrees) of the +z side of the centre. */
export const SPAWN_ARC_DEG = 60;

/**
 * Sets the heading of the rig (and levels the pitch).
 * @param yawDeg degrees about +y; 0 looks along −z, 90 along −x
 */
export function setHeading(player: AEntity, yawDeg: number): void {
  const look = player.components['look-controls'] as (AComponent & { yawObject?: THREE.Object3D; pitchObject?: THREE.Object3D }) | undefined;
  const yaw = (yawDeg * Math.PI) / 180;
  if (look?.yawObject) look.yawObject.rotation.y = yaw;
  if (look?.pitchObject) look.pitchObject.rotation.x = 0;
  player.object3D.rotation.set(0, yaw, 0);
}

/**
 * Puts the rig at a random spot on the spawn arc, facing the room centre.
 * @param random source of [0, 1) numbers
 */
export function placeAtSpawn(player: AEntity, random: () => number = Math.random): void {
  const angleDeg = (random() * 2 - 1) * SPAWN_ARC_DEG;
  const angle = (angleDeg * Math.PI) / 180;
  player.object3D.position.set(SPAWN_RADIUS_M * Math.sin(angle), EYE_HEIGHT_M, SPAWN_RADIUS_M * Math.cos(angle));
  setHeading(player, angleDeg);
}
