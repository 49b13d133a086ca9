import { addAppConfigRoutes } from './app-config-routes.ts';
import { routeContext, type HttpDeps } from './http-deps.ts';
import { addHubReadRoute, addHubRoutes } from './hub-routes.ts';
import { addMetaRoutes } from './meta-routes.ts';
import { addPageRoutes } from './page-routes.ts';
import { Router } from './router.ts';
import { addSearchRoutes } from './search-routes.ts';

export type { HttpDeps } from './http-deps.ts';

/**
 * All HTTP routes, a file per feature, matched in the order added (the
 * router's 404/405 answers depend on it):
 * - meta-routes.ts: `GET /health`, `GET /api/v1/meta`, `GET /.well-known/jwks.json`;
 * - hub-routes.ts: `POST /api/v1/hubs`, `PATCH /api/v1/hubs/:hub_sid`, `GET /api/v1/hubs/:hub_sid`;
 * - search-routes.ts: `GET /api/v1/media/search?source=rooms`;
 * - app-config-routes.ts: `GET|POST /api/v1/app_configs` (admins; only with `deps.appConfig`);
 * - page-routes.ts: `/assets/*`, `/`, `/:hub_sid/objects.gltf`, `/:hub_sid`, `/:hub_sid/:slug`.
 * Every response gets the security headers of `deps.web`.
 */
export function buildRouter(deps: HttpDeps): Router {
  const router = new Router();
  const ctx = routeContext(deps);
  router.decorate((req, res) => ({ ...res, headers: deps.web.securityHeaders(req, res) }));
  addMetaRoutes(router, ctx);
  addHubRoutes(router, ctx);
  addSearchRoutes(router, ctx);
  addHubReadRoute(router, ctx);
  if (deps.appConfig) addAppConfigRoutes(router, { appConfig: deps.appConfig, accounts: deps.accounts });
  addPageRoutes(router, ctx);
  return router;
}
