import { ErrorCodes, type ErrorCode } from '../errors.ts';
import type { HttpHandler, HttpRequest, HttpResponse } from '../transport/http-types.ts';

/** A route handler; `params` holds the `:name` segments of the pattern. */
export type RouteHandler = (req: HttpRequest, params: Record<string, string>) => HttpResponse | Promise<HttpResponse>;

interface Route {
  methods: string[];
  segments: string[];
  handler: RouteHandler;
}

/** A JSON response. */
export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponse {
  return { status, headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers }, body: JSON.stringify(body) };
}

/** A JSON error response `{error: {code, message}}`; `code` is a code of the catalog (errors.ts: the compiler refuses any other). */
export function jsonError(status: number, code: ErrorCode, message: string, details?: unknown): HttpResponse {
  return json(status, { error: details === undefined ? { code, message } : { code, message, details } });
}

/**
 * The token of an `Authorization` header: `Bearer <token>`, or `bearer: <token>`
 * as Reticulum's own tests send it (Guardian's header scheme takes an optional
 * colon, any case). Null when the header is absent or has another shape.
 */
export function bearerToken(header: string | undefined): string | null {
  return /^Bearer:?\s+(\S+)\s*$/i.exec(header ?? '')?.[1] ?? null;
}

/**
 * A small path router: patterns like `/api/v1/hubs/:hub_sid`, matched in the
 * order added. `HEAD` matches `GET` routes. Unmatched paths get a JSON 404,
 * matched paths with another method a 405.
 */
export class Router {
  private readonly routes: Route[] = [];
  private decorators: Array<(req: HttpRequest, res: HttpResponse) => HttpResponse> = [];

  /** Adds a function applied to every response the router gives (404 and 405 included), e.g. to add headers. */
  decorate(fn: (req: HttpRequest, res: HttpResponse) => HttpResponse): this {
    this.decorators.push(fn);
    return this;
  }

  /** Adds a route for one or more methods. */
  add(methods: string | string[], pattern: string, handler: RouteHandler): this {
    const list = (Array.isArray(methods) ? methods : [methods]).map((m) => m.toUpperCase());
    if (list.includes('GET') && !list.includes('HEAD')) list.push('HEAD');
    this.routes.push({ methods: list, segments: pattern.split('/').filter(Boolean), handler });
    return this;
  }

  /** The router as one transport handler. */
  handler(): HttpHandler {
    return (req) => {
      if (this.decorators.length === 0) return this.dispatch(req);
      const finish = (res: HttpResponse) => this.decorators.reduce((r, fn) => fn(req, r), res);
      const res = this.dispatch(req);
      return res instanceof Promise ? res.then(finish) : finish(res);
    };
  }

  private dispatch(req: HttpRequest): HttpResponse | Promise<HttpResponse> {
    const parts = req.path.split('/').filter(Boolean);
    let pathMatched = false;
    for (const route of this.routes) {
      const params = match(route.segments, parts);
      if (!params) continue;
      pathMatched = true;
      if (!route.methods.includes(req.method)) continue;
      return route.handler(req, params);
    }
    if (pathMatched) return jsonError(405, ErrorCodes.HTTP_METHOD_NOT_ALLOWED, `${req.method} is not allowed on ${req.path}.`);
    return jsonError(404, ErrorCodes.HTTP_NOT_FOUND, `Nothing at ${req.path}.`);
  }
}

function match(segments: string[], parts: string[]): Record<string, string> | null {
  const last = segments[segments.length - 1];
  const wildcard = last === '*';
  if (wildcard ? parts.length < segments.length - 1 : parts.length !== segments.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i];
    if (seg === '*') {
      params['*'] = parts.slice(i).join('/');
      return params;
    }
    const part = parts[i];
    if (seg.startsWith(':')) {
      try {
        params[seg.slice(1)] = decodeURIComponent(part);
      } catch {
        return null;
      }
    } else if (seg !== part) {
      return null;
    }
  }
  return params;
}
