import type { Queue, QueueMessage } from '../adapters/ports.js';
import { AppError } from '../core/errors.js';
import { RenderMessageSchema } from './messages.js';
import { failJob, runJob } from './run-job.js';
import type { Services } from './services.js';
import { handleWebhookMessage, queueWebhook, safeJson } from './webhooks/notify.js';

const RECEIVE_WAIT_SECONDS = 5;
const DEAD_LETTER_POLL_MS = 5000;

/**
 * The queue consumer: CONCURRENCY render loops, one webhook loop, and a dead-letter
 * sweep. In embedded mode it runs inside the API process; `photoreel worker` runs it
 * alone. stop() stops receiving, gives running renders `graceMs` to finish, then
 * releases what is left back to the queue for another worker.
 */
export class Consumer {
  private readonly shutdown = new AbortController();
  private readonly hardStop = new AbortController();
  private loops: Promise<void>[] = [];
  private busy = 0;

  constructor(private readonly s: Services) {}

  start(): void {
    const { CONCURRENCY } = this.s.config;
    for (let i = 0; i < CONCURRENCY; i++) this.loops.push(this.loop(this.s.jobQueue, (m) => this.onRenderMessage(m)));
    this.loops.push(this.loop(this.s.webhookQueue, (m) => handleWebhookMessage(this.s, m)));
    this.loops.push(this.deadLetterSweep());
    this.s.logger.info({ concurrency: CONCURRENCY }, 'consumer started');
  }

  /** Renders running right now. */
  get running(): number {
    return this.busy;
  }

  async stop(graceMs: number): Promise<void> {
    this.shutdown.abort();
    const all = Promise.all(this.loops);
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), graceMs)));
    if ((await Promise.race([all, grace])) === 'timeout') {
      this.s.logger.warn({ running: this.busy }, 'grace period over; releasing running renders');
      this.hardStop.abort();
      await all;
    }
    clearTimeout(timer);
    this.s.logger.info('consumer stopped');
  }

  private async loop(queue: Queue, handle: (m: QueueMessage) => Promise<void>): Promise<void> {
    while (!this.shutdown.signal.aborted) {
      let messages: QueueMessage[] = [];
      try {
        messages = await queue.receive({
          max: 1,
          visibilitySeconds: this.s.config.QUEUE_VISIBILITY_SECONDS,
          waitSeconds: RECEIVE_WAIT_SECONDS,
          signal: this.shutdown.signal,
        });
      } catch (err) {
        if (this.shutdown.signal.aborted) break;
        this.s.logger.error({ err: String(err) }, 'queue receive failed; retrying in 1 s');
        await sleep(1000);
      }
      for (const m of messages) {
        try {
          await handle(m);
        } catch (err) {
          // The message stays in the queue and comes back after its visibility timeout.
          this.s.logger.error({ err: String(err), messageId: m.id }, 'message handling failed');
        }
      }
    }
  }

  private async onRenderMessage(m: QueueMessage): Promise<void> {
    const parsed = RenderMessageSchema.safeParse(safeJson(m.body));
    if (!parsed.success) {
      this.s.logger.error({ messageId: m.id }, 'dropping malformed render message');
      return this.s.jobQueue.delete(m.receiptHandle);
    }
    this.busy++;
    try {
      await runJob(this.s, m, parsed.data.jobId, this.hardStop.signal);
    } finally {
      this.busy--;
    }
  }

  /** Messages that failed QUEUE_MAX_RECEIVES times (e.g. the worker died each time): fail their jobs. */
  private async deadLetterSweep(): Promise<void> {
    while (!this.shutdown.signal.aborted) {
      try {
        for (const m of await this.s.jobQueue.takeDeadLetters(10)) {
          const parsed = RenderMessageSchema.safeParse(safeJson(m.body));
          if (!parsed.success) continue;
          const failed = await failJob(
            this.s,
            parsed.data.jobId,
            new AppError('processing_failed', `The job could not be processed after ${m.receiveCount} attempts.`),
          );
          this.s.logger.error({ jobId: parsed.data.jobId, receiveCount: m.receiveCount }, 'job dead-lettered');
          if (failed) await queueWebhook(this.s, failed);
        }
      } catch (err) {
        this.s.logger.error({ err: String(err) }, 'dead-letter sweep failed');
      }
      await sleep(DEAD_LETTER_POLL_MS, this.shutdown.signal);
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
