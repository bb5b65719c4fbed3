import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { exited, freePort } from './processes.js';

/**
 * An S3 + SQS emulator over HTTP on 127.0.0.1 for the scale-out tests: `moto_server`
 * (Python moto, the most faithful: conditional writes, SQS redrive) when it is on the
 * PATH (or at MOTO_SERVER), otherwise fauxqs (one Node process from npm, which ignores
 * conditional writes: tests that need them check `conditionalWrites`).
 */
export interface AwsEmulator {
  kind: 'moto' | 'fauxqs';
  endpoint: string;
  region: string;
  /** Fake credentials the emulator accepts; also exported as AWS_* env for child processes. */
  env: Record<string, string>;
  /** false on fauxqs: If-Match / If-None-Match on PutObject are ignored. */
  conditionalWrites: boolean;
  s3: S3Client;
  sqs: SQSClient;
  close(): Promise<void>;
}

export interface ScaleOutResources {
  bucket: string;
  queueUrl: string;
  dlqUrl: string;
  webhookQueueUrl: string;
  /** The env settings that point the service at these resources (QUEUE=sqs, STORAGE=s3, ...). */
  env: Record<string, string>;
}

const REGION = 'us-east-1';
const CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' };

function motoBinary(): string | undefined {
  const candidates = [process.env.MOTO_SERVER, 'moto_server'].filter((x): x is string => !!x);
  for (const bin of candidates) {
    const r = spawnSync(bin, ['--help'], { stdio: 'ignore', timeout: 20_000 });
    if (r.status === 0) return bin;
  }
  return undefined;
}

export async function startAwsEmulator(opts: { prefer?: 'moto' | 'fauxqs' } = {}): Promise<AwsEmulator> {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const env = {
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    // The emulator runs on loopback: keep the SDK from looking for instance credentials.
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  const clients = () => ({
    s3: new S3Client({ region: REGION, endpoint, forcePathStyle: true, credentials: CREDENTIALS }),
    sqs: new SQSClient({ region: REGION, endpoint, credentials: CREDENTIALS }),
  });

  // PHOTOREEL_TEST_EMULATOR=fauxqs runs the suite the way a machine without moto would.
  const prefer = opts.prefer ?? (process.env.PHOTOREEL_TEST_EMULATOR === 'fauxqs' ? 'fauxqs' : undefined);
  const moto = prefer === 'fauxqs' ? undefined : motoBinary();
  if (moto) {
    const child: ChildProcess = spawn(moto, ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    await waitForHttp(`${endpoint}/moto-api/`, child, () => stderr);
    const { s3, sqs } = clients();
    return {
      kind: 'moto',
      endpoint,
      region: REGION,
      env,
      conditionalWrites: true,
      s3,
      sqs,
      async close() {
        s3.destroy();
        sqs.destroy();
        if (child.exitCode === null) {
          process.kill(-child.pid!, 'SIGTERM');
          await exited(child);
        }
      },
    };
  }

  const { buildApp } = await import('fauxqs');
  const app = buildApp({ logger: false, defaultRegion: REGION });
  await app.listen({ port, host: '127.0.0.1' });
  const { s3, sqs } = clients();
  return {
    kind: 'fauxqs',
    endpoint,
    region: REGION,
    env,
    conditionalWrites: false,
    s3,
    sqs,
    async close() {
      s3.destroy();
      sqs.destroy();
      await app.close();
    },
  };
}

/**
 * A fresh bucket, a render queue with a dead-letter queue (redrive after `maxReceives`),
 * and a webhook queue, with unique names so tests can share one emulator.
 */
export async function createScaleOutResources(emu: AwsEmulator, opts: { maxReceives?: number; visibilitySeconds?: number } = {}): Promise<ScaleOutResources> {
  const suffix = randomBytes(4).toString('hex');
  const bucket = `photoreel-test-${suffix}`;
  await emu.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const dlq = await emu.sqs.send(new CreateQueueCommand({ QueueName: `photoreel-jobs-dlq-${suffix}` }));
  const dlqArn = (await emu.sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl!, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
  const maxReceives = opts.maxReceives ?? 3;
  const jobs = await emu.sqs.send(
    new CreateQueueCommand({
      QueueName: `photoreel-jobs-${suffix}`,
      Attributes: {
        VisibilityTimeout: String(opts.visibilitySeconds ?? 30),
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: maxReceives }),
      },
    }),
  );
  const webhooks = await emu.sqs.send(new CreateQueueCommand({ QueueName: `photoreel-webhooks-${suffix}` }));
  return {
    bucket,
    queueUrl: jobs.QueueUrl!,
    dlqUrl: dlq.QueueUrl!,
    webhookQueueUrl: webhooks.QueueUrl!,
    env: {
      ...emu.env,
      QUEUE: 'sqs',
      SQS_QUEUE_URL: jobs.QueueUrl!,
      SQS_DLQ_URL: dlq.QueueUrl!,
      SQS_WEBHOOK_QUEUE_URL: webhooks.QueueUrl!,
      SQS_ENDPOINT: emu.endpoint,
      STORAGE: 's3',
      S3_BUCKET: bucket,
      S3_ENDPOINT: emu.endpoint,
      S3_FORCE_PATH_STYLE: '1',
      QUEUE_MAX_RECEIVES: String(maxReceives),
    },
  };
}

async function waitForHttp(url: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`emulator exited with ${child.exitCode}: ${stderr()}`);
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`emulator did not answer at ${url}: ${stderr()}`);
}
