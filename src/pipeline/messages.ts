import { z } from 'zod';

/** Queue message bodies. Small on purpose: the job record holds the state, messages only point at it. */

export const RenderMessageSchema = z.object({ kind: z.literal('render'), jobId: z.string() });
export const WebhookMessageSchema = z.object({
  kind: z.literal('webhook'),
  jobId: z.string(),
  type: z.enum(['job.succeeded', 'job.failed', 'job.canceled']),
  attempt: z.number().int().min(1),
  /** Epoch ms before which the attempt must not run (queues cap delays at 15 minutes; longer waits hop). */
  notBefore: z.number().int().optional(),
  /** A manual redelivery (POST .../redeliver): sent even if the event was delivered before. */
  manual: z.boolean().optional(),
});
export type RenderMessage = z.infer<typeof RenderMessageSchema>;
export type WebhookMessage = z.infer<typeof WebhookMessageSchema>;

/** SQS's longest per-message delay; the SQLite queue keeps the same limit so both behave alike. */
export const MAX_QUEUE_DELAY_SECONDS = 900;

export const renderMessage = (jobId: string): string => JSON.stringify({ kind: 'render', jobId } satisfies RenderMessage);
