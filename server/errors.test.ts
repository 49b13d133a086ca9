/**
 * The error catalog is the whole catalog: the README's close code table is
 * made from it, every close code has the client's advice, and no reply in
 * server/ is written with a literal reason (the compiler refuses those at
 * `error()` / `jsonError()`; the scan catches replies built by hand).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CLOSE_CODE_TABLE, CloseCodes, closeCodesMarkdown, ErrorCodes, permissionDeniedMessage } from './errors.ts';
import { error } from './realtime/channel.ts';
import { jsonError } from './http/router.ts';

const root = path.dirname(fileURLToPath(import.meta.url));

test('every close code has exactly one row of advice, and the table names no other code', () => {
  const codes = Object.values(CloseCodes).sort();
  assert.deepEqual(CLOSE_CODE_TABLE.map((c) => c.code).sort(), codes);
  for (const row of CLOSE_CODE_TABLE) assert.ok(row.when && row.advice, `close code ${row.code} says when it is sent and what to do`);
});

test('the README lists every close code with its advice, as the catalog makes the table', () => {
  const readme = readFileSync(path.join(root, '..', 'README.md'), 'utf8');
  assert.ok(readme.includes(closeCodesMarkdown()), 'README.md holds closeCodesMarkdown() verbatim; paste it from server/errors.ts');
});

test('the reasons Phoenix itself sends keep its wire text', () => {
  assert.equal(ErrorCodes.UNMATCHED_TOPIC, 'unmatched topic');
  assert.equal(ErrorCodes.TOO_MANY_CHANNELS, 'too many channels joined');
});

test('a permission refusal names the action, the permission and who has it', () => {
  assert.equal(permissionDeniedMessage('kick', 'kick_users', 'room owners'), 'kick needs the kick_users permission (room owners have it), which you do not have.');
  assert.equal(permissionDeniedMessage('Sending messages', 'text_chat'), 'Sending messages needs the text_chat permission, which you do not have.');
});

test('error() and jsonError() take only reasons of the catalog (checked by tsc)', () => {
  assert.equal(error(ErrorCodes.INVALID_PAYLOAD, 'm').response.reason, 'invalid_payload');
  // @ts-expect-error a reason that is not in the catalog does not compile
  error('made_up_reason', 'm');
  // @ts-expect-error a code that is not in the catalog does not compile
  jsonError(400, 'made_up_code', 'm');
});

/** The non-test TypeScript files under server/. */
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'test-support') out.push(...sources(full));
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) {
      out.push(full);
    }
  }
  return out;
}

test('no reply, HTTP error or close in server/ is written with a literal reason or close code', () => {
  const patterns = [
    /(?<![.\w])error\(\s*['"`]/, // error('<literal>', ...)
    /\bjsonError\(\s*\d+\s*,\s*['"`]/, // jsonError(400, '<literal>', ...)
    /\breason:\s*['"`]/, // {reason: '<literal>'} built by hand
    /\bcode:\s*['"`][a-z_ ]+['"`]\s*,\s*message/, // {code: '<literal>', message} built by hand
    /\.(close|end|closeAll)\(\s*\d{4}\b/, // close(4009, ...)
  ];
  const found: string[] = [];
  for (const file of sources(root)) {
    if (file === path.join(root, 'errors.ts')) continue;
    readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
      if (patterns.some((p) => p.test(line))) found.push(`${path.relative(root, file)}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(found, [], 'use ErrorCodes / CloseCodes from server/errors.ts');
});
