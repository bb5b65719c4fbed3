import { randomUUID } from 'node:crypto';
import { OpenAPIHono } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import type { FsSignedUrls } from '../adapters/fs/signed-urls.js';
import { AppError } from '../core/errors.js';
import type { Services } from '../pipeline/services.js';
import { apiKeyAuth, DEFAULT_TENANT } from './auth.js';
import type { AppEnv } from './context.js';
import { errorJson, onError, validationError } from './errors.js';
import { registerFiles } from './files.js';
import { registerHealthz } from './healthz.js';
import { registerMetrics } from './metrics.js';
import { openApiYaml } from './openapi-doc.js';
import { registerCancelJob } from './v1-jobs-cancel.js';
import { registerCreateJob } from './v1-jobs-create.js';
import { registerGetJob } from './v1-jobs-get.js';
import { registerListJobs } from './v1-jobs-list.js';
import { registerJobWebhooks } from './v1-jobs-webhooks.js';
import { registerCreatePlan } from './v1-plans-create.js';
import { registerListEngines } from './v1-engines-list.js';
import { exceptUploads, registerUploadsUnsupported, type UploadsRegistrar } from './uploads-route.js';

/** JSON bodies are small (URLs and options); anything bigger is a mistake or abuse. */
const MAX_JSON_BODY_BYTES = 1024 * 1024;

export interface AppOptions {
  version: string;
  /** Embedded mode serves result files itself; absent when storage hands out its own URLs. */
  fileSigner?: FsSignedUrls;
  /**
   * Registers POST /v1/uploads. The Node entries pass registerCreateUpload; it is injected
   * because its handler needs sharp and the filesystem, which the Workers bundle cannot load.
   * Default: a 501 `not_supported` answer.
   */
  uploads?: UploadsRegistrar;
}

/**
 * The Hono app: every route, the error mapping, request ids. The same factory serves the
 * Node entry and the Workers entry; services come from the entry point.
 */
export function createApp(services: Services, opts: AppOptions): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (!result.success) return errorJson(c, validationError(result.error, result.target));
    },
  });

  app.use('*', async (c, next) => {
    const requestId = c.req.header('x-request-id')?.slice(0, 100) || randomUUID();
    c.set('requestId', requestId);
    c.set('services', services);
    c.set('tenant', DEFAULT_TENANT);
    c.header('x-request-id', requestId);
    const started = performance.now();
    await next();
    // One structured line per request (the path only: signed query strings stay out of logs).
    // Probes are frequent and boring, so they log at debug.
    const quiet = c.req.path === '/healthz' || c.req.path === '/metrics';
    services.logger?.[quiet ? 'debug' : 'info'](
      { requestId, tenant: c.get('tenant'), method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round(performance.now() - started) },
      'request',
    );
  });
  // Before any body is read: an unauthenticated upload is refused without receiving it.
  app.use('/v1/*', apiKeyAuth());
  app.use(
    '/v1/*',
    exceptUploads(bodyLimit({
      maxSize: MAX_JSON_BODY_BYTES,
      onError: (c) => {
        // The rest of the body is never read, so the connection cannot be reused.
        c.header('connection', 'close');
        return errorJson(c, new AppError('payload_too_large', `Request bodies are limited to ${MAX_JSON_BODY_BYTES} bytes.`));
      },
    })),
  );

  registerCreateJob(app);
  registerListJobs(app);
  registerGetJob(app);
  registerCancelJob(app);
  registerJobWebhooks(app);
  registerCreatePlan(app);
  registerListEngines(app);
  (opts.uploads ?? registerUploadsUnsupported)(app);
  registerHealthz(app, opts.version);
  registerMetrics(app);
  if (opts.fileSigner) registerFiles(app, opts.fileSigner);

  let yaml: string | undefined;
  app.get('/openapi.yaml', (c) => {
    yaml ??= openApiYaml(app, opts.version);
    return c.body(yaml, 200, { 'content-type': 'application/yaml; charset=utf-8' });
  });

  app.notFound((c) => errorJson(c, new AppError('not_found', `No route for ${c.req.method} ${c.req.path}.`)));
  app.onError(onError);
  return app;
}
