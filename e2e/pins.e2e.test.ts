/**
 * Pinned boxes in real Chromium: the creator makes a room from the lobby
 * (which keeps the room's creator assignment token), spawns a box, pins it
 * with the "Pin box" button (the box then wears a ring), moves it (releasing
 * it pins it again at its new place) and reloads: the box is back where it
 * was, owned by the reloaded page. A person who joins afterwards sees it
 * there too, owned by the creator. Screenshots go to test-results/pins-*.png.
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

/** The stored node of `id` in the room's objects.gltf. */
async function storedNode(roomUrl: string, id: string): Promise<{ translation: number[] } | undefined> {
  const sid = new URL(roomUrl).pathname.split('/')[1];
  const res = await fetch(`${server.url}/${sid}/objects.gltf`);
  assert.equal(res.headers.get('content-type'), 'model/gltf+json');
  const body = (await res.json()) as { nodes: Array<{ name: string; translation: number[] }> };
  return body.nodes.find((n) => n.name === id);
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
  await pinnedBoxIn(page, boxId, 'the box is pinned');
  assert.equal(await page.textContent('#pin-box'), 'Unpin box');
  await until(page, 'the pinned box wears the ring', (id) => document.getElementById(`naf-${id}`)?.querySelector('.pin-marker') ? true : null, boxId);

  // Moving a pinned box and letting go pins it again where it now is. Facing -z, a held box sits straight
  // in front of the camera, so after a 1.2 m step along x it is at the camera's x.
  await page.evaluate(() => (window as unknown as { __plexus: PlexusDebugHook }).__plexus.turn(0));
  assert.equal(await page.evaluate((id) => (window as unknown as { __plexus: PlexusDebugHook }).__plexus.grab(id), boxId), true);
  await page.evaluate(() => (window as unknown as { __plexus: PlexusDebugHook }).__plexus.move(1.2, 0));
  const cameraX = await page.evaluate(() => {
    const h = (window as unknown as { __plexus: PlexusDebugHook }).__plexus;
    return h.entities().find((x) => x.template === '#player-avatar' && x.owner === h.sessionId)!.position.x;
  });
  await until(page, 'the held box follows the camera', ([id, x]) => {
    const h = (window as unknown as { __plexus: PlexusDebugHook }).__plexus;
    const e = h.entities().find((b) => b.networkId === id);
    return e && Math.abs(e.position.x - x) < 0.05 ? true : null;
  }, [boxId, cameraX] as const);
  await page.evaluate(() => (window as unknown as { __plexus: PlexusDebugHook }).__plexus.release());
  const pinnedAt = await pinnedBoxIn(page, boxId, 'the box is still pinned after the move');
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const n = await storedNode(roomUrl, boxId);
    if (n && near({ x: n.translation[0]!, y: n.translation[1]!, z: n.translation[2]! }, pinnedAt)) break;
    if (Date.now() > deadline) assert.fail(`the stored pin did not follow the move: ${JSON.stringify(n)} vs ${JSON.stringify(pinnedAt)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await page.screenshot({ path: join(RESULTS_DIR, 'pins-before-reload.png') });

  await page.reload();
  await enterRoom(page);
  const afterReload = await pinnedBoxIn(page, boxId, 'the pinned box is back after the reload');
  assert.ok(near(afterReload, pinnedAt), `box moved: ${JSON.stringify(afterReload)} vs ${JSON.stringify(pinnedAt)}`);
  // Alone in the room, the page that recreated the box took ownership of it (NAF).
  const reloaded = await until(page, 'the reloaded page owns the recreated box', (id) => {
    const h = (window as unknown as { __plexus: PlexusDebugHook }).__plexus;
    const e = h.entities().find((x) => x.networkId === id);
    return e && e.owner === h.sessionId ? e.owner : null;
  }, boxId);
  await until(page, 'the recreated box wears the pinned ring', (id) => document.getElementById(`naf-${id}`)?.querySelector('.pin-marker') ? true : null, boxId);
  await page.screenshot({ path: join(RESULTS_DIR, 'pins-after-reload.png') });

  const visitor = await openRoomPage(browser, openPages, roomUrl, 'Visitor', { wait: until });
  const seen = await pinnedBoxIn(visitor.page, boxId, 'the visitor sees the pinned box');
  assert.ok(near(seen, pinnedAt), `visitor sees it elsewhere: ${JSON.stringify(seen)}`);
  // The visitor adopts the present owner instead of claiming the box.
  await until(visitor.page, 'the visitor sees the creator own the box', ([id, owner]) => {
    const e = (window as unknown as { __plexus: PlexusDebugHook }).__plexus.entities().find((x) => x.networkId === id);
    return e && e.owner === owner ? true : null;
  }, [boxId, reloaded] as const);
  await until(visitor.page, 'the visitor sees the pinned ring', (id) => document.getElementById(`naf-${id}`)?.querySelector('.pin-marker') ? true : null, boxId);
  // The visitor is neither creator nor signed in: no pin button.
  assert.equal(await visitor.page.isHidden('#pin-box'), true);
  await visitor.page.screenshot({ path: join(RESULTS_DIR, 'pins-visitor.png') });
  await visitor.context.close();
  await context.close();
});
