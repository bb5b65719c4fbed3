/**
 * `npm start` / `photoreel serve`: the API, the queue consumer and the local renderer in
 * one process, with SQLite and a data folder (or, with API_ONLY=1 in scale-out mode, the
 * API alone). Configuration comes from the environment (see the README's table).
 */
import { assertSafeToListen, ConfigError, loadConfig } from '../config.js';
import { createLogger } from '../core/logger.js';
import { configOrExit, stopOnSignals } from './lifecycle.js';
import { startServer } from './server.js';

export async function main(): Promise<void> {
  const config = configOrExit(() => {
    const c = loadConfig();
    assertSafeToListen(c);
    return c;
  }, ConfigError);
  const logger = createLogger(config.LOG_LEVEL);
  const running = await startServer(config, { logger, consumer: !config.API_ONLY });
  stopOnSignals(logger, config.SHUTDOWN_GRACE_SECONDS, () => running.close());
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    process.stderr.write(`photoreel failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
