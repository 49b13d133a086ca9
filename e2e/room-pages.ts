/**
 * Browser-side helpers shared by the e2e tests: open a room page and wait
 * until its person is in the room, wait for a condition inside a page, and
 * dump what every open page knows when a wait fails. Pages are read through
 * the client's debug hook `window.__plexus` (client/src/debug-hook.ts).
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { PlexusDebugHook } from '../client/src/debug-hook.ts';

/**
 * What each open page knows (session, join state, cluster link, people,
 * entities, held and hovered box, clock offset), one line per page.
 * @param pages open pages by person
 */
export async function describePages(pages: Map<string, Page>): Promise<string> {
  const parts: string[] = [];
  for (const [name, page] of pages) {
    if (page.isClosed()) continue;
    const state = await page
      .evaluate(() => {
        const h = (window as unknown as { __plexus?: PlexusDebugHook }).__plexus;
        if (!h) return 'no __plexus hook';
        return JSON.stringify({
          sessionId: h.sessionId,
          joined: h.joined,
          entered: h.entered,
          linkState: h.linkState,
          joinCount: h.joinCount,
          socketEndpoint: h.socketEndpoint,
          clusterNodes: h.clusterNodes(),
          held: h.held(),
          hovered: h.hovered(),
          clockOffsetMs: Math.round(h.serverTimeOffset()),
          people: h.people(),
          entities: h.entities(),
        });
      })
      .catch((err: Error) => `evaluate failed: ${err.message}`);
    parts.push(`${name}: ${state}`);
  }
  return parts.join('\n');
}

/**
 * Waits until `fn(arg)`, run in `page`, returns a truthy value, and returns
 * that value.
 * @param describe called on timeout; its text is added to the error
 * @throws Error naming `what`, with the timeout and `describe()`'s text
 */
export async function waitInPage<A, R>(page: Page, what: string, fn: (arg: A) => R, arg: A, timeoutMs: number, describe: () => Promise<string>): Promise<NonNullable<R>> {
  try {
    const handle = await page.waitForFunction(fn as (arg: unknown) => R, arg as unknown, { timeout: timeoutMs });
    return (await handle.jsonValue()) as NonNullable<R>;
  } catch (err) {
    throw new Error(`timed out (${timeoutMs} ms) waiting until ${what}: ${(err as Error).message}\n${await describe()}`);
  }
}

/**
 * Opens `roomUrl` as `name` (the `?name=` parameter) in a fresh 1280×720
 * browser context, records the page in `pages`, and waits until the person
 * has joined and entered the room.
 * @param opts.initScript script run in the page before its own scripts
 * @param opts.wait how to wait inside the page (the test's `until`)
 * @returns the context, the page and the person's session_id
 */
export async function openRoomPage(
  browser: Browser,
  pages: Map<string, Page>,
  roomUrl: string,
  name: string,
  opts: { initScript?: string; wait: <A, R>(page: Page, what: string, fn: (arg: A) => R, arg: A) => Promise<NonNullable<R>> },
): Promise<{ context: BrowserContext; page: Page; sessionId: string }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  if (opts.initScript) await context.addInitScript({ content: opts.initScript });
  const page = await context.newPage();
  pages.set(name, page);
  const url = new URL(roomUrl);
  url.searchParams.set('name', name);
  await page.goto(url.href);
  const sessionId = await opts.wait(
    page,
    `${name} has joined and entered the room`,
    () => {
      const h = (window as unknown as { __plexus?: PlexusDebugHook }).__plexus;
      return h && h.joined && h.entered ? h.sessionId : null;
    },
    null,
  );
  return { context, page, sessionId: String(sessionId) };
}
