/**
 * The people list: everyone in presence with their color, display name and
 * whether they are in the lobby or the room. Rendered into a `<ul>`.
 */
import type { Person } from './room-connection.ts';
import { colorForSession } from './player-color.ts';

/**
 * Replaces the list's content.
 * @param list the `<ul>` to fill
 * @param people from `RoomConnection.people()`
 * @param selfId our session_id (marked "you"), or null
 */
export function renderPeople(list: HTMLElement, people: Person[], selfId: string | null): void {
  const sorted = [...people].sort((a, b) => {
    if (a.sessionId === selfId) return -1;
    if (b.sessionId === selfId) return 1;
    return a.displayName.localeCompare(b.displayName);
  });
  const items = sorted.map((person) => {
    const li = document.createElement('li');
    li.className = 'person';
    li.dataset['sessionId'] = person.sessionId;
    li.dataset['presence'] = person.presence;
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.background = colorForSession(person.sessionId);
    const name = document.createElement('span');
    name.className = 'person-name';
    name.textContent = person.displayName || 'Unnamed';
    const badge = document.createElement('span');
    badge.className = `badge badge-${person.presence === 'room' ? 'room' : 'lobby'}`;
    badge.textContent = person.presence === 'room' ? 'in room' : 'in lobby';
    li.append(swatch, name);
    if (person.sessionId === selfId) {
      const you = document.createElement('span');
      you.className = 'you';
      you.textContent = '(you)';
      li.append(you);
    }
    li.append(badge);
    return li;
  });
  list.replaceChildren(...items);
}
