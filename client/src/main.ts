/**
 * Entry of the client bundle (`/assets/app.js`), loaded as a classic script
 * after A-Frame and networked-aframe so that components, systems and the NAF
 * adapter are registered before `<a-scene>` is parsed. The page to start is
 * chosen by `<body data-page="lobby|room">` once the DOM is ready.
 */
import { registerPlexusAdapter } from './plexus-adapter.ts';
import { registerNameTag } from './components/name-tag.ts';
import { registerBillboard } from './components/billboard.ts';
import { registerUpright } from './components/upright.ts';
import { registerOwnerTint } from './components/owner-tint.ts';
import { registerOwnerLabel } from './components/owner-label.ts';
import { registerPlayerName } from './components/player-name.ts';
import { registerGrabSystem } from './grab-system.ts';
import { startRoomPage } from './room-page.ts';
import { startLobbyPage } from './lobby-page.ts';

/** Registers every A-Frame component/system and the NAF adapter (needs the AFRAME and NAF globals). */
export function registerClientParts(): void {
  registerNameTag();
  registerBillboard();
  registerUpright();
  registerOwnerTint();
  registerOwnerLabel();
  registerPlayerName();
  registerGrabSystem();
  registerPlexusAdapter();
}

function start(): void {
  const page = document.body.dataset['page'];
  if (page === 'room') startRoomPage();
  else if (page === 'lobby') startLobbyPage();
}

if (typeof AFRAME !== 'undefined' && typeof NAF !== 'undefined') registerClientParts();
if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start, { once: true });
else start();
