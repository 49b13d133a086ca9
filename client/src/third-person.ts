/**
 * Third-person view: a camera over your right shoulder, and a local
 * copy of your avatar (the networked avatar is not drawn for yourself, since
 * the first-person camera sits inside its head). Toggled with the V key or
 * the debug hook; nothing of it is networked.
 */
import { AVATAR_TEMPLATE } from './naf-schemas.ts';
import { colorForSession } from './player-color.ts';

const SELF_VIEW_ID = 'self-view';
const CAMERA_ID = 'third-person-camera';

/** True while the third-person camera is active. */
export function isThirdPerson(): boolean {
  return document.getElementById(CAMERA_ID) !== null;
}

/**
 * Switches between first-person (the `#player` camera) and third-person.
 * @param player the local rig `#player`, which carries the first-person camera
 * @param on true for third-person
 */
export function setThirdPerson(player: AEntity, on: boolean): void {
  if (on === isThirdPerson()) return;
  if (!on) {
    document.getElementById(CAMERA_ID)?.remove();
    document.getElementById(SELF_VIEW_ID)?.remove();
    player.setAttribute('camera', 'active', true);
    return;
  }
  const template = document.querySelector<HTMLTemplateElement>(AVATAR_TEMPLATE);
  if (template) {
    const self = document.createElement('a-entity');
    self.id = SELF_VIEW_ID;
    self.appendChild(template.content.cloneNode(true));
    // The copy is not networked, so it is given our name and color directly
    // (remote avatars get them from NAF and the owner-tint component).
    const name = (player.getAttribute('player-name') as { name?: string } | null)?.name ?? '';
    const color = colorForSession(NAF.clientId);
    for (const el of Array.from(self.querySelectorAll('[owner-tint]'))) el.removeAttribute('owner-tint');
    for (const el of Array.from(self.querySelectorAll('[player-name]'))) el.setAttribute('player-name', `name: ${name}`);
    for (const el of Array.from(self.querySelectorAll('.tint'))) {
      const material = el.getAttribute('material');
      el.setAttribute('material', `${typeof material === 'string' && material ? `${material}; ` : ''}color: ${color}`);
    }
    player.appendChild(self);
  }
  const camera = document.createElement('a-entity');
  camera.id = CAMERA_ID;
  camera.setAttribute('position', '1.1 0.5 2.8');
  camera.setAttribute('rotation', '-8 12 0');
  camera.setAttribute('camera', 'active: true');
  player.appendChild(camera);
}

/** Toggles the view with the V key (ignored while typing in a field). */
export function bindThirdPersonKey(player: AEntity): void {
  window.addEventListener('keydown', (event) => {
    if (event.key !== 'v' && event.key !== 'V') return;
    const target = event.target as HTMLElement | null;
    if (target && (target.tagName === 'INPUT' || target.tagName === 'TEXTAREA')) return;
    setThirdPerson(player, !isThirdPerson());
  });
}
