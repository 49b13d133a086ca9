import type { RouteContext } from './http-deps.ts';
import { json, type Router } from './router.ts';

/**
 * The node's own routes:
 * - `GET /health` → 200 `{status: "ok"|"degraded", uptime_s, database, database_ok, connections, broker, checked_ms}`
 *   ("degraded": the node serves its local rooms but cannot reach other nodes:
 *   Redis is down or does not answer a ping within 1 s), or 503 with
 *   `status: "unavailable"` when the database does not answer a ping within
 *   1 s (the node cannot serve joins: a load balancer should take it out);
 * - `GET /api/v1/meta` → `{version, pool, phx_host, phx_port, nodes}` (Reticulum's
 *   meta, plus `nodes: [{phx_host, phx_port}]`, every live node of a cluster, so
 *   a client can ask another node when this one is gone). In a cluster
 *   `phx_host`/`phx_port` name a live node (see `chooseNode`); on a single
 *   node they are the request's host and null, and `nodes` is empty. Sent with
 *   `access-control-allow-origin: *`, so a page may ask any node;
 * - `GET /.well-known/jwks.json` → `{keys: [jwk]}`, the public key of perms tokens (RS512), when `deps.jwks` is given.
 */
export function addMetaRoutes(router: Router, ctx: RouteContext): void {
  const { deps } = ctx;
  const started = Date.now();
  router.add('GET', '/health', async () => {
    const health = await deps.health();
    return json(health.status === 'unavailable' ? 503 : 200, { status: 'ok', uptime_s: Math.round((Date.now() - started) / 1000), ...health });
  });

  router.add('GET', '/api/v1/meta', async (req) => {
    const cors = { 'access-control-allow-origin': '*' };
    const cluster = deps.cluster ? await deps.cluster() : null;
    if (cluster) return json(200, { version: deps.version, pool: 'default', ...cluster }, cors);
    // This node's public host (PUBLIC_URL, a trusted proxy's, or HOST), never an untrusted Host header.
    const host = new URL(ctx.originOf(req)).hostname;
    return json(200, { version: deps.version, pool: 'default', phx_host: host, phx_port: null, nodes: [] }, cors);
  });

  if (deps.jwks) {
    const jwks = deps.jwks;
    router.add('GET', '/.well-known/jwks.json', () => json(200, jwks(), { 'access-control-allow-origin': '*', 'cache-control': 'public, max-age=300' }));
  }
}
