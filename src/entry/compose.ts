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
import { createNemoEngine } from '../pipeline/engines/nemo/index.js';
import { createLlmPlanner } from '../pipeline/plan/llm-planner.js';
import { Metrics } from '../pipeline/metrics.js';
import { planJob, rulesPlanner } from '../pipeline/plan/planner.js';
import type { Services } from '../pipeline/services.js';
import { loadOrCreateSecret } from '../pipeline/webhooks/secret.js';
import { createRemoteAdapters } from './remote-adapters.js';

export interface Composition {
  services: Services;
  /** Embedded storage only: signs the API's own /files URLs. Absent when S3 hands out its URLs. */
  fileSigner?: FsSignedUrls;
  close(): Promise<void>;
}

type Adapters = Pick<Services, 'store' | 'jobQueue' | 'webhookQueue' | 'storage' | 'urls'> & { fileSigner?: FsSignedUrls; close(): Promise<void> };

/** The embedded default: SQLite for job records and both queues, a data folder for objects. */
function embeddedAdapters(config: Config, publicBaseUrl: string): Adapters {
  const db = openDatabase(path.join(config.dataDir, 'photoreel.db'));
  const store = new SqliteJobStore(db);
  const jobQueue = new SqliteQueue(db, { name: 'jobs', maxReceives: config.QUEUE_MAX_RECEIVES });
  const webhookQueue = new SqliteQueue(db, { name: 'webhooks', maxReceives: 1_000_000 });
  const fileSigner = new FsSignedUrls(publicBaseUrl, Buffer.from(loadOrCreateSecret(config.dataDir, undefined, 'url-signing-key').secret), config.FILE_URL_TTL_SECONDS);
  return {
    store,
    jobQueue,
    webhookQueue,
    storage: new FsStorage(path.join(config.dataDir, 'objects')),
    urls: fileSigner,
    fileSigner,
    async close() {
      await jobQueue.close();
      await webhookQueue.close();
      await store.close();
      db.close();
    },
  };
}

/**
 * The one place that picks implementations, from config: the embedded default (SQLite +
 * a data folder) or the scale-out adapters (QUEUE=sqs, STORAGE=s3; loadConfig only allows
 * the two together). The pipeline and the handlers never know which.
 */
export function compose(config: Config, logger: Logger, publicBaseUrl = config.publicBaseUrl): Composition {
  fs.mkdirSync(config.dataDir, { recursive: true });
  const adapters: Adapters = config.QUEUE === 'sqs' ? createRemoteAdapters(config) : embeddedAdapters(config, publicBaseUrl);
  const { store, jobQueue, webhookQueue, storage, urls } = adapters;
  const webhook = loadOrCreateSecret(config.dataDir, config.WEBHOOK_SECRET);
  if (webhook.source === 'generated') logger.info({ file: path.join(config.dataDir, 'webhook-secret') }, 'generated a webhook signing secret');

  // The prompt rules compile their regular expressions on first use (30-170 ms); pay that
  // at start-up rather than on the first client's request.
  planJob({ images: [{ source: 'warm-up' }], prompt: "warm up: vertical, 2 s per photo, smooth, title 'x' 标题「x」" });

  const services: Services = {
    config,
    logger,
    store,
    jobQueue,
    webhookQueue,
    storage,
    urls,
    engines: {
      local: createLocalEngine({ ffmpegPath: config.FFMPEG_PATH, ffprobePath: config.FFPROBE_PATH, x264Preset: config.X264_PRESET, x264Crf: config.X264_CRF, x264Tuning: config.X264_PARAMS, logger }),
      // The hosted Nemo agent, only when configured (NEMO_BASE_URL).
      ...(config.NEMO_BASE_URL
        ? {
            nemo: createNemoEngine({
              baseUrl: config.NEMO_BASE_URL,
              token: config.NEMO_TOKEN,
              platform: config.NEMO_PLATFORM,
              clientIdFile: path.join(config.dataDir, 'nemo-client-id'),
              requestTimeoutMs: config.NEMO_REQUEST_TIMEOUT_MS,
              rateLimitWaitMs: config.NEMO_RATE_LIMIT_WAIT_MS,
              retryBaseMs: config.NEMO_RETRY_BASE_MS,
              pollIntervalMs: config.NEMO_POLL_INTERVAL_MS,
              renderTimeoutMs: config.NEMO_RENDER_TIMEOUT_MS,
              streamTimeoutMs: config.NEMO_STREAM_TIMEOUT_MS,
              privateHosts: config.FETCH_ALLOW_HOSTS,
              ffmpegPath: config.FFMPEG_PATH,
              ffprobePath: config.FFPROBE_PATH,
              logger: logger.child({ engine: 'nemo' }),
            }),
          }
        : {}),
    },
    planner: config.LLM_PLANNER_URL
      ? createLlmPlanner({ url: config.LLM_PLANNER_URL, model: config.LLM_PLANNER_MODEL, apiKey: config.LLM_PLANNER_API_KEY, timeoutMs: config.LLM_PLANNER_TIMEOUT_MS, logger })
      : rulesPlanner,
    webhookSecret: webhook.secret,
    metrics: new Metrics(),
  };
  return {
    services,
    fileSigner: adapters.fileSigner,
    close: () => adapters.close(),
  };
}
