/**
 * One stable color per session_id, used for a person's avatar, their entry in
 * the people list and the tint of the objects they own, so ownership can be
 * read at a glance.
 */

/** Color for an owner that is not a session (empty owner, "scene", unknown). */
export const NEUTRAL_COLOR = '#9aa3ad';

/**
 * A stable, fairly saturated color for a session_id.
 * @param sessionId Plexus session_id (the NAF clientId and presence key)
 * @returns CSS hex color `#rrggbb`
 */
export function colorForSession(sessionId: string | null | undefined): string {
  if (!sessionId || sessionId === 'scene') return NEUTRAL_COLOR;
  // FNV-1a over UTF-16 code units.
  let hash = 0x811c9dc5;
  for (let i = 0; i < sessionId.length; i++) {
    hash ^= sessionId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  const hue = hash % 360;
  return hslToHex(hue, 0.65, 0.55);
}

/**
 * HSL to `#rrggbb`.
 * @param h hue in degrees [0, 360)
 * @param s saturation [0, 1]
 * @param l lightness [0, 1]
 */
export function hslToHex(h: number, s: number, l: number): string {
  const a = s * Math.min(l, 1 - l);
  const channel = (n: number): string => {
    const k = (n + h / 30) % 12;
    const value = l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return Math.round(value * 255).toString(16).padStart(2, '0');
  };
  return `#${channel(0)}${channel(8)}${channel(4)}`;
}
