/**
 * `owner-label` A-Frame component: keeps the entity's `name-tag` text set to
 * the display name of whoever owns its networked root (e.g. "Bob" above a
 * box Bob is holding). Names come from presence via `displayNameFor`.
 */
import { displayNameFor } from '../people-directory.ts';
import { networkedRoot } from './networked-root.ts';

/** How often the label is refreshed, in ms. */
export const OWNER_LABEL_INTERVAL_MS = 250;

interface OwnerLabelState {
  shown: string | null;
  lastCheck: number;
}

/** Registers the `owner-label` component (needs `name-tag` on the same entity). */
export function registerOwnerLabel(): void {
  AFRAME.registerComponent<Record<string, never>, OwnerLabelState>('owner-label', {
    shown: null,
    lastCheck: -Infinity,
    init() {
      this.shown = null;
      this.lastCheck = -Infinity;
    },
    tick(time: number) {
      if (time - this.lastCheck < OWNER_LABEL_INTERVAL_MS) return;
      this.lastCheck = time;
      const owner = networkedRoot(this.el)?.networked.data.owner ?? '';
      const name = owner ? (displayNameFor(owner) ?? '') : '';
      if (name !== this.shown) {
        this.shown = name;
        this.el.setAttribute('name-tag', 'text', name);
      }
    },
  });
}
