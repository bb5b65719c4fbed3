import type { Config } from '../config.js';
import type { Logger } from '../core/logger.js';
import type { JobStore, ObjectStorage, ObjectUrls, Queue } from '../adapters/ports.js';
import type { Engine } from './engines/engine.js';
import type { Metrics } from './metrics.js';
import type { Planner } from './plan/planner.js';

/**
 * Everything the pipeline and the handlers need, chosen once by the entry point from
 * configuration and passed down. Nothing below reads the environment or picks an
 * implementation itself.
 */
export interface Services {
  config: Config;
  logger: Logger;
  store: JobStore;
  /** Render work: `{ kind: 'render', jobId }`. */
  jobQueue: Queue;
  /** Webhook deliveries, on their own queue so a slow receiver never delays a render. */
  webhookQueue: Queue;
  storage: ObjectStorage;
  urls: ObjectUrls;
  engines: Record<string, Engine>;
  planner: Planner;
  webhookSecret: string;
  /** Counters and histograms for GET /metrics (one registry per process). */
  metrics: Metrics;
}
