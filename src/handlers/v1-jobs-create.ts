import { createHash } from 'node:crypto';
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { AppError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { JobRequestSchema, JobSchema, type JobRecord } from '../core/job.js';
import { renderMessage } from '../pipeline/messages.js';
import { presentJob } from '../pipeline/present.js';
import type { AppEnv } from './context.js';
import { errorJson, errorResponse } from './errors.js';
import { TokenBuckets } from './limits.js';
import { planRequest } from './plan-request.js';

const route = createRoute({
  method: 'post',
  path: '/v1/jobs',
  tags: ['jobs'],
  summary: 'Submit photos and an instruction; returns the job at once',
  description:
    'Queues a render and answers 202 with the job (its `plan` shows how the prompt was understood). ' +
    'With an `Idempotency-Key` header, a repeat of the same request by the same tenant returns the first job with 200 and never renders twice; ' +
    'reusing a key with a different body is a 409.',
  request: {
    headers: z.object({
      'idempotency-key': z.string().min(1).max(255).optional().openapi({ description: 'Any unique string (a UUID, your order id).' }),
    }),
    body: {
      required: true,
      content: {
        'application/json': {
          schema: JobRequestSchema,
          example: {
            images: [{ url: 'https://example.com/shoe-1.jpg' }, 'https://example.com/shoe-2.jpg'],
            prompt: "turn my photos into a smooth HD video with transitions, title 'Summer Sale'",
            options: { aspect: '9:16' },
            webhook: { url: 'https://example.com/hooks/photoreel' },
            metadata: { sku: 'SHOE-42' },
          },
        },
      },
    },
  },
  responses: {
    202: { description: 'Job created and queued', content: { 'application/json': { schema: JobSchema } } },
    200: { description: 'Repeat of an earlier request with the same Idempotency-Key: the first job', content: { 'application/json': { schema: JobSchema } } },
    400: errorResponse('Invalid body, or an `upload` id this tenant does not have (`validation_error`, `error.field` names the field); a video longer than MAX_JOB_DURATION_SECONDS (`job_too_long`)'),
    409: errorResponse('Idempotency-Key reused with a different body (`idempotency_conflict`)'),
    429: errorResponse('Too many submissions (`rate_limited`, see `Retry-After`) or too many queued jobs for this tenant (`too_many_queued_jobs`)'),
  },
});

export function registerCreateJob(app: OpenAPIHono<AppEnv>, buckets = new TokenBuckets()) {
  app.openapi(route, async (c) => {
    const s = c.get('services');
    const tenant = c.get('tenant');
    const request = c.req.valid('json');
    const key = c.req.valid('header')['idempotency-key'];
    const now = new Date().toISOString();
    // Limits first (repeats of an Idempotency-Key count too): cheap, and before any planning work.
    const perMinute = s.config.RATE_LIMIT_JOBS_PER_MINUTE;
    const token = buckets.take(tenant, perMinute);
    if (!token.ok) {
      c.header('Retry-After', String(token.retryAfterSeconds));
      return errorJson(c, new AppError('rate_limited', `At most ${perMinute} job submissions a minute; retry in ${token.retryAfterSeconds} s.`, { retryable: true })) as never;
    }
    const maxQueued = s.config.MAX_QUEUED_JOBS_PER_TENANT;
    if (maxQueued > 0 && (await s.store.countActive(tenant)) >= maxQueued) {
      return errorJson(c, new AppError('too_many_queued_jobs', `This account already has ${maxQueued} queued or running jobs (the limit); submit more as they finish.`, { retryable: true })) as never;
    }
    const planned = await planRequest(s, tenant, request);
    if (planned instanceof AppError) return errorJson(c, planned) as never;
    const { plan, engine } = planned;
    const job: JobRecord = {
      id: newId('job'),
      tenant,
      status: 'queued',
      stage: 'queued',
      progress: 0,
      createdAt: now,
      updatedAt: now,
      engine,
      request,
      plan,
      result: null,
      error: null,
      warnings: [],
      attempts: 0,
      webhookAttempts: [],
      webhookQueuedAt: null,
    };
    const fingerprint = createHash('sha256').update(JSON.stringify(request)).digest('hex');
    const { job: saved, created, existingFingerprint } = await s.store.create(job, key ? { key, fingerprint } : undefined);
    if (!created) {
      if (existingFingerprint !== fingerprint) {
        return errorJson(c, new AppError('idempotency_conflict', `Idempotency-Key "${key}" was already used with a different request body.`)) as never;
      }
      return c.json(await presentJob(saved, s.urls), 200);
    }
    await s.jobQueue.send(renderMessage(saved.id));
    s.logger.info({ jobId: saved.id, tenant, images: request.images.length, requestId: c.get('requestId') }, 'job queued');
    c.header('Location', `/v1/jobs/${saved.id}`);
    return c.json(await presentJob(saved, s.urls), 202);
  });
}
