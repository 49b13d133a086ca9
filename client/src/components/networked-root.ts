/**
 * Finding the networked entity an element belongs to, the way NAF's
 * `utils.isMine` walks up (reference/naf-phoenix-client.md §3).
 */

/**
 * The closest element at or above `el` that has a `networked` component.
 * @returns the entity and its networked component, or null
 */
export function networkedRoot(el: Element | null): { el: AEntity; networked: NetworkedComponent } | null {
  let current: Element | null = el;
  while (current) {
    const components = (current as Partial<AEntity>).components;
    const networked = components?.['networked'] as NetworkedComponent | undefined;
    if (networked) return { el: current as AEntity, networked };
    current = current.parentElement;
  }
  return null;
}
