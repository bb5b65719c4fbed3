import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { parseInlineKeys, parseKeysFile, TENANT_PATTERN, type ApiKeyEntry } from './core/api-keys.js';

/**
 * Every setting, read once from the environment and parsed with zod. The entry point
 * calls loadConfig() and hands the result down; nothing else reads process.env.
 * The README's configuration table documents each of these.
 */

const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);
/** Empty strings (as env files write them) count as unset. */
const optionalString = <T extends z.ZodType>(t: T) => z.preprocess((v) => (v === '' ? undefined : v), t.optional());
const list = z
  .string()
  .default('')
  .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean));

/**
 * Default CRF of the local engine. 20.5 rather than x264's customary 20: the lighter motion
 * search of the fast presets (engines/local/x264-settings.ts) costs ~3 % in size at equal CRF,
 * and the half step takes back ~12 %, for an SSIM 0.002-0.004 lower against the lossless frames
 * (W2's first 383 frames: 4.82 MB / 0.9616 with veryfast at 20, 4.18 MB / 0.9578 with the
 * tuning at 20.5). What the user sees is measured by `npm run bench` against a reference
 * render, where our frames' accuracy dominates: the README's Performance.
 */
export const DEFAULT_X264_CRF = 20.5;

export const ConfigSchema = z.object({
  PORT: int(8080).pipe(z.number().max(65535)),
  HOST: z.string().default('127.0.0.1'),
  /** Absolute origin used in result URLs; defaults to http://HOST:PORT. */
  PUBLIC_BASE_URL: z.string().url().optional(),
  DATA_DIR: z.string().default('./data'),
  WEBHOOK_SECRET: z.string().regex(/^whsec_[A-Za-z0-9+/=]{16,}$/, 'must be a Standard Webhooks secret: whsec_ followed by base64').optional(),
  /** Comma-separated host:port pairs exempt from the private-network block (tests serve images on loopback). */
  FETCH_ALLOW_HOSTS: list,
  CONCURRENCY: int(1, 1),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  FETCH_CONNECT_TIMEOUT_MS: int(10_000, 1),
  FETCH_IDLE_TIMEOUT_MS: int(30_000, 1),
  FETCH_TOTAL_TIMEOUT_MS: int(300_000, 1),
  MAX_IMAGE_BYTES: int(200 * 1024 * 1024, 1),
  MAX_IMAGE_PIXELS: int(100_000_000, 1),
  /** Per music file (the request's `music`); enforced while streaming, like MAX_IMAGE_BYTES. */
  MAX_MUSIC_BYTES: int(50 * 1024 * 1024, 1),

  /** Receives before a message is dead-lettered (its job then fails). */
  QUEUE_MAX_RECEIVES: int(5, 1),
  /** Visibility timeout; a running job's heartbeat extends it every third of this. */
  QUEUE_VISIBILITY_SECONDS: int(60, 3),

  /** Webhook retry delays in seconds after the first attempt (Standard Webhooks' suggested schedule). */
  WEBHOOK_RETRY_SCHEDULE: z
    .string()
    .default('5,300,1800,7200,18000,36000,36000')
    .transform((s) => s.split(',').map((x) => Number(x.trim())))
    .pipe(z.array(z.number().min(0)).min(0)),
  WEBHOOK_TIMEOUT_MS: int(10_000, 1),

  /** How long download URLs in job results stay valid. */
  FILE_URL_TTL_SECONDS: int(7 * 24 * 3600, 60),
  /** How long a SIGTERM waits for running renders before releasing them back to the queue. */
  SHUTDOWN_GRACE_SECONDS: int(30, 0),

  FFMPEG_PATH: z.string().default('ffmpeg'),
  FFPROBE_PATH: z.string().default('ffprobe'),
  /** libx264 preset for the local engine (ultrafast is excluded: it cannot produce the High profile we promise). */
  X264_PRESET: z.enum(['superfast', 'veryfast', 'faster', 'fast', 'medium', 'slow']).default('veryfast'),
  /** Constant rate factor, 0-51, fractions allowed (DEFAULT_X264_CRF above says why 20.5). */
  X264_CRF: z.coerce.number().min(0).max(51).default(DEFAULT_X264_CRF),
  /**
   * x264 options after the preset, `key=value` pairs joined by `:`. Unset: the fast presets get
   * a lighter motion search (engines/local/x264-settings.ts: FAST_PRESET_TUNING); empty: the preset as it is.
   */
  X264_PARAMS: z
    .string()
    .regex(/^([a-z0-9-]+=[A-Za-z0-9.,+-]+(:[a-z0-9-]+=[A-Za-z0-9.,+-]+)*)?$/, 'x264 options as key=value pairs joined by ":"')
    .optional(),

  /** Default engine for jobs that do not name one. `nemo` needs NEMO_BASE_URL. */
  ENGINE: z.enum(['local', 'nemo']).default('local'),
  /** The hosted Nemo agent (engine `nemo`); the engine exists only when this is set. Operator-configured, so not subject to the SSRF policy. */
  NEMO_BASE_URL: z.string().url().optional(),
  /** A fixed Nemo token; without it an anonymous token is obtained (and renewed) automatically. */
  NEMO_TOKEN: z.string().min(1).optional(),
  /** X-Skill-Platform attribution header. */
  NEMO_PLATFORM: z.enum(['clawhub', 'cursor', 'unknown']).default('unknown'),
  /** Export status polling interval. */
  NEMO_POLL_INTERVAL_MS: int(30_000, 1),
  /** Longest wait for an export to complete before the attempt is retried (it resumes the same render). */
  NEMO_RENDER_TIMEOUT_MS: int(600_000, 1),
  /** Wait after an HTTP 429 without Retry-After. */
  NEMO_RATE_LIMIT_WAIT_MS: int(30_000, 0),
  /** First backoff after a 5xx or a dropped connection (doubles, 3 retries). */
  NEMO_RETRY_BASE_MS: int(1_000, 0),
  /** Longest a /run_sse stream may stay open. */
  NEMO_STREAM_TIMEOUT_MS: int(15 * 60_000, 1),
  /** Timeout of every other Nemo request (connect to last byte); downloads get 10x. */
  NEMO_REQUEST_TIMEOUT_MS: int(60_000, 1),

  /** Optional language-model planner (OpenAI-compatible chat completions); off unless the URL is set. Operator-configured, so not subject to the SSRF policy. */
  LLM_PLANNER_URL: z.preprocess((v) => (v === '' ? undefined : v), z.string().url().refine((u) => /^https?:\/\//i.test(u), { message: 'must be an http or https URL' }).optional()),
  LLM_PLANNER_MODEL: z.string().min(1).default('gpt-4o-mini'),
  /** Sent as a bearer token; never logged. */
  LLM_PLANNER_API_KEY: z.preprocess((v) => (v === '' ? undefined : v), z.string().optional()),
  LLM_PLANNER_TIMEOUT_MS: int(8000, 1),

  /** Tenants and their keys, inline: `tenantA:key1,tenantA:key2,tenantB:key3`. */
  API_KEYS: z.preprocess((v) => (v === '' ? undefined : v), z.string().optional()),
  /** A file of `tenant:sha256hex` lines (keys stored hashed). Combined with API_KEYS when both are set. */
  API_KEYS_FILE: z.preprocess((v) => (v === '' ? undefined : v), z.string().optional()),
  /** 1: allow listening on a non-loopback address without API keys (anyone who can connect is tenant "default"). */
  ALLOW_UNAUTHENTICATED: z.enum(['0', '1', 'true', 'false', '']).default('0').transform((v) => v === '1' || v === 'true'),
  /** Per-tenant webhook secrets, `tenantA:whsec_new|whsec_old,tenantB:whsec_x`: the first signs, all listed sign (rotation). */
  WEBHOOK_SECRETS: z.preprocess((v) => (v === '' ? undefined : v), z.string().optional()),
  /** Job submissions per tenant per minute (token bucket, burst = this); 0: unlimited. */
  RATE_LIMIT_JOBS_PER_MINUTE: int(600, 0),
  /** Queued plus running jobs a tenant may have at once; 0: unlimited. */
  MAX_QUEUED_JOBS_PER_TENANT: int(1000, 0),
  /** Longest video a job may ask for (checked on the plan at submission). */
  MAX_JOB_DURATION_SECONDS: int(600, 1),
  /** Sum of the photos' pixels in one job (checked after the photos are fetched). */
  MAX_JOB_PIXELS: int(1_000_000_000, 1),
  /** Where render and webhook messages wait: `sqlite` (embedded, in DATA_DIR) or `sqs` (Amazon SQS or a compatible service). */
  QUEUE: z.enum(['sqlite', 'sqs']).default('sqlite'),
  /** The render queue. Its redrive policy (maxReceiveCount) should match QUEUE_MAX_RECEIVES. */
  SQS_QUEUE_URL: optionalString(z.string().url()),
  /** The render queue's dead-letter queue: consumers fail the jobs of the messages SQS moves there. */
  SQS_DLQ_URL: optionalString(z.string().url()),
  /** Webhook deliveries (no redrive: retries follow WEBHOOK_RETRY_SCHEDULE). */
  SQS_WEBHOOK_QUEUE_URL: optionalString(z.string().url()),
  /** An SQS-compatible endpoint (emulators, other clouds); unset: AWS's own for AWS_REGION. */
  SQS_ENDPOINT: optionalString(z.string().url()),
  /** Where job records, uploads, videos and posters live: `fs` (embedded, DATA_DIR/objects and SQLite) or `s3`. */
  STORAGE: z.enum(['fs', 's3']).default('fs'),
  S3_BUCKET: optionalString(z.string().min(3)),
  /** An S3-compatible endpoint (MinIO, R2, emulators); unset: AWS's own for AWS_REGION. */
  S3_ENDPOINT: optionalString(z.string().url()),
  /** 1: path-style URLs (http://host/bucket/key), which most S3-compatible stores need. */
  S3_FORCE_PATH_STYLE: z.enum(['0', '1', 'true', 'false', '']).default('0').transform((v) => v === '1' || v === 'true'),
  /** Prefix for every key this service writes, e.g. `photoreel/` to share a bucket. */
  S3_PREFIX: z.string().regex(/^([A-Za-z0-9!_.*'()-]+\/)*$/, 'must be empty or end with "/" (e.g. photoreel/)').default(''),
  /** Result URLs become `${S3_PUBLIC_BASE_URL}/${key}` instead of presigned URLs (a CDN or a public bucket). */
  S3_PUBLIC_BASE_URL: optionalString(z.string().url()),
  /** 1: `photoreel serve` runs the API only and leaves renders to `photoreel worker` processes (scale-out). */
  API_ONLY: z.enum(['0', '1', 'true', 'false', '']).default('0').transform((v) => v === '1' || v === 'true'),
  /** The AWS region of the queue and bucket. On Node, credentials come from the AWS SDK's default chain (env, profile, instance/task role); the Workers entry passes AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY explicitly. */
  AWS_REGION: z.string().default('us-east-1'),
  /** When set, GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>`. */
  METRICS_TOKEN: z.preprocess((v) => (v === '' ? undefined : v), z.string().min(8).optional()),
});

export type Config = z.infer<typeof ConfigSchema> & {
  /** Absolute DATA_DIR. */
  dataDir: string;
  publicBaseUrl: string;
  /** From API_KEYS and API_KEYS_FILE; empty: no authentication (single tenant "default"). */
  apiKeys: ApiKeyEntry[];
  /** From WEBHOOK_SECRETS: tenant -> secrets, the newest first. */
  webhookSecrets: Record<string, string[]>;
};

export class ConfigError extends Error {}

/**
 * Settings the scale-out adapters need together. Several processes then share one queue
 * and one bucket, so anything one of them would otherwise generate into its own DATA_DIR
 * (the webhook signing secret) must be given.
 */
function scaleOutProblems(c: z.infer<typeof ConfigSchema>): string[] {
  const problems: string[] = [];
  if (c.QUEUE === 'sqs') {
    if (!c.SQS_QUEUE_URL) problems.push('SQS_QUEUE_URL: required with QUEUE=sqs');
    if (!c.SQS_WEBHOOK_QUEUE_URL) problems.push('SQS_WEBHOOK_QUEUE_URL: required with QUEUE=sqs (webhook deliveries have their own queue)');
  }
  if (c.STORAGE === 's3' && !c.S3_BUCKET) problems.push('S3_BUCKET: required with STORAGE=s3');
  // SQLite holds both the queue and the job records, and lives on one machine: mixing it with
  // the shared adapters would give each process its own job records.
  if (c.QUEUE === 'sqs' && c.STORAGE !== 's3') problems.push('STORAGE: QUEUE=sqs needs STORAGE=s3 (job records must be shared by every consumer)');
  if (c.STORAGE === 's3' && c.QUEUE !== 'sqs') problems.push('QUEUE: STORAGE=s3 needs QUEUE=sqs (the SQLite queue is local to one machine)');
  if (c.QUEUE === 'sqs' && !c.WEBHOOK_SECRET) problems.push('WEBHOOK_SECRET: required in scale-out mode, so every process signs webhooks with the same secret');
  return problems;
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  const scaleOut = scaleOutProblems(c);
  if (scaleOut.length > 0) throw new ConfigError(`Invalid configuration:\n${scaleOut.map((p) => `  ${p}`).join('\n')}`);
  if (c.ENGINE === 'nemo' && !c.NEMO_BASE_URL) throw new ConfigError('Invalid configuration:\n  ENGINE: "nemo" needs NEMO_BASE_URL');
  let apiKeys: ApiKeyEntry[];
  let webhookSecrets: Record<string, string[]>;
  try {
    apiKeys = [
      ...(c.API_KEYS ? parseInlineKeys(c.API_KEYS) : []),
      ...(c.API_KEYS_FILE ? parseKeysFile(readKeysFile(c.API_KEYS_FILE)) : []),
    ];
    webhookSecrets = c.WEBHOOK_SECRETS ? parseWebhookSecrets(c.WEBHOOK_SECRETS) : {};
  } catch (err) {
    throw new ConfigError(`Invalid configuration:\n  ${(err as Error).message}`);
  }
  if ((c.API_KEYS || c.API_KEYS_FILE) && apiKeys.length === 0) throw new ConfigError('Invalid configuration:\n  API_KEYS / API_KEYS_FILE: no keys found');
  const hostForUrl = c.HOST === '0.0.0.0' || c.HOST === '::' ? '127.0.0.1' : c.HOST.includes(':') ? `[${c.HOST}]` : c.HOST;
  return {
    ...c,
    dataDir: path.resolve(c.DATA_DIR),
    publicBaseUrl: (c.PUBLIC_BASE_URL ?? `http://${hostForUrl}:${c.PORT}`).replace(/\/+$/, ''),
    apiKeys,
    webhookSecrets,
  };
}

function readKeysFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`API_KEYS_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

const WEBHOOK_SECRET_PATTERN = /^whsec_[A-Za-z0-9+/=]{16,}$/;

/** `tenantA:whsec_new|whsec_old,tenantB:whsec_x` -> { tenantA: [new, old], tenantB: [x] }. */
export function parseWebhookSecrets(text: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [i, entry] of text.split(',').map((e) => e.trim()).filter(Boolean).entries()) {
    const at = entry.indexOf(':');
    const tenant = at > 0 ? entry.slice(0, at) : '';
    const secrets = entry.slice(at + 1).split('|').map((x) => x.trim()).filter(Boolean);
    if (!TENANT_PATTERN.test(tenant) || secrets.length === 0 || !secrets.every((x) => WEBHOOK_SECRET_PATTERN.test(x))) {
      throw new Error(`WEBHOOK_SECRETS entry ${i + 1}: expected "tenant:whsec_...|whsec_..." (Standard Webhooks secrets, the signing one first)`);
    }
    out[tenant] = secrets;
  }
  return out;
}

const LOOPBACK_HOSTS = new Set(['localhost', '::1', '[::1]']);
export const isLoopbackHost = (host: string) => LOOPBACK_HOSTS.has(host.toLowerCase()) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);

/**
 * Without API keys anyone who can connect is the tenant "default": fine on loopback,
 * refused on any other address unless ALLOW_UNAUTHENTICATED=1 says it is intended.
 */
export function assertSafeToListen(c: Config): void {
  if (c.apiKeys.length > 0 || c.ALLOW_UNAUTHENTICATED || isLoopbackHost(c.HOST)) return;
  throw new ConfigError(
    `Refusing to listen on ${c.HOST} without authentication: set API_KEYS (tenant:key,...) or API_KEYS_FILE so /v1 routes need ` +
      `"Authorization: Bearer <key>", or set ALLOW_UNAUTHENTICATED=1 to serve this address without keys.`,
  );
}
