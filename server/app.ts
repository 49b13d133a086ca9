import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { SessionTokens, loadOrCreateSessionSecret } from './auth/session-token.ts';
import type { Broker } from './broker/broker.ts';
import { MemoryBroker } from './broker/memory-broker.ts';
import { RedisBroker } from './broker/redis-broker.ts';
import { chooseNode, LocalNodeDirectory, RedisNodeDirectory, type NodeDirectory } from './broker/node-directory.ts';
import { countPresence, hubChannelRoute } from './channels/hub/hub-channel.ts';
import { hubView } from './channels/hub/hub-view.ts';
import { findHubBySid } from './db/hubs.ts';
import { moderationHandlers } from './channels/hub/moderation.ts';
import { signInHandlers } from './channels/hub/sign-in.ts';
import { authChannelRoute } from './channels/auth/auth-channel.ts';
import { AccountTokens } from './auth/account-token.ts';
import { loadIdentifierSalt } from './db/accounts.ts';
import { createMailer } from './auth/mailer.ts';
import { PermsTokens } from './auth/perms-token.ts';
import { roomRuleHandlers } from './channels/hub/room-rules.ts';
import { objectHandlers } from './channels/hub/objects.ts';
import { RoomMembers } from './channels/hub/room-members.ts';
import { RET_TOPIC, retChannelRoute } from './channels/ret/ret-channel.ts';
import { encodeBroadcast } from './protocol/phoenix-codec.ts';
import { compileHubSchemas } from './channels/hub/schemas.ts';
import type { Config } from './config.ts';
import { openDatabase } from './db/database.ts';
import type { Database } from './db/database.ts';
import { CloseCodes, ErrorCodes, PlexusError } from './errors.ts';
import { buildRouter } from './http/routes.ts';
import { AppConfig } from './app-config.ts';
import { createLogger } from './logger.ts';
import { MemoryPresenceStore } from './presence/memory-presence-store.ts';
import { RedisPresenceStore } from './presence/redis-presence-store.ts';
import type { PresenceStore } from './presence/presence-store.ts';
import { Fanout } from './realtime/fanout.ts';
import { SocketSession } from './realtime/socket-session.ts';
import { ConnectionsPerKey } from './realtime/connection-limit.ts';
import { UwsServer } from './transport/uws-server.ts';
import type { SocketHandlers, UwsServerOptions } from './transport/uws-server.ts';
import type { HttpHandler } from './transport/http-types.ts';
import type { LocalPublisher } from './realtime/connection.ts';
import { LOOPBACK_PROXIES, TrustedProxies } from './http/client-address.ts';
import { WebSecurity } from './http/web-security.ts';
import { burstSpec, MemoryRateLimits, type RateLimits } from './realtime/rate-limits.ts';
import { RedisRateLimits } from './realtime/redis-rate-limits.ts';

/** Replaceable parts, for tests and for the cluster setup; each defaults to the embedded implementation. */
export interface ServerDeps {
  logger?: Logger;
  broker?: Broker;
  presence?: PresenceStore;
  database?: Database;
  directory?: NodeDirectory;
  /** Per-key limits (HTTP per IP, sign-in mails); default Redis-backed with `REDIS_URL`, else in memory. */
  rateLimits?: RateLimits;
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
   * database and broker close.
   */
  close(): Promise<void>;
}

/** How long /health waits for the database's and Redis's answer to a ping, ms. */
const HEALTH_PING_MS = 1000;

/** Wait after reconnecting to Redis before resending presence_state: one presence heartbeat (3 s), so other nodes have restored theirs. */
const PRESENCE_RESYNC_DELAY_MS = 3000;

function packageVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.resolve(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/**
 * Wires every part of a node from `config`: database (migrated), broker,
 * presence, channels, HTTP routes and the uWebSockets.js transport.
 * Nothing is a module singleton; two servers can run in one process.
 * @throws when the database cannot be opened or migrated
 */
export async function createServer(config: Config, deps: ServerDeps = {}): Promise<PlexusServer> {
  const log = deps.logger ?? createLogger(config.logLevel);
  fs.mkdirSync(config.dataDir, { recursive: true });
  const database =
    deps.database ??
    (await openDatabase(config.databaseUrl ? { url: config.databaseUrl } : { pgliteDir: path.join(config.dataDir, 'pglite') }, { timeoutMs: config.dbTimeoutMs }));
  const broker =
    deps.broker ??
    (config.redisUrl
      ? new RedisBroker({ url: config.redisUrl, sharded: config.redisShardedPubsub, flushIntervalMs: config.redisFlushIntervalMs, commandTimeoutMs: config.redisTimeoutMs, onError: (err) => log.warn({ err: err.message }, 'redis broker connection error') })
      : new MemoryBroker());
  // With Redis, presence and the node directory use the broker's node id (32 hex digits).
  const nodeId = /^[0-9a-f]{32}$/.test(broker.nodeId) ? broker.nodeId : undefined;
  const presence: PresenceStore =
    deps.presence ??
    (config.redisUrl
      ? new RedisPresenceStore({
          url: config.redisUrl,
          nodeId,
          commandTimeoutMs: config.redisTimeoutMs,
          onError: (err) => log.warn({ err: err.message }, 'redis presence error'),
        })
      : new MemoryPresenceStore());
  const directory: NodeDirectory =
    deps.directory ??
    (config.redisUrl && nodeId
      ? new RedisNodeDirectory({ url: config.redisUrl, nodeId, commandTimeoutMs: config.redisTimeoutMs, onError: (err) => log.warn({ err: err.message }, 'redis node directory error') })
      : new LocalNodeDirectory(nodeId));
  let sessionSecret = loadOrCreateSessionSecret(config.sessionSecret, config.dataDir);
  if (!config.sessionSecret && directory instanceof RedisNodeDirectory) {
    // Every node must accept every node's session tokens, or a client moving nodes gets a new session_id.
    try {
      sessionSecret = await directory.agreeOnSecret(sessionSecret);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'could not share the session secret through Redis; sessions will not resume on other nodes (set SESSION_SECRET on every node)');
    }
  }
  const sessionTokens = new SessionTokens(sessionSecret);
  const accountTokens = new AccountTokens(sessionSecret, database.knex);
  const permsTokens = await PermsTokens.load(config.permsPrivateKey, config.dataDir, database.knex);
  const mailer = createMailer(config.smtpUrl, config.mailFrom, log);
  let boundPort = config.port;
  const allowedOrigins = (): string[] => {
    if (config.authAllowedOrigins) return config.authAllowedOrigins;
    if (config.publicUrl) return [new URL(config.publicUrl).origin];
    const a = publicAddress(config, boundPort);
    return [`http://${a.phx_host}:${a.phx_port}`];
  };
  const proxies = new TrustedProxies([...config.trustedProxies, ...(config.trustProxy ? LOOPBACK_PROXIES : [])]);
  let rateLimits: RateLimits;
  if (deps.rateLimits) {
    rateLimits = deps.rateLimits;
  } else if (config.redisUrl) {
    const redisLimits = new RedisRateLimits({ url: config.redisUrl, onError: (err) => log.warn({ err: err.message }, 'redis rate limits error') });
    // Until the connection is ready the limits count in memory only; give it a moment at start.
    await redisLimits.ready(3000);
    rateLimits = redisLimits;
  } else {
    rateLimits = new MemoryRateLimits();
  }
  // host:port of every node seen in the directory: pages served by one node open sockets to another.
  const clusterNodes = new Set<string>();
  const noteNodes = (nodes: ReadonlyArray<{ phx_host: string; phx_port: string }>) => {
    for (const n of nodes) {
      if (clusterNodes.size >= 1000) clusterNodes.delete(clusterNodes.values().next().value!);
      clusterNodes.add(`${n.phx_host.toLowerCase()}:${n.phx_port}`);
    }
  };
  let nodesTimer: NodeJS.Timeout | null = null;
  const wildcardHost = config.host === '0.0.0.0' || config.host === '::' || config.host === '[::]';
  const loopbackHost = /^(127\.\d+\.\d+\.\d+|localhost|::1|\[::1\])$/.test(config.host);
  const web = new WebSecurity({
    publicUrl: config.publicUrl,
    fallbackOrigin: () => {
      const a = publicAddress(config, boundPort);
      return `http://${a.phx_host}:${a.phx_port}`;
    },
    loopbackAliases: wildcardHost || loopbackHost,
    proxies,
    allowedOrigins: config.allowedOrigins,
    clusterNodes: () => clusterNodes,
  });
  let draining = false;
  const fanout = new Fanout(broker);
  const members = new RoomMembers(fanout);
  const appConfig = new AppConfig(database.knex, { maxRoomSize: config.maxRoomSize, defaultRoomSize: config.defaultRoomSize });
  const routes = [
    retChannelRoute({ accounts: accountTokens, permsTokens }),
    authChannelRoute({
      db: database.knex,
      accountTokens,
      mailer,
      secret: await loadIdentifierSalt(database.knex),
      allowedOrigins,
      adminEmail: config.adminEmail,
      log,
      appConfig,
      mailLimits: {
        perAddress: rateLimits.limiter({ name: 'auth-mail-address', points: config.authMailPerAddressPerHour, durationSeconds: 3600 }),
        perIp: rateLimits.limiter({ name: 'auth-mail-ip', points: config.authMailPerIpPerHour, durationSeconds: 3600 }),
      },
    }),
    hubChannelRoute({
      db: database.knex,
      presence,
      schemas: compileHubSchemas(),
      sessionTokens,
      defaultRoomSize: config.defaultRoomSize,
      log,
      members,
      filters: fanout,
      accounts: accountTokens,
      permsTokens,
      presenceMetaMaxBytes: config.presenceMetaMaxBytes,
      presenceUpdateRate: { perSecond: config.presenceUpdateRatePerSecond, burst: config.presenceUpdateBurst },
      appConfig,
      handlers: {
        ...signInHandlers({ db: database.knex, accountTokens, permsTokens, appConfig }),
        ...moderationHandlers({ db: database.knex, presence, members, filters: fanout, kickBanSeconds: config.kickBanSeconds }),
        ...objectHandlers({ db: database.knex }),
        ...roomRuleHandlers({ db: database.knex, presence, defaultRoomSize: config.defaultRoomSize, maxRoomSize: config.maxRoomSize }),
      },
    }),
  ];
  const sessions = new Set<SocketSession>();
  const connectionsPerIp = new ConnectionsPerKey(config.maxConnectionsPerIp);
  const version = packageVersion();
  const router = buildRouter({
    db: database.knex,
    presence,
    clientDir: config.clientDir,
    defaultRoomSize: config.defaultRoomSize,
    version,
    jwks: () => permsTokens.jwks(),
    accounts: accountTokens,
    appConfig,
    maxRoomSize: config.maxRoomSize,
    roomChanged: async (hubSid, staleFields) => {
      const topic = `hub:${hubSid}`;
      await members.toRoom({ op: 'room_changed', topic });
      const hub = await findHubBySid(database.knex, hubSid);
      if (!hub) return;
      const counts = countPresence(await presence.list(topic));
      fanout.publish(topic, encodeBroadcast(topic, 'hub_refresh', { hubs: [hubView(hub, counts, config.defaultRoomSize)], session_id: null, stale_fields: staleFields }));
    },
    createLimiter: rateLimits.limiter(burstSpec('http-create', config.httpCreateRatePerMinute, config.httpCreateBurst)),
    proxies,
    web,
    serveSourceMaps: config.serveSourceMaps,
    cluster: config.redisUrl
      ? async () => {
          const nodes = (await directory.nodes()).filter((n) => !n.draining);
          noteNodes(nodes);
          const chosen = chooseNode(nodes, directory.nodeId, !draining && broker.status().connected);
          return chosen ? { phx_host: chosen.phx_host, phx_port: chosen.phx_port, nodes: nodes.map((n) => ({ phx_host: n.phx_host, phx_port: n.phx_port })) } : null;
        }
      : undefined,
    health: async () => {
      // Both asked at once, each with a short timeout: a dependency that does not answer shows here within it.
      const started = performance.now();
      const [dbOk, redisOk] = await Promise.all([database.ping(HEALTH_PING_MS), pingBroker(broker, HEALTH_PING_MS)]);
      const brokerStatus = broker.status();
      const status = !dbOk ? 'unavailable' : brokerStatus.connected && redisOk ? 'ok' : 'degraded';
      return {
        status,
        database: database.kind,
        database_ok: dbOk,
        connections: transport.connectionCount,
        broker: brokerStatus,
        checked_ms: Math.round(performance.now() - started),
      };
    },
  });

  const transport: ServerTransport = (deps.transport ?? ((o, h, s, l) => new UwsServer(o, h, s, l)))(
    {
      host: config.host,
      port: config.port,
      maxFrameBytes: config.maxFrameBytes,
      idleTimeoutSeconds: config.idleTimeoutSeconds,
      maxBackpressureBytes: config.maxBackpressureBytes,
      maxBodyBytes: 1024 * 1024,
      socketPath: '/socket/websocket',
    },
    router.handler(),
    {
      authorize: (params, remoteAddress, headers) => {
        if (draining) {
          throw new PlexusError(ErrorCodes.NODE_DRAINING, 'This node is shutting down; ask /api/v1/meta for another node.', 503);
        }
        if (!web.originAllowed(headers.origin, remoteAddress, headers)) {
          throw new PlexusError(
            ErrorCodes.ORIGIN_NOT_ALLOWED,
            `Pages from ${JSON.stringify(headers.origin!.slice(0, 100))} may not open sockets on this server; its operator can add the origin to ALLOWED_ORIGINS.`,
            403,
          );
        }
        // The same client IP as the HTTP limits (X-Forwarded-For only from trusted proxies).
        const clientIp = proxies.clientIp(remoteAddress, headers['x-forwarded-for']);
        if (!connectionsPerIp.allows(clientIp)) {
          throw new PlexusError(
            ErrorCodes.TOO_MANY_CONNECTIONS,
            `Too many connections from your address: at most ${config.maxConnectionsPerIp} open sockets per IP (MAX_CONNECTIONS_PER_IP). Close some tabs or wait, then reconnect.`,
            429,
          );
        }
        // A resumed session's token is verified while the socket opens; its frames wait for the result.
        const sessionId: string | Promise<string> = params.session_token
          ? sessionTokens.verify(params.session_token).then((id) => id ?? randomUUID())
          : randomUUID();
        return { sessionId, clientIp };
      },
      open: (connection, data) => {
        const { sessionId, clientIp } = data as { sessionId: string | Promise<string>; clientIp: string };
        // Counted when open (uWS opens the socket within the upgrade handler, right after authorize).
        connectionsPerIp.add(clientIp);
        const session = new SocketSession(sessionId, connection, routes, fanout, log, {
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
    },
    log,
  );
  fanout.setPublisher(transport);
  // Members of a node that died are reaped by one surviving node, which tells every node's clients.
  presence.onRemoteLeaves?.((topic, diff) => fanout.publish(topic, encodeBroadcast(topic, 'presence_diff', diff)));
  // After a Redis outage, diffs made on other nodes meanwhile never reached this node's clients. Once every
  // node has had a heartbeat to restore its members, send this node's clients the whole presence again
  // (phoenix.js Presence turns a new presence_state into the joins and leaves it missed).
  const resyncTimers = new Set<NodeJS.Timeout>();
  presence.onResync?.(() => {
    const timer = setTimeout(() => {
      resyncTimers.delete(timer);
      if (closed) return;
      for (const topic of fanout.localTopics()) {
        if (!topic.startsWith('hub:')) continue;
        presence
          .list(topic)
          .then((entries) => transport.publishLocal(topic, encodeBroadcast(topic, 'presence_state', entries)))
          .catch((err: Error) => log.warn({ err: err.message, topic }, 'presence resync failed'));
      }
    }, PRESENCE_RESYNC_DELAY_MS);
    resyncTimers.add(timer);
  });

  let closed = false;
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
      const port = await transport.listen();
      boundPort = port;
      const address = publicAddress(config, port);
      directory.start(() => ({ ...address, connections: transport.connectionCount, draining }));
      if (config.redisUrl) {
        const refreshNodes = () => void directory.nodes().then(noteNodes, () => {});
        refreshNodes();
        nodesTimer = setInterval(refreshNodes, 2000);
        nodesTimer.unref();
      }
      return port;
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const t of resyncTimers) clearTimeout(t);
      if (nodesTimer) clearInterval(nodesTimer);
      // Draining: leave the directory, so /api/v1/meta on other nodes stops naming this one, and refuse
      // new sockets (503), but keep answering HTTP during the grace period, so that the clients told
      // to move can still ask this node's /api/v1/meta where to go.
      draining = true;
      await directory.refresh();
      // Tell clients on the `ret` channel to move to another node, as Reticulum does before a deploy,
      // and give them up to shutdownGraceSeconds to go before closing what is left.
      const retMembers = fanout.localSubscribers(RET_TOPIC);
      if (retMembers > 0) {
        transport.publishLocal(RET_TOPIC, encodeBroadcast(RET_TOPIC, 'notice', { event: 'ret-deploy', ret_version: version, ret_pool: 'default' }));
        const deadline = Date.now() + config.shutdownGraceSeconds * 1000;
        while (transport.connectionCount > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      }
      transport.stopListening();
      transport.closeAll(CloseCodes.GOING_AWAY, 'server shutting down');
      await Promise.all([...sessions].map((s) => s.end()));
      await presence.close?.();
      await directory.close();
      await broker.close();
      await rateLimits.close();
      await database.close();
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
