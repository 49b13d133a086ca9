/** The transport's boundary: it alone imports uWebSockets.js, and it holds no Phoenix rules (those are in realtime/). */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const server = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return sources(full);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [full] : [];
  });
}

test('only server/transport/ imports uWebSockets.js', () => {
  const importers = sources(server)
    .filter((f) => /from 'uWebSockets\.js'/.test(readFileSync(f, 'utf8')))
    .map((f) => path.relative(server, f));
  assert.ok(importers.length > 0);
  assert.deepEqual(importers.filter((f) => !f.startsWith(`transport${path.sep}`)), []);
});

test('the transport checks no Phoenix vsn and names no phoenix subprotocol', () => {
  for (const f of sources(path.join(server, 'transport'))) {
    // The code without its comments (doc lines, whole-line and trailing // comments).
    const code = readFileSync(f, 'utf8')
      .split('\n')
      .filter((line) => !/^\s*(\/\/|\/\*|\*)/.test(line))
      .map((line) => line.replace(/\s\/\/\s.*$/, ''))
      .join('\n');
    assert.doesNotMatch(code, /vsn|'phoenix'/, path.relative(server, f));
  }
});
