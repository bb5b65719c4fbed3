import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { AppError } from '../core/errors.js';
import { WebhookAttemptSchema } from '../core/job.js';
import type { WebhookMessage } from '../pipeline/messages.js';
import { eventId, eventTypeFor } from '../pipeline/webhooks/events.js';
import type { AppEnv } from './context.js';
import { errorJson, errorResponse } from './errors.js';
import { JobIdParams, jobNotFound } from './v1-jobs-get.js';

const WebhookLogSchema = z
  .object({
    url: z.string().nullable().openapi({ description: 'The job\'s webhook URL (null: the job has none).' }),
    data: z.array(WebhookAttemptSchema).openapi({ description: 'Every delivery attempt, oldest first (the last 50). `eventId` is the `webhook-id` header.' }),
  })
  .openapi('WebhookLog');

const listRoute = createRoute({
  method: 'get',
  path: '/v1/jobs/{id}/webhooks',
  tags: ['webhooks'],
  summary: 'The webhook delivery log of a job',
  request: { params: JobIdParams },
  responses: {
    200: { description: 'The attempts recorded on the job', content: { 'application/json': { schema: WebhookLogSchema } } },
    404: errorResponse('No such job (for this tenant)'),
  },
});

const RedeliverParams = JobIdParams.extend({
  deliveryId: z.string().min(1).max(200).openapi({ param: { name: 'deliveryId', in: 'path' }, description: 'The event id (`webhook-id` header, `eventId` in the log).', example: 'msg_01jdx5v6m8q3c2r1t0e9w8y7x6_succeeded' }),
});

const redeliverRoute = createRoute({
  method: 'post',
  path: '/v1/jobs/{id}/webhooks/{deliveryId}/redeliver',
  tags: ['webhooks'],
  summary: 'Send a webhook event again, now',
  description:
    'Queues the event for delivery at once, even if it was delivered before (same `webhook-id`, so a receiver that already has it can drop it). ' +
    'Its attempts are numbered from 1 again; a failed redelivery is retried on WEBHOOK_RETRY_SCHEDULE like a first delivery, and every attempt appears in the log.',
  request: { params: RedeliverParams },
  responses: {
    202: {
      description: 'Queued',
      content: { 'application/json': { schema: z.object({ deliveryId: z.string(), type: z.string(), queued: z.literal(true) }).openapi('Redelivery') } },
    },
    404: errorResponse('No such job, or no such event for it'),
    409: errorResponse('The job has no webhook URL (`webhook_not_configured`)'),
  },
});

export function registerJobWebhooks(app: OpenAPIHono<AppEnv>) {
  app.openapi(listRoute, async (c) => {
    const s = c.get('services');
    const { id } = c.req.valid('param');
    const job = await s.store.get(c.get('tenant'), id);
    if (!job) return errorJson(c, jobNotFound(id)) as never;
    return c.json({ url: job.request.webhook?.url ?? null, data: job.webhookAttempts }, 200);
  });

  app.openapi(redeliverRoute, async (c) => {
    const s = c.get('services');
    const { id, deliveryId } = c.req.valid('param');
    const job = await s.store.get(c.get('tenant'), id);
    if (!job) return errorJson(c, jobNotFound(id)) as never;
    if (!job.request.webhook) return errorJson(c, new AppError('webhook_not_configured', `Job "${id}" has no webhook URL.`)) as never;
    // The job's final event, or any event already in its log.
    const finalType = eventTypeFor(job.status);
    const type = finalType && eventId(job.id, finalType) === deliveryId ? finalType : job.webhookAttempts.find((a) => a.eventId === deliveryId)?.type;
    const parsedType = type === 'job.succeeded' || type === 'job.failed' || type === 'job.canceled' ? type : undefined;
    if (!parsedType) return errorJson(c, new AppError('not_found', `Job "${id}" has no webhook event "${deliveryId}".`)) as never;
    // Numbered from 1 again, so a failed redelivery gets the whole retry schedule.
    const msg: WebhookMessage = { kind: 'webhook', jobId: job.id, type: parsedType, attempt: 1, manual: true };
    await s.webhookQueue.send(JSON.stringify(msg));
    s.logger.info({ jobId: job.id, webhookId: deliveryId, requestId: c.get('requestId') }, 'webhook redelivery queued');
    return c.json({ deliveryId, type: parsedType, queued: true as const }, 202);
  });
}
