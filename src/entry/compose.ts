import fs from 'node:fs';
import path from 'node:path';
import { openDatabase } from '../adapters/sqlite/db.js';
import { SqliteJobStore } from '../adapters/sqlite/job-store.js';
import { SqliteQueue } from '../adapters/sqlite/queue.js';
import { FsStorage } from '../adapters/fs/storage.js';
import { FsSignedUrls } from '../adapters/fs/signed-urls.js';
import type { Config } from '../config.js';
import type { Logger } from '../core/logger.js';
import { createLocalEngine } from '../pipeline/engines/local/index.js';
import { rulesPlanner } from '../pipeline/plan/planner.js';
import type { Services } from '../pipeline/services.js';
import { loadOrCreateSecret } from '../pipeline/webhooks/secret.js';

export interface Composition {
  services: Services;
  fileSigner: FsSignedUrls;
  close(): Promise<void>;
}

/**
 * The one place that picks implementations: the embedded default (SQLite + a data
 * folder). The scale-out adapters (SQS, S3) will be chosen here too, from config.
 */
export function compose(config: Config, logger: Logger, publicBaseUrl = config.publicBaseUrl): Composition {
  fs.mkdirSync(config.dataDir, { recursive: true });
  const db = openDatabase(path.join(config.dataDir, 'photoreel.db'));
  const store = new SqliteJobStore(db);
  const jobQueue = new SqliteQueue(db, { name: 'jobs', maxReceives: config.QUEUE_MAX_RECEIVES });
  const webhookQueue = new SqliteQueue(db, { name: 'webhooks', maxReceives: 1_000_000 });
  const storage = new FsStorage(path.join(config.dataDir, 'objects'));
  const fileSigner = new FsSignedUrls(publicBaseUrl, Buffer.from(loadOrCreateSecret(config.dataDir, undefined, 'url-signing-key').secret), config.FILE_URL_TTL_SECONDS);
  const webhook = loadOrCreateSecret(config.dataDir, config.WEBHOOK_SECRET);
  if (webhook.source === 'generated') logger.info({ file: path.join(config.dataDir, 'webhook-secret') }, 'generated a webhook signing secret');

  const services: Services = {
    config,
    logger,
    store,
    jobQueue,
    webhookQueue,
    storage,
    urls: fileSigner,
    engines: {
      local: createLocalEngine({ ffmpegPath: config.FFMPEG_PATH, ffprobePath: config.FFPROBE_PATH, x264Preset: config.X264_PRESET, x264Crf: config.X264_CRF, logger }),
    },
    planner: rulesPlanner,
    webhookSecret: webhook.secret,
  };
  return {
    services,
    fileSigner,
    async close() {
      await jobQueue.close();
      await webhookQueue.close();
      await store.close();
      db.close();
    },
  };
}
