/**
 * `npm start` / `photoreel serve`: the API, the queue consumer and the local renderer in
 * one process, with SQLite and a data folder. Configuration comes from the environment
 * (see the README's table).
 */
import { assertSafeToListen, ConfigError, loadConfig } from '../config.js';
import { createLogger } from '../core/logger.js';
import { startServer } from './server.js';

export async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
    assertSafeToListen(config);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.LOG_LEVEL);
  const running = await startServer(config, { logger });
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, graceSeconds: config.SHUTDOWN_GRACE_SECONDS }, 'shutting down');
    running.close().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err: String(err) }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    process.stderr.write(`photoreel failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
