import path from 'node:path';
import { z } from 'zod';

/**
 * Every setting, read once from the environment and parsed with zod. The entry point
 * calls loadConfig() and hands the result down; nothing else reads process.env.
 * The README's configuration table documents each of these.
 */

const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);
const list = z
  .string()
  .default('')
  .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean));

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
  X264_CRF: int(20, 0).pipe(z.number().max(51)),
});

export type Config = z.infer<typeof ConfigSchema> & {
  /** Absolute DATA_DIR. */
  dataDir: string;
  publicBaseUrl: string;
};

export class ConfigError extends Error {}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  const hostForUrl = c.HOST === '0.0.0.0' || c.HOST === '::' ? '127.0.0.1' : c.HOST.includes(':') ? `[${c.HOST}]` : c.HOST;
  return {
    ...c,
    dataDir: path.resolve(c.DATA_DIR),
    publicBaseUrl: (c.PUBLIC_BASE_URL ?? `http://${hostForUrl}:${c.PORT}`).replace(/\/+$/, ''),
  };
}
