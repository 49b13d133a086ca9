import type { HttpRequest, HttpResponse } from '../transport/http-types.ts';
import type { ForwardingHeaders, TrustedProxies } from './client-address.ts';

/** What {@link WebSecurity} needs to know about this node. */
export interface WebSecurityOptions {
  /** `PUBLIC_URL`, or null. */
  publicUrl: string | null;
  /** This node's own origin when there is no `PUBLIC_URL` and no trusted proxy tells one: `http://HOST:PORT` (read after the port is bound). */
  fallbackOrigin: () => string;
  /** True when `HOST` is a loopback or wildcard address: pages at `localhost`, `127.0.0.1` and `[::1]` on the node's port are its own too. */
  loopbackAliases: boolean;
  proxies: TrustedProxies;
  /** `ALLOWED_ORIGINS`. */
  allowedOrigins: readonly string[];
  /** `host:port` of every node of the cluster seen so far (from the node directory); empty on a single node. */
  clusterNodes: () => ReadonlySet<string>;
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** `origin`'s `host:port` with the scheme's default port filled in, or null when it is not an http(s) origin. */
function hostPort(origin: string): { scheme: string; host: string; port: string } | null {
  try {
    const u = new URL(origin);
    if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.pathname !== '/' || u.search || u.username) return null;
    return { scheme: u.protocol, host: u.hostname.toLowerCase(), port: u.port || (u.protocol === 'https:' ? '443' : '80') };
  } catch {
    return null;
  }
}

/** Content-Security-Policy of the pages: what the A-Frame client needs and nothing inline but styles. */
function pageCsp(insecureNodes: boolean, frameable: boolean): string {
  // A-Frame injects <style> elements (its VR button and loader); textures and avatars load as data: and blob: URLs;
  // the page talks to every node of the cluster (meta, WebSocket), on another port or host than its own.
  const connect = insecureNodes ? "'self' https: wss: http: ws: data: blob:" : "'self' https: wss: data: blob:";
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob: https:",
    "media-src 'self' data: blob: mediastream: https:",
    `connect-src ${connect}`,
    "font-src 'self' data: https:",
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    frameable ? 'frame-ancestors *' : "frame-ancestors 'none'",
  ].join('; ');
}

/** Content-Security-Policy of everything but pages (JSON, files): nothing may run or be framed. */
const API_CSP = "default-src 'none'; frame-ancestors 'none'";

/** HSTS when the client came over https: 180 days, no subdomains (the operator may want them on plain http). */
const HSTS = 'max-age=15552000';

/**
 * The web-facing checks of a node, in one place:
 * - {@link publicOrigin}: the base of URLs handed to clients, never taken
 *   from an untrusted `Host` or `X-Forwarded-*`;
 * - {@link originAllowed}: the WebSocket `Origin` allowlist (cross-site
 *   WebSocket hijacking);
 * - {@link securityHeaders}: CSP, nosniff, Referrer-Policy, framing, HSTS.
 */
export class WebSecurity {
  private readonly allowed: Set<string>;

  constructor(private readonly opts: WebSecurityOptions) {
    this.allowed = new Set(opts.allowedOrigins.map((o) => new URL(o).origin));
  }

  /**
   * The origin browsers use for this node: `PUBLIC_URL`; else what a trusted
   * proxy says (`X-Forwarded-Proto` and `X-Forwarded-Host` or `Host`); else
   * `http://HOST:PORT`, or the loopback alias the request named
   * (`http://localhost:PORT`) for a loopback or wildcard `HOST`. An
   * untrusted client's `Host` is never reflected.
   */
  publicOrigin(remoteAddress: string, headers: ForwardingHeaders): string {
    if (this.opts.publicUrl) return new URL(this.opts.publicUrl).origin;
    const forwarded = this.opts.proxies.forwardedOrigin(remoteAddress, headers);
    if (forwarded) return forwarded;
    const fallback = this.opts.fallbackOrigin();
    // A loopback alias of our own port (http://localhost:4000 for HOST=127.0.0.1) is one of a fixed few, not a reflected Host.
    const own = hostPort(fallback);
    const asked = headers.host ? hostPort(`http://${headers.host.trim()}`) : null;
    if (this.opts.loopbackAliases && own && asked && LOOPBACK_HOSTS.has(asked.host) && asked.port === own.port) return `http://${asked.host}:${asked.port}`;
    return fallback;
  }

  /**
   * Whether a WebSocket upgrade with this `Origin` header is accepted: none
   * (not a browser), this node's own origin (see {@link publicOrigin}, and
   * loopback aliases), `ALLOWED_ORIGINS`, or the host and port of a node of
   * the cluster (a page served by one node moves its socket to another).
   */
  originAllowed(origin: string | undefined, remoteAddress: string, headers: ForwardingHeaders): boolean {
    if (origin === undefined || origin === '') return true;
    const given = hostPort(origin);
    if (!given) return false;
    if (this.allowed.has(new URL(origin).origin)) return true;
    const own = hostPort(this.publicOrigin(remoteAddress, headers));
    if (own && own.scheme === given.scheme && own.port === given.port) {
      if (own.host === given.host) return true;
      if (this.opts.loopbackAliases && !this.opts.publicUrl && LOOPBACK_HOSTS.has(given.host)) return true;
    }
    return this.opts.clusterNodes().has(`${given.host}:${given.port}`);
  }

  /** True when the request reached us over https: a trusted proxy says so, or `PUBLIC_URL` is https. */
  viaHttps(req: HttpRequest): boolean {
    return this.opts.publicUrl?.startsWith('https:') === true || this.opts.proxies.viaHttps(req.remoteAddress, req.headers);
  }

  /**
   * The security headers for `res`: a page CSP for HTML, a deny-all CSP for
   * the rest; `X-Content-Type-Options: nosniff`, `Referrer-Policy:
   * no-referrer` (sign-in links carry tokens in their query),
   * `X-Frame-Options: DENY` (neither it nor `frame-ancestors 'none'` for a
   * response marked `frameable`), and HSTS over https. Headers the route set win.
   */
  securityHeaders(req: HttpRequest, res: HttpResponse): Record<string, string> {
    const html = (res.headers?.['content-type'] ?? '').startsWith('text/html');
    const https = this.viaHttps(req);
    const headers: Record<string, string> = {
      'content-security-policy': html ? pageCsp(!https, res.frameable === true) : API_CSP,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    };
    if (res.frameable !== true) headers['x-frame-options'] = 'DENY';
    if (https) headers['strict-transport-security'] = HSTS;
    return { ...headers, ...res.headers };
  }
}

/** True when `contentType` is JSON (`application/json`, any parameters, any case). */
export function isJsonContentType(contentType: string | undefined): boolean {
  return /^application\/json\s*(;|$)/i.test(contentType?.trim() ?? '');
}
