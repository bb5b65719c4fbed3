import { z } from '@hono/zod-openapi';
import { ASPECTS, FITS, FPS_VALUES, PlanSchema, RESOLUTIONS, TRANSITIONS } from './plan.js';

/** What a client sends to POST /v1/jobs (and POST /v1/plans later). */

export const MAX_IMAGES = 100;
export const MAX_PROMPT_CHARS = 2000;
export const MAX_METADATA_BYTES = 4096;

const HttpUrl = z.string().max(4096).url().refine((u) => /^https?:\/\//i.test(u), { message: 'must be an http or https URL' });

export const ImageInputSchema = z
  .union([HttpUrl, z.object({ url: HttpUrl }).strict()])
  .transform((v) => (typeof v === 'string' ? { url: v } : v))
  .openapi('ImageInput', {
    description: 'A photo to fetch: `{ "url": "https://..." }` or the bare URL string.',
    example: { url: 'https://example.com/shoe-1.jpg' },
  });
export type ImageInput = { url: string };

export const JobOptionsSchema = z
  .object({
    aspect: z.enum(ASPECTS).optional(),
    resolution: z.enum(RESOLUTIONS).optional(),
    fps: z.union(FPS_VALUES.map((n) => z.literal(n)) as unknown as [z.ZodLiteral<24>, z.ZodLiteral<25>, z.ZodLiteral<30>, z.ZodLiteral<60>]).optional(),
    secondsPerImage: z.number().min(0.5).max(30).optional(),
    transition: z
      .object({
        type: z.enum([...TRANSITIONS, 'crossfade', 'none']).optional(),
        duration: z.number().min(0).max(5).optional().openapi({ description: 'Seconds.' }),
      })
      .strict()
      .optional(),
    motion: z.enum(['kenburns', 'none']).optional(),
    fit: z.enum(FITS).optional(),
  })
  .strict()
  .openapi('JobOptions');
export type JobOptions = z.infer<typeof JobOptionsSchema>;

export const MetadataSchema = z
  .record(z.string(), z.unknown())
  .refine((m) => Buffer.byteLength(JSON.stringify(m)) <= MAX_METADATA_BYTES, { message: `must be at most ${MAX_METADATA_BYTES} bytes as JSON` })
  .openapi('Metadata', { description: 'Your own data, echoed back on the job and in webhooks (at most 4 KB as JSON).' });

export const WebhookTargetSchema = z.object({ url: HttpUrl }).strict().openapi('WebhookTarget');

export const JobRequestSchema = z
  .object({
    images: z.array(ImageInputSchema).min(1).max(MAX_IMAGES),
    prompt: z.string().max(MAX_PROMPT_CHARS).optional(),
    options: JobOptionsSchema.optional(),
    webhook: WebhookTargetSchema.optional(),
    metadata: MetadataSchema.optional(),
  })
  .strict()
  .openapi('JobRequest');
export type JobRequest = z.output<typeof JobRequestSchema>;

export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'canceled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const FINAL_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'canceled'];
export const isFinal = (s: JobStatus) => FINAL_STATUSES.includes(s);

export const JOB_STAGES = ['queued', 'fetching', 'planning', 'rendering', 'publishing', 'done'] as const;
export type JobStage = (typeof JOB_STAGES)[number];

export const VideoResultSchema = z.object({
  url: z.string(),
  bytes: z.number().int(),
  width: z.number().int(),
  height: z.number().int(),
  fps: z.number(),
  durationMs: z.number().int(),
  codec: z.string(),
}).openapi('VideoResult');

export const JobErrorSchema = z.object({
  code: z.string(),
  message: z.string(),
  retryable: z.boolean(),
}).openapi('JobError');

export const WebhookAttemptSchema = z.object({
  eventId: z.string(),
  type: z.string(),
  attempt: z.number().int(),
  at: z.string(),
  ok: z.boolean(),
  status: z.number().int().nullable(),
  error: z.string().nullable(),
  durationMs: z.number().int(),
  nextAttemptAt: z.string().nullable(),
}).openapi('WebhookAttempt');
export type WebhookAttempt = z.infer<typeof WebhookAttemptSchema>;

/** The job as stored. `tenant` and `storage keys` never leave the service. */
export interface JobRecord {
  id: string;
  tenant: string;
  status: JobStatus;
  stage: JobStage;
  progress: number;
  createdAt: string;
  updatedAt: string;
  engine: 'local';
  request: JobRequest;
  plan: z.infer<typeof PlanSchema> | null;
  result: {
    video: Omit<z.infer<typeof VideoResultSchema>, 'url'> & { key: string };
    poster: { key: string };
  } | null;
  error: z.infer<typeof JobErrorSchema> | null;
  /** Times a consumer started this job (redeliveries after a crash count). */
  attempts: number;
  webhookAttempts: WebhookAttempt[];
  /** Set once the final event's webhook is queued, so a redelivered message doesn't queue it twice. */
  webhookQueuedAt: string | null;
}

export const JobSchema = z.object({
  id: z.string().openapi({ example: 'job_01jdx5v6m8q3c2r1t0e9w8y7x6' }),
  status: z.enum(JOB_STATUSES),
  stage: z.enum(JOB_STAGES),
  progress: z.number().min(0).max(1),
  createdAt: z.string(),
  updatedAt: z.string(),
  engine: z.literal('local'),
  images: z.array(z.object({ url: z.string() })),
  prompt: z.string().nullable(),
  options: JobOptionsSchema.nullable(),
  webhook: z.object({ url: z.string() }).nullable(),
  plan: PlanSchema.nullable(),
  result: z.object({
    video: VideoResultSchema,
    poster: z.object({ url: z.string() }),
  }).nullable(),
  error: JobErrorSchema.nullable(),
  metadata: z.record(z.string(), z.unknown()).nullable(),
  webhookAttempts: z.array(WebhookAttemptSchema),
}).openapi('Job');
export type JobView = z.infer<typeof JobSchema>;

/**
 * The public view of a job. URLs are made absolute by the caller-supplied `resolveUrl`
 * (embedded mode: the API's own origin; S3 mode: presigned or public URLs).
 */
export function toJobView(job: JobRecord, resolveUrl: (key: string) => string): JobView {
  return {
    id: job.id,
    status: job.status,
    stage: job.stage,
    progress: job.progress,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    engine: job.engine,
    images: job.request.images,
    prompt: job.request.prompt ?? null,
    options: job.request.options ?? null,
    webhook: job.request.webhook ?? null,
    plan: job.plan,
    result: job.result
      ? {
          video: { ...withoutKey(job.result.video), url: resolveUrl(job.result.video.key) },
          poster: { url: resolveUrl(job.result.poster.key) },
        }
      : null,
    error: job.error,
    metadata: job.request.metadata ?? null,
    webhookAttempts: job.webhookAttempts,
  };
}

function withoutKey<T extends { key: string }>(v: T): Omit<T, 'key'> {
  const { key: _key, ...rest } = v;
  return rest;
}
