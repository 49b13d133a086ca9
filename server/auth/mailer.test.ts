import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import { createMailer } from './mailer.ts';

test('without SMTP_URL a mail is written to the log at info level, with its link and a note that it was not sent', async () => {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      done();
    },
  });
  const mailer = createMailer(null, 'Plexus <noreply@localhost>', pino({ level: 'info' }, sink));
  await mailer.send('alice@example.org', 'Your sign-in link', 'Open http://rooms.example/?auth_token=abc to sign in');
  await new Promise((r) => setImmediate(r));
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.level, 30, 'info');
  assert.match(String(lines[0]!.msg), /SMTP_URL is not set: this mail was not sent/);
  assert.match(String(lines[0]!.text), /auth_token=abc/);
  assert.equal(lines[0]!.to, 'alice@example.org');
});
