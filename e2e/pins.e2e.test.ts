/**
 * Pinned boxes in real Chromium: the creator makes a room from the lobby
 * (which keeps the room's creator assignment token), spawns a box, pins it
 * with the "Pin box" button, and reloads: the box is back where it was. A
 * person who joins afterwards sees it there too.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { PlexusDebugHook } from '../client/src/debug-hook.ts';
import { launchChromium, REPO_ROOT, startServer, type RunningServer } from './harness.ts';
import { describePages, openRoomPage, waitInPage } from './room-pages.ts';

const WAIT_MS = 20_000;
const RESULTS_DIR = join(REPO_ROOT, 'test-results');

let server: RunningServer;
let browser: Browser;
const openPages = new Map<string, Page>();

async function describeState(): Promise<string> {
  return `${await describePages(openPages)}\nserver logs (tail):\n${server.logs().slice(-4000)}`;
}

function until<A, R>(page: Page, what: string, fn: (arg: A) => R, arg: A, timeoutMs = WAIT_MS): Promise<NonNullable<R>> {
  return waitInPage(page, what, fn, arg, timeoutMs, describeState);
}

before(async () => {
  server = await startServer();
  browser = await launchChromium();
  mkdirSync(RESULTS_DIR, { recursive: true });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

type Pos = { x: number; y: number; z: number };

/** Waits until the page shows box `id`, pinned, and returns its position. */
function pinnedBoxIn(page: Page, id: string, what: string): Promise<Pos> {
  return until(
    page,
    what,
    (boxId) => {
      const h = (window as unknown as { __plexus?: PlexusDebugHook }).__plexus;
      if (!h || !h.pinned().includes(boxId)) return null;
      return h.entities().find((e) => e.networkId === boxId)?.position ?? null;
    },
    id,
  );
}

/** Clicks "Enter room" once the page has joined, and waits until it is in. */
async function enterRoom(page: Page): Promise<void> {
  await until(page, 'the page has joined', () => (window as unknown as { __plexus?: PlexusDebugHook }).__plexus?.joined || null, null);
  await page.click('#enter-button');
  await until(page, 'the person has entered', () => (window as unknown as { __plexus?: PlexusDebugHook }).__plexus?.entered || null, null);
}

const near = (a: Pos, b: Pos) => Math.abs(a.x - b.x) < 0.01 && Math.abs(a.y - b.y) < 0.01 && Math.abs(a.z - b.z) < 0.01;

test('the creator pins a box, reloads, and the box is still there; a later visitor sees it too', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const page = await context.newPage();
  openPages.set('Creator', page);
  await page.goto(`${server.url}/`);
  await page.fill('#display-name', 'Creator');
  await page.fill('#room-name', 'Pinned things');
  await page.click('#create-room');
  await page.waitForURL(/\/[A-Za-z0-9]{7}\//, { timeout: WAIT_MS });
  const roomUrl = page.url();
  await enterRoom(page);

  await page.click('#spawn-box');
  await until(page, 'the Pin box button is usable', () => {
    const b = document.getElementById('pin-box') as HTMLButtonElement | null;
    return b && !b.hidden && !b.disabled ? b.textContent : null;
  }, null);
  const boxId = await page.evaluate(() => {
    const h = (window as unknown as { __plexus: PlexusDebugHook }).__plexus;
    return h.entities().find((e) => e.template === '#box-media')!.networkId;
  });
  await page.click('#pin-box');
  const pinnedAt = await pinnedBoxIn(page, boxId, 'the box is pinned');
  assert.equal(await page.textContent('#pin-box'), 'Unpin box');
  await page.screenshot({ path: join(RESULTS_DIR, 'pins-before-reload.png') });

  await page.reload();
  await enterRoom(page);
  const afterReload = await pinnedBoxIn(page, boxId, 'the pinned box is back after the reload');
  assert.ok(near(afterReload, pinnedAt), `box moved: ${JSON.stringify(afterReload)} vs ${JSON.stringify(pinnedAt)}`);
  await page.screenshot({ path: join(RESULTS_DIR, 'pins-after-reload.png') });

  const visitor = await openRoomPage(browser, openPages, roomUrl, 'Visitor', { wait: until });
  const seen = await pinnedBoxIn(visitor.page, boxId, 'the visitor sees the pinned box');
  assert.ok(near(seen, pinnedAt), `visitor sees it elsewhere: ${JSON.stringify(seen)}`);
  // The visitor is neither creator nor signed in: no pin button.
  assert.equal(await visitor.page.isHidden('#pin-box'), true);
  await visitor.page.screenshot({ path: join(RESULTS_DIR, 'pins-visitor.png') });
  await visitor.context.close();
  await context.close();
});
