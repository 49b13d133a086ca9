/**
 * Two people in one room, in real headless Chromium (software WebGL) against
 * a real Plexus server: avatars, presence, a spawned box whose ownership
 * moves from Alice to Bob when Bob clicks it on his canvas, chat both ways,
 * and Bob's avatar disappearing when he closes his page.
 *
 * The pages are driven through their UI (the "Spawn box" button, the chat
 * field, a real mouse click on the box); state is read through the room
 * page's `window.__plexus` hook (client/src/debug-hook.ts). Every wait is on
 * a condition with a timeout.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { PlexusDebugHook } from '../client/src/debug-hook.ts';
import { launchChromium, REPO_ROOT, startServer, type RunningServer } from './harness.ts';
import { describePages, openRoomPage, waitInPage } from './room-pages.ts';

/** Default time to wait for a condition in a page, ms. */
const WAIT_MS = 20_000;
/** Where screenshots go (git-ignored). */
const RESULTS_DIR = join(REPO_ROOT, 'test-results');

type Vec3 = { x: number; y: number; z: number };

let server: RunningServer;
let browser: Browser;
/** Open pages by person, for the state dump of a failed wait. */
const openPages = new Map<string, Page>();

/** What each open page knows, and the server's log tail, for failure messages. */
async function describeState(): Promise<string> {
  return `${await describePages(openPages)}\nserver logs (tail):\n${server.logs().slice(-4000)}`;
}

/**
 * Waits until `fn(arg)`, run in `page`, returns a truthy value, and returns
 * that value. On timeout, fails with `what` and a dump of every page's state.
 */
function until<A, R>(page: Page, what: string, fn: (arg: A) => R, arg: A, timeoutMs = WAIT_MS): Promise<NonNullable<R>> {
  return waitInPage(page, what, fn, arg, timeoutMs, describeState);
}

before(async () => {
  server = await startServer();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Opens the room as `name` in a fresh browser context and waits until the person has entered. */
async function openRoom(roomUrl: string, name: string): Promise<{ context: BrowserContext; page: Page; sessionId: string }> {
  const opened = await openRoomPage(browser, openPages, roomUrl, name, { wait: until });
  assert.ok(opened.sessionId, `${name} has a session_id`);
  return opened;
}

/** Waits until `page` knows an avatar owned by `ownerId`. */
async function waitForAvatarOf(page: Page, ownerId: string, what: string): Promise<void> {
  await until(
    page,
    what,
    (owner) => {
      const h = (window as unknown as { __plexus: PlexusDebugHook }).__plexus;
      return h.entities().some((e) => e.template === '#player-avatar' && e.owner === owner);
    },
    ownerId,
  );
}

/** Waits until the people list of `page` shows `name` in the room. */
async function waitForPersonListed(page: Page, name: string, what: string): Promise<void> {
  await until(
    page,
    what,
    (who) =>
      Array.from(document.querySelectorAll('#people-list .person')).some(
        (li) => li.querySelector('.person-name')?.textContent === who && (li as HTMLElement).dataset['presence'] === 'room',
      ),
    name,
  );
}

/** Position of an entity as `page` sees it, or null when unknown there. */
async function entityPosition(page: Page, networkId: string): Promise<Vec3 | null> {
  return page.evaluate((id) => {
    const h = (window as unknown as { __plexus: PlexusDebugHook }).__plexus;
    return h.entities().find((e) => e.networkId === id)?.position ?? null;
  }, networkId);
}

/** Position of the page's own avatar (its camera), metres. */
async function ownPosition(page: Page): Promise<Vec3> {
  return page.evaluate(() => {
    const h = (window as unknown as { __plexus: PlexusDebugHook }).__plexus;
    const me = h.entities().find((e) => e.template === '#player-avatar' && e.owner === h.sessionId);
    if (!me) throw new Error('own avatar not found');
    return me.position;
  });
}

/** Clicks the box `networkId` on the page's canvas with the real mouse, once the cursor's ray is on it. */
async function clickBox(page: Page, networkId: string, who: string): Promise<void> {
  // Remote copies glide into place (NAF interpolation), so aim only once the
  // box stands still on screen for a few frames.
  const at = await until(
    page,
    `box ${networkId} is on ${who}'s screen and not moving`,
    (id) => {
      const h = (window as unknown as { __plexus: PlexusDebugHook }).__plexus;
      const w = window as unknown as { __aim?: { x: number; y: number; still: number } };
      const p = h.screenToBox(id);
      if (!p) return null;
      const prev = w.__aim;
      const still = prev && Math.hypot(p.x - prev.x, p.y - prev.y) < 0.5 ? prev.still + 1 : 0;
      w.__aim = { x: p.x, y: p.y, still };
      return still >= 5 ? p : null;
    },
    networkId,
  );
  await page.mouse.move(at.x, at.y);
  try {
    await until(
      page,
      `${who}'s mouse cursor is on box ${networkId}`,
      (id) => {
        const h = (window as unknown as { __plexus: PlexusDebugHook }).__plexus;
        return h.hovered() === id;
      },
      networkId,
    );
  } catch (err) {
    const cursorState = await page.evaluate(
      ({ x, y }) => {
        type Ray = { data: { origin: unknown; direction: unknown }; objects: unknown[]; intersectedEls: Element[] };
        const scene = document.querySelector('a-scene') as unknown as { components: { raycaster?: Ray } };
        const ray = scene.components.raycaster;
        return JSON.stringify({
          elementAtPoint: document.elementFromPoint(x, y)?.outerHTML.slice(0, 120),
          rayOrigin: ray?.data.origin,
          rayDirection: ray?.data.direction,
          objects: ray?.objects.length,
          intersected: ray?.intersectedEls.map((el) => el.className),
        });
      },
      at,
    );
    throw new Error(`${(err as Error).message}\nmouse at ${JSON.stringify(at)}; cursor: ${cursorState}`);
  }
  await page.mouse.down();
  await page.mouse.up();
}

/** Sends a chat line through the page's chat field (typing + Enter). */
async function sayInChat(page: Page, text: string): Promise<void> {
  await page.click('#chat-input');
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
}

/** Waits until `page` received the chat line `body` from `sessionId` and shows it. */
async function waitForChat(page: Page, sessionId: string, body: string, what: string): Promise<void> {
  await until(
    page,
    what,
    ({ from, text }) => {
      const h = (window as unknown as { __plexus: PlexusDebugHook }).__plexus;
      return (
        h.chat.some((line) => line.sessionId === from && line.body === text) &&
        (document.querySelector('#chat-log')?.textContent?.includes(text) ?? false)
      );
    },
    { from: sessionId, text: body },
  );
}

test('two people share a room: avatars, a box that changes hands, chat, and leaving', async (t) => {
  const created = await fetch(`${server.url}/api/v1/hubs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ hub: { name: 'E2E room' } }),
  });
  assert.equal(created.status, 200, `POST /api/v1/hubs answered ${created.status}: ${await created.clone().text()}`);
  const { url: roomUrl, hub_id: hubId, creator_assignment_token: creatorToken } = (await created.json()) as { url: string; hub_id: string; creator_assignment_token: string };
  // New rooms give members voice and text chat only (Reticulum's default); the people here spawn and move boxes.
  const allowed = await fetch(`${server.url}/api/v1/hubs/${hubId}`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${creatorToken}` },
    body: JSON.stringify({ hub: { member_permissions: { spawn_and_move_media: true } } }),
  });
  assert.equal(allowed.status, 200, `PATCH /api/v1/hubs answered ${allowed.status}: ${await allowed.clone().text()}`);
  assert.match(new URL(roomUrl).pathname, /^\/[A-Za-z0-9]{7}\/e2e-room$/);

  const alice = await openRoom(roomUrl, 'Alice');
  const bob = await openRoom(roomUrl, 'Bob');
  assert.notEqual(alice.sessionId, bob.sessionId);
  let boxId = '';

  await t.test("each person sees the other one's avatar and name", async () => {
    await waitForAvatarOf(alice.page, bob.sessionId, "Alice sees Bob's avatar");
    await waitForAvatarOf(bob.page, alice.sessionId, "Bob sees Alice's avatar");
    await waitForPersonListed(alice.page, 'Bob', "Alice's people list shows Bob in the room");
    await waitForPersonListed(bob.page, 'Alice', "Bob's people list shows Alice in the room");
    // The name travels with the avatar too (player-name is in the NAF schema).
    await until(
      alice.page,
      "Bob's avatar on Alice's page carries the name Bob",
      (owner) => {
        const h = (window as unknown as { __plexus: PlexusDebugHook }).__plexus;
        const avatar = h.entities().find((e) => e.template === '#player-avatar' && e.owner === owner);
        const el = avatar ? document.getElementById(`naf-${avatar.networkId}`) : null;
        return (el?.getAttribute('player-name') as unknown as { name?: string } | null)?.name === 'Bob';
      },
      bob.sessionId,
    );
  });

  await t.test('a box Alice spawns with the button appears for Bob', async () => {
    await alice.page.click('#spawn-box');
    boxId = await until(
      alice.page,
      'Alice has a box of her own',
      (owner) => {
        const h = (window as unknown as { __plexus: PlexusDebugHook }).__plexus;
        return h.entities().find((e) => e.template === '#box-media' && e.owner === owner)?.networkId ?? null;
      },
      alice.sessionId,
    );
    const spawnedAt = await entityPosition(alice.page, boxId);
    assert.ok(spawnedAt);
    await until(
      bob.page,
      "Bob sees Alice's box, created and owned by her, where she put it",
      ({ id, owner, at }) => {
        const h = (window as unknown as { __plexus: PlexusDebugHook }).__plexus;
        const box = h.entities().find((e) => e.networkId === id);
        return (
          !!box &&
          box.template === '#box-media' &&
          box.owner === owner &&
          box.creator === owner &&
          Math.hypot(box.position.x - at.x, box.position.y - at.y, box.position.z - at.z) < 0.01
        );
      },
      { id: boxId, owner: alice.sessionId, at: spawnedAt },
    );
  });

  await t.test('Bob grabs the box with a mouse click and Alice sees it move with him', async () => {
    await clickBox(bob.page, boxId, 'Bob');
    // Held boxes float 1.5 m in front of the holder's eyes (client/src/grab-system.ts).
    const held = await until(
      bob.page,
      'Bob holds the box, owns it, and it floats 1.5 m in front of him',
      ({ id, me }) => {
        const h = (window as unknown as { __plexus: PlexusDebugHook }).__plexus;
        const box = h.entities().find((e) => e.networkId === id);
        const self = h.entities().find((e) => e.template === '#player-avatar' && e.owner === me);
        if (h.held() !== id || !box || box.owner !== me || !self) return null;
        const distance = Math.hypot(box.position.x - self.position.x, box.position.z - self.position.z);
        return Math.abs(distance - 1.5) < 0.01 ? box.position : null;
      },
      { id: boxId, me: bob.sessionId },
    );

    // Alice sees the new owner, and her copy follows Bob's (held in front of him).
    const before = await until(
      alice.page,
      "Alice sees the box owned by Bob, where Bob's page has it",
      ({ id, owner, at }) => {
        const h = (window as unknown as { __plexus: PlexusDebugHook }).__plexus;
        const box = h.entities().find((e) => e.networkId === id);
        if (!box || box.owner !== owner) return null;
        return Math.hypot(box.position.x - at.x, box.position.y - at.y, box.position.z - at.z) < 0.05 ? box.position : null;
      },
      { id: boxId, owner: bob.sessionId, at: held },
    );
    // Bob walks 1.8 m; the box he holds goes with him.
    await bob.page.evaluate(() => {
      const h = (window as unknown as { __plexus: PlexusDebugHook }).__plexus;
      h.move(1.5, -1);
    });
    const after = await until(
      bob.page,
      'the box moved with Bob on his page',
      ({ id, from }) => {
        const h = (window as unknown as { __plexus: PlexusDebugHook }).__plexus;
        const box = h.entities().find((e) => e.networkId === id);
        return box && Math.hypot(box.position.x - from.x, box.position.z - from.z) > 1.7 ? box.position : null;
      },
      { id: boxId, from: held },
    );
    await until(
      alice.page,
      "Alice's copy of the box moved with Bob to where his page has it",
      ({ id, owner, at }) => {
        const h = (window as unknown as { __plexus: PlexusDebugHook }).__plexus;
        const box = h.entities().find((e) => e.networkId === id);
        return !!box && box.owner === owner && Math.hypot(box.position.x - at.x, box.position.y - at.y, box.position.z - at.z) < 0.05;
      },
      { id: boxId, owner: bob.sessionId, at: after },
    );
    assert.ok(Math.hypot(after.x - before.x, after.z - before.z) > 1.7, 'the box moved as far as Bob walked');
  });

  await t.test('chat lines reach the other person both ways', async () => {
    await sayInChat(alice.page, 'hello from A');
    await waitForChat(bob.page, alice.sessionId, 'hello from A', 'Bob got "hello from A"');
    await sayInChat(bob.page, 'hello from B');
    await waitForChat(alice.page, bob.sessionId, 'hello from B', 'Alice got "hello from B"');
  });

  await t.test('Bob carries the box to Alice, drops it with a click, and Alice sees him and the box (screenshot)', async () => {
    const aliceAt = await ownPosition(alice.page);
    const aliceYaw = await alice.page.evaluate(() => {
      const camera = document.getElementById('player') as unknown as { object3D: { rotation: { y: number } } };
      return camera.object3D.rotation.y;
    });
    const forward = { x: -Math.sin(aliceYaw), z: -Math.cos(aliceYaw) };
    const right = { x: -forward.z, z: forward.x };
    const inFrontOfAlice = (ahead: number, aside: number) => ({
      x: aliceAt.x + forward.x * ahead + right.x * aside,
      z: aliceAt.z + forward.z * ahead + right.z * aside,
    });
    const moveBobTo = async (spot: { x: number; z: number }, what: string) => {
      const bobAt = await ownPosition(bob.page);
      const facingAliceDeg = (Math.atan2(-(aliceAt.x - spot.x), -(aliceAt.z - spot.z)) * 180) / Math.PI;
      await bob.page.evaluate(
        ({ dx, dz, yaw }) => {
          const h = (window as unknown as { __plexus: PlexusDebugHook }).__plexus;
          h.move(dx, dz);
          h.turn(yaw);
        },
        { dx: spot.x - bobAt.x, dz: spot.z - bobAt.z, yaw: facingAliceDeg },
      );
      await until(
        alice.page,
        what,
        ({ owner, at }) => {
          const h = (window as unknown as { __plexus: PlexusDebugHook }).__plexus;
          const avatar = h.entities().find((e) => e.template === '#player-avatar' && e.owner === owner);
          return !!avatar && Math.hypot(avatar.position.x - at.x, avatar.position.z - at.z) < 0.05;
        },
        { owner: bob.sessionId, at: spot },
      );
    };

    // Bob walks up to 3.3 m in front of Alice, facing her; the box he holds is between them.
    await moveBobTo(inFrontOfAlice(3.3, 0), 'Alice sees Bob 3.3 m in front of her');
    // He drops it with a second click on it.
    await clickBox(bob.page, boxId, 'Bob');
    await until(
      bob.page,
      'Bob no longer holds the box',
      () => {
        const h = (window as unknown as { __plexus: PlexusDebugHook }).__plexus;
        return h.held() === null;
      },
      null,
    );
    const dropped = await entityPosition(bob.page, boxId);
    assert.ok(dropped);
    // He steps to Alice's right, so she sees him beside the box he left (still his, so still his color).
    await moveBobTo(inFrontOfAlice(3.3, 1.3), "Alice sees Bob step to her right");
    await until(
      alice.page,
      'Alice sees the dropped box, still owned by Bob, where he left it and on her screen',
      ({ id, owner, at }) => {
        const h = (window as unknown as { __plexus: PlexusDebugHook }).__plexus;
        const b = h.entities().find((e) => e.networkId === id);
        return (
          !!b &&
          b.owner === owner &&
          Math.hypot(b.position.x - at.x, b.position.y - at.y, b.position.z - at.z) < 0.05 &&
          h.screenToBox(id) !== null
        );
      },
      { id: boxId, owner: bob.sessionId, at: dropped },
    );
    mkdirSync(RESULTS_DIR, { recursive: true });
    // Third-person view, so Alice's own avatar is in her picture beside Bob's and the box.
    await alice.page.evaluate(() => (window as unknown as { __plexus: PlexusDebugHook }).__plexus.thirdPerson(true));
    await until(alice.page, "Alice's own avatar copy is in the scene", () => {
      const tinted = document.querySelector('#self-view .tint') as (Element & { hasLoaded?: boolean }) | null;
      return !!tinted?.hasLoaded;
    }, null);
    await alice.page.evaluate(() => new Promise<void>((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve()))));
    await alice.page.screenshot({ path: join(RESULTS_DIR, 'room-from-a.png') });
    await bob.page.screenshot({ path: join(RESULTS_DIR, 'room-from-b.png') });
  });

  await t.test("when Bob closes his page, his avatar leaves Alice's room within 5 s", async () => {
    await bob.context.close();
    await until(
      alice.page,
      "Bob's avatar and presence are gone from Alice's page",
      (owner) => {
        const h = (window as unknown as { __plexus: PlexusDebugHook }).__plexus;
        return !h.entities().some((e) => e.template === '#player-avatar' && e.owner === owner) && !h.occupants().includes(owner);
      },
      bob.sessionId,
      5_000,
    );
    await until(
      alice.page,
      "Alice's people list no longer shows Bob",
      (who) => !Array.from(document.querySelectorAll('#people-list .person-name')).some((el) => el.textContent === who),
      'Bob',
      5_000,
    );
    // Alice created the box, so it stays (NAF removes a non-persistent object when its creator leaves).
    assert.ok(await entityPosition(alice.page, boxId), 'the box Alice created is still there');
  });

  await alice.context.close();
});
