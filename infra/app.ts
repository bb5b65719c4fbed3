/**
 * The CDK app: `npx tsx infra/app.ts` (or `npm run infra:synth`) writes the CloudFormation
 * template to infra/cdk.out offline; `npx aws-cdk@2 deploy --app "npx tsx infra/app.ts"`
 * deploys it (infra/README.md). Settings come from CDK context (`-c key=value`) so the
 * same command serves CI synthesis and real deployments.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import { PhotoreelStack, type PhotoreelStackProps } from './photoreel-stack.js';

const app = new App({
  // Construction stack traces only bloat the assembly metadata (and slow synthesis).
  stackTraces: false,
  context: { 'aws:cdk:disable-creation-stack-traces': true },
  // The CDK CLI names its own output folder through CDK_OUTDIR and reads the assembly from there.
  outdir: process.env.CDK_OUTDIR ?? path.join(path.dirname(fileURLToPath(import.meta.url)), 'cdk.out'),
});

function context(key: string): string | undefined {
  const v: unknown = app.node.tryGetContext(key);
  return v === undefined || v === null || v === '' ? undefined : String(v);
}
function numberContext(key: string): number | undefined {
  const v = context(key);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`context ${key}: expected a number, got ${JSON.stringify(v)}`);
  return n;
}
const flag = (key: string) => ['1', 'true', 'yes'].includes(context(key)?.toLowerCase() ?? '');

const vpcId = context('vpcId');
const apiKeysSecretArn = context('apiKeysSecretArn');
const props: PhotoreelStackProps = {
  description: 'Photoreel scale-out: S3 bucket, SQS render/dead-letter/webhook queues, IAM, ECS Fargate consumers',
  // Environment-agnostic unless a VPC must be looked up: synthesis then needs no credentials at all.
  ...(vpcId ? { env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION }, vpcId } : {}),
  consumerImage: context('consumerImage'),
  minConsumers: numberContext('minConsumers'),
  maxConsumers: numberContext('maxConsumers'),
  desiredConsumers: numberContext('desiredConsumers'),
  consumerConcurrency: numberContext('concurrency'),
  spot: flag('spot'),
  arm64: flag('arm64'),
  s3Prefix: context('s3Prefix'),
  uploadsExpirationDays: numberContext('uploadsExpirationDays'),
  resultsExpirationDays: numberContext('resultsExpirationDays'),
  webhookSecretArn: context('webhookSecretArn'),
  webhookSecretsArn: context('webhookSecretsArn'),
  fileUrlTtlSeconds: numberContext('fileUrlTtlSeconds'),
  s3PublicBaseUrl: context('s3PublicBaseUrl'),
  logLevel: context('logLevel') as PhotoreelStackProps['logLevel'],
  workersApiUser: flag('workersApiUser'),
  workersApiKeySerial: numberContext('workersApiKeySerial'),
  ...(flag('api')
    ? {
        api: {
          apiKeysSecretArn: apiKeysSecretArn ?? fail('-c api=true needs -c apiKeysSecretArn=<complete ARN of the API_KEYS secret>'),
          desiredCount: numberContext('apiDesiredCount'),
          certificateArn: context('certificateArn'),
          publicBaseUrl: context('publicBaseUrl'),
        },
      }
    : {}),
};

const stack = new PhotoreelStack(app, context('stackName') ?? 'Photoreel', props);
const assembly = app.synth();

if (!process.env.CDK_OUTDIR) {
  // Run on its own (not under the CDK CLI, which prints these itself): show warnings, fail on errors.
  const artifact = assembly.getStackArtifact(stack.artifactId);
  let errors = 0;
  for (const m of artifact.messages) {
    if (m.level === 'info') continue;
    if (m.level === 'error') errors++;
    process.stderr.write(`[${m.level}] ${m.id}: ${String(m.entry.data)}\n`);
  }
  process.stderr.write(`wrote ${path.relative(process.cwd(), path.join(assembly.directory, artifact.templateFile))}\n`);
  if (errors > 0) process.exitCode = 1;
}

function fail(message: string): never {
  throw new Error(message);
}
