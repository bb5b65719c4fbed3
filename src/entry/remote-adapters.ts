import type { Config } from '../config.js';
import type { JobStore, ObjectStorage, ObjectUrls, Queue } from '../adapters/ports.js';
import { makeS3Client } from '../adapters/s3/client.js';
import { S3JobStore } from '../adapters/s3/job-store.js';
import { S3Storage } from '../adapters/s3/storage.js';
import { S3ObjectUrls } from '../adapters/s3/urls.js';
import { makeSqsClient } from '../adapters/sqs/client.js';
import { SqsQueue } from '../adapters/sqs/queue.js';

export interface RemoteAdapters {
  store: JobStore;
  jobQueue: Queue;
  webhookQueue: Queue;
  storage: ObjectStorage;
  urls: ObjectUrls;
  close(): Promise<void>;
}

/** Explicit AWS credentials, for runtimes without the SDK's default chain (the Workers entry). */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/**
 * The scale-out adapters (QUEUE=sqs, STORAGE=s3): every process (API, workers, the
 * Workers entry) sees the same job records, queue and objects. Kept apart from compose.ts
 * because the Workers entry cannot load the embedded adapters (SQLite, the filesystem)
 * or the renderer; this module imports only the AWS SDK.
 */
export function createRemoteAdapters(config: Config, credentials?: AwsCredentials): RemoteAdapters {
  if (config.QUEUE !== 'sqs' || config.STORAGE !== 's3' || !config.S3_BUCKET || !config.SQS_QUEUE_URL || !config.SQS_WEBHOOK_QUEUE_URL) {
    throw new Error('createRemoteAdapters needs QUEUE=sqs, STORAGE=s3, S3_BUCKET, SQS_QUEUE_URL and SQS_WEBHOOK_QUEUE_URL (loadConfig checks these)');
  }
  const s3 = makeS3Client({ region: config.AWS_REGION, endpoint: config.S3_ENDPOINT, forcePathStyle: config.S3_FORCE_PATH_STYLE, credentials });
  const sqs = makeSqsClient({ region: config.AWS_REGION, endpoint: config.SQS_ENDPOINT, credentials });
  const bucket = { client: s3, bucket: config.S3_BUCKET, prefix: config.S3_PREFIX };
  const store = new S3JobStore(bucket);
  const jobQueue = new SqsQueue({ client: sqs, queueUrl: config.SQS_QUEUE_URL, deadLetterQueueUrl: config.SQS_DLQ_URL });
  const webhookQueue = new SqsQueue({ client: sqs, queueUrl: config.SQS_WEBHOOK_QUEUE_URL });
  return {
    store,
    jobQueue,
    webhookQueue,
    storage: new S3Storage(bucket),
    urls: new S3ObjectUrls({ ...bucket, expiresSeconds: config.FILE_URL_TTL_SECONDS, publicBaseUrl: config.S3_PUBLIC_BASE_URL }),
    async close() {
      await Promise.all([jobQueue.close(), webhookQueue.close(), store.close()]);
      s3.destroy();
      sqs.destroy();
    },
  };
}
