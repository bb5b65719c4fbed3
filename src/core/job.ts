import { z } from '@hono/zod-openapi';
import { ASPECTS, FITS, FPS_VALUES, PlanSchema, RESOLUTIONS, TRANSITIONS } from './plan.js';

/** What a client sends to POST /v1/jobs (and POST /v1/plans later). */

export const MAX_IMAGES = 100;
export const MAX_PROMPT_CHARS = 2000;
export const MAX_METADATA_BYTES = 4096;

const HttpUrl = z.string().max(4096).url().refine((u) => /^https?:\/\//i.test(u), { message: 'must be an http or https URL' });

/** Ids of files sent to POST /v1/uploads. */
export const UPLOAD_ID_PATTERN = /^upl_[0-9a-z]{26}$/;
const UploadId = z.string().regex(UPLOAD_ID_PATTERN, { message: 'must be an upload id from POST /v1/uploads (upl_...)' });

/**
 * One object with exactly one of `url` / `upload` (rather than a union of two objects, so a
 * mistake is reported at the field itself: `images[1].url`, `images[2].upload`).
 */
const ImageObjectSchema = z
  .object({
    url: HttpUrl.optional().openapi({ description: 'An http(s) URL the service fetches the photo from.' }),
    upload: UploadId.optional().openapi({ description: 'The `id` of a file sent to `POST /v1/uploads` by the same tenant.' }),
  })
  .strict()
  .refine((o) => (o.url === undefined) !== (o.upload === undefined), { message: 'give exactly one of "url" or "upload"' })
  .openapi({ minProperties: 1, maxProperties: 1 });

export const ImageInputSchema = z
  .union([HttpUrl, ImageObjectSchema])
  .transform((v): ImageInput => (typeof v === 'string' ? { url: v } : v.url !== undefined ? { url: v.url } : { upload: v.upload! }))
  .openapi('ImageInput', {
    description:
      'A photo: `{ "url": "https://..." }` (or the bare URL string) to fetch, or `{ "upload": "upl_..." }` for a file sent to `POST /v1/uploads`.',
    example: { url: 'https://example.com/shoe-1.jpg' },
  });
export type ImageInput = { url: string } | { upload: string };

/** What an image is called in plans and messages: its URL, or `upload:<id>`. */
export function imageSource(img: ImageInput): string {
  return 'url' in img ? img.url : `upload:${img.upload}`;
}

/** Defaults of the request's `music` settings (the prompt's words sit between these and explicit fields). */
export const MUSIC_DEFAULTS = { volume: 1, fadeInMs: 1000, fadeOutMs: 1500, loudnessLufs: -14 } as const;

/**
 * Background music. Like an image, one object with exactly one of `url` / `upload`, so a
 * mistake is reported at the field itself (`music.url`).
 */
export const MusicInputSchema = z
  .object({
    url: HttpUrl.optional().openapi({ description: 'An http(s) URL the service fetches the music from (MP3, WAV, M4A/MP4 audio, AAC).' }),
    upload: UploadId.optional().openapi({ description: 'The `id` of an audio file sent to `POST /v1/uploads` by the same tenant.' }),
    volume: z.number().min(0).max(2).optional().openapi({
      description: `Gain applied after loudness normalisation: 1 (default) plays at \`loudnessLufs\`, 0.5 about 6 dB under it, 2 about 6 dB over it (a limiter keeps peaks under -1 dBTP). Wins over the prompt ("music at 35%", "quiet music").`,
    }),
    fadeInMs: z.number().int().min(0).max(60_000).optional().openapi({ description: `Fade-in length in milliseconds (default ${MUSIC_DEFAULTS.fadeInMs}; the prompt's "fade in" when not given).` }),
    fadeOutMs: z.number().int().min(0).max(60_000).optional().openapi({ description: `Fade-out length in milliseconds, ending with the video (default ${MUSIC_DEFAULTS.fadeOutMs}).` }),
    loudnessLufs: z.number().min(-30).max(-5).optional().openapi({ description: `Integrated loudness target (EBU R128, LUFS) at volume 1; default ${MUSIC_DEFAULTS.loudnessLufs}.` }),
  })
  .strict()
  .refine((o) => (o.url === undefined) !== (o.upload === undefined), { message: 'give exactly one of "url" or "upload"' })
  .openapi('MusicInput', {
    description:
      'Background music: trimmed or looped to the video\'s length, faded in and out, loudness-normalised (EBU R128) and mixed in as AAC. Without it the MP4 has no audio track.',
    example: { url: 'https://example.com/track.mp3', volume: 0.8 },
  });
export type MusicInput = z.output<typeof MusicInputSchema>;

/** What music is called in plans and messages: its URL, or `upload:<id>`. */
export function musicSource(m: MusicInput): string {
  return m.url !== undefined ? m.url : `upload:${m.upload}`;
}

/** Formats of the optional animated preview (`options.preview`). */
export const PREVIEW_FORMATS = ['webp', 'gif'] as const;
export type PreviewFormat = (typeof PREVIEW_FORMATS)[number];
/** A preview is never larger than this (2 MB, counted in decimal bytes). */
export const PREVIEW_MAX_BYTES = 2_000_000;

export const JobOptionsSchema = z
  .object({
    aspect: z.enum(ASPECTS).optional(),
    resolution: z.enum(RESOLUTIONS).optional().openapi({
      description: '`1080p` (default), `720p`, or `2160p` (4K UHD: 3840x2160 at 16:9; opt-in only, never a default; `local` engine only: on `nemo` the job is a 400 `validation_error` naming `options.resolution`).',
    }),
    fps: z.union(FPS_VALUES.map((n) => z.literal(n)) as unknown as [z.ZodLiteral<24>, z.ZodLiteral<25>, z.ZodLiteral<30>, z.ZodLiteral<60>]).optional(),
    secondsPerImage: z.number().min(0.5).max(30).optional(),
    transition: z
      .object({
        type: z.enum([...TRANSITIONS, 'crossfade', 'none', 'random', 'mixed']).optional().openapi({
          description: 'A transition by name (`crossfade` = `fade`, `none` = `cut`), or `random` (alias `mixed`): a different transition between each pair of photos, picked by `seed`, no two in a row alike and every one of the pool used before any repeats.',
        }),
        duration: z.number().min(0).max(5).optional().openapi({ description: 'Seconds.' }),
      })
      .strict()
      .optional(),
    motion: z.enum(['kenburns', 'none']).optional(),
    fit: z.enum(FITS).optional(),
    seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional().openapi({
      description: 'Seeds the plan\'s random choices: `random` transitions and a prompt\'s "shuffle" order. The same seed gives the same picks. Default: derived from the photos and the prompt, so the same request always renders the same video (`plan.notes` shows the seed used).',
      example: 42,
    }),
    endCard: z.boolean().optional().openapi({
      description: 'true: the call to action (the prompt\'s quoted CTA text) gets its own end card after the last photo (the photo blurred and dimmed behind the text) instead of sitting over the photo. The prompt\'s "end card" / 片尾卡 does the same.',
    }),
    skipBadImages: z.boolean().optional().openapi({
      description: 'true: a photo that cannot be used is left out (a warning on the job says why) instead of failing the job; the job fails only if no photo is left.',
    }),
    preview: z.enum(PREVIEW_FORMATS).optional().openapi({
      description:
        'Also make a short looping animated preview of the finished video, published as `result.preview`: `webp` (animated WebP: smaller and sharper) or `gif` (plays everywhere). ' +
        'At most 2 MB; 480 px on the long side, 10 fps, at most 6 s: the whole video when it is that short, else four evenly spaced 1.5 s excerpts. ' +
        'When a preview within 2 MB cannot be made, smaller settings are tried (down to 240 px at 6 fps); if none fits, the job still succeeds with its video and a `preview_too_large` warning and no `result.preview`. ' +
        'Default: no preview.',
      example: 'webp',
    }),
  })
  .strict()
  .openapi('JobOptions');
export type JobOptions = z.infer<typeof JobOptionsSchema>;

export const MetadataSchema = z
  .record(z.string(), z.unknown())
  .refine((m) => Buffer.byteLength(JSON.stringify(m)) <= MAX_METADATA_BYTES, { message: `must be at most ${MAX_METADATA_BYTES} bytes as JSON` })
  .openapi('Metadata', { description: 'Your own data, echoed back on the job and in webhooks (at most 4 KB as JSON).' });

export const WebhookTargetSchema = z.object({ url: HttpUrl }).strict().openapi('WebhookTarget');

/** Engine names a job may ask for (`GET /v1/engines` says which are configured). */
export const ENGINES = ['local', 'nemo'] as const;
export type EngineName = (typeof ENGINES)[number];

export const JobRequestSchema = z
  .object({
    images: z.array(ImageInputSchema).min(1).max(MAX_IMAGES),
    prompt: z.string().max(MAX_PROMPT_CHARS).optional(),
    options: JobOptionsSchema.optional(),
    webhook: WebhookTargetSchema.optional(),
    metadata: MetadataSchema.optional(),
    music: MusicInputSchema.optional(),
    engine: z.enum(ENGINES).optional().openapi({
      description: 'The engine that renders the job: `local` (ours) or `nemo` (the hosted Nemo agent, when configured). Default: the server\'s `ENGINE`. `GET /v1/engines` lists those available.',
    }),
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

export const PreviewResultSchema = z.object({
  url: z.string(),
  format: z.enum(PREVIEW_FORMATS),
  bytes: z.number().int().openapi({ description: `File size; at most ${PREVIEW_MAX_BYTES}.` }),
  width: z.number().int(),
  height: z.number().int(),
  frames: z.number().int().openapi({ description: 'Frames stored in the animation (it loops forever). A still stretch may be stored once with a longer delay, so this can be below `fps` x `durationMs`.' }),
  fps: z.number().openapi({ description: 'Frames per second it was made at.' }),
  durationMs: z.number().int().openapi({ description: 'One loop, as the file\'s frame delays add up.' }),
}).openapi('PreviewResult', { description: 'The animated preview asked for with `options.preview`; absent when none was asked for or it could not be made (then a warning says why).' });

export const JobErrorSchema = z.object({
  code: z.string(),
  message: z.string(),
  retryable: z.boolean(),
}).openapi('JobError');

export const JobWarningSchema = z.object({
  code: z.string().openapi({ example: 'image_corrupt' }),
  message: z.string().openapi({ example: 'images[2]: the JPEG image could not be decoded (damaged or truncated)' }),
  index: z.number().int().min(0).optional().openapi({ description: 'Position of the photo in the request\'s `images` (warnings about a photo only).' }),
}).openapi('JobWarning', {
  description:
    'Something the job did without, and why: a photo left out with `options.skipBadImages` (with its `index`), or the animated preview of `options.preview` (`preview_too_large`, `preview_failed`; no `index`: the video itself is fine).',
});
export type JobWarning = z.infer<typeof JobWarningSchema>;
/** A warning about one photo of the request (always has its `index`). */
export type PhotoWarning = JobWarning & { index: number };

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
  engine: EngineName;
  request: JobRequest;
  plan: z.infer<typeof PlanSchema> | null;
  result: {
    video: Omit<z.infer<typeof VideoResultSchema>, 'url'> & { key: string };
    poster: { key: string };
    /** Only when `options.preview` asked for one and it was made (absent on older records). */
    preview?: Omit<z.infer<typeof PreviewResultSchema>, 'url'> & { key: string };
  } | null;
  error: z.infer<typeof JobErrorSchema> | null;
  /** Photos left out under `options.skipBadImages`, a preview not made (absent on records from before warnings existed). */
  warnings?: JobWarning[];
  /** Times a consumer started this job (redeliveries after a crash count). */
  attempts: number;
  webhookAttempts: WebhookAttempt[];
  /** Set once the final event's webhook is queued, so a redelivered message doesn't queue it twice. */
  webhookQueuedAt: string | null;
  /**
   * An engine's resume state (e.g. nemo's session and render ids), so a redelivered job does not
   * pay twice. Internal: never in the public view or webhooks, never holds tokens. Absent on older records.
   */
  engineState?: Record<string, unknown> | null;
}

export const JobSchema = z.object({
  id: z.string().openapi({ example: 'job_01jdx5v6m8q3c2r1t0e9w8y7x6' }),
  status: z.enum(JOB_STATUSES),
  stage: z.enum(JOB_STAGES),
  progress: z.number().min(0).max(1),
  createdAt: z.string(),
  updatedAt: z.string(),
  engine: z.enum(ENGINES),
  images: z.array(z.union([z.object({ url: z.string() }), z.object({ upload: z.string() })])),
  prompt: z.string().nullable(),
  options: JobOptionsSchema.nullable(),
  music: MusicInputSchema.nullable().openapi({ description: 'The request\'s `music`, as sent; `plan.audio` shows the settings used.' }),
  webhook: z.object({ url: z.string() }).nullable(),
  plan: PlanSchema.nullable(),
  result: z.object({
    video: VideoResultSchema,
    poster: z.object({ url: z.string() }),
    preview: PreviewResultSchema.optional(),
  }).nullable(),
  error: JobErrorSchema.nullable(),
  warnings: z.array(JobWarningSchema),
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
    music: job.request.music ?? null,
    webhook: job.request.webhook ?? null,
    plan: job.plan,
    result: job.result
      ? {
          video: { ...withoutKey(job.result.video), url: resolveUrl(job.result.video.key) },
          poster: { url: resolveUrl(job.result.poster.key) },
          ...(job.result.preview ? { preview: { ...withoutKey(job.result.preview), url: resolveUrl(job.result.preview.key) } } : {}),
        }
      : null,
    error: job.error,
    warnings: job.warnings ?? [],
    metadata: job.request.metadata ?? null,
    webhookAttempts: job.webhookAttempts,
  };
}

function withoutKey<T extends { key: string }>(v: T): Omit<T, 'key'> {
  const { key: _key, ...rest } = v;
  return rest;
}
