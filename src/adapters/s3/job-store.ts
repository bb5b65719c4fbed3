import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { AppError } from '../../core/errors.js';
import { FINAL_STATUSES, isFinal, JOB_STATUSES, type JobRecord, type JobStatus } from '../../core/job.js';
import type { CreateJobResult, JobStore, ListJobsQuery } from '../ports.js';
import { isNotFound, isWriteConflict } from './client.js';
import { invertJobId, isValidJobId, isValidTenant, normalizePrefix, uninvertJobId } from './keys.js';

/*
 * Job records in an S3 bucket, safe for many API instances and consumers at once.
 * There is no server-side transaction, so every read-modify-write is an optimistic
 * conditional write (If-Match on the ETag read, If-None-Match '*' to create) retried on
 * conflict. Layout, below the optional prefix:
 *
 *   jobs/{id}.json                           the record (the source of truth)
 *   idempotency/{tenant}/{sha256(key)}.json  {jobId, fingerprint, createdAt}; claimed before the
 *                                            job is written, so the claim decides which of two
 *                                            concurrent repeats creates the job
 *   tenants/{tenant}/jobs/{invertedId}       empty; lists a tenant's jobs newest first (see keys.ts)
 *   active/{tenant}/{id}                     empty; exists while the job is queued or running
 *   final/{status}/{id}                      empty; exists once the job reached that final status
 *
 * Write order: create writes the index and status markers before the record, and update
 * writes the record before touching markers. The record is therefore the commit point and
 * every committed job has its index entry; what a crash can leave behind is only extra
 * markers (an index entry or active marker without a record, an active marker of a job
 * that is already final). Readers treat those as noise and repair them once they are
 * older than `staleMarkerMs` (default 60 s, far longer than the gap between two writes of
 * one create), comparing S3's LastModified with the local clock.
 *
 * An idempotency marker whose job never appeared (its creator died between the two
 * writes) is taken over with If-Match once stale; until then repeats wait briefly and
 * then get a retryable idempotency_conflict, since the creator may still be writing.
 *
 * Final statuses are treated as terminal (every caller guards with isFinal). An update
 * that moves a job out of a final status is handled, but if it races another status
 * change the two marker moves can interleave and leave a marker missing; nothing does
 * that today.
 *
 * countByStatus (metrics): queued / running are exact, read from the active markers (one
 * record read per active job, so the cost follows the work in flight, not history).
 * Final statuses are counted by listing final/{status}/ (one LIST request per 1000 jobs),
 * up to `maxFinalCount` keys per status (default 10,000); past that the status is left
 * out (the port allows it), rather than reported as a plausible but wrong number. A
 * crash between a job's final write and its final marker is repaired by the same sweep
 * that removes its stale active marker (countActive or countByStatus), so the final
 * counts converge to exact. (Final markers themselves are not verified: one left by a
 * create of an already-final job that died before its record would over-count; the API
 * only ever creates queued jobs.)
 */

const PARALLEL_READS = 16;
const DEFAULT_MAX_CONFLICT_RETRIES = 10;
const DEFAULT_STALE_MARKER_MS = 60_000;
const DEFAULT_PENDING_CREATE_WAIT_MS = 10_000;
const DEFAULT_MAX_LIST_SCAN = 2_000;
const DEFAULT_MAX_FINAL_COUNT = 10_000;

interface IdemMarker {
  jobId: string;
  fingerprint: string;
  createdAt: string;
}

interface Stored<T> {
  value: T;
  etag: string;
  lastModified: number;
}

export interface S3JobStoreOptions {
  client: S3Client;
  bucket: string;
  prefix?: string;
  /** Conditional-write conflicts one create / update retries before giving up. */
  maxConflictRetries?: number;
  /** Age after which a marker without its record counts as left by a crash. */
  staleMarkerMs?: number;
  /** How long a repeat waits for a concurrent create with the same key to finish. */
  pendingCreateWaitMs?: number;
  /**
   * Index entries one filtered list() call examines at most. Past it the page is returned
   * short with a cursor, so a rare status on a big tenant cannot turn one request into
   * thousands of reads; following the cursor still reaches every job.
   */
  maxListScan?: number;
  /** Final markers counted per status before countByStatus leaves that status out. */
  maxFinalCount?: number;
}

export class S3JobStore implements JobStore {
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #maxRetries: number;
  readonly #staleMs: number;
  readonly #pendingWaitMs: number;
  readonly #maxListScan: number;
  readonly #maxFinalCount: number;
  #closed = false;

  constructor(o: S3JobStoreOptions) {
    this.#client = o.client;
    this.#bucket = o.bucket;
    this.#prefix = normalizePrefix(o.prefix);
    this.#maxRetries = o.maxConflictRetries ?? DEFAULT_MAX_CONFLICT_RETRIES;
    this.#staleMs = o.staleMarkerMs ?? DEFAULT_STALE_MARKER_MS;
    this.#pendingWaitMs = o.pendingCreateWaitMs ?? DEFAULT_PENDING_CREATE_WAIT_MS;
    this.#maxListScan = Math.max(1, o.maxListScan ?? DEFAULT_MAX_LIST_SCAN);
    this.#maxFinalCount = o.maxFinalCount ?? DEFAULT_MAX_FINAL_COUNT;
  }

  // ------------------------------------------------------------------ keys

  #recordKey = (id: string) => `${this.#prefix}jobs/${id}.json`;
  #indexPrefix = (tenant: string) => `${this.#prefix}tenants/${tenant}/jobs/`;
  #indexKey = (tenant: string, id: string) => this.#indexPrefix(tenant) + invertJobId(id);
  #activePrefix = (tenant?: string) => `${this.#prefix}active/${tenant === undefined ? '' : `${tenant}/`}`;
  #activeKey = (tenant: string, id: string) => `${this.#activePrefix(tenant)}${id}`;
  #finalPrefix = (status: JobStatus) => `${this.#prefix}final/${status}/`;
  #finalKey = (status: JobStatus, id: string) => this.#finalPrefix(status) + id;
  async #idemKey(tenant: string, key: string): Promise<string> {
    // Web Crypto rather than node:crypto: the API also runs on Workers.
    const digest = await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(key));
    const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
    return `${this.#prefix}idempotency/${tenant}/${hex}.json`;
  }

  // ------------------------------------------------------------------ the port

  async create(job: JobRecord, idem?: { key: string; fingerprint: string }): Promise<CreateJobResult> {
    this.#assertOpen();
    if (!isValidJobId(job.id)) throw new Error(`invalid job id ${JSON.stringify(job.id)}`);
    if (!isValidTenant(job.tenant)) throw new Error(`invalid tenant ${JSON.stringify(job.tenant)}`);
    if (!(JOB_STATUSES as readonly string[]).includes(job.status)) throw new Error(`invalid job status ${JSON.stringify(job.status)}`);

    let idemKey: string | undefined;
    if (idem) {
      idemKey = await this.#idemKey(job.tenant, idem.key);
      const existing = await this.#claimIdempotencyKey(idemKey, job, idem);
      if (existing) return existing;
    }

    // Markers first (see the top of the file): a record is never visible without them.
    const indexKey = this.#indexKey(job.tenant, job.id);
    const statusKey = this.#statusMarkerKey(job);
    await Promise.all([this.#putEmpty(indexKey), this.#putEmpty(statusKey)]);
    try {
      await this.#put(this.#recordKey(job.id), JSON.stringify(job), { IfNoneMatch: '*' });
    } catch (err) {
      if (isWriteConflict(err)) {
        await this.#undoDuplicateCreate(job, indexKey, statusKey, idemKey).catch(() => undefined);
        throw new Error(`job ${job.id} already exists`);
      }
      throw err;
    }
    return { job: structuredClone(job), created: true };
  }

  #statusMarkerKey(job: JobRecord): string {
    return isFinal(job.status) ? this.#finalKey(job.status, job.id) : this.#activeKey(job.tenant, job.id);
  }

  /** Removes what a create of an already existing id wrote, keeping whatever the existing job needs itself. */
  async #undoDuplicateCreate(job: JobRecord, indexKey: string, statusKey: string, idemKey: string | undefined): Promise<void> {
    if (idemKey) await this.#releaseIdempotencyKey(idemKey, job.id);
    const existing = (await this.#readRecord(job.id))?.value;
    if (!existing) return;
    if (existing.tenant !== job.tenant) await this.#deleteQuietly(indexKey);
    if (this.#statusMarkerKey(existing) !== statusKey) await this.#deleteQuietly(statusKey);
  }

  async get(tenant: string, id: string): Promise<JobRecord | undefined> {
    const job = await this.getById(id);
    return job && job.tenant === tenant ? job : undefined;
  }

  async getById(id: string): Promise<JobRecord | undefined> {
    this.#assertOpen();
    // An id this store could never have written names no job (and must not become a key).
    if (!isValidJobId(id)) return undefined;
    return (await this.#readRecord(id))?.value;
  }

  async list(q: ListJobsQuery): Promise<{ jobs: JobRecord[]; nextCursor: string | null }> {
    this.#assertOpen();
    const limit = Math.max(1, Math.floor(q.limit));
    if (!isValidTenant(q.tenant)) return { jobs: [], nextCursor: null };
    if (q.cursor !== undefined && !isValidJobId(q.cursor)) {
      throw new AppError('validation_error', 'cursor: not a cursor returned by this API', { field: 'cursor' });
    }
    // One match past the page tells whether another page exists (as in the SQLite store).
    const want = limit + 1;
    const matches: JobRecord[] = [];
    let scanned = 0;
    let lastScannedId: string | undefined;
    let startAfter = q.cursor === undefined ? undefined : this.#indexKey(q.tenant, q.cursor);
    let token: string | undefined;
    let exhausted = false;

    outer: while (matches.length < want) {
      const page = await this.#client.send(
        new ListObjectsV2Command({
          Bucket: this.#bucket,
          Prefix: this.#indexPrefix(q.tenant),
          ...(token ? { ContinuationToken: token } : startAfter ? { StartAfter: startAfter } : {}),
          MaxKeys: q.status === undefined ? Math.min(1000, want - matches.length + 8) : 1000,
        }),
      );
      const entries = (page.Contents ?? []).flatMap((o) => {
        const id = o.Key ? uninvertJobId(o.Key.slice(this.#indexPrefix(q.tenant).length)) : undefined;
        return id ? [{ id, key: o.Key!, lastModified: o.LastModified?.getTime() ?? 0 }] : [];
      });
      for (let i = 0; i < entries.length; ) {
        if (q.status !== undefined && scanned >= this.#maxListScan) break outer;
        // Without a filter every record found is a match: read no more than still needed.
        const room = q.status === undefined ? want - matches.length : this.#maxListScan - scanned;
        const batch = entries.slice(i, i + Math.min(PARALLEL_READS, room));
        i += batch.length;
        const records = await mapLimit(batch, PARALLEL_READS, (e) => this.#readRecord(e.id));
        for (const [j, rec] of records.entries()) {
          const e = batch[j]!;
          scanned++;
          lastScannedId = e.id;
          if (!rec) {
            if (Date.now() - e.lastModified > this.#staleMs) await this.#deleteQuietly(e.key);
            continue;
          }
          if (rec.value.tenant !== q.tenant) continue;
          if (q.status === undefined || rec.value.status === q.status) matches.push(rec.value);
        }
        if (matches.length >= want) break outer;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
      if (!token) {
        exhausted = true;
        break;
      }
    }

    const jobs = matches.slice(0, limit);
    if (matches.length > limit) return { jobs, nextCursor: jobs[jobs.length - 1]!.id };
    // Scan budget spent before the index ended: a short page whose cursor resumes after
    // the last entry examined (never skips a job, since ids are strictly older past it).
    if (!exhausted && lastScannedId !== undefined) return { jobs, nextCursor: lastScannedId };
    return { jobs, nextCursor: null };
  }

  /**
   * Optimistic read-modify-write: `change` may run more than once (once per conflict),
   * always on the latest record, so it must be a pure function of its argument, which
   * every caller's is (spread and return).
   */
  async update(id: string, change: (job: JobRecord) => JobRecord | null): Promise<JobRecord | undefined> {
    this.#assertOpen();
    if (!isValidJobId(id)) return undefined;
    for (let attempt = 0; ; attempt++) {
      const found = await this.#readRecord(id);
      if (!found) return undefined;
      const current = found.value;
      const next = change(structuredClone(current));
      if (next === null) return current;
      if (next.id !== id || next.tenant !== current.tenant) {
        throw new Error(`job update must not change id or tenant (job ${id})`);
      }
      const saved: JobRecord = { ...next, updatedAt: new Date().toISOString() };
      try {
        await this.#put(this.#recordKey(id), JSON.stringify(saved), { IfMatch: found.etag });
      } catch (err) {
        // 404: the record vanished since the read; the next read reports it.
        if (!isWriteConflict(err) && !isNotFound(err)) throw err;
        if (attempt >= this.#maxRetries) {
          throw new Error(`job ${id}: update gave up after ${attempt + 1} conflicting writes`, { cause: err });
        }
        await sleep(backoffMs(attempt));
        continue;
      }
      if (saved.status !== current.status) await this.#moveStatusMarkers(saved, current.status);
      return saved;
    }
  }

  /**
   * Verified, not just counted: each marker's record is read, and markers a crash left
   * behind (job already final, or no record long after the create) are repaired, so the
   * per-tenant cap never locks a tenant out. A marker younger than staleMarkerMs without
   * a record is a create in progress and counts.
   */
  async countActive(tenant: string): Promise<number> {
    this.#assertOpen();
    if (!isValidTenant(tenant)) return 0;
    const byStatus = await this.#countActiveUnder(this.#activePrefix(tenant));
    return byStatus.queued + byStatus.running;
  }

  async countByStatus(): Promise<Partial<Record<JobStatus, number>>> {
    this.#assertOpen();
    const [active, ...finals] = await Promise.all([
      this.#countActiveUnder(this.#activePrefix()),
      ...FINAL_STATUSES.map((st) => this.#countKeys(this.#finalPrefix(st), this.#maxFinalCount)),
    ]);
    const out: Partial<Record<JobStatus, number>> = { queued: active.queued, running: active.running };
    // A status past the counting limit is left out: not reported beats a plausible wrong number.
    for (const [i, st] of FINAL_STATUSES.entries()) if ((finals[i] as number) >= 0) out[st] = finals[i] as number;
    return out;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  // ------------------------------------------------------------------ idempotency

  /**
   * Claims the idempotency key for `job` (undefined: go ahead and create) or returns the
   * job that owns it. A marker whose job never appeared is taken over once it is stale;
   * before that, the other create may still be writing, so we wait for it a while.
   */
  async #claimIdempotencyKey(idemKey: string, job: JobRecord, idem: { key: string; fingerprint: string }): Promise<CreateJobResult | undefined> {
    const body = JSON.stringify({ jobId: job.id, fingerprint: idem.fingerprint, createdAt: new Date().toISOString() } satisfies IdemMarker);
    const deadline = Date.now() + this.#pendingWaitMs;
    for (let wait = 0; ; ) {
      // Read first: the common repeat costs one GET, and a store that ignores
      // If-None-Match still answers sequential repeats correctly.
      const marker = await this.#readJson<IdemMarker>(idemKey);
      let lostRace = false;
      if (!marker) {
        try {
          await this.#put(idemKey, body, { IfNoneMatch: '*' });
          return undefined;
        } catch (err) {
          if (!isWriteConflict(err)) throw err;
          lostRace = true; // claimed by someone else between our read and write: read theirs
        }
      } else {
        const owner = isValidJobId(marker.value.jobId) ? await this.#readRecord(marker.value.jobId) : undefined;
        if (owner) {
          if (owner.value.tenant !== job.tenant) throw new Error(`idempotency marker ${idemKey} names a job of another tenant`);
          return { job: owner.value, created: false, existingFingerprint: marker.value.fingerprint };
        }
        if (Date.now() - marker.lastModified > this.#staleMs) {
          try {
            await this.#put(idemKey, body, { IfMatch: marker.etag });
            return undefined;
          } catch (err) {
            if (!isWriteConflict(err) && !isNotFound(err)) throw err;
            lostRace = true; // another repeat took it over first: read whose it is now
          }
        }
      }
      if (Date.now() >= deadline) {
        throw new AppError('idempotency_conflict', `A request with Idempotency-Key "${idem.key}" is still being processed; retry shortly.`, {
          retryable: true,
        });
      }
      // The owner of the marker is between its two writes: give it a moment.
      if (!lostRace) await sleep(Math.min(500, 25 * 2 ** Math.min(wait++, 5)));
    }
  }

  /** Frees a key whose create failed, unless it already names another job. */
  async #releaseIdempotencyKey(idemKey: string, jobId: string): Promise<void> {
    const marker = await this.#readJson<IdemMarker>(idemKey);
    if (marker?.value.jobId !== jobId) return;
    await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: idemKey }));
  }

  // ------------------------------------------------------------------ status markers

  /** Runs after the record is saved: new marker first, old one last, so a crash leaves an extra marker (repairable), never a missing one. */
  async #moveStatusMarkers(job: JobRecord, previous: JobStatus): Promise<void> {
    try {
      if (isFinal(job.status)) await this.#putEmpty(this.#finalKey(job.status, job.id));
      else if (isFinal(previous)) await this.#putEmpty(this.#activeKey(job.tenant, job.id));
      if (isFinal(previous)) await this.#deleteQuietly(this.#finalKey(previous, job.id));
      else if (isFinal(job.status)) await this.#deleteQuietly(this.#activeKey(job.tenant, job.id));
    } catch {
      // The record is saved, which is what the caller asked for; countActive repairs the markers.
    }
  }

  /** queued / running among the active markers under `prefix`, repairing stale ones. */
  async #countActiveUnder(prefix: string): Promise<{ queued: number; running: number }> {
    const counts = { queued: 0, running: 0 };
    const markers: { key: string; id: string; tenant: string; lastModified: number }[] = [];
    const activeRoot = this.#activePrefix();
    for await (const o of this.#listAll(prefix)) {
      const [tenant, id, ...rest] = o.key.slice(activeRoot.length).split('/');
      if (rest.length === 0 && isValidTenant(tenant) && isValidJobId(id)) markers.push({ key: o.key, id, tenant, lastModified: o.lastModified });
    }
    await mapLimit(markers, PARALLEL_READS, async (m) => {
      const rec = await this.#readRecord(m.id);
      if (!rec) {
        if (Date.now() - m.lastModified > this.#staleMs) await this.#deleteQuietly(m.key);
        else counts.queued++; // a create in progress: it is about to be a queued job
        return;
      }
      const job = rec.value;
      if (job.tenant !== m.tenant) return;
      if (isFinal(job.status)) {
        // An update saved the final status but died before moving the markers.
        await this.#putEmpty(this.#finalKey(job.status, job.id)).catch(() => undefined);
        await this.#deleteQuietly(m.key);
        return;
      }
      if (job.status === 'running') counts.running++;
      else counts.queued++;
    });
    return counts;
  }

  /** Keys under `prefix`, or -1 once there are more than `max`. */
  async #countKeys(prefix: string, max: number): Promise<number> {
    let n = 0;
    for await (const _ of this.#listAll(prefix)) if (++n > max) return -1;
    return n;
  }

  // ------------------------------------------------------------------ S3 plumbing

  async *#listAll(prefix: string): AsyncGenerator<{ key: string; lastModified: number }> {
    let token: string | undefined;
    do {
      const page = await this.#client.send(new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: prefix, ContinuationToken: token }));
      for (const o of page.Contents ?? []) if (o.Key) yield { key: o.Key, lastModified: o.LastModified?.getTime() ?? 0 };
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async #readRecord(id: string): Promise<Stored<JobRecord> | undefined> {
    const rec = await this.#readJson<JobRecord>(this.#recordKey(id));
    // A record under another id's key was not written by this store.
    return rec && rec.value.id === id ? rec : undefined;
  }

  async #readJson<T>(key: string): Promise<Stored<T> | undefined> {
    try {
      const out = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key }));
      const text = await out.Body!.transformToString('utf-8');
      return { value: JSON.parse(text) as T, etag: out.ETag ?? '', lastModified: out.LastModified?.getTime() ?? 0 };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async #put(key: string, body: string, cond: { IfMatch?: string; IfNoneMatch?: string }): Promise<void> {
    await this.#client.send(
      new PutObjectCommand({ Bucket: this.#bucket, Key: key, Body: body, ContentType: 'application/json', ...cond }),
    );
  }

  async #putEmpty(key: string): Promise<void> {
    // An explicit length: the SDK cannot infer one from an empty body and warns on every call.
    await this.#client.send(new PutObjectCommand({ Bucket: this.#bucket, Key: key, Body: '', ContentLength: 0 }));
  }

  async #deleteQuietly(key: string): Promise<void> {
    await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: key })).catch(() => undefined);
  }

  #assertOpen() {
    if (this.#closed) throw new Error('job store is closed');
  }
}

/** Full jitter, so contending writers spread out instead of colliding again in lockstep. */
function backoffMs(attempt: number): number {
  return Math.random() * Math.min(1000, 20 * 2 ** attempt);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** `fn` over `items` with at most `limit` running at once; results in input order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
