import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { createServer } from '../app.ts';
import type { PlexusServer, ServerDeps } from '../app.ts';
import { loadConfig } from '../config.ts';
import type { Config } from '../config.ts';
import { openDatabase } from '../db/database.ts';
import type { Database } from '../db/database.ts';

/** A server started in this process for a test, with its temp data dir. */
export interface TestServer {
  server: PlexusServer;
  config: Config;
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `ws://127.0.0.1:PORT/socket` (phoenix.js endpoint form) */
  socketUrl: string;
  /** Stops the server and removes the data dir unless `keepDataDir`. */
  stop(opts?: { keepDataDir?: boolean }): Promise<void>;
}

/**
 * Starts a Plexus node on a free 127.0.0.1 port with a temporary DATA_DIR.
 * The database is `opts.database` if given, else PostgreSQL at `opts.databaseUrl`,
 * else an in-memory PGlite.
 * @param env extra configuration variables (e.g. `MAX_FRAME_BYTES`)
 */
export async function startTestServer(opts: { env?: Record<string, string>; database?: Database; databaseUrl?: string; dataDir?: string; deps?: ServerDeps; port?: number } = {}): Promise<TestServer> {
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'plexus-test-'));
  // Tests create many rooms and sockets from 127.0.0.1: the per-IP creation and connection limits are lifted unless a test sets them.
  const config = loadConfig({ PORT: String(opts.port ?? 0), HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'silent', HTTP_CREATE_BURST: '1000000', MAX_CONNECTIONS_PER_IP: '1000000', ...(opts.databaseUrl ? { DATABASE_URL: opts.databaseUrl } : {}), ...opts.env });
  const database = opts.database ?? (opts.databaseUrl ? undefined : await openDatabase({ pgliteDir: null }));
  const server = await createServer(config, { logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }), database, ...opts.deps });
  await server.listen();
  return {
    server,
    config,
    url: server.url,
    socketUrl: server.url.replace(/^http/, 'ws') + '/socket',
    async stop({ keepDataDir = false } = {}) {
      await server.close();
      if (!keepDataDir && !opts.dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Creates a room through the HTTP API; returns its hub_sid and creator token. */
export async function createRoom(baseUrl: string, name = 'Test room'): Promise<{ hubSid: string; url: string; creatorAssignmentToken: string }> {
  const res = await fetch(`${baseUrl}/api/v1/hubs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ hub: { name } }) });
  if (res.status !== 200) throw new Error(`create room failed: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { hub_id: string; url: string; creator_assignment_token: string };
  return { hubSid: body.hub_id, url: body.url, creatorAssignmentToken: body.creator_assignment_token };
}
