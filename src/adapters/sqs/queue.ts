import {
  ChangeMessageVisibilityCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Queue, QueueMessage } from '../ports.js';

// Only @aws-sdk/client-sqs and the ports are imported: this module is also loaded inside
// Cloudflare Workers (nodejs_compat), where the pipeline's modules do not belong.

/** SQS's longest per-message delay (pipeline/messages.ts MAX_QUEUE_DELAY_SECONDS mirrors it). */
const MAX_DELAY_SECONDS = 900;
/** SQS's longest visibility timeout (12 h). */
const MAX_VISIBILITY_SECONDS = 43_200;
/** SQS's longest long poll. */
const MAX_WAIT_SECONDS = 20;
/** SQS's most messages per receive. */
const MAX_RECEIVE = 10;
/**
 * How long a dead letter taken by takeDeadLetters stays hidden: if this process dies
 * between the receive and the delete, another sweep gets it back after this long.
 */
const DEAD_LETTER_VISIBILITY_SECONDS = 30;

/**
 * Error codes that mean "this receipt handle no longer names an in-flight message":
 * the message was deleted, its receipt expired, or another receiver took it since.
 * AWS answers ChangeMessageVisibility for a deleted message with InvalidParameterValue
 * (every other parameter is validated here first, so the handle is what it refers to);
 * moto says ReceiptHandleIsInvalid; fauxqs says MessageNotInflight.
 */
const STALE_HANDLE_CODES = new Set(['ReceiptHandleIsInvalid', 'InvalidParameterValue', 'MessageNotInflight']);

export interface SqsQueueOptions {
  /** Owned by the caller: close() does not destroy it (it may serve several queues). */
  client: SQSClient;
  queueUrl: string;
  /**
   * The queue the broker's redrive policy moves poison messages to. Without it
   * takeDeadLetters() has nothing to read and returns [].
   */
  deadLetterQueueUrl?: string;
}

/**
 * The Queue port on Amazon SQS (standard queues). SQS itself provides the semantics the
 * SQLite queue imitates: visibility timeouts, receive counts, receipt handles, and
 * dead-lettering via the queue's RedrivePolicy (maxReceiveCount), which therefore lives
 * in infrastructure, not here.
 *
 * Stale receipt handles follow the SQLite queue: extendVisibility throws (the heartbeat
 * must learn it lost the message), while delete and release are no-ops (there is
 * nothing left to delete or give back, and another receiver may own the message now).
 *
 * Differences from the SQLite queue that callers may notice: counts from depth() are
 * SQS's approximate ones, and a message released with a delay counts as in flight there
 * (SQS has only a visibility timeout for it), not as delayed.
 */
export class SqsQueue implements Queue {
  readonly #client: SQSClient;
  readonly #queueUrl: string;
  readonly #deadLetterQueueUrl: string | undefined;
  readonly #name: string;
  /** One per pending receive, so close() can end long polls at once. */
  readonly #pendingReceives = new Set<AbortController>();
  #closed = false;

  constructor(o: SqsQueueOptions) {
    this.#client = o.client;
    this.#queueUrl = o.queueUrl;
    this.#deadLetterQueueUrl = o.deadLetterQueueUrl;
    this.#name = queueName(o.queueUrl);
  }

  async send(body: string, opts: { delaySeconds?: number } = {}): Promise<void> {
    this.#assertOpen();
    // Checked here, not left to the broker: some emulators (fauxqs) accept any delay,
    // and the pipeline must fail the same way on every backend.
    const delay = opts.delaySeconds === undefined ? undefined : wholeSeconds(opts.delaySeconds, 'delaySeconds', MAX_DELAY_SECONDS);
    await this.#client.send(
      new SendMessageCommand({
        QueueUrl: this.#queueUrl,
        MessageBody: body,
        // Left out when not asked for, so a queue-level DelaySeconds still applies.
        ...(delay === undefined ? {} : { DelaySeconds: delay }),
      }),
    );
  }

  async receive(opts: { max: number; visibilitySeconds: number; waitSeconds: number; signal?: AbortSignal }): Promise<QueueMessage[]> {
    const max = Math.floor(opts.max);
    if (!(max >= 1)) throw new Error(`receive: max must be at least 1, got ${opts.max}`);
    const visibility = wholeSeconds(opts.visibilitySeconds, 'visibilitySeconds', MAX_VISIBILITY_SECONDS);
    const wait = Math.min(wholeSeconds(opts.waitSeconds, 'waitSeconds', Number.POSITIVE_INFINITY), MAX_WAIT_SECONDS);
    const { signal } = opts;
    // A receiver told to stop must not take (and hide) messages it will not process.
    if (this.#closed || signal?.aborted) return [];

    // The caller's signal and close() both end the long poll; AbortSignal.any would say
    // this in one line but is missing from some Workers runtimes.
    const abort = new AbortController();
    const onAbort = () => abort.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    this.#pendingReceives.add(abort);
    try {
      const out = await this.#client.send(
        new ReceiveMessageCommand({
          QueueUrl: this.#queueUrl,
          MaxNumberOfMessages: Math.min(max, MAX_RECEIVE),
          WaitTimeSeconds: wait,
          VisibilityTimeout: visibility,
          MessageSystemAttributeNames: ['ApproximateReceiveCount'],
          // The legacy spelling, for emulators that predate MessageSystemAttributeNames.
          // Its SDK type only lists queue attributes, hence 'All' rather than the name.
          AttributeNames: ['All'],
        }),
        { abortSignal: abort.signal },
      );
      return (out.Messages ?? []).map((m) => toQueueMessage(m, receiveCountOf(m)));
    } catch (err) {
      // An abort is a request to stop, not a failure. It only closes our side: SQS keeps
      // the long poll open until WaitTimeSeconds ends, and a message that arrives in
      // that time is handed to the dead connection and stays hidden for `visibility`
      // before it comes back (at-least-once, with one receive counted). No API call
      // cancels a poll server-side, so that is the price of a prompt shutdown.
      if (abort.signal.aborted) return [];
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.#pendingReceives.delete(abort);
    }
  }

  async extendVisibility(receiptHandle: string, visibilitySeconds: number): Promise<void> {
    this.#assertOpen();
    const visibility = wholeSeconds(visibilitySeconds, 'visibilitySeconds', MAX_VISIBILITY_SECONDS);
    try {
      await this.#changeVisibility(receiptHandle, visibility);
    } catch (err) {
      if (isStaleHandle(err)) {
        throw new Error(
          `queue ${this.#name}: receipt handle is no longer valid (the message was deleted, released, or received again by another consumer): ${describe(err)}`,
          { cause: err },
        );
      }
      throw err;
    }
  }

  /** A stale receipt handle is a no-op (the message was already deleted or re-received). */
  async delete(receiptHandle: string): Promise<void> {
    this.#assertOpen();
    try {
      await this.#client.send(new DeleteMessageCommand({ QueueUrl: this.#queueUrl, ReceiptHandle: receiptHandle }));
    } catch (err) {
      if (!isStaleHandle(err)) throw err;
    }
  }

  /**
   * A stale receipt handle is a no-op. The delay is a visibility timeout on SQS, so it
   * may run to 12 h (send() is the one capped at 15 min).
   */
  async release(receiptHandle: string, delaySeconds = 0): Promise<void> {
    this.#assertOpen();
    const delay = wholeSeconds(delaySeconds, 'delaySeconds', MAX_VISIBILITY_SECONDS);
    try {
      await this.#changeVisibility(receiptHandle, delay);
    } catch (err) {
      if (!isStaleHandle(err)) throw err;
    }
  }

  /**
   * Poison messages the broker's redrive policy moved to the dead-letter queue. Each is
   * deleted from there before it is returned, so it is returned once; one whose delete
   * failed is held back and comes round again after DEAD_LETTER_VISIBILITY_SECONDS.
   */
  async takeDeadLetters(max: number): Promise<QueueMessage[]> {
    this.#assertOpen();
    const n = Math.floor(max);
    if (!this.#deadLetterQueueUrl || !(n >= 1)) return [];
    const QueueUrl = this.#deadLetterQueueUrl;
    const out = await this.#client.send(
      new ReceiveMessageCommand({
        QueueUrl,
        MaxNumberOfMessages: Math.min(n, MAX_RECEIVE),
        WaitTimeSeconds: 0,
        VisibilityTimeout: DEAD_LETTER_VISIBILITY_SECONDS,
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
        AttributeNames: ['All'],
      }),
    );
    const messages = (out.Messages ?? []).filter((m) => m.ReceiptHandle);
    if (messages.length === 0) return [];
    const deleted = await this.#client.send(
      new DeleteMessageBatchCommand({
        QueueUrl,
        Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
      }),
    );
    const gone = new Set((deleted.Successful ?? []).map((e) => e.Id));
    return messages
      .filter((_, i) => gone.has(String(i)))
      // SQS carries the receive count over from the source queue, and this receive
      // from the DLQ added one more: without it, the count is the attempts the job had,
      // which is what the SQLite queue reports. A broker that restarted the count at
      // the move (count 1 here) gives 1, the DLQ's own count.
      .map((m) => toQueueMessage(m, Math.max(1, receiveCountOf(m) - 1), ''));
  }

  async depth(): Promise<{ visible: number; inFlight: number; delayed: number }> {
    this.#assertOpen();
    const out = await this.#client.send(
      new GetQueueAttributesCommand({
        QueueUrl: this.#queueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'],
      }),
    );
    const a = out.Attributes ?? {};
    return {
      visible: count(a.ApproximateNumberOfMessages),
      inFlight: count(a.ApproximateNumberOfMessagesNotVisible),
      delayed: count(a.ApproximateNumberOfMessagesDelayed),
    };
  }

  /** Ends pending long polls (they return []); the client stays open for its owner. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const abort of [...this.#pendingReceives]) abort.abort();
  }

  #changeVisibility(receiptHandle: string, seconds: number) {
    return this.#client.send(
      new ChangeMessageVisibilityCommand({ QueueUrl: this.#queueUrl, ReceiptHandle: receiptHandle, VisibilityTimeout: seconds }),
    );
  }

  #assertOpen() {
    if (this.#closed) throw new Error(`queue ${this.#name} is closed`);
  }
}

function toQueueMessage(m: Message, receiveCount: number, receiptHandle = m.ReceiptHandle ?? ''): QueueMessage {
  return { id: m.MessageId ?? '', receiptHandle, body: m.Body ?? '', receiveCount };
}

/** SQS only leaves the attribute out when it was not asked for; 1 is then the honest floor. */
function receiveCountOf(m: Message): number {
  const n = Number(m.Attributes?.ApproximateReceiveCount);
  return Number.isInteger(n) && n >= 1 ? n : 1;
}

function count(v: string | undefined): number {
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? n : 0;
}

/** SQS takes whole seconds; rounding up never makes a timeout shorter than asked. */
function wholeSeconds(value: number, what: string, max: number): number {
  if (!Number.isFinite(value) || value < 0) throw new Error(`${what} must be a non-negative number of seconds, got ${value}`);
  const s = Math.ceil(value);
  if (s > max) throw new Error(`${what} must be at most ${max} seconds (the SQS limit), got ${value}`);
  return s;
}

/** The error's code with the query-protocol prefix fauxqs (and AWS's legacy answers) put on it. */
function errorCodes(err: unknown): string[] {
  if (!(err instanceof Error)) return [];
  const { Code } = err as Error & { Code?: unknown };
  return [err.name, typeof Code === 'string' ? Code : ''].map((c) => c.replace(/^AWS\.SimpleQueueService\./, '')).filter(Boolean);
}

function isStaleHandle(err: unknown): boolean {
  return errorCodes(err).some((c) => STALE_HANDLE_CODES.has(c));
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** For messages: the last path segment of the queue URL is the queue's name. */
function queueName(url: string): string {
  return url.replace(/\/+$/, '').split('/').pop() || url;
}
