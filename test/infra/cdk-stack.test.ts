/**
 * The CloudFormation template the CDK stack synthesizes (in-process, offline): the
 * properties an operator would be hurt by if they drifted, and the stack's contract with
 * the app (environment variable names and values that loadConfig accepts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { App, type CfnElement, type Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  MAX_RECEIVES,
  PhotoreelStack,
  RESULT_PREFIXES,
  SHUTDOWN_GRACE_SECONDS,
  STATE_PREFIXES,
  STOP_TIMEOUT_SECONDS,
  type PhotoreelStackProps,
} from '../../infra/photoreel-stack.js';
import { ConfigSchema, loadConfig } from '../../src/config.js';

const WEBHOOK_SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:photoreel/webhook-secret-AbCdEf';
const API_KEYS_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:photoreel/api-keys-GhIjKl';

type Json = Record<string, any>;
interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Json;
  Sid?: string;
}

function synth(props: PhotoreelStackProps = {}) {
  // The same switches as infra/app.ts: no construction stack traces in the assembly.
  const app = new App({ stackTraces: false, context: { 'aws:cdk:disable-creation-stack-traces': true } });
  const stack = new PhotoreelStack(app, 'Photoreel', props);
  return { stack, template: Template.fromStack(stack) };
}

/** Synthesis dominates the run time: each variant is synthesized once and shared by the tests that need it. */
function once<T>(f: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= f());
}
const ECR_IMAGE = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/photoreel:1.2.3';
/** Everything optional switched on. */
const FULL_PROPS: PhotoreelStackProps = { webhookSecretArn: WEBHOOK_SECRET_ARN, workersApiUser: true, api: { apiKeysSecretArn: API_KEYS_ARN } };
const full = once(() => synth(FULL_PROPS));
/** A shared bucket (prefix), expiring results, an ECR image, and no webhook secret given. */
const variant = once(() => synth({ s3Prefix: 'photoreel/', resultsExpirationDays: 30, uploadsExpirationDays: 3, consumerImage: ECR_IMAGE }));

const logicalId = (stack: Stack, construct: { node: { defaultChild?: unknown } }) => stack.getLogicalId(construct.node.defaultChild as CfnElement);
const list = <T>(x: T | T[]): T[] => (Array.isArray(x) ? x : [x]);

/** Statements of every identity policy (inline, default and managed) in the template. */
function identityStatements(template: Template): Statement[] {
  const out: Statement[] = [];
  for (const type of ['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy']) {
    for (const r of Object.values(template.findResources(type))) out.push(...(r.Properties.PolicyDocument.Statement as Statement[]));
  }
  for (const r of Object.values(template.findResources('AWS::IAM::Role'))) {
    for (const p of r.Properties.Policies ?? []) out.push(...(p.PolicyDocument.Statement as Statement[]));
  }
  return out;
}

/** The statements of the policies attached to one role (its default policy and inline policies). */
function roleStatements(template: Template, roleId: string): Statement[] {
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => (p.Properties.Roles as Json[]).some((r) => r.Ref === roleId))
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
}

/** Logical ids a Resource entry points at (GetAtt / Ref), or the literal string. */
function resourceNames(resource: unknown): string[] {
  return list(resource as Json | Json[]).map((r) => {
    if (typeof r === 'string') return r;
    if (r['Fn::GetAtt']) return `${r['Fn::GetAtt'][0]}.${r['Fn::GetAtt'][1]}`;
    if (r.Ref) return `Ref:${r.Ref}`;
    if (r['Fn::Join']) return (r['Fn::Join'][1] as unknown[]).map((p) => (typeof p === 'string' ? p : resourceNames(p)[0])).join('');
    return JSON.stringify(r);
  });
}

function containerDefinition(template: Template, command: string): Json {
  const defs = Object.values(template.findResources('AWS::ECS::TaskDefinition')).flatMap((t) => t.Properties.ContainerDefinitions as Json[]);
  const found = defs.filter((d) => JSON.stringify(d.Command) === JSON.stringify([command]));
  expect(found, `one container runs "${command}"`).toHaveLength(1);
  return found[0]!;
}

const envOf = (container: Json): Record<string, unknown> => Object.fromEntries((container.Environment as Json[]).map((e) => [e.Name, e.Value]));

/** The container environment as a process would see it: CloudFormation references replaced by plausible values. */
function resolvedEnv(container: Json): Record<string, string> {
  const fake: Record<string, string> = {
    SQS_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/render',
    SQS_DLQ_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/render-dlq',
    SQS_WEBHOOK_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/webhooks',
    S3_BUCKET: 'photoreel-bucket',
    AWS_REGION: 'eu-west-1',
  };
  const env = envOf(container);
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, typeof v === 'string' ? v : (fake[k] ?? expect.fail(`${k} is a reference the test cannot resolve`))]));
}

describe('PhotoreelStack', () => {
  let stack: PhotoreelStack;
  let template: Template;
  let ids: { bucket: string; render: string; dlq: string; webhook: string; taskRole: string };

  beforeAll(() => {
    ({ stack, template } = synth({ webhookSecretArn: WEBHOOK_SECRET_ARN }));
    ids = {
      bucket: logicalId(stack, stack.bucket),
      render: logicalId(stack, stack.renderQueue),
      dlq: logicalId(stack, stack.deadLetterQueue),
      webhook: logicalId(stack, stack.webhookQueue),
      taskRole: logicalId(stack, stack.consumerTaskRole),
    };
  });

  describe('bucket', () => {
    it('blocks all public access, encrypts with SSE-S3, keeps no versions and survives stack deletion', () => {
      template.hasResource('AWS::S3::Bucket', {
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
        Properties: Match.objectLike({
          PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
          BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
          VersioningConfiguration: Match.absent(),
        }),
      });
    });

    it('denies every request that does not use TLS', () => {
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: ids.bucket },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Action: 's3:*', Principal: { AWS: '*' }, Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
    });

    it('aborts incomplete multipart uploads and expires tmp/ after a day, uploads/ after 7 days, results never', () => {
      const rules = template.findResources('AWS::S3::Bucket')[ids.bucket]!.Properties.LifecycleConfiguration.Rules as Json[];
      expect(rules).toContainEqual(expect.objectContaining({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 }, Status: 'Enabled' }));
      expect(rules).toContainEqual(expect.objectContaining({ Prefix: 'tmp/', ExpirationInDays: 1, Status: 'Enabled' }));
      expect(rules).toContainEqual(expect.objectContaining({ Prefix: 'uploads/', ExpirationInDays: 7, Status: 'Enabled' }));
      expect(rules.filter((r) => /^(videos|posters|previews)\//.test(r.Prefix ?? ''))).toEqual([]);
    });

    it('puts every lifecycle rule and permission below S3_PREFIX, and expires results when asked', () => {
      const { stack: s, template: t } = variant();
      const rules = Object.values(t.findResources('AWS::S3::Bucket'))[0]!.Properties.LifecycleConfiguration.Rules as Json[];
      expect(rules.map((r) => [r.Prefix, r.ExpirationInDays ?? r.AbortIncompleteMultipartUpload?.DaysAfterInitiation])).toEqual([
        ['photoreel/', 1],
        ['photoreel/tmp/', 1],
        ['photoreel/uploads/', 3],
        ['photoreel/videos/', 30],
        ['photoreel/posters/', 30],
        ['photoreel/previews/', 30],
      ]);
      const statements = roleStatements(t, logicalId(s, s.consumerTaskRole));
      const listing = statements.find((st) => st.Action === 's3:ListBucket')!;
      expect(listing.Condition).toEqual({ StringLike: { 's3:prefix': ['photoreel/*'] } });
      const objects = statements.find((st) => list(st.Action).includes('s3:GetObject'))!;
      expect(resourceNames(objects.Resource)).toEqual([`${logicalId(s, s.bucket)}.Arn/photoreel/*`]);
      expect(envOf(containerDefinition(t, 'worker')).S3_PREFIX).toBe('photoreel/');
      // 3 days is shorter than a render message may wait in the queue.
      Annotations.fromStack(s).hasWarning('/Photoreel', Match.stringLikeRegexp('uploadsExpirationDays'));
    });
  });

  describe('queues', () => {
    it('dead-letters a render message after QUEUE_MAX_RECEIVES receives (the app default)', () => {
      expect(MAX_RECEIVES).toBe(5);
      expect(ConfigSchema.parse({}).QUEUE_MAX_RECEIVES).toBe(MAX_RECEIVES);
      template.hasResourceProperties('AWS::SQS::Queue', {
        RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [ids.dlq, 'Arn'] }, maxReceiveCount: 5 },
        VisibilityTimeout: 120,
      });
      const queues = template.findResources('AWS::SQS::Queue');
      expect(queues[ids.render]!.Properties.RedrivePolicy).toBeDefined();
      expect(queues[ids.dlq]!.Properties.MessageRetentionPeriod).toBe(14 * 24 * 3600);
      // Webhook retries are scheduled by the app, never dead-lettered by SQS.
      expect(queues[ids.webhook]!.Properties.RedrivePolicy).toBeUndefined();
    });

    it('encrypts all three queues with SSE-SQS and refuses non-TLS access to each', () => {
      const queues = template.findResources('AWS::SQS::Queue');
      expect(Object.keys(queues).sort()).toEqual([ids.dlq, ids.render, ids.webhook].sort());
      for (const q of Object.values(queues)) expect(q.Properties.SqsManagedSseEnabled).toBe(true);
      const guarded = Object.values(template.findResources('AWS::SQS::QueuePolicy'))
        .filter((p) =>
          (p.Properties.PolicyDocument.Statement as Statement[]).some((st) => st.Effect === 'Deny' && st.Condition?.Bool?.['aws:SecureTransport'] === 'false'),
        )
        .flatMap((p) => (p.Properties.Queues as Json[]).map((q) => q.Ref as string));
      expect(guarded.sort()).toEqual([ids.dlq, ids.render, ids.webhook].sort());
    });
  });

  describe('IAM', () => {
    it('gives the consumer task role exactly the SQS actions it uses, on the queues it uses', () => {
      const sqs = roleStatements(template, ids.taskRole)
        .filter((st) => list(st.Action).some((a) => a.startsWith('sqs:')))
        .map((st) => ({ effect: st.Effect, actions: list(st.Action).sort(), resources: resourceNames(st.Resource).sort() }));
      expect(sqs).toEqual([
        {
          effect: 'Allow',
          actions: ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage'],
          resources: [`${ids.render}.Arn`, `${ids.webhook}.Arn`].sort(),
        },
        // Only the API sends render messages.
        { effect: 'Allow', actions: ['sqs:SendMessage'], resources: [`${ids.webhook}.Arn`] },
        { effect: 'Allow', actions: ['sqs:DeleteMessage', 'sqs:ReceiveMessage'], resources: [`${ids.dlq}.Arn`] },
      ]);
    });

    it('gives the consumer task role object access inside the bucket, listing on the bucket, and nothing else', () => {
      const statements = roleStatements(template, ids.taskRole);
      const s3 = statements
        .filter((st) => list(st.Action).some((a) => a.startsWith('s3:')))
        .map((st) => ({ actions: list(st.Action).sort(), resources: resourceNames(st.Resource) }));
      expect(s3).toEqual([
        { actions: ['s3:AbortMultipartUpload', 's3:DeleteObject', 's3:GetObject', 's3:PutObject'], resources: [`${ids.bucket}.Arn/*`] },
        { actions: ['s3:ListBucket'], resources: [`${ids.bucket}.Arn`] },
      ]);
      const services = new Set(statements.flatMap((st) => list(st.Action).map((a) => a.split(':')[0])));
      expect([...services].sort()).toEqual(['s3', 'sqs']);
    });

    it('grants no wildcard action and no Resource "*" on S3 or SQS anywhere', () => {
      const statements = identityStatements(template);
      expect(statements.length).toBeGreaterThan(0);
      for (const st of statements) {
        const actions = list(st.Action);
        expect(actions.filter((a) => a === '*' || /^(s3|sqs):\*$/.test(a)), JSON.stringify(st)).toEqual([]);
        if (actions.some((a) => /^(s3|sqs):/.test(a))) expect(resourceNames(st.Resource), JSON.stringify(st)).not.toContain('*');
      }
    });

    it('lets the API write job state and uploads but never overwrite or delete videos, posters and previews', () => {
      const api = template.findResources('AWS::IAM::ManagedPolicy')[logicalId(stack, stack.apiPolicy)]!;
      const statements = api.Properties.PolicyDocument.Statement as Statement[];
      const writes = statements.filter((st) => list(st.Action).some((a) => /^s3:(PutObject|DeleteObject)$/.test(a)));
      expect(writes).toHaveLength(1);
      const writable = resourceNames(writes[0]!.Resource);
      expect(writable.sort()).toEqual(['jobs', 'idempotency', 'tenants', 'active', 'final', 'uploads', 'tmp'].map((p) => `${ids.bucket}.Arn/${p}/*`).sort());
      for (const p of RESULT_PREFIXES) expect(writable.some((r) => r.includes(`/${p}`))).toBe(false);
      const sqs = statements.filter((st) => list(st.Action).some((a) => a.startsWith('sqs:')));
      expect(sqs.map((st) => [list(st.Action).sort(), resourceNames(st.Resource).sort()])).toEqual([
        [['sqs:GetQueueAttributes', 'sqs:SendMessage'], [`${ids.render}.Arn`, `${ids.webhook}.Arn`].sort()],
      ]);
    });

    it('knows every key prefix renders publish results under', () => {
      const runJob = fs.readFileSync(path.join(import.meta.dirname, '../../src/pipeline/run-job.ts'), 'utf8');
      const published = [...runJob.matchAll(/Key = \([^)]*\) => `([A-Za-z0-9_-]+\/)\$\{job\.tenant\}/g)].map((m) => m[1]!);
      expect(published.sort()).toEqual([...RESULT_PREFIXES].sort());
    });

    it('knows every key prefix the S3 job store writes under', () => {
      const dir = path.join(import.meta.dirname, '../../src/adapters/s3');
      const used = new Set<string>();
      for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
        for (const m of fs.readFileSync(path.join(dir, file), 'utf8').matchAll(/\$\{this\.#prefix\}([A-Za-z0-9_-]+\/)/g)) used.add(m[1]!);
      }
      expect(used.size).toBeGreaterThan(0);
      expect([...used].filter((p) => !(STATE_PREFIXES as readonly string[]).includes(p))).toEqual([]);
    });

    it('keeps the Workers access key in Secrets Manager, never in an output', () => {
      expect(template.findResources('AWS::IAM::User')).toEqual({});
      const { stack: s, template: t } = full();
      const [keyId] = Object.keys(t.findResources('AWS::IAM::AccessKey'));
      expect(keyId).toBeDefined();
      t.hasResourceProperties('AWS::IAM::User', { ManagedPolicyArns: [{ Ref: logicalId(s, s.apiPolicy) }] });
      t.hasResourceProperties('AWS::SecretsManager::Secret', {
        SecretString: { 'Fn::Join': ['', Match.arrayWith([{ 'Fn::GetAtt': [keyId, 'SecretAccessKey'] }])] },
      });
      const outputs = JSON.stringify(t.toJSON().Outputs);
      expect(outputs).not.toContain('SecretAccessKey');
      expect(outputs).not.toContain(`"Ref":"${keyId}"`);
      t.hasOutput('WorkersApiCredentialsSecretArn', {});
    });
  });

  describe('consumers', () => {
    it('run `worker` on 2 vCPU / 4 GB with the scale-out environment and 120 s to stop', () => {
      template.hasResourceProperties('AWS::ECS::TaskDefinition', { Cpu: '2048', Memory: '4096', RequiresCompatibilities: ['FARGATE'] });
      const worker = containerDefinition(template, 'worker');
      expect(worker.StopTimeout).toBe(STOP_TIMEOUT_SECONDS);
      expect(SHUTDOWN_GRACE_SECONDS).toBeLessThan(STOP_TIMEOUT_SECONDS);
      expect(worker.LinuxParameters.InitProcessEnabled).toBe(true);
      const env = envOf(worker);
      expect(env).toMatchObject({ QUEUE: 'sqs', STORAGE: 's3', QUEUE_MAX_RECEIVES: '5', QUEUE_VISIBILITY_SECONDS: '120', SHUTDOWN_GRACE_SECONDS: String(SHUTDOWN_GRACE_SECONDS) });
      expect(env.SQS_QUEUE_URL).toEqual({ Ref: ids.render });
      expect(env.SQS_DLQ_URL).toEqual({ Ref: ids.dlq });
      expect(env.SQS_WEBHOOK_QUEUE_URL).toEqual({ Ref: ids.webhook });
      expect(env.S3_BUCKET).toEqual({ Ref: ids.bucket });
      const taskDef = Object.values(template.findResources('AWS::ECS::TaskDefinition'))[0]!;
      expect(taskDef.Properties.TaskRoleArn).toEqual({ 'Fn::GetAtt': [ids.taskRole, 'Arn'] });
    });

    it('set only environment variables the app reads, with values loadConfig accepts', () => {
      const worker = containerDefinition(template, 'worker');
      const env = resolvedEnv(worker);
      const known = new Set(Object.keys(ConfigSchema.shape));
      expect(Object.keys(env).filter((k) => !known.has(k))).toEqual([]);
      const secretNames = (worker.Secrets as Json[]).map((s) => s.Name as string);
      expect(secretNames.filter((k) => !known.has(k))).toEqual([]);
      const config = loadConfig({ ...env, WEBHOOK_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' });
      expect(config.QUEUE_MAX_RECEIVES).toBe(MAX_RECEIVES);
      expect(config.SHUTDOWN_GRACE_SECONDS).toBe(SHUTDOWN_GRACE_SECONDS);
    });

    it('take WEBHOOK_SECRET from Secrets Manager, readable by the execution role only', () => {
      const worker = containerDefinition(template, 'worker');
      expect(worker.Secrets).toEqual([{ Name: 'WEBHOOK_SECRET', ValueFrom: WEBHOOK_SECRET_ARN }]);
      expect(envOf(worker).WEBHOOK_SECRET).toBeUndefined();
      const reads = identityStatements(template).filter((st) => list(st.Action).includes('secretsmanager:GetSecretValue'));
      expect(reads.map((st) => resourceNames(st.Resource))).toEqual([[WEBHOOK_SECRET_ARN]]);
      expect(roleStatements(template, ids.taskRole).some((st) => list(st.Action).some((a) => a.startsWith('secretsmanager:')))).toBe(false);
    });

    it('create a retained WEBHOOK_SECRET secret, with a warning, when none is given', () => {
      const { stack: s, template: t } = variant();
      const [secretId, secret] = Object.entries(t.findResources('AWS::SecretsManager::Secret'))[0]!;
      expect(secret.DeletionPolicy).toBe('Retain');
      expect(containerDefinition(t, 'worker').Secrets).toEqual([{ Name: 'WEBHOOK_SECRET', ValueFrom: { Ref: secretId } }]);
      Annotations.fromStack(s).hasWarning('/Photoreel', Match.stringLikeRegexp('whsec_'));
    });

    it('log to CloudWatch with a retention period', () => {
      const worker = containerDefinition(template, 'worker');
      expect(worker.LogConfiguration.LogDriver).toBe('awslogs');
      const groupId = worker.LogConfiguration.Options['awslogs-group'].Ref;
      expect(template.findResources('AWS::Logs::LogGroup')[groupId]!.Properties.RetentionInDays).toBe(30);
    });

    it('scale out on the render queue backlog and in only when no render is waiting or running', () => {
      template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
        MinCapacity: 1,
        MaxCapacity: 10,
        ScalableDimension: 'ecs:service:DesiredCount',
        ServiceNamespace: 'ecs',
      });
      const policies = template.findResources('AWS::ApplicationAutoScaling::ScalingPolicy');
      const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
      const out = alarms.find((a) => a.Properties.MetricName === 'ApproximateNumberOfMessagesVisible')!;
      expect(out.Properties).toMatchObject({
        Namespace: 'AWS/SQS',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [ids.render, 'QueueName'] } }],
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        Threshold: 1,
      });
      const outPolicy = policies[out.Properties.AlarmActions[0].Ref]!.Properties;
      expect(outPolicy.PolicyType).toBe('StepScaling');
      expect(outPolicy.StepScalingPolicyConfiguration.StepAdjustments.every((s: Json) => s.ScalingAdjustment > 0)).toBe(true);

      const idle = alarms.find((a) => a.Properties.Metrics)!;
      const metricNames = (idle.Properties.Metrics as Json[]).filter((m) => m.MetricStat).map((m) => m.MetricStat.Metric.MetricName);
      expect(metricNames.sort()).toEqual(['ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesVisible']);
      expect(idle.Properties).toMatchObject({ ComparisonOperator: 'LessThanOrEqualToThreshold', Threshold: 0 });
      const inPolicy = policies[idle.Properties.AlarmActions[0].Ref]!.Properties;
      expect(inPolicy.StepScalingPolicyConfiguration.StepAdjustments.every((s: Json) => s.ScalingAdjustment < 0)).toBe(true);
    });

    it('pull an ECR image with rights on that repository only', () => {
      const { template: t } = variant();
      expect(JSON.stringify(containerDefinition(t, 'worker').Image)).toContain('123456789012.dkr.ecr.eu-west-1.');
      expect(JSON.stringify(containerDefinition(t, 'worker').Image)).toContain('/photoreel:1.2.3');
      const pull = identityStatements(t).find((st) => list(st.Action).includes('ecr:BatchGetImage'))!;
      expect(resourceNames(pull.Resource)).toEqual(['arn:aws:ecr:eu-west-1:123456789012:repository/photoreel']);
      expect(containerDefinition(template, 'worker').Image).toBe('photoreel-worker:latest');
    });
  });

  describe('optional API service', () => {
    it('is off by default', () => {
      expect(template.findResources('AWS::ElasticLoadBalancingV2::LoadBalancer')).toEqual({});
    });

    it('runs `serve` in API_ONLY mode behind an ALB, with the API policy and API_KEYS from Secrets Manager', () => {
      const { stack: s, template: t } = full();
      t.resourceCountIs('AWS::ElasticLoadBalancingV2::LoadBalancer', 1);
      t.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', { HealthCheckPath: '/healthz', Port: 80 });
      const api = containerDefinition(t, 'serve');
      expect(envOf(api)).toMatchObject({ API_ONLY: '1', HOST: '0.0.0.0', PORT: '8080', QUEUE: 'sqs', STORAGE: 's3' });
      expect(api.Secrets).toEqual(
        expect.arrayContaining([
          { Name: 'API_KEYS', ValueFrom: API_KEYS_ARN },
          { Name: 'WEBHOOK_SECRET', ValueFrom: WEBHOOK_SECRET_ARN },
        ]),
      );
      const known = new Set(Object.keys(ConfigSchema.shape));
      expect(Object.keys(envOf(api)).filter((k) => !known.has(k))).toEqual([]);
      t.hasResourceProperties('AWS::IAM::Role', {
        AssumeRolePolicyDocument: Match.objectLike({ Statement: [Match.objectLike({ Principal: { Service: 'ecs-tasks.amazonaws.com' } })] }),
        ManagedPolicyArns: [{ Ref: logicalId(s, s.apiPolicy) }],
      });
      // The worker never gets the API keys.
      expect((containerDefinition(t, 'worker').Secrets as Json[]).map((x) => x.Name)).toEqual(['WEBHOOK_SECRET']);
    });
  });

  it('outputs the bucket, the queue URLs and the dead-letter queue URL', () => {
    template.hasOutput('BucketName', { Value: { Ref: ids.bucket } });
    template.hasOutput('RenderQueueUrl', { Value: { Ref: ids.render } });
    template.hasOutput('DeadLetterQueueUrl', { Value: { Ref: ids.dlq } });
    template.hasOutput('WebhookQueueUrl', { Value: { Ref: ids.webhook } });
  });

  it('refuses settings the app or the service would not accept', () => {
    expect(() => synth({ s3Prefix: 'photoreel' })).toThrow(/end with "\/"/);
    expect(() => synth({ minConsumers: 3, maxConsumers: 2 })).toThrow(/above maxConsumers/);
    expect(() => synth({ desiredConsumers: 0 })).toThrow(/desiredConsumers/);
  });

  it('synthesizes the same template every time', () => {
    expect(JSON.stringify(synth(FULL_PROPS).template.toJSON())).toBe(JSON.stringify(full().template.toJSON()));
    expect(JSON.stringify(Template.fromStack(stack).toJSON())).toBe(JSON.stringify(template.toJSON()));
  });
});
