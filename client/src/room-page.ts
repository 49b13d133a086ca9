/**
 * The room page (`/<hub_sid>/<slug>`, served as room.html): joins the hub
 * channel in the lobby, connects NAF, asks for a display name (prefilled from
 * `?name=` or localStorage; `?name=` enters right away), then enters the
 * room: our camera becomes a networked `#player-avatar`, presence moves to
 * "room", and the people list, chat and "Spawn box" come alive.
 */
import { RoomConnection, type JoinFailure, type LinkState } from './room-connection.ts';
import { parseRoomPath } from './room-url.ts';
import { cleanDisplayName, guestName, initialDisplayName, saveDisplayName } from './display-name.ts';
import { setDisplayNameResolver } from './people-directory.ts';
import { renderPeople } from './people-panel.ts';
import { ChatPanel, type ChatLine } from './chat-panel.ts';
import { spawnBox } from './box-spawner.ts';
import { PlexusAdapter } from './plexus-adapter.ts';
import { AVATAR_TEMPLATE, registerNafSchemas } from './naf-schemas.ts';
import { createDebugHook } from './debug-hook.ts';
import { placeAtSpawn } from './player-rig.ts';
import { bindThirdPersonKey } from './third-person.ts';
import { PinBoard } from './pins.ts';

function byId<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`room.html is missing #${id}`);
  return el as T;
}

function whenSceneLoaded(scene: AScene): Promise<void> {
  if (scene.hasLoaded) return Promise.resolve();
  return new Promise((resolve) => scene.addEventListener('loaded', () => resolve(), { once: true }));
}

function linkStateText(state: LinkState): string {
  switch (state) {
    case 'connecting':
      return 'Connecting…';
    case 'joined':
      return 'Connected';
    case 'reconnecting':
      return 'Reconnecting…';
    case 'failed':
      return 'Disconnected';
  }
}

/** Starts the room page; call on DOMContentLoaded. */
export function startRoomPage(): void {
  const scene = byId<AScene>('scene');
  const player = byId<AEntity>('player');
  const status = byId<HTMLElement>('status');
  const roomTitle = byId<HTMLElement>('room-title');
  const errorBox = byId<HTMLElement>('error');
  const entryOverlay = byId<HTMLElement>('entry');
  const entryForm = byId<HTMLFormElement>('entry-form');
  const nameInput = byId<HTMLInputElement>('entry-name');
  const enterButton = byId<HTMLButtonElement>('enter-button');
  const peopleList = byId<HTMLElement>('people-list');
  const spawnButton = byId<HTMLButtonElement>('spawn-box');
  const pinButton = byId<HTMLButtonElement>('pin-box');
  const chatLog = byId<HTMLElement>('chat-log');
  const chatForm = byId<HTMLFormElement>('chat-form');
  const chatInput = byId<HTMLInputElement>('chat-input');

  const showError = (message: string, fatal = false): void => {
    errorBox.textContent = message;
    if (fatal) {
      // Nothing more to do on this page: offer the way back instead of the entry form.
      const back = document.createElement('a');
      back.href = '/';
      back.textContent = 'Back to the lobby';
      errorBox.append(' ', back);
      entryOverlay.hidden = true;
    }
    errorBox.hidden = false;
  };

  const ref = parseRoomPath(location.pathname);
  if (!ref) {
    showError('This is not a room address.', true);
    return;
  }

  registerNafSchemas();

  const storage = (() => {
    try {
      return window.localStorage;
    } catch {
      return null;
    }
  })();
  const initial = initialDisplayName(location.search, storage);
  nameInput.value = initial.name;
  const creatorToken = (() => {
    try {
      return storage?.getItem(`plexus:creator:${ref.hubSid}`) ?? null;
    } catch {
      return null;
    }
  })();
  const room = new RoomConnection(ref.hubSid, { displayName: initial.name || guestName() }, { creatorAssignmentToken: creatorToken });
  setDisplayNameResolver((sessionId) => room.displayNameOf(sessionId));

  const chat: ChatLine[] = [];
  const chatPanel = new ChatPanel(chatLog, chatForm, chatInput, (body) => room.sendChat(body));
  chatPanel.setEnabled(false);
  spawnButton.disabled = true;
  enterButton.disabled = true;

  let nafConnected = false;
  let entered = false;
  /** Shows whether the selected box can be pinned or unpinned by us. */
  const updatePinButton = (): void => {
    const id = pins.selected();
    pinButton.hidden = !room.canPin();
    pinButton.disabled = !entered || !id;
    pinButton.textContent = id && pins.pinned.has(id) ? 'Unpin box' : 'Pin box';
  };
  const pins = new PinBoard(room, scene, ref.hubSid, () => updatePinButton());
  let pendingEnter: string | null = null;

  scene.addEventListener('adapter-ready', (event) => {
    const adapter = (event as CustomEvent<unknown>).detail;
    if (adapter instanceof PlexusAdapter) adapter.attach(room);
  });

  const enter = (rawName: string): void => {
    const name = cleanDisplayName(rawName) || room.profile().displayName;
    if (!nafConnected) {
      pendingEnter = name;
      return;
    }
    if (entered) return;
    entered = true;
    saveDisplayName(storage, name);
    // Spread people out so avatars do not start inside each other.
    placeAtSpawn(player);
    if (room.profile().displayName !== name) room.updateProfile({ ...room.profile(), displayName: name });
    player.setAttribute('player-name', { name });
    player.setAttribute('networked', { template: AVATAR_TEMPLATE, attachTemplateToLocal: false });
    room.enter();
    entryOverlay.hidden = true;
    document.body.classList.add('entered');
    spawnButton.disabled = false;
    updatePinButton();
    chatPanel.setEnabled(true);
    scene.canvas?.focus();
  };

  room.stateChanged.on((state) => {
    status.textContent = linkStateText(state);
    status.dataset['state'] = state;
  });
  room.failed.on((failure: JoinFailure) => {
    showError(failure.message, true);
    enterButton.disabled = true;
    spawnButton.disabled = true;
    chatPanel.setEnabled(false);
  });
  room.presenceChanged.on((people) => {
    renderPeople(peopleList, people, room.sessionId);
    updatePinButton();
  });
  room.chatReceived.on((message) => {
    const line: ChatLine = {
      sessionId: message.sessionId,
      displayName: room.displayNameOf(message.sessionId) ?? message.sessionId.slice(0, 8),
      body: message.body,
    };
    chat.push(line);
    chatPanel.append(line);
  });
  room.joined.on(({ rejoin, sessionChanged }) => {
    if (room.hub?.name) {
      roomTitle.textContent = room.hub.name;
      document.title = `${room.hub.name} · Plexus`;
    }
    if (sessionChanged) {
      showError('The server gave this page a new session after reconnecting. Reload the page to rejoin the room properly.');
      return;
    }
    if (rejoin) return;
    void whenSceneLoaded(scene).then(async () => {
      scene.setAttribute('networked-scene', 'room', ref.hubSid);
      const networkedScene = scene.components['networked-scene'] as (AComponent & { connect(): Promise<void> }) | undefined;
      if (!networkedScene) {
        showError('The scene has no networked-scene component; the page did not load correctly.');
        return;
      }
      try {
        await networkedScene.connect();
      } catch (err) {
        showError(`Could not connect to the room: ${err instanceof Error ? err.message : String(err)}`);
        return;
      }
      nafConnected = true;
      enterButton.disabled = false;
      void pins.restore().catch((err: unknown) => showError(`Could not load the room's pinned objects: ${err instanceof Error ? err.message : String(err)}`));
      if (pendingEnter !== null) enter(pendingEnter);
      else if (initial.fromQuery) enter(initial.name);
      else nameInput.focus();
    });
  });

  entryForm.addEventListener('submit', (event) => {
    event.preventDefault();
    enter(nameInput.value);
  });
  nameInput.addEventListener('keydown', (event) => event.stopPropagation());

  bindThirdPersonKey(player);

  spawnButton.addEventListener('click', () => {
    if (!entered) return;
    pins.lastSpawned = spawnBox(scene);
    updatePinButton();
  });
  pinButton.addEventListener('click', () => {
    pins.toggle().catch((err: unknown) => showError(`Could not pin the box: ${err instanceof Error ? err.message : String(err)}`));
  });

  window.__plexus = createDebugHook({
    room,
    scene,
    player,
    chat,
    isJoined: () => room.state === 'joined' && nafConnected,
    isEntered: () => entered,
    pinnedIds: () => [...pins.pinned],
    serverTimeOffset: () => (NAF.connection.adapter ? NAF.connection.getServerTime() - Date.now() : 0),
  });

  room.join();
}
