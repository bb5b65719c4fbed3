import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO, runTogether, WAIT_FOR_GO } from '../helpers/processes.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, SCHEMA_VERSION, type SqliteDatabase } from '../../src/adapters/sqlite/db.js';
import { SqliteJobStore } from '../../src/adapters/sqlite/job-store.js';
import { newId } from '../../src/core/ids.js';
import type { JobRecord, JobStatus } from '../../src/core/job.js';
import { expectOneIdempotentWinner, makeJob } from '../helpers/jobs.js';


const srcUrl = (p: string) => JSON.stringify(pathToFileURL(join(REPO, p)).href);


let dir: string;
let dbs: SqliteDatabase[];
let file: string;

function open(): { db: SqliteDatabase; store: SqliteJobStore } {
  const db = openDatabase(file);
  dbs.push(db);
  return { db, store: new SqliteJobStore(db) };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'photoreel-jobs-'));
  file = join(dir, 'data', 'photoreel.db');
  dbs = [];
});

afterEach(() => {
  for (const db of dbs) if (db.open) db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('openDatabase', () => {
  it('creates the file with WAL, foreign keys, busy timeout and the schema version; reopening is idempotent', () => {
    const { db } = open();
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
    expect(db.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
    expect(tables).toEqual(['dead_letters', 'idempotency', 'jobs', 'messages']);
    db.close();
    const again = openDatabase(file);
    dbs.push(again);
    expect(again.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
  });

  it('refuses a database from a newer build', () => {
    const { db } = open();
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    expect(() => openDatabase(file)).toThrow(/newer/);
  });
});

describe('SqliteJobStore.create and idempotency', () => {
  it('stores a job and reads it back', async () => {
    const { store } = open();
    const job = makeJob({ request: { images: [{ url: 'https://example.com/x.png' }], prompt: 'hello', metadata: { sku: 7 } } });
    const res = await store.create(job);
    expect(res).toEqual({ job, created: true });
    expect(await store.getById(job.id)).toEqual(job);
    expect(await store.get('default', job.id)).toEqual(job);
  });

  it('a repeated idempotency key returns the first job with created false and its fingerprint', async () => {
    const { store } = open();
    const first = makeJob();
    const a = await store.create(first, { key: 'k1', fingerprint: 'fp-1' });
    expect(a.created).toBe(true);
    const second = makeJob();
    const b = await store.create(second, { key: 'k1', fingerprint: 'fp-2' });
    expect(b.created).toBe(false);
    expect(b.job.id).toBe(first.id);
    expect(b.existingFingerprint).toBe('fp-1');
    expect(await store.getById(second.id)).toBeUndefined();
    expect((await store.list({ tenant: 'default', limit: 10 })).jobs.map((j) => j.id)).toEqual([first.id]);
  });

  it('the same key under another tenant creates a new job', async () => {
    const { store } = open();
    const a = await store.create(makeJob({ tenant: 't1' }), { key: 'same', fingerprint: 'f' });
    const b = await store.create(makeJob({ tenant: 't2' }), { key: 'same', fingerprint: 'f' });
    expect(a.created).toBe(true);
    expect(b.created).toBe(true);
    expect(b.job.id).not.toBe(a.job.id);
    expect(b.job.tenant).toBe('t2');
  });

  it('creates without a key never collide with each other', async () => {
    const { store } = open();
    await store.create(makeJob());
    await store.create(makeJob());
    expect((await store.list({ tenant: 'default', limit: 10 })).jobs).toHaveLength(2);
  });

  it('many concurrent creates with one key, over two connections, make exactly one job', async () => {
    const { store: s1 } = open();
    const { store: s2 } = open();
    const attempts = Array.from({ length: 60 }, (_, i) => (i % 2 ? s1 : s2).create(makeJob(), { key: 'burst', fingerprint: `fp-${i}` }));
    const results = await Promise.all(attempts);
    expectOneIdempotentWinner(results);
    expect((await s1.list({ tenant: 'default', limit: 100 })).jobs).toHaveLength(1);
  });

  it('a duplicate job id is rejected and leaves no idempotency row behind', async () => {
    const { store } = open();
    const job = makeJob();
    await store.create(job);
    await expect(store.create({ ...job }, { key: 'k', fingerprint: 'f' })).rejects.toThrow();
    // The key was rolled back with the failed insert: it is free for a new job.
    const other = makeJob();
    expect((await store.create(other, { key: 'k', fingerprint: 'f' })).created).toBe(true);
  });
});

describe('idempotency across processes', () => {
  it('two processes racing on the same keys create exactly one job per key', async () => {
    open(); // create the schema first
    const script = join(dir, 'race.mts');
    writeFileSync(
      script,
      `import { openDatabase } from ${srcUrl('src/adapters/sqlite/db.ts')};
       import { SqliteJobStore } from ${srcUrl('src/adapters/sqlite/job-store.ts')};
       import { newId } from ${srcUrl('src/core/ids.ts')};
       const [file, who] = process.argv.slice(2);
       const db = openDatabase(file);
       const store = new SqliteJobStore(db);
       ${WAIT_FOR_GO}
       const out = [];
       for (let i = 0; i < 100; i++) {
         const now = new Date().toISOString();
         const job = { id: newId('job'), tenant: 'default', status: 'queued', stage: 'queued', progress: 0, createdAt: now, updatedAt: now,
           engine: 'local', request: { images: [{ url: 'https://example.com/a.jpg' }] }, plan: null, result: null, error: null, attempts: 0, webhookAttempts: [], webhookQueuedAt: null };
         const r = await store.create(job, { key: 'key-' + i, fingerprint: who });
         out.push({ key: 'key-' + i, id: r.job.id, created: r.created });
       }
       db.close();
       process.stdout.write(JSON.stringify(out));`,
    );
    const outs = await runTogether(script, [[file, 'a'], [file, 'b']]);
    const [a, b] = outs.map((o) => JSON.parse(o) as { key: string; id: string; created: boolean }[]);
    for (let i = 0; i < 100; i++) {
      expect(a![i]!.id).toBe(b![i]!.id);
      expect(Number(a![i]!.created) + Number(b![i]!.created)).toBe(1);
    }
    const { store } = open();
    expect((await store.list({ tenant: 'default', limit: 1000 })).jobs).toHaveLength(100);
  });
});

describe('tenant isolation', () => {
  it("get never returns another tenant's job; list only shows the tenant's own", async () => {
    const { store } = open();
    const mine = makeJob({ tenant: 'acme' });
    const theirs = makeJob({ tenant: 'globex' });
    await store.create(mine);
    await store.create(theirs);
    expect(await store.get('acme', theirs.id)).toBeUndefined();
    expect(await store.get('globex', mine.id)).toBeUndefined();
    expect((await store.get('acme', mine.id))?.id).toBe(mine.id);
    expect((await store.list({ tenant: 'acme', limit: 10 })).jobs.map((j) => j.id)).toEqual([mine.id]);
    expect((await store.list({ tenant: 'nobody', limit: 10 })).jobs).toEqual([]);
    // getById is for consumers: no tenant check.
    expect((await store.getById(theirs.id))?.tenant).toBe('globex');
  });
});

describe('list', () => {
  it('pages newest first across 3 pages with a status filter', async () => {
    const { store } = open();
    const base = Date.UTC(2025, 0, 1);
    const statuses: JobStatus[] = ['queued', 'succeeded', 'failed'];
    const all: JobRecord[] = [];
    for (let i = 0; i < 21; i++) {
      const job = makeJob({ id: newId('job', base + i * 1000), status: statuses[i % 3]!, tenant: 'acme' });
      all.push(job);
      await store.create(job);
    }
    await store.create(makeJob({ id: newId('job', base + 500), status: 'succeeded', tenant: 'other' }));
    const succeeded = all.filter((j) => j.status === 'succeeded').map((j) => j.id).reverse(); // 7, newest first

    const p1 = await store.list({ tenant: 'acme', status: 'succeeded', limit: 3 });
    expect(p1.jobs.map((j) => j.id)).toEqual(succeeded.slice(0, 3));
    expect(p1.nextCursor).toBe(succeeded[2]);
    const p2 = await store.list({ tenant: 'acme', status: 'succeeded', limit: 3, cursor: p1.nextCursor! });
    expect(p2.jobs.map((j) => j.id)).toEqual(succeeded.slice(3, 6));
    expect(p2.nextCursor).toBe(succeeded[5]);
    const p3 = await store.list({ tenant: 'acme', status: 'succeeded', limit: 3, cursor: p2.nextCursor! });
    expect(p3.jobs.map((j) => j.id)).toEqual(succeeded.slice(6));
    expect(p3.nextCursor).toBeNull();
    for (const j of [...p1.jobs, ...p2.jobs, ...p3.jobs]) expect(j.status).toBe('succeeded');
  });

  it('without a filter returns every status newest first; an exact final page has no cursor', async () => {
    const { store } = open();
    const base = Date.UTC(2025, 0, 1);
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const job = makeJob({ id: newId('job', base + i), status: i % 2 ? 'running' : 'queued' });
      ids.push(job.id);
      await store.create(job);
    }
    const p1 = await store.list({ tenant: 'default', limit: 2 });
    expect(p1.jobs.map((j) => j.id)).toEqual([ids[3], ids[2]]);
    const p2 = await store.list({ tenant: 'default', limit: 2, cursor: p1.nextCursor! });
    expect(p2.jobs.map((j) => j.id)).toEqual([ids[1], ids[0]]);
    expect(p2.nextCursor).toBeNull();
  });

  it('status column follows updates, so filters see the new status', async () => {
    const { store } = open();
    const job = makeJob();
    await store.create(job);
    await store.update(job.id, (j) => ({ ...j, status: 'running' }));
    expect((await store.list({ tenant: 'default', status: 'queued', limit: 5 })).jobs).toEqual([]);
    expect((await store.list({ tenant: 'default', status: 'running', limit: 5 })).jobs.map((j) => j.id)).toEqual([job.id]);
  });
});

describe('update', () => {
  it('applies the change, stamps updatedAt, and persists', async () => {
    const { store } = open();
    const job = makeJob({ updatedAt: '2000-01-01T00:00:00.000Z' });
    await store.create(job);
    const saved = await store.update(job.id, (j) => ({ ...j, stage: 'fetching', progress: 0.25 }));
    expect(saved?.stage).toBe('fetching');
    expect(saved?.progress).toBe(0.25);
    expect(saved?.updatedAt).not.toBe('2000-01-01T00:00:00.000Z');
    expect(Date.now() - Date.parse(saved!.updatedAt)).toBeLessThan(5000);
    expect(await store.getById(job.id)).toEqual(saved);
  });

  it('a null change leaves the record untouched and returns it as found', async () => {
    const { store } = open();
    const job = makeJob({ status: 'succeeded', updatedAt: '2000-01-01T00:00:00.000Z' });
    await store.create(job);
    let seen: JobRecord | undefined;
    const res = await store.update(job.id, (j) => {
      seen = j;
      return null;
    });
    expect(seen).toEqual(job);
    expect(res).toEqual(job);
    expect(await store.getById(job.id)).toEqual(job);
  });

  it('an unknown id returns undefined without calling change', async () => {
    const { store } = open();
    let called = false;
    expect(await store.update('job_missing', (j) => ((called = true), j))).toBeUndefined();
    expect(called).toBe(false);
  });

  it('a throwing change rejects and saves nothing', async () => {
    const { store } = open();
    const job = makeJob();
    await store.create(job);
    await expect(store.update(job.id, () => { throw new Error('boom'); })).rejects.toThrow('boom');
    expect(await store.getById(job.id)).toEqual(job);
  });

  it('refuses to change the id or tenant', async () => {
    const { store } = open();
    const job = makeJob();
    await store.create(job);
    await expect(store.update(job.id, (j) => ({ ...j, tenant: 'evil' }))).rejects.toThrow(/tenant/);
    expect((await store.getById(job.id))?.tenant).toBe('default');
  });

  it('read-modify-write is atomic across two processes: no lost increments', async () => {
    const { store } = open();
    const job = makeJob();
    await store.create(job);
    const script = join(dir, 'bump.mts');
    writeFileSync(
      script,
      `import { openDatabase } from ${srcUrl('src/adapters/sqlite/db.ts')};
       import { SqliteJobStore } from ${srcUrl('src/adapters/sqlite/job-store.ts')};
       const [file, id, n] = process.argv.slice(2);
       const db = openDatabase(file);
       const store = new SqliteJobStore(db);
       ${WAIT_FOR_GO}
       for (let i = 0; i < Number(n); i++) await store.update(id, (j) => ({ ...j, attempts: j.attempts + 1 }));
       db.close();`,
    );
    const N = 300;
    await runTogether(script, [[file, job.id, String(N)], [file, job.id, String(N)]]);
    expect((await store.getById(job.id))?.attempts).toBe(2 * N);
  });
});

describe('close', () => {
  it('rejects calls after close but leaves the shared database open', async () => {
    const { db, store } = open();
    await store.close();
    await expect(store.getById('job_x')).rejects.toThrow(/closed/);
    expect(db.open).toBe(true);
  });
});

