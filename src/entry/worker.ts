/**
 * `photoreel worker`: a queue consumer without the HTTP API, for the scale-out mode
 * (QUEUE=sqs, STORAGE=s3), where any number of these share one queue and one bucket.
 * SIGTERM stops receiving, lets running renders finish for SHUTDOWN_GRACE_SECONDS, then
 * releases what is left back to the queue for another worker, and exits.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { createLogger, type Logger } from '../core/logger.js';
import { VERSION } from '../core/version.js';
import { Consumer } from '../pipeline/consumer.js';
import { compose } from './compose.js';
import { configOrExit, stopOnSignals } from './lifecycle.js';

export interface RunningWorker {
  consumer: Consumer;
  close(graceMs?: number): Promise<void>;
}

export async function startWorker(config: Config, opts: { logger?: Logger } = {}): Promise<RunningWorker> {
  if (config.QUEUE !== 'sqs') {
    // The embedded queue lives in one process's SQLite file; its consumer runs inside `photoreel serve`.
    throw new ConfigError('photoreel worker needs the scale-out adapters (QUEUE=sqs, STORAGE=s3); in the embedded mode `photoreel serve` runs the consumer itself.');
  }
  const logger = opts.logger ?? createLogger(config.LOG_LEVEL);
  const composition = compose(config, logger);
  // Scratch folders of renders that died with an earlier process on this machine
  // (one DATA_DIR per worker process: another worker's folders are not ours to remove).
  await fs.rm(path.join(config.dataDir, 'work'), { recursive: true, force: true });
  const consumer = new Consumer(composition.services);
  consumer.start();
  logger.info({ version: VERSION, concurrency: config.CONCURRENCY, dataDir: config.dataDir }, 'photoreel worker started');
  return {
    consumer,
    async close(graceMs = config.SHUTDOWN_GRACE_SECONDS * 1000) {
      await consumer.stop(graceMs);
      await composition.close();
    },
  };
}

export async function main(): Promise<void> {
  const config = configOrExit(() => loadConfig(), ConfigError);
  const logger = createLogger(config.LOG_LEVEL);
  let worker: RunningWorker;
  try {
    worker = await startWorker(config, { logger });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  stopOnSignals(logger, config.SHUTDOWN_GRACE_SECONDS, () => worker.close());
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    process.stderr.write(`photoreel worker failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
