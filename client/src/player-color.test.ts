import assert from 'node:assert/strict';
import { test } from 'node:test';
import { colorForSession, hslToHex, NEUTRAL_COLOR } from './player-color.ts';

test('a session always gets the same color, and different sessions usually differ', () => {
  const a = colorForSession('4eaa1430-cbd2-4993-bc58-66280c9e1e5b');
  assert.equal(a, colorForSession('4eaa1430-cbd2-4993-bc58-66280c9e1e5b'));
  assert.match(a, /^#[0-9a-f]{6}$/);
  const colors = new Set(Array.from({ length: 50 }, (_, i) => colorForSession(`session-${i}`)));
  assert.ok(colors.size > 40);
});

test('no owner, or the scene, is neutral grey', () => {
  assert.equal(colorForSession(''), NEUTRAL_COLOR);
  assert.equal(colorForSession(null), NEUTRAL_COLOR);
  assert.equal(colorForSession('scene'), NEUTRAL_COLOR);
});

test('hslToHex converts primary hues', () => {
  assert.equal(hslToHex(0, 1, 0.5), '#ff0000');
  assert.equal(hslToHex(120, 1, 0.5), '#00ff00');
  assert.equal(hslToHex(240, 1, 0.5), '#0000ff');
});
