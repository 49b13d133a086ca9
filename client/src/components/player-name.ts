/**
 * `player-name` A-Frame component: a person's display name, synced by NAF as
 * part of the `#player-avatar` schema. On the local camera it only carries
 * the value; on a remote avatar it writes the name into the avatar's
 * `.name-tag` descendant.
 *
 * Schema: `name` (string).
 */

interface PlayerNameData {
  name: string;
}

/** Registers the `player-name` component. */
export function registerPlayerName(): void {
  AFRAME.registerComponent<PlayerNameData>('player-name', {
    schema: { name: { type: 'string', default: '' } },
    update() {
      const tag = this.el.querySelector('.name-tag') as AEntity | null;
      tag?.setAttribute('name-tag', 'text', this.data.name);
    },
  });
}
