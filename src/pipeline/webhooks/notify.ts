import type { QueueMessage } from '../../adapters/ports.js';
import type { JobRecord, WebhookAttempt } from '../../core/job.js';
import { MAX_QUEUE_DELAY_SECONDS, WebhookMessageSchema, type WebhookMessage } from '../messages.js';
import { netPolicy } from '../net-policy.js';
import { presentJob } from '../present.js';
import type { Services } from '../services.js';
import { deliverWebhook } from './deliver.js';
import { buildPayload, eventId, eventTypeFor } from './events.js';

/** Attempts kept on a job record; older ones are dropped first. */
const MAX_ATTEMPTS_KEPT = 50;

/**
 * Queue the webhook for a job that just reached a final state. Called by whoever made
 * the final transition (the consumer, or the cancel handler), and again by a consumer
 * that finds a final job on a redelivered message, in case the first caller crashed
 * before queueing; the `webhookQueuedAt` mark makes the repeat a no-op.
 */
export async function queueWebhook(s: Services, job: JobRecord): Promise<void> {
  const type = eventTypeFor(job.status);
  if (!type || !job.request.webhook || job.webhookQueuedAt) return;
  const msg: WebhookMessage = { kind: 'webhook', jobId: job.id, type, attempt: 1 };
  await s.webhookQueue.send(JSON.stringify(msg));
  // A crash between these two lines can queue the event twice; receivers dedupe by webhook-id.
  await s.store.update(job.id, (j) => (j.webhookQueuedAt ? null : { ...j, webhookQueuedAt: new Date().toISOString() }));
}

/** The tenant's own secrets (WEBHOOK_SECRETS, newest first) or the service-wide one. */
export function webhookSecretsFor(s: Services, tenant: string): string[] {
  const own = s.config.webhookSecrets?.[tenant];
  return own && own.length > 0 ? own : [s.webhookSecret];
}

function alreadyDelivered(job: JobRecord, id: string): boolean {
  return job.webhookAttempts.some((a) => a.eventId === id && a.ok);
}

/**
 * One delivery attempt. Retries follow WEBHOOK_RETRY_SCHEDULE (seconds after each failed
 * attempt); every attempt is recorded on the job. Delays longer than the queue allows
 * hop through the queue (`notBefore`) until due.
 */
export async function handleWebhookMessage(s: Services, raw: QueueMessage): Promise<void> {
  const parsed = WebhookMessageSchema.safeParse(safeJson(raw.body));
  if (!parsed.success) {
    s.logger.error({ messageId: raw.id }, 'dropping malformed webhook message');
    return s.webhookQueue.delete(raw.receiptHandle);
  }
  const msg = parsed.data;
  const now = Date.now();
  if (msg.notBefore && msg.notBefore > now + 1000) {
    const wait = Math.ceil((msg.notBefore - now) / 1000);
    await s.webhookQueue.send(JSON.stringify(msg), { delaySeconds: Math.min(wait, MAX_QUEUE_DELAY_SECONDS) });
    return s.webhookQueue.delete(raw.receiptHandle);
  }

  const job = await s.store.getById(msg.jobId);
  const target = job?.request.webhook?.url;
  const id = eventId(msg.jobId, msg.type);
  if (!job || !target || (!msg.manual && alreadyDelivered(job, id))) return s.webhookQueue.delete(raw.receiptHandle);

  const body = JSON.stringify(buildPayload(job, msg.type, await presentJob(job, s.urls)));
  const result = await deliverWebhook({
    url: target,
    id,
    body,
    secret: webhookSecretsFor(s, job.tenant),
    policy: netPolicy(s.config),
    timeoutMs: s.config.WEBHOOK_TIMEOUT_MS,
  });
  const retryIn = result.ok ? undefined : s.config.WEBHOOK_RETRY_SCHEDULE[msg.attempt - 1];
  const attempt: WebhookAttempt = {
    eventId: id,
    type: msg.type,
    attempt: msg.attempt,
    at: new Date(now).toISOString(),
    ok: result.ok,
    status: result.status,
    error: result.error,
    durationMs: result.durationMs,
    nextAttemptAt: retryIn === undefined ? null : new Date(Date.now() + retryIn * 1000).toISOString(),
  };
  await s.store.update(job.id, (j) => ({ ...j, webhookAttempts: [...j.webhookAttempts, attempt].slice(-MAX_ATTEMPTS_KEPT) }));
  s.metrics?.inc('photoreel_webhook_attempts_total', { outcome: result.ok ? 'delivered' : 'failed' });
  s.metrics?.observe('photoreel_webhook_attempt_seconds', {}, result.durationMs / 1000);
  s.logger.info(
    { jobId: job.id, webhookId: id, attempt: msg.attempt, ok: result.ok, status: result.status, error: result.error, nextAttemptAt: attempt.nextAttemptAt },
    result.ok ? 'webhook delivered' : 'webhook attempt failed',
  );
  if (retryIn !== undefined) {
    const next: WebhookMessage = { ...msg, attempt: msg.attempt + 1, notBefore: Date.now() + retryIn * 1000 };
    await s.webhookQueue.send(JSON.stringify(next), { delaySeconds: Math.min(Math.ceil(retryIn), MAX_QUEUE_DELAY_SECONDS) });
  }
  await s.webhookQueue.delete(raw.receiptHandle);
}

export function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
