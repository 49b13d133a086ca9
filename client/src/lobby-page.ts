/**
 * The lobby page (`/`, served as index.html): a display-name field,
 * "Create room" (`POST /api/v1/hubs`, then go to the room) and "Join by
 * link" (a pasted room URL, path or hub_sid).
 */
import { createHub, HubApiError } from './hub-api.ts';
import { cleanDisplayName, initialDisplayName, saveDisplayName } from './display-name.ts';
import { roomPathFromInput } from './room-url.ts';

function byId<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`index.html is missing #${id}`);
  return el as T;
}

/** Starts the lobby page; call on DOMContentLoaded. */
export function startLobbyPage(): void {
  const nameInput = byId<HTMLInputElement>('display-name');
  const roomNameInput = byId<HTMLInputElement>('room-name');
  const createForm = byId<HTMLFormElement>('create-form');
  const createButton = byId<HTMLButtonElement>('create-room');
  const joinForm = byId<HTMLFormElement>('join-form');
  const joinInput = byId<HTMLInputElement>('join-link');
  const message = byId<HTMLElement>('lobby-message');

  const storage = (() => {
    try {
      return window.localStorage;
    } catch {
      return null;
    }
  })();
  nameInput.value = initialDisplayName(location.search, storage).name;
  const updateRoomPlaceholder = (): void => {
    const name = cleanDisplayName(nameInput.value);
    roomNameInput.placeholder = name ? `${name}'s room` : 'New room';
  };
  updateRoomPlaceholder();
  nameInput.addEventListener('input', updateRoomPlaceholder);

  const say = (text: string, isError = false): void => {
    message.textContent = text;
    message.classList.toggle('error', isError);
  };
  const rememberName = (): string => {
    const name = cleanDisplayName(nameInput.value);
    if (name) saveDisplayName(storage, name);
    return name;
  };

  createForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const name = rememberName();
    const roomName = cleanDisplayName(roomNameInput.value) || (name ? `${name}'s room` : 'New room');
    createButton.disabled = true;
    say('Creating the room…');
    createHub(roomName)
      .then((hub) => {
        // The creator assignment token makes this browser the room's creator when it joins (kept per room).
        try {
          if (hub.creator_assignment_token) storage?.setItem(`plexus:creator:${hub.hub_id}`, hub.creator_assignment_token);
        } catch {
          // storage full or unavailable: the room works, without the creator role
        }
        // Stay on this origin: the server may know itself by another host name.
        const url = new URL(hub.url, location.href);
        location.assign(url.pathname + url.search);
      })
      .catch((err: unknown) => {
        createButton.disabled = false;
        say(err instanceof HubApiError ? err.message : `Could not create the room: ${String(err)}`, true);
      });
  });

  joinForm.addEventListener('submit', (event) => {
    event.preventDefault();
    rememberName();
    const path = roomPathFromInput(joinInput.value);
    if (!path) {
      say('Paste a room link like http://host/AbCdEfG/my-room, or its 7-character code.', true);
      return;
    }
    location.assign(path);
  });
}
