import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { configTable, SETTINGS } from '../server/config.ts';
import { README_PATH, TABLE_END, TABLE_START, withConfigTable } from './docs-config.ts';

test("README's configuration table is the one generated from server/config.ts (run npm run docs:config after changing a setting)", () => {
  const readme = readFileSync(README_PATH, 'utf8');
  assert.equal(withConfigTable(readme), readme);
});

test('the generated table has one row per setting, naming its variable, default and meaning', () => {
  const rows = configTable().split('\n').slice(2);
  const settings = Object.values(SETTINGS);
  assert.equal(rows.length, settings.length);
  assert.equal(new Set(settings.map((s) => s.env)).size, settings.length, 'no variable is declared twice');
  for (const [i, s] of settings.entries()) {
    assert.ok(rows[i]!.startsWith(`| \`${s.env}\` | ${s.docDefault} | `), rows[i]);
    assert.ok((s.schema.description ?? '').length > 10, `${s.env} is documented`);
  }
  assert.match(configTable(), /^\| `PORT` \| `4000` \| TCP port/m);
});

test('withConfigTable replaces only the text between the markers, and refuses a README without them', () => {
  const doc = `intro\n${TABLE_START}\nold table\n${TABLE_END}\noutro\n`;
  assert.equal(withConfigTable(doc, 'T'), `intro\n${TABLE_START}\nT\n${TABLE_END}\noutro\n`);
  assert.throws(() => withConfigTable('no markers', 'T'), /needs the lines/);
});
