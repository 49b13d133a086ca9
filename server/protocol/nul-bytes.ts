/**
 * PostgreSQL cannot store the character U+0000 in `text` or `jsonb` (it
 * refuses the whole statement, even as a query parameter), so every string
 * that reaches the database is checked for it first and the request is
 * refused with a clear error instead of failing in the driver.
 */

/**
 * The path (`body.hub.name`, `payload.gltf_node["a b"]`) of the first string
 * or object key in `value` that contains U+0000, or null when there is none.
 * Walks iteratively, so any nesting depth is safe.
 * @param where the name of the root in the returned path
 */
export function findNul(value: unknown, where = 'payload'): string | null {
  const stack: Array<[unknown, string]> = [[value, where]];
  while (stack.length > 0) {
    const [v, path] = stack.pop()!;
    if (typeof v === 'string') {
      if (v.includes('\u0000')) return path;
      continue;
    }
    if (typeof v !== 'object' || v === null) continue;
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], `${path}[${i}]`]);
      continue;
    }
    const entries = Object.entries(v);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, child] = entries[i]!;
      const childPath = /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
      if (key.includes('\u0000')) return childPath;
      stack.push([child, childPath]);
    }
  }
  return null;
}
