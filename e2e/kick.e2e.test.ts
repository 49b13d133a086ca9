/**
 * A moderator kicks a person: in real Chromium, the kicked page says that
 * its person was removed, and reloading the page does not get them back in
 * while the ban lasts. The moderator is a Phoenix client holding the room's
 * creator_assignment_token (the creator role).
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { RawClient, type Frame } from '../server/test-support/raw-client.ts';
import { launchChromium, REPO_ROOT, startServer, type RunningServer } from './harness.ts';
import { describePages, openRoomPage, waitInPage } from './room-pages.ts';

const WAIT_MS = 20_000;
const RESULTS_DIR = join(REPO_ROOT, 'test-results');

let server: RunningServer;
let browser: Browser;
const openPages = new Map<string, Page>();
const clients: RawClient[] = [];

async function describeState(): Promise<string> {
  return `${await describePages(openPages)}\nserver logs (tail):\n${server.logs().slice(-4000)}`;
}

function until<A, R>(page: Page, what: string, fn: (arg: A) => R, arg: A, timeoutMs = WAIT_MS): Promise<NonNullable<R>> {
  return waitInPage(page, what, fn, arg, timeoutMs, describeState);
}

before(async () => {
  server = await startServer({ env: { KICK_BAN_SECONDS: '600' } });
  browser = await launchChromium();
  mkdirSync(RESULTS_DIR, { recursive: true });
});

after(async () => {
  for (const c of clients) c.close();
  await browser?.close();
  await server?.stop();
});

/** The text of the page's error box, or null while it is hidden. */
function errorText(): string | null {
  const box = document.getElementById('error');
  return box && !box.hidden ? box.textContent : null;
}

test('a kicked person\'s page says they were removed, and a reload cannot rejoin during the ban', async () => {
  const res = await fetch(`${server.url}/api/v1/hubs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ hub: { name: 'Kick test' } }) });
  const room = (await res.json()) as { hub_id: string; url: string; creator_assignment_token: string };
  const topic = `hub:${room.hub_id}`;

  const moderator = await RawClient.connect(server.url);
  clients.push(moderator);
  const joined = await moderator.join(topic, { profile: { displayName: 'Moderator' }, context: {}, creator_assignment_token: room.creator_assignment_token });
  assert.equal(joined[4].status, 'ok', JSON.stringify(joined));

  const { page, sessionId } = await openRoomPage(browser, openPages, room.url, 'Mallory', { wait: until });
  await moderator.waitFor((f: Frame) => f[3] === 'presence_diff' && Object.keys(f[4].joins).includes(sessionId));

  const ref = moderator.push(joined[0], topic, 'kick', { session_id: sessionId });
  const reply = await moderator.reply(ref);
  assert.equal(reply[4].status, 'ok', JSON.stringify(reply));

  const shown = await until(page, 'the page says its person was removed', errorText, null);
  assert.match(String(shown), /removed from this room/);
  await page.screenshot({ path: join(RESULTS_DIR, 'kick-removed.png') });
  await moderator.waitFor((f: Frame) => f[3] === 'presence_diff' && Object.keys(f[4].leaves).includes(sessionId));

  // Reload: the tab comes back as the kicked session (kept in sessionStorage for the ban's length), and the
  // server refuses that session's join with join_denied until the ban ends.
  await page.reload();
  const afterReload = await until(
    page,
    'the reloaded page has joined or failed',
    () => {
      const h = (window as unknown as { __plexus?: { joined: boolean; linkState: string } }).__plexus;
      const box = document.getElementById('error');
      return h && (h.joined || (box && !box.hidden)) ? { joined: h.joined, error: box && !box.hidden ? box.textContent : null } : null;
    },
    null,
  );
  await page.screenshot({ path: join(RESULTS_DIR, 'kick-after-reload.png') });
  assert.equal(afterReload.joined, false, `the reloaded page got back in: ${JSON.stringify(afterReload)}`);
  assert.match(String(afterReload.error), /removed from this room/);
});
