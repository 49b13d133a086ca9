/**
 * Finding a live node of a Plexus cluster from the page, through Reticulum's
 * `GET /api/v1/meta` (`{version, pool, phx_host, phx_port, nodes}`; `nodes`
 * lists every healthy node as `{phx_host, phx_port}` and is `[]` on a single
 * node without Redis). Hubs asks the page's origin only
 * (reference/naf-phoenix-client.md §5.1); Plexus also remembers `nodes` so
 * that a page whose own node died can still ask a survivor (every node's
 * meta answers cross-origin with `access-control-allow-origin: *`).
 *
 * The pure parts (parsing, URLs, the order in which to ask, which node to
 * pick) are plain functions; {@link NodeFinder} does the fetching.
 */

/** Where a node is reached: `/api/v1/meta`'s `phx_host` and `phx_port`. */
export interface NodeAddress {
  /** Host name or IP address, e.g. `node2.example.com` or `10.0.0.5`. */
  phx_host: string;
  /** Decimal port as a string (e.g. `"4312"`), or null for "the page's port when the host is the page's host, else the scheme's default". */
  phx_port: string | null;
}

/** The parts of an `/api/v1/meta` answer used by the client. */
export interface ClusterMeta {
  /** The node chosen for this client, or null when the answer names none. */
  node: NodeAddress | null;
  /** Every healthy node of the cluster (empty on a single node). */
  nodes: NodeAddress[];
}

/** The page location fields used here (`window.location` fits). */
export interface PageLocation {
  protocol: string;
  hostname: string;
  port: string;
}

/** Host names, IPv4 and IPv6 literals (brackets optional); nothing that could smuggle a path or credentials. */
const HOST_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.\-]*[A-Za-z0-9])?|\[?[0-9A-Fa-f:.]+\]?)$/;

/** A port as a decimal string in 1..65535, or null when absent; undefined when present but invalid. */
function parsePort(value: unknown): string | null | undefined {
  if (value === null || value === undefined || value === '') return null;
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : '';
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? String(n) : undefined;
}

/** A `{phx_host, phx_port}` object as a {@link NodeAddress}, or null when the host is missing or odd or the port invalid. */
export function parseNodeAddress(value: unknown): NodeAddress | null {
  if (!value || typeof value !== 'object') return null;
  const v = value as { phx_host?: unknown; phx_port?: unknown };
  if (typeof v.phx_host !== 'string' || !HOST_RE.test(v.phx_host)) return null;
  const port = parsePort(v.phx_port);
  if (port === undefined) return null;
  return { phx_host: v.phx_host, phx_port: port };
}

/**
 * Reads an `/api/v1/meta` JSON body. Returns null when it is not an object;
 * otherwise the named node (null when absent or malformed) and the valid
 * entries of `nodes` (others dropped; missing `nodes` gives `[]`).
 */
export function parseMeta(body: unknown): ClusterMeta | null {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return null;
  const b = body as { nodes?: unknown };
  const nodes: NodeAddress[] = [];
  if (Array.isArray(b.nodes)) {
    for (const entry of b.nodes) {
      const node = parseNodeAddress(entry);
      if (node && !nodes.some((n) => sameNode(n, node))) nodes.push(node);
    }
  }
  return { node: parseNodeAddress(body), nodes };
}

/** The page's own node (its host and port). */
export function pageNode(page: PageLocation): NodeAddress {
  return { phx_host: page.hostname, phx_port: page.port || null };
}

function bracketed(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

function bare(host: string): string {
  return host.replace(/^\[|\]$/g, '').toLowerCase();
}

/** The port a URL for `node` would carry: its own, else the page's for the page's host, else none (scheme default). */
function effectivePort(node: NodeAddress, page?: PageLocation): string {
  if (node.phx_port) return node.phx_port;
  if (page && bare(node.phx_host) === bare(page.hostname)) return page.port;
  return '';
}

/** Default port of a page protocol, for comparing `"443"` with no port. */
function defaultPort(page?: PageLocation): string {
  return page?.protocol === 'https:' ? '443' : '80';
}

/**
 * True when `a` and `b` are the same node: same host (case-insensitive,
 * brackets ignored) and same port, a missing port meaning the page's port
 * on the page's host and the scheme's default elsewhere.
 */
export function sameNode(a: NodeAddress, b: NodeAddress, page?: PageLocation): boolean {
  if (bare(a.phx_host) !== bare(b.phx_host)) return false;
  return (effectivePort(a, page) || defaultPort(page)) === (effectivePort(b, page) || defaultPort(page));
}

function origin(node: NodeAddress, page: PageLocation, scheme: string): string {
  const port = effectivePort(node, page);
  return `${scheme}//${bracketed(node.phx_host)}${port ? `:${port}` : ''}`;
}

/** `http(s)://host:port/api/v1/meta` of a node, with the page's scheme. */
export function metaUrlForNode(node: NodeAddress, page: PageLocation): string {
  return `${origin(node, page, page.protocol === 'https:' ? 'https:' : 'http:')}/api/v1/meta`;
}

/** `ws(s)://host:port/socket/websocket` of a node (phoenix.js's `endPoint`), with the page's scheme. */
export function socketUrlForNode(node: NodeAddress, page: PageLocation): string {
  return `${origin(node, page, page.protocol === 'https:' ? 'wss:' : 'ws:')}/socket/websocket`;
}

/**
 * The node a phoenix.js `endPoint` points at: an absolute `ws(s)://` URL's
 * host and port, or the page's node for a path (`/socket/websocket`). Null
 * when it cannot be read.
 */
export function nodeOfSocketUrl(endPoint: string, page: PageLocation): NodeAddress | null {
  if (endPoint.startsWith('/') && !endPoint.startsWith('//')) return pageNode(page);
  try {
    const url = new URL(endPoint.startsWith('//') ? `${page.protocol === 'https:' ? 'wss:' : 'ws:'}${endPoint}` : endPoint);
    return { phx_host: bare(url.hostname), phx_port: url.port || null };
  } catch {
    return null;
  }
}

/** One place to ask for meta: its URL and the node that answers there. */
export interface MetaCandidate {
  url: string;
  node: NodeAddress;
}

/**
 * In which order to ask for `/api/v1/meta`: the page's origin first (as a
 * relative URL, same-origin), then each remembered node that is neither the
 * page's node nor `avoid` (the node the socket points at), in the given
 * order, and `avoid` last, so it is asked only when nothing else answers.
 * No node is listed twice.
 */
export function metaCandidates(page: PageLocation, nodes: readonly NodeAddress[], avoid: NodeAddress | null): MetaCandidate[] {
  const self = pageNode(page);
  const out: MetaCandidate[] = [{ url: '/api/v1/meta', node: self }];
  const listed = (node: NodeAddress) => out.some((c) => sameNode(c.node, node, page));
  let avoided: NodeAddress | null = null;
  for (const node of nodes) {
    if (listed(node)) continue;
    if (avoid && sameNode(node, avoid, page)) {
      avoided = node;
      continue;
    }
    out.push({ url: metaUrlForNode(node, page), node });
  }
  if (avoided) out.push({ url: metaUrlForNode(avoided, page), node: avoided });
  return out;
}

/**
 * Which node to connect to after `answeredBy` answered `meta`: the node the
 * meta names, except when that is `avoid` (the node that just failed, or the
 * one that is shutting down) and the answering node is another one: that
 * node is alive (it just answered), while a dead node stays in the
 * cluster's directory for a few seconds. With no node named, the answering
 * node.
 */
export function chooseNode(meta: ClusterMeta, answeredBy: NodeAddress, avoid: NodeAddress | null, page: PageLocation): NodeAddress {
  const named = meta.node;
  if (!named) return answeredBy;
  if (avoid && sameNode(named, avoid, page) && !sameNode(answeredBy, avoid, page)) return answeredBy;
  return named;
}

/** GETs a URL and resolves with its parsed JSON body; rejects on a network error, a timeout or a non-2xx status. */
export type JsonFetcher = (url: string, timeoutMs: number) => Promise<unknown>;

/** `fetch` with `cache: no-store`, a timeout, and CORS mode for other origins. */
export const fetchJson: JsonFetcher = async (url, timeoutMs) => {
  const res = await fetch(url, { cache: 'no-store', signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
  return res.json();
};

/** How long one meta request may take before the next candidate is asked (ms). */
export const META_TIMEOUT_MS = 3000;

/**
 * Remembers the cluster's nodes from each meta answer and finds a live node
 * by asking {@link metaCandidates} in turn.
 */
export class NodeFinder {
  /** Every node from the last meta answer that listed any (empty on a single node). */
  nodes: NodeAddress[] = [];

  /**
   * @param page the page's location
   * @param fetcher JSON GET (default {@link fetchJson})
   * @param timeoutMs per request (default {@link META_TIMEOUT_MS})
   */
  constructor(
    private readonly page: PageLocation,
    private readonly fetcher: JsonFetcher = fetchJson,
    private readonly timeoutMs = META_TIMEOUT_MS,
  ) {}

  /** Asks the page's origin once, to learn the cluster's nodes; never rejects. */
  async learn(): Promise<void> {
    try {
      const meta = parseMeta(await this.fetcher('/api/v1/meta', this.timeoutMs));
      if (meta) this.remember(meta);
    } catch {
      // Learned on the next successful meta.
    }
  }

  /**
   * Finds the node to connect to, avoiding `avoid` where possible (see
   * {@link chooseNode}). Resolves with null when no candidate answered;
   * never rejects.
   */
  async find(avoid: NodeAddress | null): Promise<NodeAddress | null> {
    for (const candidate of metaCandidates(this.page, this.nodes, avoid)) {
      let meta: ClusterMeta | null;
      try {
        meta = parseMeta(await this.fetcher(candidate.url, this.timeoutMs));
      } catch {
        continue;
      }
      if (!meta) continue;
      this.remember(meta);
      return chooseNode(meta, candidate.node, avoid, this.page);
    }
    return null;
  }

  private remember(meta: ClusterMeta): void {
    if (meta.nodes.length > 0) this.nodes = meta.nodes;
  }
}
