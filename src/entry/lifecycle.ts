import type { Logger } from '../core/logger.js';

/**
 * SIGTERM / SIGINT handling shared by `photoreel serve` and `photoreel worker`: the first
 * signal starts an orderly stop (stop receiving, let running renders finish for the grace
 * period, release the rest to the queue), then the process exits 0; a failed stop exits 1.
 */
export function stopOnSignals(logger: Logger, graceSeconds: number, stop: () => Promise<void>): void {
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, graceSeconds }, 'shutting down');
    stop().then(
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

/** Parse the configuration or exit 2 with the problems listed (a typo must not start a half-configured service). */
export function configOrExit<T>(load: () => T, ConfigErrorClass: new (...a: never[]) => Error): T {
  try {
    return load();
  } catch (err) {
    if (err instanceof ConfigErrorClass) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}
