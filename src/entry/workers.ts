/**
 * The Cloudflare Workers entry: the same HTTP API as `photoreel serve`, on S3 + SQS, with
 * no renderer (photoreel consumers on servers take the render messages off the queue).
 * Deployed with wrangler (wrangler.toml at the repo root).
 *
 * Only modules that bundle for workerd may be reached from here: no sharp, SQLite, ffmpeg
 * or filesystem adapters. That is why the engines below are descriptors and the uploads
 * route is the 501 registrar instead of the streaming handler.
 *
 * Nothing but the default handler is exported: workerd treats every named export of the
 * entry module as an entrypoint and refuses to start on one that is not.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { ExecutionContext } from 'hono';
import { pino } from 'pino';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { REDACT_PATHS, type Logger } from '../core/logger.js';
import { VERSION } from '../core/version.js';
import { createApp } from '../handlers/app.js';
import type { AppEnv } from '../handlers/context.js';
import { registerUploadsUnsupported } from '../handlers/uploads-route.js';
import type { Engine } from '../pipeline/engines/engine.js';
import { Metrics } from '../pipeline/metrics.js';
import { rulesPlanner } from '../pipeline/plan/planner.js';
import type { Services } from '../pipeline/services.js';
import { createRemoteAdapters, type AwsCredentials } from './remote-adapters.js';

/** Worker bindings: [vars] and secrets are strings; any other binding is ignored here. */
type WorkersEnv = Record<string, unknown>;

/** Workers has no durable local queue or disk, so the scale-out adapters are the only ones that make sense. */
const WORKERS_DEFAULTS = { QUEUE: 'sqs', STORAGE: 's3' } as const;

const RENDERS_ELSEWHERE = 'renders run on photoreel workers, not in the Workers API';

/**
 * Job creation only checks that an engine of that name exists (a consumer somewhere runs
 * it) and GET /v1/engines lists them; nothing on this side may render.
 */
function descriptorEngine(name: string): Engine {
  return {
    name,
    render: async () => {
      throw new Error(RENDERS_ELSEWHERE);
    },
  };
}

function workersEngines(config: Config): Record<string, Engine> {
  return {
    local: descriptorEngine('local'),
    ...(config.NEMO_BASE_URL ? { nemo: descriptorEngine('nemo') } : {}),
  };
}


/**
 * pino resolves to its browser build under wrangler (the Node one writes to a file
 * descriptor through sonic-boom). That build hands each record to `write` as an object,
 * redaction and timestamp applied; one JSON line per record on the console is what
 * Workers Logs and `wrangler tail` index.
 */
function createWorkersLogger(level: string): Logger {
  const write = (o: object) => {
    const line = JSON.stringify({ service: 'photoreel', runtime: 'workers', ...o });
    // error and fatal on the error stream, so Workers Logs marks them as errors.
    if (((o as { level?: number }).level ?? 0) >= 50) console.error(line);
    else console.log(line);
  };
  return pino({
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    browser: { write },
  });
}

/** The string bindings, as loadConfig expects environment variables. */
function stringBindings(env: WorkersEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (typeof v === 'string') out[k] = v;
  return out;
}

/**
 * workerd offers the AWS SDK no environment or profile to read credentials from (its
 * browser runtime config has no default chain), so they are passed from the secrets.
 */
function awsCredentials(env: Record<string, string>): AwsCredentials {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) {
    throw new ConfigError(
      'Invalid configuration:\n  AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY: required on Workers (wrangler secret put AWS_ACCESS_KEY_ID, then AWS_SECRET_ACCESS_KEY)',
    );
  }
  return { accessKeyId, secretAccessKey, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) };
}

function buildWorkersApp(env: WorkersEnv): OpenAPIHono<AppEnv> {
  const vars = { ...WORKERS_DEFAULTS, ...stringBindings(env) };
  const config = loadConfig(vars);
  if (!config.WEBHOOK_SECRET) {
    // Unreachable after loadConfig's scale-out checks; here so the type says the secret is set.
    throw new ConfigError('Invalid configuration:\n  WEBHOOK_SECRET: required on Workers (wrangler secret put WEBHOOK_SECRET)');
  }
  const logger = createWorkersLogger(config.LOG_LEVEL);
  const adapters = createRemoteAdapters(config, awsCredentials(vars));
  if (config.LLM_PLANNER_URL) logger.warn({ setting: 'LLM_PLANNER_URL' }, 'the Workers API plans with the rules planner; LLM_PLANNER_URL is ignored here');
  const services: Services = {
    config,
    logger,
    store: adapters.store,
    jobQueue: adapters.jobQueue,
    webhookQueue: adapters.webhookQueue,
    storage: adapters.storage,
    urls: adapters.urls,
    engines: workersEngines(config),
    planner: rulesPlanner,
    webhookSecret: config.WEBHOOK_SECRET,
    metrics: new Metrics(),
  };
  // No fileSigner: S3 hands out its own (presigned or public) URLs.
  return createApp(services, { version: VERSION, uploads: registerUploadsUnsupported });
}

/**
 * One app per isolate: bindings are fixed for the life of an isolate, and the SDK clients
 * and rate-limit buckets are worth keeping between requests. A failed build is not kept,
 * so the error is logged (and answered) on every request until the configuration is fixed.
 */
let app: OpenAPIHono<AppEnv> | undefined;

function misconfigured(err: unknown): Response {
  // ConfigError text names settings, never their values; other start-up errors come from constructors that see no secrets.
  const detail = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  console.error(JSON.stringify({ service: 'photoreel', runtime: 'workers', level: 50, time: new Date().toISOString(), msg: 'cannot start the API', err: detail }));
  return Response.json(
    { error: { code: 'internal_error', message: 'The service is misconfigured; its logs say which setting to fix.', retryable: false } },
    { status: 500 },
  );
}

export default {
  async fetch(request: Request, env: WorkersEnv, ctx: ExecutionContext): Promise<Response> {
    if (!app) {
      try {
        app = buildWorkersApp(env);
      } catch (err) {
        return misconfigured(err);
      }
    }
    return app.fetch(request, env, ctx);
  },
};
