import type { JobRecord, JobStatus, JobView } from '../../core/job.js';

export type WebhookEventType = 'job.succeeded' | 'job.failed' | 'job.canceled';

export function eventTypeFor(status: JobStatus): WebhookEventType | null {
  switch (status) {
    case 'succeeded': return 'job.succeeded';
    case 'failed': return 'job.failed';
    case 'canceled': return 'job.canceled';
    default: return null;
  }
}

/**
 * The event id is derived from the job and the event, never random: every retry and
 * every redelivery of the same event carries the same `webhook-id`, so receivers can
 * drop duplicates.
 */
export function eventId(jobId: string, type: WebhookEventType): string {
  return `msg_${jobId.replace(/^job_/, '')}_${type.slice(4)}`;
}

export interface WebhookPayload {
  type: WebhookEventType;
  /** When the event happened (the job's final update), not when this attempt was sent. */
  timestamp: string;
  data: JobView;
}

export function buildPayload(job: JobRecord, type: WebhookEventType, view: JobView): WebhookPayload {
  return { type, timestamp: job.updatedAt, data: view };
}
