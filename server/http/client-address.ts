import { BlockList, isIP } from 'node:net';

/** The proxy hops trusted by `TRUST_PROXY=true`: a reverse proxy on the same machine (the shipped ops/nginx/plexus.conf). */
export const LOOPBACK_PROXIES: readonly string[] = ['127.0.0.0/8', '::1/128'];

/** `ip` without an IPv4-mapped IPv6 prefix (`::ffff:10.0.0.1` → `10.0.0.1`) or brackets; null when it is not an IP address. */
export function normalIp(ip: string): string | null {
  let s = ip.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(s);
  if (mapped) s = mapped[1]!;
  return isIP(s) === 0 ? null : s.toLowerCase();
}

/**
 * Parses one trusted-proxy entry: an IP address (`10.0.0.1`, `::1`) or a CIDR
 * block (`10.0.0.0/8`, `fd00::/8`).
 * @returns the address, its family and prefix length
 * @throws RangeError when the entry is neither
 */
export function parseProxyEntry(entry: string): { address: string; family: 'ipv4' | 'ipv6'; prefix: number } {
  const [addr, bits, extra] = entry.trim().split('/');
  const address = normalIp(addr ?? '');
  if (!address || extra !== undefined) throw new RangeError(`${JSON.stringify(entry)} is not an IP address or CIDR block`);
  const family = isIP(address) === 4 ? 'ipv4' : 'ipv6';
  const max = family === 'ipv4' ? 32 : 128;
  if (bits === undefined) return { address, family, prefix: max };
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) throw new RangeError(`${JSON.stringify(entry)} has a prefix length outside 0..${max}`);
  return { address, family, prefix: Number(bits) };
}

/** The request headers read to find the client and the origin it used (lower-case names). */
export interface ForwardingHeaders {
  readonly host?: string;
  readonly 'x-forwarded-for'?: string;
  readonly 'x-forwarded-proto'?: string;
  readonly 'x-forwarded-host'?: string;
}

/**
 * Which peers are reverse proxies whose `X-Forwarded-*` headers are believed
 * (`TRUSTED_PROXIES`, plus loopback for `TRUST_PROXY=true`).
 *
 * The client IP is the right-most address of `X-Forwarded-For` that is not a
 * trusted proxy, read from the right and only while every hop so far was
 * trusted: a proxy appends the address of the peer it saw (nginx's
 * `$proxy_add_x_forwarded_for`), so entries to the left of that are whatever
 * the client sent and never name a bucket. A request whose own peer is not a
 * trusted proxy is its peer's address, whatever its headers say.
 */
export class TrustedProxies {
  private readonly list = new BlockList();
  /** True when at least one proxy is trusted. */
  readonly enabled: boolean;

  /**
   * @param entries IP addresses and CIDR blocks
   * @throws RangeError for an entry that is neither (config.ts validates first)
   */
  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const { address, family, prefix } = parseProxyEntry(entry);
      this.list.addSubnet(address, prefix, family);
    }
    this.enabled = entries.length > 0;
  }

  /** True when `ip` is a trusted proxy. */
  isTrusted(ip: string): boolean {
    const n = normalIp(ip);
    return n !== null && this.list.check(n, isIP(n) === 4 ? 'ipv4' : 'ipv6');
  }

  /**
   * The client's IP address.
   * @param remoteAddress the TCP peer
   * @param forwardedFor the `X-Forwarded-For` header, if any (several headers joined with commas)
   */
  clientIp(remoteAddress: string, forwardedFor: string | undefined): string {
    let client = normalIp(remoteAddress) ?? remoteAddress;
    if (!forwardedFor || !this.isTrusted(client)) return client;
    const hops = forwardedFor.split(',');
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = normalIp(hops[i]!);
      // Garbage can only have come from beyond the last trusted hop: stop at that hop.
      if (hop === null) return client;
      client = hop;
      if (!this.isTrusted(hop)) return hop;
    }
    return client;
  }

  /**
   * The origin the client used, as told by a trusted proxy
   * (`X-Forwarded-Proto` and `X-Forwarded-Host`, else `Host`; the right-most
   * value of each, the one the nearest proxy set), or null when the peer is
   * not a trusted proxy or the headers do not make an http(s) origin.
   */
  forwardedOrigin(remoteAddress: string, headers: ForwardingHeaders): string | null {
    if (!this.isTrusted(remoteAddress)) return null;
    const last = (v: string | undefined) => v?.split(',').pop()?.trim().toLowerCase() || undefined;
    const proto = last(headers['x-forwarded-proto']) ?? 'http';
    const host = last(headers['x-forwarded-host']) ?? last(headers.host);
    if ((proto !== 'http' && proto !== 'https') || !host || !/^[a-z0-9.\-]+(?::\d{1,5})?$|^\[[0-9a-f:.]+\](?::\d{1,5})?$/.test(host)) return null;
    try {
      return new URL(`${proto}://${host}`).origin;
    } catch {
      return null;
    }
  }

  /** True when a trusted proxy says the client came over https (`X-Forwarded-Proto: https`). */
  viaHttps(remoteAddress: string, headers: ForwardingHeaders): boolean {
    return this.isTrusted(remoteAddress) && headers['x-forwarded-proto']?.split(',').pop()?.trim().toLowerCase() === 'https';
  }
}
