/**
 * Two Plexus nodes sharing Redis (TEST_REDIS_URL) and a fresh PostgreSQL
 * database (on TEST_DATABASE_URL), in real headless Chromium: A's page is
 * served by node 1, B's by node 2, both in one room. They see each other
 * across nodes; then node 1 is killed with SIGKILL, and A's page gets back
 * into the room through node 2 by itself (its own origin is dead, so it asks
 * the nodes it remembered from /api/v1/meta), keeping its session_id, its
 * one avatar on B's screen, its box, its movement and its chat.
 *
 * scripts/test.ts always provides TEST_REDIS_URL and TEST_DATABASE_URL;
 * without them this test fails (it is never skipped).
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { PlexusDebugHook } from '../client/src/debug-hook.ts';
import { createTestDatabase } from '../ops/dev/postgres.ts';
import { launchChromium, REPO_ROOT, startServer, type RunningServer } from './harness.ts';
import { describePages, openRoomPage, waitInPage } from './room-pages.ts';

/** Default time to wait for a condition in a page, ms. */
const WAIT_MS = 20_000;
/** How long A may take to get back into the room after its node died, ms. */
const FAILOVER_MS = 30_000;
/** Where screenshots go (git-ignored). */
const RESULTS_DIR = join(REPO_ROOT, 'test-results');

type Vec3 = { x: number; y: number; z: number };
type Hooked = { __plexus: PlexusDebugHook };

const servers = new Map<string, RunningServer>();
let browser: Browser | null = null;
let db: { url: string; drop(): Promise<void> } | null = null;
const openPages = new Map<string, Page>();

after(async () => {
  await browser?.close();
  for (const server of servers.values()) await server.stop();
  await db?.drop();
});

/** Every page's state and every server's log tail, for failure messages. */
async function describeState(): Promise<string> {
  const parts = [await describePages(openPages)];
  for (const [name, server] of servers) parts.push(`${name} logs (tail):\n${server.logs().slice(-3000)}`);
  return parts.join('\n');
}

/** Waits until `fn(arg)`, run in `page`, is truthy and returns it; on timeout fails with `what` and the state of everything. */
function until<A, R>(page: Page, what: string, fn: (arg: A) => R, arg: A, timeoutMs = WAIT_MS): Promise<NonNullable<R>> {
  return waitInPage(page, what, fn, arg, timeoutMs, describeState);
}

/** Polls `fn` until it returns a truthy value (Node side), failing with `what` after `timeoutMs`. */
async function untilNode<R>(what: string, fn: () => Promise<R>, timeoutMs = WAIT_MS): Promise<NonNullable<R>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value as NonNullable<R>;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out (${timeoutMs} ms) waiting until ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}\n${await describeState()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Opens the room page `roomUrl` as `name` in a fresh browser context and waits until the person has entered. */
function openRoom(roomUrl: string, name: string): Promise<{ context: BrowserContext; page: Page; sessionId: string }> {
  return openRoomPage(browser!, openPages, roomUrl, name, { initScript: PEER_WATCH_SCRIPT, wait: until });
}

/** The `#player-avatar` entities owned by `ownerId` that `page` knows. */
async function avatarsOf(page: Page, ownerId: string): Promise<Array<{ networkId: string; position: Vec3 }>> {
  return page.evaluate((owner) => {
    const h = (window as unknown as Hooked).__plexus;
    return h.entities().filter((e) => e.template === '#player-avatar' && e.owner === owner).map((e) => ({ networkId: e.networkId, position: e.position }));
  }, ownerId);
}

/** Position of the page's own avatar (its camera), metres. */
async function ownPosition(page: Page): Promise<Vec3> {
  return page.evaluate(() => {
    const h = (window as unknown as Hooked).__plexus;
    const me = h.entities().find((e) => e.template === '#player-avatar' && e.owner === h.sessionId);
    if (!me) throw new Error('own avatar not found');
    return me.position;
  });
}

/** Moves `mover` by (dx, dz) and waits until `watcher` sees the mover's avatar where the mover's page has it. */
async function moveAndWatch(mover: { page: Page; sessionId: string }, watcher: Page, dx: number, dz: number, what: string): Promise<Vec3> {
  const from = await ownPosition(mover.page);
  await mover.page.evaluate(({ dx, dz }) => (window as unknown as Hooked).__plexus.move(dx, dz), { dx, dz });
  const to = await until(
    mover.page,
    'the mover sees its own avatar at the new place',
    ({ from, d }) => {
      const h = (window as unknown as Hooked).__plexus;
      const me = h.entities().find((e) => e.template === '#player-avatar' && e.owner === h.sessionId);
      return me && Math.hypot(me.position.x - from.x, me.position.z - from.z) > d - 0.01 ? me.position : null;
    },
    { from, d: Math.hypot(dx, dz) },
  );
  await until(
    watcher,
    what,
    ({ owner, at }) => {
      const h = (window as unknown as Hooked).__plexus;
      const avatar = h.entities().find((e) => e.template === '#player-avatar' && e.owner === owner);
      return !!avatar && Math.hypot(avatar.position.x - at.x, avatar.position.z - at.z) < 0.05;
    },
    { owner: mover.sessionId, at: to },
  );
  return to;
}

/** Sends a chat line through the page's chat field (typing + Enter). */
async function sayInChat(page: Page, text: string): Promise<void> {
  await page.click('#chat-input');
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
}

declare function watchPeer(owner: string): void;
declare function peerWatch(): { disconnects: number; sameElement: boolean };

/**
 * Page script defining `watchPeer(owner)` and `peerWatch()`: the first marks
 * `owner`'s avatar element and starts counting NAF `clientDisconnected`
 * events for `owner`; the second reports that count and whether `owner`'s
 * avatar is still the marked element. Plain JavaScript in a string: tsx
 * would wrap named functions of a compiled callback in a `__name` helper
 * the page does not have.
 */
const PEER_WATCH_SCRIPT = `
(() => {
  let watched = '';
  let disconnects = 0;
  let marked = null;
  function avatarEl(owner) {
    const avatar = window.__plexus.entities().find((e) => e.template === '#player-avatar' && e.owner === owner);
    return avatar ? document.getElementById('naf-' + avatar.networkId) : null;
  }
  document.addEventListener('DOMContentLoaded', () => {
    document.body.addEventListener('clientDisconnected', (event) => {
      if (watched && event.detail.clientId === watched) disconnects++;
    });
  });
  window.watchPeer = (owner) => {
    watched = owner;
    disconnects = 0;
    marked = avatarEl(owner);
    if (!marked) throw new Error('no avatar element for ' + owner);
  };
  window.peerWatch = () => ({ disconnects, sameElement: marked !== null && avatarEl(watched) === marked });
})();
`;

/** Two animation frames, so a screenshot shows the current state. */
async function settleFrames(page: Page): Promise<void> {
  await page.evaluate(() => new Promise<void>((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve()))));
}

test('pages get back into the room through a live node when theirs is killed or shuts down: same session, one avatar', async (t) => {
  const redisUrl = process.env.TEST_REDIS_URL;
  const baseDbUrl = process.env.TEST_DATABASE_URL;
  assert.ok(redisUrl, 'TEST_REDIS_URL is not set: run this test with `npm run test:e2e` (scripts/test.ts starts Redis and sets it)');
  assert.ok(baseDbUrl, 'TEST_DATABASE_URL is not set: run this test with `npm run test:e2e` (scripts/test.ts starts PostgreSQL and sets it)');

  db = await createTestDatabase(baseDbUrl);
  const env = { REDIS_URL: redisUrl, DATABASE_URL: db.url, SHUTDOWN_GRACE_SECONDS: '0' };
  // The first node migrates the database; the second starts on the migrated one.
  const node1 = await startServer({ env });
  servers.set('node 1', node1);
  const node2 = await startServer({ env });
  servers.set('node 2', node2);
  browser = await launchChromium();
  const wsOf = (server: RunningServer) => `${server.url.replace(/^http/, 'ws')}/socket/websocket`;
  const portOf = (server: RunningServer) => String(server.port);

  // Each node lists both in its meta (the directory heartbeat is 2 s).
  for (const [name, server] of [['node 1', node1], ['node 2', node2]] as const) {
    await untilNode(`${name}'s /api/v1/meta lists both nodes`, async () => {
      const res = await fetch(`${server.url}/api/v1/meta`);
      const meta = (await res.json()) as { nodes?: Array<{ phx_host: string; phx_port: string }> };
      const ports = (meta.nodes ?? []).map((n) => n.phx_port).sort();
      return ports.length === 2 && ports.includes(portOf(node1)) && ports.includes(portOf(node2));
    });
  }

  const created = await fetch(`${node1.url}/api/v1/hubs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ hub: { name: 'Cluster room' } }),
  });
  assert.equal(created.status, 200, `POST /api/v1/hubs answered ${created.status}: ${await created.clone().text()}`);
  const room = (await created.json()) as { url: string; hub_id: string; creator_assignment_token: string };
  const roomUrl = new URL(room.url);
  // New rooms give members voice and text chat only (Reticulum's default); the people here spawn and move boxes.
  const allowed = await fetch(`${node1.url}/api/v1/hubs/${room.hub_id}`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${room.creator_assignment_token}` },
    body: JSON.stringify({ hub: { member_permissions: { spawn_and_move_media: true } } }),
  });
  assert.equal(allowed.status, 200, `PATCH /api/v1/hubs answered ${allowed.status}: ${await allowed.clone().text()}`);
  const onNode2 = new URL(roomUrl.pathname, node2.url);

  const a = await openRoom(roomUrl.href, 'Ann');
  const b = await openRoom(onNode2.href, 'Ben');
  assert.notEqual(a.sessionId, b.sessionId);
  let boxId = '';

  await t.test('A on node 1 and B on node 2 see each other', async () => {
    assert.equal(await a.page.evaluate(() => (window as unknown as Hooked).__plexus.socketEndpoint), wsOf(node1));
    assert.equal(await b.page.evaluate(() => (window as unknown as Hooked).__plexus.socketEndpoint), wsOf(node2));
    for (const [viewer, other, otherName] of [[a, b, 'Ben'], [b, a, 'Ann']] as const) {
      await until(
        viewer.page,
        `${otherName}'s avatar and name are on the other page`,
        ({ owner, name }) => {
          const h = (window as unknown as Hooked).__plexus;
          return (
            h.entities().some((e) => e.template === '#player-avatar' && e.owner === owner) &&
            h.people().some((p) => p.sessionId === owner && p.displayName === name && p.presence === 'room')
          );
        },
        { owner: other.sessionId, name: otherName },
      );
    }
    // A learned the cluster's nodes from meta when it started.
    const ports = await until(
      a.page,
      "A's page knows both nodes",
      () => {
        const nodes = (window as unknown as Hooked).__plexus.clusterNodes();
        return nodes.length === 2 ? nodes.map((n) => n.phx_port).sort() : null;
      },
      null,
    );
    assert.deepEqual(ports, [portOf(node1), portOf(node2)].sort());
  });

  await t.test("A's movement and box are seen on B across nodes (screenshot before)", async () => {
    await moveAndWatch(a, b.page, 0.8, -0.6, "B sees A's avatar move");
    await a.page.click('#spawn-box');
    boxId = await until(
      a.page,
      'A has a box of its own',
      (owner) => (window as unknown as Hooked).__plexus.entities().find((e) => e.template === '#box-media' && e.owner === owner)?.networkId ?? null,
      a.sessionId,
    );
    await until(
      b.page,
      "B sees A's box",
      ({ id, owner }) => (window as unknown as Hooked).__plexus.entities().some((e) => e.networkId === id && e.owner === owner),
      { id: boxId, owner: a.sessionId },
    );
    // B walks to 3 m in front of A, facing A, so A's screenshot shows B.
    const aAt = await ownPosition(a.page);
    const aYaw = await a.page.evaluate(() => (document.getElementById('player') as unknown as { object3D: { rotation: { y: number } } }).object3D.rotation.y);
    const spot = { x: aAt.x - Math.sin(aYaw) * 3 + Math.cos(aYaw) * 1, z: aAt.z - Math.cos(aYaw) * 3 - Math.sin(aYaw) * 1 };
    const bAt = await ownPosition(b.page);
    await b.page.evaluate(
      ({ dx, dz, yaw }) => {
        const h = (window as unknown as Hooked).__plexus;
        h.move(dx, dz);
        h.turn(yaw);
      },
      { dx: spot.x - bAt.x, dz: spot.z - bAt.z, yaw: (Math.atan2(-(aAt.x - spot.x), -(aAt.z - spot.z)) * 180) / Math.PI },
    );
    await until(
      a.page,
      'A sees B in front of it',
      ({ owner, at }) => {
        const avatar = (window as unknown as Hooked).__plexus.entities().find((e) => e.template === '#player-avatar' && e.owner === owner);
        return !!avatar && Math.hypot(avatar.position.x - at.x, avatar.position.z - at.z) < 0.05;
      },
      { owner: b.sessionId, at: spot },
    );
    mkdirSync(RESULTS_DIR, { recursive: true });
    await settleFrames(a.page);
    await a.page.screenshot({ path: join(RESULTS_DIR, 'cluster-before.png') });
  });

  await t.test('after node 1 is killed, A is back in the room through node 2 within 30 s with the same session', async () => {
    const refsBefore = await b.page.evaluate((id) => (window as unknown as Hooked).__plexus.presenceRefs(id), a.sessionId);
    assert.equal(refsBefore.length, 1, `B sees one presence meta for A before the kill: ${JSON.stringify(refsBefore)}`);
    const joinsBefore = await a.page.evaluate(() => (window as unknown as Hooked).__plexus.joinCount);
    // Mark A's avatar element on B and count NAF's clientDisconnected events on both pages: if B's NAF
    // dropped A during the failover (and A's first syncs recreated it), the mark would be gone.
    await b.page.evaluate((owner) => watchPeer(owner), a.sessionId);
    await a.page.evaluate((owner) => watchPeer(owner), b.sessionId);
    const killedAt = Date.now();
    node1.kill('SIGKILL');
    await node1.exited;

    const back = await until(
      a.page,
      "A's socket points at node 2 and its hub channel re-joined there",
      ({ ws, joins }) => {
        const h = (window as unknown as Hooked).__plexus;
        return h.socketEndpoint === ws && h.linkState === 'joined' && h.joinCount > joins ? { sessionId: h.sessionId, joined: h.joined } : null;
      },
      { ws: wsOf(node2), joins: joinsBefore },
      FAILOVER_MS,
    );
    t.diagnostic(`A was back in the room through node 2 ${Date.now() - killedAt} ms after node 1 was killed`);
    assert.equal(back.sessionId, a.sessionId, 'A kept its session_id across nodes');
    assert.ok(back.joined, 'A is joined and NAF-connected');

    // The dead node's presence meta for A is reaped (~13 s); A's key never leaves B's presence, so B keeps one avatar for A.
    await until(
      b.page,
      "B's presence for A has only A's new meta (the dead node's one reaped)",
      ({ id, old }) => {
        const refs = (window as unknown as Hooked).__plexus.presenceRefs(id);
        return refs.length === 1 && !old.includes(refs[0]!);
      },
      { id: a.sessionId, old: refsBefore },
      FAILOVER_MS,
    );
    const avatars = await avatarsOf(b.page, a.sessionId);
    assert.equal(avatars.length, 1, `B sees exactly one avatar for A: ${JSON.stringify(avatars)}`);
    const boxes = await b.page.evaluate((id) => (window as unknown as Hooked).__plexus.entities().filter((e) => e.networkId === id).length, boxId);
    assert.equal(boxes, 1, "B still has A's box");
    const bSeesA = await b.page.evaluate((id) => (window as unknown as Hooked).__plexus.people().find((p) => p.sessionId === id), a.sessionId);
    assert.equal(bSeesA?.presence, 'room', "B's people list shows A in the room");
    assert.deepEqual(await b.page.evaluate(() => peerWatch()), { disconnects: 0, sameElement: true }, "B's NAF never dropped A: same avatar element, no clientDisconnected");
    assert.deepEqual(await a.page.evaluate(() => peerWatch()), { disconnects: 0, sameElement: true }, "A's NAF never dropped B");
  });

  await t.test("after the failover A's movement, box and chat reach B (screenshot after)", async () => {
    await moveAndWatch(a, b.page, -0.5, 0.7, "B sees A's avatar move after the failover");
    const avatars = await avatarsOf(b.page, a.sessionId);
    assert.equal(avatars.length, 1, `B still sees exactly one avatar for A: ${JSON.stringify(avatars)}`);

    // A picks up its box and walks with it; B sees the box follow.
    assert.ok(await a.page.evaluate((id) => (window as unknown as Hooked).__plexus.grab(id), boxId), 'A grabs its box');
    const held = await until(
      a.page,
      'A holds its box',
      (id) => {
        const h = (window as unknown as Hooked).__plexus;
        return h.held() === id ? h.entities().find((e) => e.networkId === id)?.position ?? null : null;
      },
      boxId,
    );
    await moveAndWatch(a, b.page, 1.2, 0, "B sees A walk with the box");
    const carried = await until(
      a.page,
      'the box moved with A',
      ({ id, from }) => {
        const box = (window as unknown as Hooked).__plexus.entities().find((e) => e.networkId === id);
        return box && Math.hypot(box.position.x - from.x, box.position.z - from.z) > 1 ? box.position : null;
      },
      { id: boxId, from: held },
    );
    await until(
      b.page,
      "B's copy of A's box follows A",
      ({ id, at }) => {
        const box = (window as unknown as Hooked).__plexus.entities().find((e) => e.networkId === id);
        return !!box && Math.hypot(box.position.x - at.x, box.position.y - at.y, box.position.z - at.z) < 0.05;
      },
      { id: boxId, at: carried },
    );
    await a.page.evaluate(() => (window as unknown as Hooked).__plexus.release());

    await sayInChat(a.page, 'hello from A via node 2');
    await until(
      b.page,
      'B got the chat line A sent after the failover',
      ({ from, text }) =>
        (window as unknown as Hooked).__plexus.chat.some((line) => line.sessionId === from && line.body === text) &&
        (document.querySelector('#chat-log')?.textContent?.includes(text) ?? false),
      { from: a.sessionId, text: 'hello from A via node 2' },
    );
    await settleFrames(a.page);
    await a.page.screenshot({ path: join(RESULTS_DIR, 'cluster-after-failover.png') });
    await b.page.screenshot({ path: join(RESULTS_DIR, 'cluster-after-failover-b.png') });
  });

  await t.test('a node shutting down (SIGTERM) sends ret-deploy, and its page moves to node 2 before the node closes it', async () => {
    // Node 3 keeps its sockets open for 10 s after the notice, so only the ret-deploy move can bring C over in time.
    const node3 = await startServer({ env: { ...env, SHUTDOWN_GRACE_SECONDS: '10' } });
    servers.set('node 3', node3);
    await untilNode("node 2's /api/v1/meta lists node 2 and node 3 (node 1 expired)", async () => {
      const meta = (await (await fetch(`${node2.url}/api/v1/meta`)).json()) as { nodes?: Array<{ phx_port: string }> };
      return (meta.nodes ?? []).map((n) => n.phx_port).sort().join() === [portOf(node2), portOf(node3)].sort().join();
    });
    const c = await openRoom(new URL(roomUrl.pathname, node3.url).href, 'Cid');
    assert.equal(await c.page.evaluate(() => (window as unknown as Hooked).__plexus.socketEndpoint), wsOf(node3));
    await until(
      b.page,
      "B sees C's avatar",
      (owner) => (window as unknown as Hooked).__plexus.entities().some((e) => e.template === '#player-avatar' && e.owner === owner),
      c.sessionId,
    );
    await until(
      c.page,
      "C sees A's and B's avatars",
      (owners) => owners.every((owner) => (window as unknown as Hooked).__plexus.entities().some((e) => e.template === '#player-avatar' && e.owner === owner)),
      [a.sessionId, b.sessionId],
    );
    await b.page.evaluate((owner) => watchPeer(owner), c.sessionId);
    const joinsBefore = await c.page.evaluate(() => (window as unknown as Hooked).__plexus.joinCount);

    const stoppedAt = Date.now();
    const stopping = node3.stop(30_000);
    const moved = await until(
      c.page,
      "C moved its socket to node 2 after ret-deploy and re-joined there",
      ({ ws, joins }) => {
        const h = (window as unknown as Hooked).__plexus;
        return h.deployMoves === 1 && h.socketEndpoint === ws && h.linkState === 'joined' && h.joinCount > joins ? { sessionId: h.sessionId } : null;
      },
      { ws: wsOf(node2), joins: joinsBefore },
      9_000,
    );
    t.diagnostic(`C was in the room through node 2 ${Date.now() - stoppedAt} ms after node 3 got SIGTERM`);
    assert.equal(moved.sessionId, c.sessionId, 'C kept its session_id');
    await stopping;

    await moveAndWatch(c, b.page, 0.6, 0.6, "B sees C move after C's node shut down");
    const avatars = await avatarsOf(b.page, c.sessionId);
    assert.equal(avatars.length, 1, `B sees exactly one avatar for C: ${JSON.stringify(avatars)}`);
    // C's bridge connection joined on node 2 before its socket left node 3, so C's presence key never emptied on B.
    assert.deepEqual(await b.page.evaluate(() => peerWatch()), { disconnects: 0, sameElement: true }, "B's NAF never dropped C: same avatar element, no clientDisconnected");
    await until(
      b.page,
      "B's presence for C is down to one meta (the bridge left)",
      (id) => (window as unknown as Hooked).__plexus.presenceRefs(id).length === 1,
      c.sessionId,
    );
    await sayInChat(c.page, 'hello from C after the move');
    await until(
      b.page,
      'B got the chat line C sent after the move',
      ({ from, text }) => (window as unknown as Hooked).__plexus.chat.some((line) => line.sessionId === from && line.body === text),
      { from: c.sessionId, text: 'hello from C after the move' },
    );
    await c.context.close();
  });

  await a.context.close();
  await b.context.close();
});
