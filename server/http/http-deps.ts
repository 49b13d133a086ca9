import type { AppConfig } from '../app-config.ts';
import type { AccountTokenVerifier } from '../auth/account-ref.ts';
import type { HubRepository } from '../db/hub-repository.ts';
import type { HubRecord } from '../db/hubs.ts';
import type { KeyedLimiter } from '../realtime/rate-limits.ts';
import type { Rooms } from '../rooms/rooms.ts';
import type { HttpRequest } from '../transport/http-types.ts';
import type { TrustedProxies } from './client-address.ts';
import type { WebSecurity } from './web-security.ts';

/** What the HTTP routes need. */
export interface HttpDeps {
  /** The rows of rooms. */
  hubs: HubRepository;
  /** Views, counts and refreshes of rooms (server/rooms/). */
  rooms: Rooms;
  clientDir: string;
  /**
   * Health details to report (e.g. database kind, `status: "degraded"` when
   * other nodes cannot be reached, `"unavailable"` when the database does not
   * answer); `/health` adds uptime and answers 503 for `"unavailable"`.
   */
  health: () => Record<string, unknown> | Promise<Record<string, unknown>>;
  /** Version string reported by `/api/v1/meta`. */
  version: string;
  /** Verifies account tokens (`Authorization: Bearer`): PATCH, room creation by an account, admin routes. */
  accounts?: AccountTokenVerifier;
  /** Runtime switches (`features.disable_room_creation`, `features.permissive_rooms`, ...) and `/api/v1/app_configs`. Absent: every switch off, no app config routes. */
  appConfig?: AppConfig;
  /** Largest room_size POST and PATCH may set. Default 50. */
  maxRoomSize?: number;
  /** The perms token public keys, served at `GET /.well-known/jwks.json`. */
  jwks?: () => unknown;
  /** Per-client-IP limit on endpoints that create or change things (`POST /api/v1/hubs`, PATCH), shared by the cluster's nodes. Absent: no limit. */
  createLimiter?: KeyedLimiter;
  /** Which peers' `X-Forwarded-For` is believed, to find the client IP. */
  proxies: TrustedProxies;
  /** Public origin (for returned URLs and meta), security headers. */
  web: WebSecurity;
  /** Serve the client's `*.map` files (`SERVE_SOURCE_MAPS`). Default false. */
  serveSourceMaps?: boolean;
  /**
   * In a cluster: the node a client should use and every live node, for
   * `/api/v1/meta`; resolves null when no node can be named. Absent on a
   * single node, where meta names the host the request came to.
   */
  cluster?: () => Promise<{ phx_host: string; phx_port: string; nodes: Array<{ phx_host: string; phx_port: string }> } | null>;
}

/** What every group of routes gets: the deps and the request helpers that depend on them. */
export interface RouteContext {
  deps: HttpDeps;
  /** This node's public origin for the request (PUBLIC_URL, a trusted proxy's, or HOST), never an untrusted Host header. */
  originOf(req: HttpRequest): string;
  /** The client's IP (X-Forwarded-For only from trusted proxies). */
  clientIp(req: HttpRequest): string;
  /** The room's page URL, `<origin>/<hub_sid>/<slug>`. */
  roomUrl(req: HttpRequest, hub: HubRecord): string;
}

/** The {@link RouteContext} of `deps`. */
export function routeContext(deps: HttpDeps): RouteContext {
  const originOf = (req: HttpRequest) => deps.web.publicOrigin(req.remoteAddress, req.headers);
  return {
    deps,
    originOf,
    clientIp: (req) => deps.proxies.clientIp(req.remoteAddress, req.headers['x-forwarded-for']),
    roomUrl: (req, hub) => `${originOf(req)}/${hub.hubSid}/${hub.slug}`,
  };
}
