import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { SessionTokens, loadOrCreateSessionSecret } from './auth/session-token.ts';
import { openBackends, type BackendDeps, type Backends } from './backends.ts';
import type { Broker } from './broker/broker.ts';
import { chooseNode } from './directory/choose-node.ts';
import type { NodeDirectory } from './directory/node-directory.ts';
import type { SharedSecrets } from './directory/shared-secrets.ts';
import { hubChannelRoute } from './channels/hub/index.ts';
import { HubRepository } from './db/hub-repository.ts';
import { Rooms } from './rooms/rooms.ts';
import { authChannelRoute } from './channels/auth/auth-channel.ts';
import { AccountTokens } from './auth/account-token.ts';
import { AccountRepository } from './db/accounts.ts';
import { createMailer, type Mailer } from './auth/mailer.ts';
import { PermsTokens } from './auth/perms-token.ts';
import { RoomMembers } from './channels/hub/room-members.ts';
import { retChannelRoute } from './channels/ret/ret-channel.ts';
import { encodeBroadcast } from './protocol/phoenix-codec.ts';
import type { Config } from './config.ts';
import type { Database } from './db/database.ts';
import { ErrorCodes, PlexusError } from './errors.ts';
import { buildRouter } from './http/routes.ts';
import type { Router } from './http/router.ts';
import { AppConfig } from './app-config.ts';
import { createLogger } from './logger.ts';
import { OpenSessions, shutdownNode } from './lifecycle.ts';
import type { PresenceStore } from './presence/presence-store.ts';
import { startPresenceResync } from './presence/resync.ts';
import { Fanout } from './realtime/fanout.ts';
import { SocketSession } from './realtime/socket-session.ts';
import type { ChannelRoute } from './realtime/channel.ts';
import { ConnectionsPerKey } from './realtime/connection-limit.ts';
import { UwsServer, type SocketHandlers } from './transport/uws-server.ts';
import { phoenixUpgradePolicy } from './realtime/phoenix-upgrade.ts';
import type { UwsServerOptions } from './transport/uws-server.ts';
import type { HttpHandler } from './transport/http-types.ts';
import type { LocalPublisher } from './realtime/connection.ts';
import { LOOPBACK_PROXIES, TrustedProxies } from './http/client-address.ts';
import { WebSecurity } from './http/web-security.ts';
import { burstSpec } from './realtime/rate-limits.ts';

/** Replaceable parts, for tests and for the cluster setup; each defaults to the implementation the configuration names. */
export interface ServerDeps extends BackendDeps {
  logger?: Logger;
  /** Builds the transport (default: uWebSockets.js, {@link UwsServer}); the in-process test harness passes its own. */
  transport?: TransportFactory;
}

/** What a node needs from its transport: local fan-out, listening, and closing every socket. {@link UwsServer} is one. */
export interface ServerTransport extends LocalPublisher {
  /** The bound port (valid after {@link listen}). */
  readonly port: number;
  /** Open WebSocket connections. */
  readonly connectionCount: number;
  /** Starts listening; resolves with the bound port. */
  listen(): Promise<number>;
  /** Stops accepting new connections (open sockets stay). */
  stopListening(): void;
  /** Closes every open socket with `code` and `reason`. */
  closeAll(code: number, reason: string): void;
}

/** Makes a node's transport from its options, its HTTP handler and its socket handlers. */
export type TransportFactory = (options: UwsServerOptions, http: HttpHandler, sockets: SocketHandlers, log: Logger) => ServerTransport;

/** A running Plexus node. */
export interface PlexusServer {
  /** Base URL, e.g. `http://127.0.0.1:4000` (valid after {@link listen}). */
  readonly url: string;
  /** The bound port (valid after {@link listen}). */
  readonly port: number;
  readonly database: Database;
  readonly broker: Broker;
  readonly presence: PresenceStore;
  /** The cluster's live nodes (only this one without Redis). */
  readonly directory: NodeDirectory;
  /** Open WebSocket connections. */
  connectionCount(): number;
  /** Starts listening on the configured host and port; returns the port. */
  listen(): Promise<number>;
  /**
   * Stops: the node leaves the directory and refuses new sockets (503
   * `node_draining`) while HTTP keeps answering; if sockets are joined to
   * `ret`, a `notice` `{event: "ret-deploy"}` is pushed there and they get up
   * to `shutdownGraceSeconds` to leave; then it stops listening, every socket
   * left is closed with 1001 (so clients reconnect elsewhere), sessions end,
   * database and broker close. See lifecycle.ts.
   */
  close(): Promise<void>;
}

/** How long /health waits for the database's and Redis's answer to a ping, ms. */
const HEALTH_PING_MS = 1000;

function packageVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.resolve(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** What changes while a node runs: the bound port, whether it drains, and the cluster's nodes it has seen. */
class NodeState {
  draining = false;
  /** host:port of every node seen in the directory: pages served by one node open sockets to another. */
  readonly clusterNodes = new Set<string>();
  constructor(
    private readonly config: Config,
    public boundPort: number,
  ) {}
  /** Where browsers reach this node now. */
  address(): { phx_host: string; phx_port: string } {
    return publicAddress(this.config, this.boundPort);
  }
  /** This node's own origin when PUBLIC_URL is unset. */
  fallbackOrigin(): string {
    const a = this.address();
    return `http://${a.phx_host}:${a.phx_port}`;
  }
  /** Remembers nodes seen in the directory (at most 1000, oldest forgotten first). */
  noteNodes(nodes: ReadonlyArray<{ phx_host: string; phx_port: string }>): void {
    for (const n of nodes) {
      if (this.clusterNodes.size >= 1000) this.clusterNodes.delete(this.clusterNodes.values().next().value!);
      this.clusterNodes.add(`${n.phx_host.toLowerCase()}:${n.phx_port}`);
    }
  }
}

/** The token services and the mailer of a node. */
interface TokenServices {
  sessionTokens: SessionTokens;
  accountTokens: AccountTokens;
  permsTokens: PermsTokens;
  mailer: Mailer;
}

/**
 * The session-token secret every node accepts: `SESSION_SECRET`, else this
 * node's own (DATA_DIR/session-secret) as its proposal to the cluster, so a
 * client moving nodes keeps its session_id. When the cluster cannot be asked,
 * the node keeps its own and says so.
 */
async function sessionSecret(config: Config, secrets: SharedSecrets, log: Logger): Promise<string> {
  const own = loadOrCreateSessionSecret(config.sessionSecret, config.dataDir);
  if (config.sessionSecret) return own;
  try {
    return await secrets.agree('session-secret', own);
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'could not share the session secret through Redis; sessions will not resume on other nodes (set SESSION_SECRET on every node)');
    return own;
  }
}

/** Makes the session, account and perms token services and the mailer. */
async function createTokenServices(config: Config, backends: Backends, log: Logger): Promise<TokenServices> {
  const secret = await sessionSecret(config, backends.secrets, log);
  return {
    sessionTokens: new SessionTokens(secret),
    accountTokens: new AccountTokens(secret, backends.database),
    permsTokens: await PermsTokens.load(config.permsPrivateKey, config.dataDir, backends.database),
    mailer: createMailer(config.smtpUrl, config.mailFrom, log),
  };
}

/** The shared security headers and Origin checks, for HTTP and socket upgrades. */
function webSecurity(config: Config, node: NodeState, proxies: TrustedProxies): WebSecurity {
  const wildcardHost = config.host === '0.0.0.0' || config.host === '::' || config.host === '[::]';
  const loopbackHost = /^(127\.\d+\.\d+\.\d+|localhost|::1|\[::1\])$/.test(config.host);
  return new WebSecurity({
    publicUrl: config.publicUrl,
    fallbackOrigin: () => node.fallbackOrigin(),
    loopbackAliases: wildcardHost || loopbackHost,
    proxies,
    allowedOrigins: config.allowedOrigins,
    clusterNodes: () => node.clusterNodes,
  });
}

/** What the channel routes and the HTTP router are built from. */
interface Parts {
  config: Config;
  log: Logger;
  backends: Backends;
  tokens: TokenServices;
  node: NodeState;
  fanout: Fanout;
  members: RoomMembers;
  appConfig: AppConfig;
  proxies: TrustedProxies;
  web: WebSecurity;
  version: string;
  /** The rows of rooms. */
  hubs: HubRepository;
  /** The room domain: views, counts, refresh (`hub_refresh`). */
  rooms: Rooms;
}

/** This node's room members (hub channel control messages), the rows of rooms and the room domain over them. */
function roomDomain(config: Config, backends: Backends, fanout: Fanout): Pick<Parts, 'members' | 'hubs' | 'rooms'> {
  const members = new RoomMembers(fanout);
  const hubs = new HubRepository(backends.database);
  const rooms = new Rooms({
    hubs,
    presence: backends.presence,
    defaultRoomSize: config.defaultRoomSize,
    broadcast: (topic, event, payload) => fanout.publish(topic, encodeBroadcast(topic, event, payload)),
    reloadMembers: (topic) => members.toRoom({ op: 'room_changed', topic }),
  });
  return { members, hubs, rooms };
}

/** The channels a socket can join: `ret`, `auth:*` and `hub:*`. */
async function channelRoutes(p: Parts): Promise<ChannelRoute[]> {
  const { config, log, appConfig, fanout, members } = p;
  const { presence, rateLimits } = p.backends;
  const accounts = new AccountRepository(p.backends.database);
  const { accountTokens, permsTokens, sessionTokens, mailer } = p.tokens;
  const allowedOrigins = (): string[] => config.authAllowedOrigins ?? (config.publicUrl ? [new URL(config.publicUrl).origin] : [p.node.fallbackOrigin()]);
  const mailLimit = (name: string, points: number) => rateLimits.limiter({ name, points, durationSeconds: 3600 });
  return [
    retChannelRoute({ accounts: accountTokens, permsTokens }),
    authChannelRoute({
      accounts,
      accountTokens,
      mailer,
      secret: await accounts.identifierSalt(),
      allowedOrigins,
      adminEmail: config.adminEmail,
      log,
      appConfig,
      mailLimits: { perAddress: mailLimit('auth-mail-address', config.authMailPerAddressPerHour), perIp: mailLimit('auth-mail-ip', config.authMailPerIpPerHour) },
    }),
    hubChannelRoute({
      hubs: p.hubs,
      rooms: p.rooms,
      presence,
      fanout,
      members,
      sessionTokens,
      accountTokens,
      permsTokens,
      appConfig,
      log,
      settings: {
        maxRoomSize: config.maxRoomSize,
        kickBanSeconds: config.kickBanSeconds,
        presenceMetaMaxBytes: config.presenceMetaMaxBytes,
        presenceUpdateRate: { perSecond: config.presenceUpdateRatePerSecond, burst: config.presenceUpdateBurst },
      },
    }),
  ];
}

/** The REST API, pages and static client; `connectionCount` is the transport's, for /health. */
function httpRouter(p: Parts, connectionCount: () => number): Router {
  const { config, backends } = p;
  const { database, broker, directory } = backends;
  return buildRouter({
    hubs: p.hubs,
    rooms: p.rooms,
    clientDir: config.clientDir,
    version: p.version,
    jwks: () => p.tokens.permsTokens.jwks(),
    accounts: p.tokens.accountTokens,
    appConfig: p.appConfig,
    maxRoomSize: config.maxRoomSize,
    createLimiter: backends.rateLimits.limiter(burstSpec('http-create', config.httpCreateRatePerMinute, config.httpCreateBurst)),
    proxies: p.proxies,
    web: p.web,
    serveSourceMaps: config.serveSourceMaps,
    cluster: config.redisUrl
      ? async () => {
          const nodes = (await directory.nodes()).filter((n) => !n.draining);
          p.node.noteNodes(nodes);
          const chosen = chooseNode(nodes, directory.nodeId, !p.node.draining && broker.status().connected);
          return chosen ? { phx_host: chosen.phx_host, phx_port: chosen.phx_port, nodes: nodes.map((n) => ({ phx_host: n.phx_host, phx_port: n.phx_port })) } : null;
        }
      : undefined,
    health: async () => {
      // Both asked at once, each with a short timeout: a dependency that does not answer shows here within it.
      const started = performance.now();
      const [dbOk, redisOk] = await Promise.all([database.ping(HEALTH_PING_MS), pingBroker(broker, HEALTH_PING_MS)]);
      const brokerStatus = broker.status();
      const status = !dbOk ? 'unavailable' : brokerStatus.connected && redisOk ? 'ok' : 'degraded';
      return { status, database: database.kind, database_ok: dbOk, connections: connectionCount(), broker: brokerStatus, checked_ms: Math.round(performance.now() - started) };
    },
  });
}

/** What {@link socketHandlers}' authorize hands to open. */
interface SocketData {
  /** A fresh id, or the resumed session's (its token is verified while the socket opens; its frames wait for the result). */
  sessionId: string | Promise<string>;
  /** The client's IP, as the HTTP limits see it (X-Forwarded-For only from trusted proxies). */
  clientIp: string;
}

/** The socket glue: upgrade checks (draining, Origin, per-IP cap), then one SocketSession per socket. */
function socketHandlers(p: Parts, routes: ChannelRoute[], sessions: OpenSessions<SocketSession>): SocketHandlers<SocketData> {
  const { config, log } = p;
  const connectionsPerIp = new ConnectionsPerKey(config.maxConnectionsPerIp);
  return {
    authorize: (params, remoteAddress, headers) => {
      if (p.node.draining) {
        throw new PlexusError(ErrorCodes.NODE_DRAINING, 'This node is shutting down; ask /api/v1/meta for another node.', 503);
      }
      if (!p.web.originAllowed(headers.origin, remoteAddress, headers)) {
        throw new PlexusError(
          ErrorCodes.ORIGIN_NOT_ALLOWED,
          `Pages from ${JSON.stringify(headers.origin!.slice(0, 100))} may not open sockets on this server; its operator can add the origin to ALLOWED_ORIGINS.`,
          403,
        );
      }
      const clientIp = p.proxies.clientIp(remoteAddress, headers['x-forwarded-for']);
      if (!connectionsPerIp.allows(clientIp)) {
        throw new PlexusError(
          ErrorCodes.TOO_MANY_CONNECTIONS,
          `Too many connections from your address: at most ${config.maxConnectionsPerIp} open sockets per IP (MAX_CONNECTIONS_PER_IP). Close some tabs or wait, then reconnect.`,
          429,
        );
      }
      const sessionId = params.session_token ? p.tokens.sessionTokens.verify(params.session_token).then((id) => id ?? randomUUID()) : randomUUID();
      return { sessionId, clientIp };
    },
    open: (connection, { sessionId, clientIp }) => {
      // Counted when open (uWS opens the socket within the upgrade handler, right after authorize).
      connectionsPerIp.add(clientIp);
      const session = new SocketSession(sessionId, connection, routes, p.fanout, log, {
        maxChannels: config.maxChannelsPerSocket,
        maxQueuedFrames: 256,
        rateLimit: { perSecond: config.socketRatePerSecond, burst: config.socketRateBurst, closeAfter: config.socketRateCloseAfter },
        clientIp,
      });
      sessions.add(session);
      return {
        frame: (data, isBinary) => session.handleFrame(data, isBinary),
        close: (code) => {
          connectionsPerIp.remove(clientIp);
          sessions.delete(session);
          log.debug({ sessionId: session.sessionId, code }, 'socket closed');
          void session.end();
        },
      };
    },
  };
}

/**
 * Wires every part of a node from `config`: backends (backends.ts), token
 * services, channels, HTTP routes and the uWebSockets.js transport; the
 * shutdown is lifecycle.ts's, the presence resync presence/resync.ts's.
 * Nothing is a module singleton; two servers can run in one process.
 * @throws when the database cannot be opened or migrated
 */
export async function createServer(config: Config, deps: ServerDeps = {}): Promise<PlexusServer> {
  const log = deps.logger ?? createLogger(config.logLevel);
  const backends = await openBackends(config, deps, log);
  const { database, broker, presence, directory } = backends;
  const tokens = await createTokenServices(config, backends, log);
  const node = new NodeState(config, config.port);
  const proxies = new TrustedProxies([...config.trustedProxies, ...(config.trustProxy ? LOOPBACK_PROXIES : [])]);
  const fanout = new Fanout(broker);
  const appConfig = new AppConfig(database, { maxRoomSize: config.maxRoomSize, defaultRoomSize: config.defaultRoomSize });
  const web = webSecurity(config, node, proxies);
  const parts: Parts = { config, log, backends, tokens, node, fanout, appConfig, proxies, web, version: packageVersion(), ...roomDomain(config, backends, fanout) };
  const routes = await channelRoutes(parts);
  const sessions = new OpenSessions<SocketSession>();
  const transport: ServerTransport = (deps.transport ?? ((o, h, s, l) => new UwsServer(o, h, s, l)))(
    {
      host: config.host,
      port: config.port,
      maxFrameBytes: config.maxFrameBytes,
      idleTimeoutSeconds: config.idleTimeoutSeconds,
      maxBackpressureBytes: config.maxBackpressureBytes,
      maxBodyBytes: 1024 * 1024,
      socketPath: '/socket/websocket',
      upgradePolicy: phoenixUpgradePolicy('/socket/websocket'),
    },
    httpRouter(parts, () => transport.connectionCount).handler(),
    socketHandlers(parts, routes, sessions),
    log,
  );
  fanout.setPublisher(transport);
  // Members of a node that died are reaped by one surviving node, which tells every node's clients.
  presence.onRemoteLeaves?.((topic, diff) => fanout.publish(topic, encodeBroadcast(topic, 'presence_diff', diff)));
  const resync = startPresenceResync({ presence, localTopics: () => fanout.localTopics(), publishLocal: (topic, frame) => transport.publishLocal(topic, frame), log });
  let nodesTimer: NodeJS.Timeout | null = null;
  let closing: Promise<void> | null = null;
  return {
    get url() {
      const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host.includes(':') ? `[${config.host}]` : config.host;
      return `http://${host}:${transport.port}`;
    },
    get port() {
      return transport.port;
    },
    database,
    broker,
    presence,
    directory,
    connectionCount: () => transport.connectionCount,
    async listen() {
      node.boundPort = await transport.listen();
      const address = node.address();
      directory.start(() => ({ ...address, connections: transport.connectionCount, draining: node.draining }));
      if (config.redisUrl) {
        const refreshNodes = () => void directory.nodes().then((nodes) => node.noteNodes(nodes), () => {});
        refreshNodes();
        nodesTimer = setInterval(refreshNodes, 2000);
        nodesTimer.unref();
      }
      return node.boundPort;
    },
    close() {
      closing ??= shutdownNode({
        stopTimers: () => {
          resync.stop();
          if (nodesTimer) clearInterval(nodesTimer);
        },
        markDraining: () => void (node.draining = true),
        directory,
        fanout,
        transport,
        sessions,
        graceMs: config.shutdownGraceSeconds * 1000,
        version: parts.version,
        closeBackends: () => backends.close(),
      });
      return closing;
    },
  };
}

/** Asks the broker's backend for an answer (true for an in-process broker, which has none to give). */
function pingBroker(broker: Broker, timeoutMs: number): Promise<boolean> {
  return broker.ping ? broker.ping(timeoutMs) : Promise.resolve(true);
}

/**
 * Where browsers reach this node: `PUBLIC_URL`'s host and port, or else
 * `HOST` (the machine's host name for a wildcard address) and the bound port.
 */
export function publicAddress(config: Pick<Config, 'publicUrl' | 'host'>, port: number): { phx_host: string; phx_port: string } {
  if (config.publicUrl) {
    const u = new URL(config.publicUrl);
    return { phx_host: u.hostname, phx_port: u.port || (u.protocol === 'https:' ? '443' : '80') };
  }
  const wildcard = config.host === '0.0.0.0' || config.host === '::' || config.host === '[::]';
  const host = wildcard ? os.hostname() : config.host.includes(':') && !config.host.startsWith('[') ? `[${config.host}]` : config.host;
  return { phx_host: host, phx_port: String(port) };
}
