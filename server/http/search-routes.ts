import { ErrorCodes } from '../errors.ts';
import type { RouteContext } from './http-deps.ts';
import { json, jsonError, type Router } from './router.ts';

/** Rooms per page of search results. */
const PAGE = 24;

/**
 * Reticulum's media search, rooms only (reference/reticulum.md §9):
 * `GET /api/v1/media/search?source=rooms&q=&cursor=` → `{meta: {source, next_cursor}, entries: [room], suggestions: null}`,
 * public rooms by full-text search, {@link PAGE} a page (400 `invalid_query` for another source or a bad cursor, 422 for a NUL in q).
 */
export function addSearchRoutes(router: Router, ctx: RouteContext): void {
  const { hubs, rooms } = ctx.deps;
  router.add('GET', '/api/v1/media/search', async (req) => {
    const source = req.query.get('source');
    if (source !== 'rooms') return jsonError(400, ErrorCodes.HTTP_INVALID_QUERY, `source=${JSON.stringify(source)} is not supported; this server searches source=rooms.`);
    const q = (req.query.get('q') ?? '').slice(0, 256);
    if (q.includes('\u0000')) return jsonError(422, ErrorCodes.HTTP_INVALID_QUERY, 'q contains a NUL character (%00), which cannot be searched for; remove it.');
    const cursorRaw = req.query.get('cursor') ?? '0';
    if (!/^\d{1,6}$/.test(cursorRaw)) return jsonError(400, ErrorCodes.HTTP_INVALID_QUERY, 'cursor must be the next_cursor of a previous page (a whole number).');
    const offset = Number(cursorRaw);
    const found = await hubs.searchPublic(q, offset, PAGE + 1);
    const entries = [];
    for (const hub of found.slice(0, PAGE)) {
      const counts = await rooms.counts(hub.hubSid);
      entries.push({
        id: hub.hubSid,
        url: ctx.roomUrl(req, hub),
        type: 'room',
        name: hub.name,
        description: hub.description,
        images: { preview: { url: null } },
        member_count: counts.memberCount,
        lobby_count: counts.lobbyCount,
        room_size: rooms.roomSize(hub),
      });
    }
    return json(200, { meta: { source: 'rooms', next_cursor: found.length > PAGE ? String(offset + PAGE) : null }, entries, suggestions: null });
  });
}
