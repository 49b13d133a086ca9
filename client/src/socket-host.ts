/**
 * Where the room socket should connect, from Reticulum's `/api/v1/meta`
 * (`{phx_host, phx_port}`): after a socket error the client asks again, so a
 * reconnect can go to another node of a cluster (as Hubs does,
 * reference/naf-phoenix-client.md §5.1).
 */

/** The part of `/api/v1/meta` used here. */
export interface ServerMeta {
  phx_host?: string | null;
  phx_port?: string | number | null;
}

/**
 * The phoenix.js socket URL (`ws(s)://host:port/socket/websocket`) for a meta
 * answer, or null when it names no host.
 * @param page the page's location (protocol, hostname, port)
 */
export function socketUrlFromMeta(meta: ServerMeta, page: { protocol: string; hostname: string; port: string }): string | null {
  const host = typeof meta.phx_host === 'string' && /^[A-Za-z0-9.\-:[\]]+$/.test(meta.phx_host) ? meta.phx_host : null;
  if (!host) return null;
  const port = meta.phx_port !== null && meta.phx_port !== undefined && String(meta.phx_port) !== '' ? String(meta.phx_port) : host === page.hostname ? page.port : '';
  const scheme = page.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${host}${port ? `:${port}` : ''}/socket/websocket`;
}

/** Fetches `/api/v1/meta` and returns the socket URL it names, or null on any failure. */
export async function fetchSocketUrl(page: Location = location): Promise<string | null> {
  try {
    const res = await fetch('/api/v1/meta', { cache: 'no-store' });
    if (!res.ok) return null;
    return socketUrlFromMeta((await res.json()) as ServerMeta, page);
  } catch {
    return null;
  }
}
