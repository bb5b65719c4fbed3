import type { Statement } from 'better-sqlite3';
import { JOB_STATUSES, type JobRecord, type JobStatus } from '../../core/job.js';
import type { CreateJobResult, JobStore, ListJobsQuery } from '../ports.js';
import type { SqliteDatabase } from './db.js';

interface JobRow {
  record: string;
}
interface IdemRow {
  job_id: string;
  fingerprint: string;
}

/**
 * Job records in SQLite: one row per job, the record as JSON plus the columns the
 * queries need (tenant, status, id). Methods are async to match the port; the work is
 * synchronous. The database handle is shared and owned by the caller: close() does not
 * close it.
 */
export class SqliteJobStore implements JobStore {
  readonly #db: SqliteDatabase;
  readonly #insertJob: Statement<[string, string, string, string, string]>;
  readonly #insertIdem: Statement<[string, string, string, string, string]>;
  readonly #getIdem: Statement<[string, string], IdemRow>;
  readonly #getById: Statement<[string], JobRow>;
  readonly #getByTenant: Statement<[string, string], JobRow>;
  readonly #updateJob: Statement<[string, string, string]>;
  readonly #countActive: Statement<[string], { n: number }>;
  readonly #countByStatus: Statement<[], { status: string; n: number }>;
  readonly #list: {
    all: Statement<[string, number], JobRow>;
    allCursor: Statement<[string, string, number], JobRow>;
    status: Statement<[string, string, number], JobRow>;
    statusCursor: Statement<[string, string, string, number], JobRow>;
  };
  readonly #createTx: (job: JobRecord, idem?: { key: string; fingerprint: string }) => CreateJobResult;
  readonly #updateTx: (id: string, change: (job: JobRecord) => JobRecord | null) => JobRecord | undefined;
  #closed = false;

  constructor(db: SqliteDatabase) {
    this.#db = db;
    this.#insertJob = db.prepare('INSERT INTO jobs (id, tenant, status, created_at, record) VALUES (?, ?, ?, ?, ?)');
    this.#insertIdem = db.prepare(
      'INSERT INTO idempotency (tenant, key, job_id, fingerprint, created_at) VALUES (?, ?, ?, ?, ?)',
    );
    this.#getIdem = db.prepare('SELECT job_id, fingerprint FROM idempotency WHERE tenant = ? AND key = ?');
    this.#getById = db.prepare('SELECT record FROM jobs WHERE id = ?');
    this.#getByTenant = db.prepare('SELECT record FROM jobs WHERE tenant = ? AND id = ?');
    this.#updateJob = db.prepare('UPDATE jobs SET status = ?, record = ? WHERE id = ?');
    this.#countActive = db.prepare("SELECT COUNT(*) AS n FROM jobs WHERE tenant = ? AND status IN ('queued', 'running')");
    this.#countByStatus = db.prepare('SELECT status, COUNT(*) AS n FROM jobs GROUP BY status');
    this.#list = {
      all: db.prepare('SELECT record FROM jobs WHERE tenant = ? ORDER BY id DESC LIMIT ?'),
      allCursor: db.prepare('SELECT record FROM jobs WHERE tenant = ? AND id < ? ORDER BY id DESC LIMIT ?'),
      status: db.prepare('SELECT record FROM jobs WHERE tenant = ? AND status = ? ORDER BY id DESC LIMIT ?'),
      statusCursor: db.prepare(
        'SELECT record FROM jobs WHERE tenant = ? AND status = ? AND id < ? ORDER BY id DESC LIMIT ?',
      ),
    };

    const create = db.transaction((job: JobRecord, idem?: { key: string; fingerprint: string }): CreateJobResult => {
      if (idem) {
        const prior = this.#getIdem.get(job.tenant, idem.key);
        if (prior) {
          const row = this.#getById.get(prior.job_id);
          if (!row) throw new Error(`idempotency key ${idem.key} names job ${prior.job_id}, which does not exist`);
          return { job: parse(row), created: false, existingFingerprint: prior.fingerprint };
        }
      }
      this.#insertJob.run(job.id, job.tenant, job.status, job.createdAt, JSON.stringify(job));
      if (idem) this.#insertIdem.run(job.tenant, idem.key, job.id, idem.fingerprint, new Date().toISOString());
      return { job: structuredClone(job), created: true };
    });
    this.#createTx = (job, idem) => create.immediate(job, idem);

    const update = db.transaction((id: string, change: (job: JobRecord) => JobRecord | null) => {
      const row = this.#getById.get(id);
      if (!row) return undefined;
      const current = parse(row);
      const next = change(current);
      if (next === null) return parse(row);
      if (next.id !== id || next.tenant !== current.tenant) {
        throw new Error(`job update must not change id or tenant (job ${id})`);
      }
      const saved: JobRecord = { ...next, updatedAt: new Date().toISOString() };
      this.#updateJob.run(saved.status, JSON.stringify(saved), id);
      return saved;
    });
    this.#updateTx = (id, change) => update.immediate(id, change);
  }

  async create(job: JobRecord, idem?: { key: string; fingerprint: string }): Promise<CreateJobResult> {
    this.#assertOpen();
    return this.#createTx(job, idem);
  }

  async get(tenant: string, id: string): Promise<JobRecord | undefined> {
    this.#assertOpen();
    const row = this.#getByTenant.get(tenant, id);
    return row ? parse(row) : undefined;
  }

  async getById(id: string): Promise<JobRecord | undefined> {
    this.#assertOpen();
    const row = this.#getById.get(id);
    return row ? parse(row) : undefined;
  }

  async list(q: ListJobsQuery): Promise<{ jobs: JobRecord[]; nextCursor: string | null }> {
    this.#assertOpen();
    const limit = Math.max(1, Math.floor(q.limit));
    // One extra row tells whether another page exists.
    const n = limit + 1;
    const rows =
      q.status === undefined
        ? q.cursor === undefined
          ? this.#list.all.all(q.tenant, n)
          : this.#list.allCursor.all(q.tenant, q.cursor, n)
        : q.cursor === undefined
          ? this.#list.status.all(q.tenant, q.status, n)
          : this.#list.statusCursor.all(q.tenant, q.status, q.cursor, n);
    const jobs = rows.slice(0, limit).map(parse);
    const nextCursor = rows.length > limit ? (jobs[jobs.length - 1]?.id ?? null) : null;
    return { jobs, nextCursor };
  }

  async update(id: string, change: (job: JobRecord) => JobRecord | null): Promise<JobRecord | undefined> {
    this.#assertOpen();
    return this.#updateTx(id, change);
  }

  async countActive(tenant: string): Promise<number> {
    this.#assertOpen();
    return this.#countActive.get(tenant)?.n ?? 0;
  }

  async countByStatus(): Promise<Record<JobStatus, number>> {
    this.#assertOpen();
    const out = Object.fromEntries(JOB_STATUSES.map((st) => [st, 0])) as Record<JobStatus, number>;
    for (const row of this.#countByStatus.all()) if (row.status in out) out[row.status as JobStatus] = row.n;
    return out;
  }

  /** Stops this store; the shared database handle stays open (its opener closes it). */
  async close(): Promise<void> {
    this.#closed = true;
  }

  #assertOpen() {
    if (this.#closed) throw new Error('job store is closed');
    if (!this.#db.open) throw new Error('job store database is closed');
  }
}

function parse(row: JobRow): JobRecord {
  return JSON.parse(row.record) as JobRecord;
}
