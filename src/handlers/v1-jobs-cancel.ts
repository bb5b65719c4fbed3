import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { AppError } from '../core/errors.js';
import { isFinal, JobSchema } from '../core/job.js';
import { presentJob } from '../pipeline/present.js';
import { queueWebhook } from '../pipeline/webhooks/notify.js';
import type { AppEnv } from './context.js';
import { errorJson, errorResponse } from './errors.js';
import { JobIdParams, jobNotFound } from './v1-jobs-get.js';

const route = createRoute({
  method: 'post',
  path: '/v1/jobs/{id}/cancel',
  tags: ['jobs'],
  summary: 'Cancel a queued or running job',
  description: 'A running render stops within 2 s and frees its worker. Canceling a canceled job returns it unchanged; a finished job cannot be canceled (409).',
  request: { params: JobIdParams },
  responses: {
    200: { description: 'The job, now canceled', content: { 'application/json': { schema: JobSchema } } },
    404: errorResponse('No such job'),
    409: errorResponse('The job already succeeded or failed (`job_not_cancelable`)'),
  },
});

export function registerCancelJob(app: OpenAPIHono<AppEnv>) {
  app.openapi(route, async (c) => {
    const s = c.get('services');
    const { id } = c.req.valid('param');
    const tenant = c.get('tenant');
    const found = await s.store.get(tenant, id);
    if (!found) return errorJson(c, jobNotFound(id)) as never;
    let canceledNow = false;
    const job = await s.store.update(id, (j) => {
      if (isFinal(j.status)) return null;
      canceledNow = true;
      return { ...j, status: 'canceled', error: { code: 'canceled', message: 'The job was canceled.', retryable: false } };
    });
    if (!job) return errorJson(c, jobNotFound(id)) as never;
    if (job.status !== 'canceled') {
      return errorJson(c, new AppError('job_not_cancelable', `The job already ${job.status}; only queued or running jobs can be canceled.`)) as never;
    }
    if (canceledNow) {
      // The consumer running it notices within a poll interval and kills the render.
      s.logger.info({ jobId: id, requestId: c.get('requestId') }, 'job canceled');
      await queueWebhook(s, job);
    }
    return c.json(await presentJob(job, s.urls), 200);
  });
}
