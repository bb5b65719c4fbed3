import type { Readable } from 'node:stream';
import type { JobRecord, JobStatus } from '../core/job.js';

/**
 * The ports. Each is a small interface; an implementation is chosen once in the entry
 * point from configuration and handed down. The embedded (SQLite / filesystem)
 * implementations live beside this file; SQS / S3 ones slot in without touching the
 * pipeline. Everything is async because the remote implementations are.
 */

// ---------------------------------------------------------------- job records

export interface ListJobsQuery {
  tenant: string;
  status?: JobStatus;
  /** Return jobs strictly older than this job id (ids sort by creation time). */
  cursor?: string;
  limit: number;
}

export interface CreateJobResult {
  job: JobRecord;
  /** false when the idempotency key already named a job: `job` is that first job. */
  created: boolean;
  /** Set when created is false: the fingerprint stored with the first request. */
  existingFingerprint?: string;
}

export interface JobStore {
  /**
   * Create a job, or, when (tenant, idempotencyKey) was used before, return the first
   * job instead. Atomic: two concurrent repeats never create two jobs.
   */
  create(job: JobRecord, idem?: { key: string; fingerprint: string }): Promise<CreateJobResult>;
  get(tenant: string, id: string): Promise<JobRecord | undefined>;
  /** For consumers, which only know the id from the queue message. */
  getById(id: string): Promise<JobRecord | undefined>;
  list(q: ListJobsQuery): Promise<{ jobs: JobRecord[]; nextCursor: string | null }>;
  /**
   * Apply `change` to the current record and save it, atomically. `change` may return
   * null to leave the record untouched (e.g. the job already reached a final state).
   * Returns the record as saved (or as found, when unchanged).
   */
  update(id: string, change: (job: JobRecord) => JobRecord | null): Promise<JobRecord | undefined>;
  /** Queued plus running jobs of a tenant (the per-tenant cap). */
  countActive(tenant: string): Promise<number>;
  /**
   * Jobs per status over all tenants (metrics). A store reports only the statuses it can
   * count cheaply on every scrape (S3 cannot count finished jobs without listing them all);
   * the statuses left out are not reported rather than reported as 0.
   */
  countByStatus(): Promise<Partial<Record<JobStatus, number>>>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------- queue (SQS semantics)

export interface QueueMessage {
  id: string;
  /** Opaque handle for this receipt; changes on every receive, like SQS. */
  receiptHandle: string;
  body: string;
  /** How many times the message has been received, this receipt included. */
  receiveCount: number;
}

export interface Queue {
  send(body: string, opts?: { delaySeconds?: number }): Promise<void>;
  /** Up to `max` messages, hidden from other receivers for `visibilitySeconds`. Waits up to `waitSeconds` for one. */
  receive(opts: { max: number; visibilitySeconds: number; waitSeconds: number; signal?: AbortSignal }): Promise<QueueMessage[]>;
  /** Heartbeat: keep a message hidden while its work is still going. */
  extendVisibility(receiptHandle: string, visibilitySeconds: number): Promise<void>;
  /** Finished: remove the message. */
  delete(receiptHandle: string): Promise<void>;
  /** Give the message back, visible again after `delaySeconds` (0: now). */
  release(receiptHandle: string, delaySeconds?: number): Promise<void>;
  /**
   * Messages that exceeded the maximum receive count (poison). Returned once each and
   * removed, so the consumer can mark their jobs failed.
   */
  takeDeadLetters(max: number): Promise<QueueMessage[]>;
  /** Messages waiting or in flight (for health and metrics). */
  depth(): Promise<{ visible: number; inFlight: number; delayed: number }>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------- object storage

export interface ObjectInfo {
  bytes: number;
  contentType: string;
}

export interface ObjectStorage {
  /** Store a local file under `key` (atomically: readers see the old object or the whole new one). */
  putFile(key: string, filePath: string, contentType: string): Promise<ObjectInfo>;
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Read an object, optionally a byte range (inclusive `end`, like HTTP Range). */
  read(key: string, range?: { start: number; end: number }): Promise<Readable>;
  delete(key: string): Promise<void>;
  /** Keys under a prefix (for tests and clean-up). */
  list(prefix: string): Promise<string[]>;
  /**
   * Remove partial writes a crashed process left behind; returns how many. Only stores
   * that write in steps need it (S3 uploads are atomic). Called once at start-up.
   */
  sweepIncomplete?(): Promise<number>;
}

// ---------------------------------------------------------------- download URLs

/**
 * Turns a storage key into a URL a plain GET can download: a signed URL served by the
 * API in embedded mode, a presigned (or public) S3 URL in scale-out mode.
 */
export interface ObjectUrls {
  urlFor(key: string): Promise<string>;
}
