/**
 * The scale-out deployment of Photoreel on AWS: one bucket, the render queue with its
 * dead-letter queue, the webhook queue, least-privilege IAM, and the consumers
 * (`photoreel worker`) on ECS Fargate, scaled on the render queue's backlog. The HTTP API
 * runs on Cloudflare Workers (an IAM user's keys, optional here) or, optionally, as a
 * second Fargate service behind an ALB.
 */
import { Annotations, Aws, CfnOutput, Duration, RemovalPolicy, SecretValue, Stack, type StackProps } from 'aws-cdk-lib';
import * as appscaling from 'aws-cdk-lib/aws-applicationautoscaling';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as ecsPatterns from 'aws-cdk-lib/aws-ecs-patterns';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';

/** The image the stack uses when none is given: synthesizes anywhere, deploys nowhere. */
export const PLACEHOLDER_IMAGE = 'photoreel-worker:latest';

/** Must equal the app's QUEUE_MAX_RECEIVES (its default): SQS moves the message, the consumer fails the job. */
export const MAX_RECEIVES = 5;
/** The queue's default; the consumer asks for it on every receive and heartbeats every third of it. */
export const VISIBILITY_SECONDS = 120;
/** How long a render message may wait; uploaded photos are kept at least as long by default. */
const RENDER_RETENTION_DAYS = 4;
/** Fargate's ceiling: how long ECS waits between SIGTERM and SIGKILL. */
export const STOP_TIMEOUT_SECONDS = 120;
/** Below the stop timeout, so a worker that gives up on a render still has time to release its message. */
export const SHUTDOWN_GRACE_SECONDS = 90;

/**
 * Key prefixes (below S3_PREFIX) of the job store's bookkeeping (src/adapters/s3/job-store.ts):
 * records, idempotency claims, per-tenant indexes, active and final-status markers. The API
 * writes and deletes these (creating and cancelling jobs); only consumers write or delete
 * RESULT_PREFIXES. A new prefix in the job store must be added here.
 */
export const STATE_PREFIXES = ['jobs/', 'idempotency/', 'tenants/', 'active/', 'final/'] as const;
/**
 * What renders publish (src/pipeline/run-job.ts: videoKey, posterKey, previewKey): only
 * consumers write or delete these, and `resultsExpirationDays` expires them.
 */
export const RESULT_PREFIXES = ['videos/', 'posters/', 'previews/'] as const;
/** Customer photos and scratch objects: the API may write and remove them too. */
export const SCRATCH_PREFIXES = ['uploads/', 'tmp/'] as const;

/** LOG_LEVEL values the app accepts. */
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export interface ApiServiceOptions {
  /** Complete ARN of a Secrets Manager secret holding API_KEYS (`tenantA:key1,tenantB:key2`). */
  apiKeysSecretArn: string;
  /** Default 2 (one per AZ). */
  desiredCount?: number;
  /** ACM certificate for HTTPS on the ALB (HTTP is redirected). Without it the ALB listens on HTTP only. */
  certificateArn?: string;
  /** PUBLIC_BASE_URL: the origin clients use (e.g. https://api.example.com). */
  publicBaseUrl?: string;
}

export interface PhotoreelStackProps extends StackProps {
  /**
   * The consumer image (also used for the API service). A registry URI, or any
   * ContainerImage (e.g. ContainerImage.fromAsset for `cdk deploy` to build it). An ECR
   * URI (`<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>`) gets pull rights for
   * that repository only. Default: PLACEHOLDER_IMAGE.
   */
  consumerImage?: string | ecs.ContainerImage;
  /** Scale-in floor. Default 1: with 0, webhook deliveries wait until a render wakes a consumer. */
  minConsumers?: number;
  /** Scale-out ceiling. Default 10. */
  maxConsumers?: number;
  /** Count set on create (and whenever this value changes). Default: minConsumers. */
  desiredConsumers?: number;
  /** CONCURRENCY: renders per consumer task. Default 1 (one 1080p x264 encode keeps 2 vCPU busy). */
  consumerConcurrency?: number;
  /** Run consumers on Fargate Spot: interruptions arrive as SIGTERM, which the worker handles like a scale-in. */
  spot?: boolean;
  /** ARM64 (Graviton) tasks; the image must be built for linux/arm64. Default x86_64. */
  arm64?: boolean;
  /** An existing VPC (tasks go to its private subnets with egress). Default: a new VPC, see README. */
  vpc?: ec2.IVpc;
  /** Look an existing VPC up by id (needs an account/region env on the stack and credentials at synth). */
  vpcId?: string;
  /** S3_PREFIX: empty, or ending with "/" (e.g. `photoreel/`). Default empty. */
  s3Prefix?: string;
  /** Days before uploaded photos expire. Default 7. */
  uploadsExpirationDays?: number;
  /** Days before videos, posters and previews (RESULT_PREFIXES) expire. Default: never. */
  resultsExpirationDays?: number;
  /**
   * Complete ARN of a secret holding WEBHOOK_SECRET (`whsec_...`). Without it the stack
   * creates a secret whose generated value is NOT a valid whsec_ secret: set it before
   * consumers start (README).
   */
  webhookSecretArn?: string;
  /** Complete ARN of a secret holding WEBHOOK_SECRETS (per-tenant signing secrets). Optional. */
  webhookSecretsArn?: string;
  /** FILE_URL_TTL_SECONDS. Default 3600: a URL presigned with task-role credentials dies with them (hours), whatever it asks for. */
  fileUrlTtlSeconds?: number;
  /** S3_PUBLIC_BASE_URL (a CDN in front of the bucket). Optional. */
  s3PublicBaseUrl?: string;
  /** LOG_LEVEL. Default info. */
  logLevel?: (typeof LOG_LEVELS)[number];
  /** CloudWatch Logs retention. Default one month. */
  logRetention?: logs.RetentionDays;
  /** Further environment for the containers (NEMO_BASE_URL, X264_PRESET, ...). Never secrets. */
  extraEnvironment?: Record<string, string>;
  /** Create an IAM user with the API's permissions and an access key for the Cloudflare Workers API. Default false. */
  workersApiUser?: boolean;
  /** Bump to rotate the Workers user's access key (a new key replaces the old one on deploy). Default 1. */
  workersApiKeySerial?: number;
  /** Run the API as a Fargate service behind an ALB. Default: off (the API runs on Workers or elsewhere). */
  api?: ApiServiceOptions;
}

const S3_PREFIX_PATTERN = /^([A-Za-z0-9!_.*'()-]+\/)*$/;
const ECR_IMAGE = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\/([a-z0-9][a-z0-9._/-]*)(?::([\w][\w.-]{0,127})|@(sha256:[a-f0-9]{64}))?$/;

export class PhotoreelStack extends Stack {
  readonly bucket: s3.Bucket;
  readonly renderQueue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly webhookQueue: sqs.Queue;
  readonly consumerTaskRole: iam.Role;
  /** The API's permissions, for the API task role, the Workers user, or anything else that runs `photoreel serve`. */
  readonly apiPolicy: iam.ManagedPolicy;
  readonly consumerService: ecs.FargateService;
  readonly apiService?: ecsPatterns.ApplicationLoadBalancedFargateService;

  constructor(scope: Construct, id: string, props: PhotoreelStackProps = {}) {
    super(scope, id, props);

    const prefix = props.s3Prefix ?? '';
    if (!S3_PREFIX_PATTERN.test(prefix)) throw new Error(`s3Prefix ${JSON.stringify(prefix)}: must be empty or end with "/" (e.g. photoreel/), as S3_PREFIX`);
    const minConsumers = wholeNumber('minConsumers', props.minConsumers ?? 1, 0);
    const maxConsumers = wholeNumber('maxConsumers', props.maxConsumers ?? 10, 1);
    const desiredConsumers = wholeNumber('desiredConsumers', props.desiredConsumers ?? minConsumers, 0);
    if (minConsumers > maxConsumers) throw new Error(`minConsumers (${minConsumers}) is above maxConsumers (${maxConsumers})`);
    if (desiredConsumers < minConsumers || desiredConsumers > maxConsumers) throw new Error(`desiredConsumers (${desiredConsumers}) must be within minConsumers..maxConsumers`);
    const uploadsDays = wholeNumber('uploadsExpirationDays', props.uploadsExpirationDays ?? 7, 1);
    const resultsDays = props.resultsExpirationDays === undefined ? undefined : wholeNumber('resultsExpirationDays', props.resultsExpirationDays, 1);
    const fileUrlTtl = wholeNumber('fileUrlTtlSeconds', props.fileUrlTtlSeconds ?? 3600, 60);
    const concurrency = wholeNumber('consumerConcurrency', props.consumerConcurrency ?? 1, 1);
    const logLevel = props.logLevel ?? 'info';
    if (!LOG_LEVELS.includes(logLevel)) throw new Error(`logLevel ${JSON.stringify(logLevel)}: expected one of ${LOG_LEVELS.join(', ')}`);

    // ------------------------------------------------------------------ storage

    const lifecycleRules: s3.LifecycleRule[] = [
      // lib-storage aborts its own failed uploads; these are the parts of processes that died mid-upload.
      { id: 'abort-incomplete-multipart-uploads', prefix: prefix || undefined, abortIncompleteMultipartUploadAfter: Duration.days(1) },
      { id: 'expire-tmp', prefix: `${prefix}tmp/`, expiration: Duration.days(1) },
      { id: 'expire-uploads', prefix: `${prefix}uploads/`, expiration: Duration.days(uploadsDays) },
    ];
    if (uploadsDays < RENDER_RETENTION_DAYS) {
      Annotations.of(this).addWarning(`uploadsExpirationDays (${uploadsDays}) is below the render queue's retention (${RENDER_RETENTION_DAYS} days): a job that waits that long loses its uploaded photos.`);
    }
    if (resultsDays !== undefined) {
      // expire-videos, expire-posters, expire-previews
      for (const p of RESULT_PREFIXES) lifecycleRules.push({ id: `expire-${p.slice(0, -1)}`, prefix: `${prefix}${p}`, expiration: Duration.days(resultsDays) });
    }
    this.bucket = new s3.Bucket(this, 'Bucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      // Keys are rewritten in place (job records) and re-published on redelivery: versions would only pile up.
      versioned: false,
      lifecycleRules,
      // Customers' videos outlive any one deployment of the stack.
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // ------------------------------------------------------------------ queues

    this.deadLetterQueue = new sqs.Queue(this, 'RenderDeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // A message keeps its original enqueue time when it is moved here, so this must outlast the render queue's retention.
      retentionPeriod: Duration.days(14),
    });
    this.renderQueue = new sqs.Queue(this, 'RenderQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(VISIBILITY_SECONDS),
      retentionPeriod: Duration.days(RENDER_RETENTION_DAYS),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: MAX_RECEIVES },
    });
    // No redrive: the app schedules webhook retries itself (WEBHOOK_RETRY_SCHEDULE) and records the last failure on the job.
    this.webhookQueue = new sqs.Queue(this, 'WebhookQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(60),
      // The default retry schedule spans about 28 hours from the first attempt.
      retentionPeriod: Duration.days(4),
    });

    // ------------------------------------------------------------------ IAM

    const objects = (...prefixes: string[]) => prefixes.map((p) => this.bucket.arnForObjects(`${prefix}${p}*`));
    const listOwnKeys = new iam.PolicyStatement({
      sid: 'ListOwnKeys',
      actions: ['s3:ListBucket'],
      resources: [this.bucket.bucketArn],
      // With a prefix the bucket may be shared: list only our keys. Without one the bucket is ours alone.
      ...(prefix ? { conditions: { StringLike: { 's3:prefix': [`${prefix}*`] } } } : {}),
    });

    this.consumerTaskRole = new iam.Role(this, 'ConsumerTaskRole', {
      assumedBy: ecsTasksPrincipal(),
      description: 'photoreel worker: renders jobs from the render queue into the bucket, delivers webhooks',
    });
    this.consumerTaskRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ReadWriteOwnObjects',
        actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
        resources: objects(''),
      }),
    );
    this.consumerTaskRole.addToPolicy(listOwnKeys);
    this.consumerTaskRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ConsumeRenderAndWebhookQueues',
        // ChangeMessageVisibility: heartbeats and delayed releases; GetQueueAttributes: queue depth.
        actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes'],
        resources: [this.renderQueue.queueArn, this.webhookQueue.queueArn],
      }),
    );
    this.consumerTaskRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'QueueWebhooks',
        // Consumers queue webhook deliveries and their retries; only the API sends render messages.
        actions: ['sqs:SendMessage'],
        resources: [this.webhookQueue.queueArn],
      }),
    );
    this.consumerTaskRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'TakeDeadLetters',
        // Consumers take poison messages off the DLQ to mark their jobs failed; nothing is ever sent there by hand.
        actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage'],
        resources: [this.deadLetterQueue.queueArn],
      }),
    );

    // The API creates and reads jobs, cancels them and presigns result URLs. It never renders,
    // so it cannot overwrite or delete a delivered video, poster or preview (RESULT_PREFIXES): leaked API credentials
    // (the Workers user's keys live outside AWS) cannot tamper with results.
    this.apiPolicy = new iam.ManagedPolicy(this, 'ApiPolicy', {
      description: 'photoreel API: job records, uploads, presigned result URLs, sending to the render and webhook queues',
      statements: [
        new iam.PolicyStatement({ sid: 'ReadOwnObjects', actions: ['s3:GetObject'], resources: objects('') }),
        new iam.PolicyStatement({
          sid: 'WriteStateAndUploads',
          actions: ['s3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
          resources: objects(...STATE_PREFIXES, ...SCRATCH_PREFIXES),
        }),
        listOwnKeys,
        new iam.PolicyStatement({
          sid: 'SendToQueues',
          // GetQueueAttributes: /healthz and /metrics report queue depth.
          actions: ['sqs:SendMessage', 'sqs:GetQueueAttributes'],
          resources: [this.renderQueue.queueArn, this.webhookQueue.queueArn],
        }),
      ],
    });

    if (props.workersApiUser) {
      const user = new iam.User(this, 'WorkersApiUser', { managedPolicies: [this.apiPolicy] });
      const key = new iam.AccessKey(this, 'WorkersApiAccessKey', { user, serial: props.workersApiKeySerial ?? 1 });
      // The secret key goes straight into Secrets Manager (a GetAtt inside the secret, never an output).
      const credentials = new secretsmanager.Secret(this, 'WorkersApiCredentials', {
        description: 'photoreel Workers API: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY for `wrangler secret put`',
        secretObjectValue: {
          AWS_ACCESS_KEY_ID: SecretValue.unsafePlainText(key.accessKeyId),
          AWS_SECRET_ACCESS_KEY: key.secretAccessKey,
        },
      });
      new CfnOutput(this, 'WorkersApiCredentialsSecretArn', { value: credentials.secretArn, description: 'Secret with the Workers API access key (JSON: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)' });
    }

    // ------------------------------------------------------------------ secrets

    let webhookSecret: secretsmanager.ISecret;
    if (props.webhookSecretArn) {
      webhookSecret = secretsmanager.Secret.fromSecretCompleteArn(this, 'WebhookSecret', props.webhookSecretArn);
    } else {
      webhookSecret = new secretsmanager.Secret(this, 'WebhookSecret', {
        description: 'photoreel WEBHOOK_SECRET: replace the generated value with whsec_ + base64 (README)',
        // Secrets Manager cannot generate the whsec_ prefix; the value only reserves the secret until it is set.
        generateSecretString: { excludePunctuation: true, passwordLength: 32 },
        // Webhook receivers verify with this value; losing it with the stack would break them all.
        removalPolicy: RemovalPolicy.RETAIN,
      });
      Annotations.of(this).addWarning(
        'No webhookSecretArn: the stack creates a WEBHOOK_SECRET secret whose generated value is not a whsec_ secret. ' +
          'Consumers exit with a configuration error until you put a whsec_ value in it (infra/README.md, "Secrets").',
      );
    }
    new CfnOutput(this, 'WebhookSecretArn', { value: webhookSecret.secretArn, description: 'Secret holding WEBHOOK_SECRET (whsec_...)' });
    const webhookSecrets = props.webhookSecretsArn ? secretsmanager.Secret.fromSecretCompleteArn(this, 'WebhookSecrets', props.webhookSecretsArn) : undefined;
    const sharedSecrets: Record<string, ecs.Secret> = {
      WEBHOOK_SECRET: ecs.Secret.fromSecretsManager(webhookSecret),
      ...(webhookSecrets ? { WEBHOOK_SECRETS: ecs.Secret.fromSecretsManager(webhookSecrets) } : {}),
    };

    // ------------------------------------------------------------------ network and cluster

    const ownVpc = !props.vpc && !props.vpcId;
    const vpc =
      props.vpc ??
      (props.vpcId
        ? ec2.Vpc.fromLookup(this, 'Vpc', { vpcId: props.vpcId })
        : new ec2.Vpc(this, 'Vpc', {
            maxAzs: 2,
            // Tasks get public IPs in public subnets instead: a NAT gateway would cost more than the
            // consumers themselves, and no security group here allows any inbound traffic.
            natGateways: 0,
            subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 }],
            // Free, and keeps photo and video bytes off the internet path.
            gatewayEndpoints: { S3: { service: ec2.GatewayVpcEndpointAwsService.S3 } },
          }));
    const taskSubnets: ec2.SubnetSelection = { subnetType: ownVpc ? ec2.SubnetType.PUBLIC : ec2.SubnetType.PRIVATE_WITH_EGRESS };

    const cluster = new ecs.Cluster(this, 'Cluster', { vpc, enableFargateCapacityProviders: props.spot === true });

    const image = this.containerImage(props.consumerImage ?? PLACEHOLDER_IMAGE);
    const runtimePlatform: ecs.RuntimePlatform = {
      cpuArchitecture: props.arm64 ? ecs.CpuArchitecture.ARM64 : ecs.CpuArchitecture.X86_64,
      operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
    };
    const commonEnvironment: Record<string, string> = {
      ...props.extraEnvironment,
      QUEUE: 'sqs',
      STORAGE: 's3',
      SQS_QUEUE_URL: this.renderQueue.queueUrl,
      SQS_DLQ_URL: this.deadLetterQueue.queueUrl,
      SQS_WEBHOOK_QUEUE_URL: this.webhookQueue.queueUrl,
      S3_BUCKET: this.bucket.bucketName,
      ...(prefix ? { S3_PREFIX: prefix } : {}),
      ...(props.s3PublicBaseUrl ? { S3_PUBLIC_BASE_URL: props.s3PublicBaseUrl } : {}),
      AWS_REGION: Aws.REGION,
      QUEUE_MAX_RECEIVES: String(MAX_RECEIVES),
      QUEUE_VISIBILITY_SECONDS: String(VISIBILITY_SECONDS),
      FILE_URL_TTL_SECONDS: String(fileUrlTtl),
      SHUTDOWN_GRACE_SECONDS: String(SHUTDOWN_GRACE_SECONDS),
      DATA_DIR: '/tmp/photoreel',
      LOG_LEVEL: logLevel,
    };
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;

    // ------------------------------------------------------------------ consumers

    const consumerLogs = new logs.LogGroup(this, 'ConsumerLogs', { retention: logRetention });
    const consumerTask = new ecs.FargateTaskDefinition(this, 'ConsumerTask', {
      cpu: 2048,
      memoryLimitMiB: 4096,
      runtimePlatform,
      taskRole: this.consumerTaskRole,
    });
    consumerTask.addContainer('worker', {
      image,
      command: ['worker'],
      environment: { ...commonEnvironment, CONCURRENCY: String(concurrency) },
      secrets: sharedSecrets,
      logging: ecs.LogDrivers.awsLogs({ logGroup: consumerLogs, streamPrefix: 'worker' }),
      stopTimeout: Duration.seconds(STOP_TIMEOUT_SECONDS),
      // An init process as PID 1 forwards SIGTERM and reaps the ffmpeg children of killed renders.
      linuxParameters: new ecs.LinuxParameters(this, 'ConsumerLinux', { initProcessEnabled: true }),
    });

    this.consumerService = new ecs.FargateService(this, 'ConsumerService', {
      cluster,
      taskDefinition: consumerTask,
      desiredCount: desiredConsumers,
      vpcSubnets: taskSubnets,
      assignPublicIp: ownVpc,
      // New tasks start before old ones get SIGTERM; an old task's unfinished work goes back to the queue.
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { rollback: true },
      ...(props.spot ? { capacityProviderStrategies: [{ capacityProvider: 'FARGATE_SPOT', weight: 1 }] } : {}),
    });

    const scaling = this.consumerService.autoScaleTaskCount({ minCapacity: minConsumers, maxCapacity: maxConsumers });
    // Out: on the backlog (messages nobody has taken yet), sustained for two minutes so a
    // message an idle consumer picks up within seconds does not start another task.
    scaling.scaleOnMetric('ScaleOutOnBacklog', {
      metric: this.renderQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: cloudwatch.Stats.MAXIMUM }),
      adjustmentType: appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
      scalingSteps: [
        { upper: 0, change: 0 },
        { lower: 1, change: +1 },
        { lower: 5 * concurrency, change: +2 },
        { lower: 20 * concurrency, change: +5 },
      ],
      evaluationPeriods: 2,
      datapointsToAlarm: 2,
      cooldown: Duration.seconds(120),
    });
    // In: only when no render is waiting or running, so scaling in never interrupts a render
    // (SIGTERM would release it and it would start over elsewhere). Missing datapoints
    // (an idle queue publishes none for a while) count as zero.
    scaling.scaleOnMetric('ScaleInWhenIdle', {
      metric: new cloudwatch.MathExpression({
        label: 'Render messages waiting or in flight',
        expression: 'FILL(visible, 0) + FILL(inFlight, 0)',
        usingMetrics: {
          visible: this.renderQueue.metricApproximateNumberOfMessagesVisible({ statistic: cloudwatch.Stats.MAXIMUM }),
          inFlight: this.renderQueue.metricApproximateNumberOfMessagesNotVisible({ statistic: cloudwatch.Stats.MAXIMUM }),
        },
        period: Duration.minutes(1),
      }),
      adjustmentType: appscaling.AdjustmentType.PERCENT_CHANGE_IN_CAPACITY,
      scalingSteps: [
        { upper: 0, change: -100 },
        { lower: 1, change: 0 },
      ],
      evaluationPeriods: 10,
      datapointsToAlarm: 10,
      cooldown: Duration.seconds(300),
    });
    if (minConsumers === 0) {
      Annotations.of(this).addWarning('minConsumers is 0: when no render is queued no consumer runs, so webhook deliveries and retries wait for the next render.');
    }

    // ------------------------------------------------------------------ optional API service

    if (props.api) {
      const api = props.api;
      const apiTaskRole = new iam.Role(this, 'ApiTaskRole', {
        assumedBy: ecsTasksPrincipal(),
        description: 'photoreel serve (API_ONLY): accepts jobs, reads results; never renders',
        managedPolicies: [this.apiPolicy],
      });
      const apiTask = new ecs.FargateTaskDefinition(this, 'ApiTask', { cpu: 1024, memoryLimitMiB: 2048, runtimePlatform, taskRole: apiTaskRole });
      const apiKeys = secretsmanager.Secret.fromSecretCompleteArn(this, 'ApiKeys', api.apiKeysSecretArn);
      apiTask.addContainer('api', {
        image,
        command: ['serve'],
        environment: {
          ...commonEnvironment,
          API_ONLY: '1',
          HOST: '0.0.0.0',
          PORT: '8080',
          ...(api.publicBaseUrl ? { PUBLIC_BASE_URL: api.publicBaseUrl } : {}),
        },
        secrets: { ...sharedSecrets, API_KEYS: ecs.Secret.fromSecretsManager(apiKeys) },
        portMappings: [{ containerPort: 8080 }],
        logging: ecs.LogDrivers.awsLogs({ logGroup: new logs.LogGroup(this, 'ApiLogs', { retention: logRetention }), streamPrefix: 'api' }),
        stopTimeout: Duration.seconds(30),
        linuxParameters: new ecs.LinuxParameters(this, 'ApiLinux', { initProcessEnabled: true }),
      });
      const certificate = api.certificateArn ? acm.Certificate.fromCertificateArn(this, 'ApiCertificate', api.certificateArn) : undefined;
      this.apiService = new ecsPatterns.ApplicationLoadBalancedFargateService(this, 'Api', {
        cluster,
        taskDefinition: apiTask,
        desiredCount: wholeNumber('api.desiredCount', api.desiredCount ?? 2, 1),
        publicLoadBalancer: true,
        taskSubnets,
        assignPublicIp: ownVpc,
        minHealthyPercent: 100,
        circuitBreaker: { rollback: true },
        ...(certificate
          ? { protocol: elbv2.ApplicationProtocol.HTTPS, certificate, redirectHTTP: true }
          : {}),
      });
      this.apiService.targetGroup.configureHealthCheck({ path: '/healthz', healthyHttpCodes: '200' });
      new CfnOutput(this, 'ApiUrl', {
        value: `${certificate ? 'https' : 'http'}://${this.apiService.loadBalancer.loadBalancerDnsName}`,
        description: 'The API behind the ALB',
      });
    }

    // ------------------------------------------------------------------ outputs

    new CfnOutput(this, 'BucketName', { value: this.bucket.bucketName, description: 'S3_BUCKET' });
    new CfnOutput(this, 'RenderQueueUrl', { value: this.renderQueue.queueUrl, description: 'SQS_QUEUE_URL' });
    new CfnOutput(this, 'DeadLetterQueueUrl', { value: this.deadLetterQueue.queueUrl, description: 'SQS_DLQ_URL' });
    new CfnOutput(this, 'WebhookQueueUrl', { value: this.webhookQueue.queueUrl, description: 'SQS_WEBHOOK_QUEUE_URL' });
    new CfnOutput(this, 'ClusterName', { value: cluster.clusterName });
    new CfnOutput(this, 'ConsumerServiceName', { value: this.consumerService.serviceName });
    new CfnOutput(this, 'ApiPolicyArn', { value: this.apiPolicy.managedPolicyArn, description: 'Managed policy with the API permissions' });
  }

  private containerImage(image: string | ecs.ContainerImage): ecs.ContainerImage {
    if (typeof image !== 'string') return image;
    const m = ECR_IMAGE.exec(image);
    if (!m) return ecs.ContainerImage.fromRegistry(image);
    // An ECR image: through the repository, so the execution role gets pull rights on that repository only.
    const [, account, region, name, tag, digest] = m;
    const repository = ecr.Repository.fromRepositoryAttributes(this, 'ImageRepository', {
      repositoryName: name!,
      repositoryArn: `arn:${image.includes('.amazonaws.com.cn/') ? 'aws-cn' : 'aws'}:ecr:${region}:${account}:repository/${name}`,
    });
    return ecs.ContainerImage.fromEcrRepository(repository, digest ?? tag ?? 'latest');
  }
}

/** ECS tasks of this account and region only (the confused-deputy guard AWS recommends for task roles). */
function ecsTasksPrincipal(): iam.IPrincipal {
  return new iam.ServicePrincipal('ecs-tasks.amazonaws.com', {
    conditions: {
      ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:ecs:${Aws.REGION}:${Aws.ACCOUNT_ID}:*` },
      StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
    },
  });
}

function wholeNumber(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) throw new Error(`${name}: expected a whole number >= ${min}, got ${value}`);
  return value;
}
