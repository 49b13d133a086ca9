import { HUB_SID_PATTERN } from '../db/hubs.ts';
import { ErrorCodes } from '../errors.ts';
import type { HttpRequest, HttpResponse } from '../transport/http-types.ts';
import type { RouteContext } from './http-deps.ts';
import { jsonError, type Router } from './router.ts';
import { StaticFiles } from './static-files.ts';

/**
 * The client and its pages (added last: `/:hub_sid` would match any one-segment path):
 * - `GET /assets/*` → the built client;
 * - `GET /:hub_sid/objects.gltf` → the room's pinned objects as a glTF document (`model/gltf+json`);
 * - `GET|HEAD /` (lobby), `/:hub_sid`, `/:hub_sid/:slug` (room page), sent with
 *   `x-frame-options: DENY`; a room page with the room's `?embed_token=`
 *   is sent without it and with `frame-ancestors *` (other sites may frame it), with a wrong one it is a
 *   404. Every response carries a `Date` header (uWS adds it), which NAF's
 *   clock sync reads.
 */
export function addPageRoutes(router: Router, ctx: RouteContext): void {
  const { hubs } = ctx.deps;
  const files = new StaticFiles(ctx.deps.clientDir, { serveSourceMaps: ctx.deps.serveSourceMaps });
  router.add('GET', '/assets/*', (_req, params) => files.serve(params['*'], 'public, max-age=300'));
  // Pages may not be framed (the security headers say DENY), except a room with its embed token.
  const page = async (file: string, frameable = false): Promise<HttpResponse> => {
    const res = await files.serve(file);
    return frameable && res.status === 200 ? { ...res, frameable: true } : res;
  };
  router.add('GET', '/', () => page('index.html'));
  // Reticulum's embedding (page_controller): `?embed_token=` must be the room's, and then the page may be framed.
  const room = async (req: HttpRequest, params: Record<string, string>): Promise<HttpResponse> => {
    if (!HUB_SID_PATTERN.test(params.hub_sid)) return jsonError(404, ErrorCodes.HTTP_NOT_FOUND, `Nothing at /${params.hub_sid}.`);
    const embedToken = req.query.get('embed_token');
    if (embedToken === null) return page('room.html');
    const hub = /^[0-9a-f]{1,64}$/.test(embedToken) ? await hubs.findBySid(params.hub_sid) : null;
    if (!hub || hub.embedToken !== embedToken) return jsonError(404, ErrorCodes.INVALID_EMBED_TOKEN, 'Invalid embed token: use the embed_token an owner of this room got, or open the room without it.');
    return page('room.html', true);
  };
  // Reticulum's pinned-object replay (reference/reticulum.md §5): no auth, the hub_sid is the capability.
  router.add('GET', '/:hub_sid/objects.gltf', async (_req, params) => {
    const hub = await hubs.findBySid(params.hub_sid);
    if (!hub) return jsonError(404, ErrorCodes.HUB_NOT_FOUND, `No room ${params.hub_sid}.`);
    const nodes = await hubs.pinnedObjects(hub.id);
    const gltf = {
      asset: { version: '2.0', generator: 'plexus' },
      scenes: [{ nodes: nodes.map((_n, i) => i), name: 'Room Objects' }],
      nodes,
      extensionsUsed: ['HUBS_components'],
    };
    return { status: 200, headers: { 'content-type': 'model/gltf+json', 'cache-control': 'no-store' }, body: JSON.stringify(gltf) };
  });
  router.add('GET', '/:hub_sid', room);
  router.add('GET', '/:hub_sid/:slug', room);
}
