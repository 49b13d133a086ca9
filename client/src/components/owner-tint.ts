/**
 * `owner-tint` A-Frame component: colors an entity by the session that owns
 * its networked root (NAF `networked.data.owner`), using `colorForSession`,
 * so everyone sees who holds what. Checks the owner a few times a second.
 *
 * Schema: `selector` — CSS selector of descendants to tint as well (their
 * `material.color` is set); the entity itself is tinted when it has a
 * `material`.
 */
import { colorForSession } from '../player-color.ts';
import { networkedRoot } from './networked-root.ts';

/** How often the owner is re-read, in ms. */
export const OWNER_TINT_INTERVAL_MS = 150;

interface OwnerTintData {
  selector: string;
}

interface OwnerTintState {
  applied: string | null;
  lastCheck: number;
  apply(color: string): void;
}

/** Registers the `owner-tint` component. */
export function registerOwnerTint(): void {
  AFRAME.registerComponent<OwnerTintData, OwnerTintState>('owner-tint', {
    schema: { selector: { type: 'string', default: '.tint' } },
    applied: null,
    lastCheck: -Infinity,
    init() {
      this.applied = null;
      this.lastCheck = -Infinity;
    },
    update() {
      this.applied = null;
      this.lastCheck = -Infinity;
    },
    tick(time: number) {
      if (time - this.lastCheck < OWNER_TINT_INTERVAL_MS) return;
      this.lastCheck = time;
      const root = networkedRoot(this.el);
      const color = colorForSession(root?.networked.data.owner);
      if (color !== this.applied) this.apply(color);
    },
    apply(color: string) {
      this.applied = color;
      if (this.el.components['material']) this.el.setAttribute('material', 'color', color);
      if (this.data.selector) {
        for (const child of Array.from(this.el.querySelectorAll(this.data.selector))) {
          (child as AEntity).setAttribute('material', 'color', color);
        }
      }
    },
  });
}
