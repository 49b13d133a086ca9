/**
 * Process entry: reads the configuration, checks the native uWebSockets.js
 * addon, starts one node and stops it cleanly on SIGTERM/SIGINT.
 * Logs JSON lines (pino); the line `{"msg":"listening","url":...,"port":...}`
 * tells that the node accepts connections.
 */
import type { Logger } from 'pino';
import { createServer } from './app.ts';
import type { PlexusServer } from './app.ts';
import { loadConfig } from './config.ts';
import { PlexusError } from './errors.ts';
import { createLogger } from './logger.ts';
import { assertNativeUws } from './transport/uws-native.ts';

/**
 * Listens, retrying for up to 90 s while the port is busy. After a restart the
 * port can stay unavailable for about 60 s: the sockets the previous run
 * closed sit in TCP TIME_WAIT, and uWebSockets.js does not set SO_REUSEADDR
 * on them.
 */
async function listenWithRetry(server: PlexusServer, log: Logger): Promise<number> {
  const deadline = Date.now() + 90_000;
  let warned = false;
  for (;;) {
    try {
      return await server.listen();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      if (!warned) {
        log.warn({ err: (err as Error).message }, 'port busy (a previous run may have left sockets in TIME_WAIT); retrying for up to 90 s');
        warned = true;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
    assertNativeUws();
  } catch (err) {
    const message = err instanceof PlexusError ? err.message : String(err);
    process.stderr.write(`plexus: ${message}\n`);
    process.exit(2);
  }
  const log = createLogger(config.logLevel);
  const server = await createServer(config, { logger: log });
  const port = await listenWithRetry(server, log);
  log.info({ url: server.url, port, database: server.database.kind, dataDir: config.dataDir }, 'listening');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const limitMs = (config.shutdownGraceSeconds + 10) * 1000;
    const timer = setTimeout(() => {
      log.error(`shutdown took more than ${limitMs / 1000} s; exiting`);
      process.exit(1);
    }, limitMs);
    timer.unref();
    await server.close();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err) => {
  process.stderr.write(`plexus: failed to start: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
