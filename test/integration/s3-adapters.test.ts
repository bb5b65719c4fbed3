import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { makeS3Client } from '../../src/adapters/s3/client.js';
import { invertJobId } from '../../src/adapters/s3/keys.js';
import { S3JobStore, type S3JobStoreOptions } from '../../src/adapters/s3/job-store.js';
import { S3Storage } from '../../src/adapters/s3/storage.js';
import { S3ObjectUrls } from '../../src/adapters/s3/urls.js';
import { openDatabase } from '../../src/adapters/sqlite/db.js';
import { SqliteJobStore } from '../../src/adapters/sqlite/job-store.js';
import { AppError } from '../../src/core/errors.js';
import { newId } from '../../src/core/ids.js';
import type { JobRecord, JobStatus } from '../../src/core/job.js';
import { createScaleOutResources, startAwsEmulator } from '../helpers/aws-emulator.js';
import { expectOneIdempotentWinner, makeJob } from '../helpers/jobs.js';

/**
 * The S3 adapters against a real S3 emulator (moto_server, or fauxqs without conditional
 * writes: the tests that need them are skipped there). Set PHOTOREEL_TEST_EMULATOR=fauxqs
 * to run against fauxqs even when moto is installed.
 */

// Top level, not beforeAll: it.skipIf needs to know the emulator's abilities when tests are declared.
const emu = await startAwsEmulator();
const { bucket } = await createScaleOutResources(emu);
// The adapters take credentials from the SDK default chain, as in production.
Object.assign(process.env, emu.env);
const clients: S3Client[] = [];
const newClient = () => {
  const c = makeS3Client({ region: emu.region, endpoint: emu.endpoint, forcePathStyle: true });
  clients.push(c);
  return c;
};
const client = newClient();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'photoreel-s3-'));

afterAll(async () => {
  for (const c of clients) c.destroy();
  await emu.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const cw = emu.conditionalWrites;
const uniquePrefix = (name: string) => `${name}-${randomBytes(4).toString('hex')}/`;

async function bytesOf(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function rawKeys(prefix: string): Promise<string[]> {
  const out: string[] = [];
  let token: string | undefined;
  do {
    const page = await emu.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) out.push(o.Key!);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

const rawPut = (key: string, body: string) => emu.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: Buffer.byteLength(body) }));


function jobStore(over: Partial<S3JobStoreOptions> = {}): { store: S3JobStore; prefix: string } {
  const prefix = over.prefix ?? uniquePrefix('jobs');
  return { store: new S3JobStore({ client, bucket, prefix, ...over }), prefix };
}

// ---------------------------------------------------------------------------- storage

describe('S3Storage', () => {
  it('putFile sends a 20 MB file in 8 MB parts and reads it back byte-identical, whole and by range', async () => {
    const prefix = uniquePrefix('objects');
    const storage = new S3Storage({ client, bucket, prefix });
    const data = randomBytes(20 * 1024 * 1024 + 123);
    const file = path.join(tmp, 'big.mp4');
    fs.writeFileSync(file, data);

    expect(await storage.putFile('videos/acme/job_big.mp4', file, 'video/mp4')).toEqual({ bytes: data.length, contentType: 'video/mp4' });
    const raw = await emu.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: `${prefix}videos/acme/job_big.mp4` }));
    // A multipart object's ETag is "<md5 of part md5s>-<parts>": 8 + 8 + 4 MB.
    expect(raw.ETag).toMatch(/-3"$/);
    expect(raw.ContentType).toBe('video/mp4');
    expect(await storage.head('videos/acme/job_big.mp4')).toEqual({ bytes: data.length, contentType: 'video/mp4' });

    const whole = await bytesOf(await storage.read('videos/acme/job_big.mp4'));
    expect(createHash('sha256').update(whole).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    // Across the first part boundary.
    const start = 8 * 1024 * 1024 - 10;
    expect(await bytesOf(await storage.read('videos/acme/job_big.mp4', { start, end: start + 19 }))).toEqual(data.subarray(start, start + 20));
  });

  it('small files: single PUT, range reads (end clamped), 416 and not_found as AppErrors, head/delete/list', async () => {
    const prefix = uniquePrefix('objects');
    const storage = new S3Storage({ client, bucket, prefix: prefix.slice(0, -1) }); // a prefix without its slash means the same folder
    const file = path.join(tmp, 'poster.jpg');
    fs.writeFileSync(file, '0123456789');
    expect(await storage.putFile('posters/acme/job_a.jpg', file, 'image/jpeg')).toEqual({ bytes: 10, contentType: 'image/jpeg' });
    const raw = await emu.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: `${prefix}posters/acme/job_a.jpg` }));
    expect(raw.ETag).not.toMatch(/-\d+"$/);

    expect((await bytesOf(await storage.read('posters/acme/job_a.jpg', { start: 2, end: 5 }))).toString()).toBe('2345');
    expect((await bytesOf(await storage.read('posters/acme/job_a.jpg', { start: 7, end: 1000 }))).toString()).toBe('789');
    const err416 = await storage.read('posters/acme/job_a.jpg', { start: 10, end: 20 }).catch((e: unknown) => e);
    expect(err416).toBeInstanceOf(AppError);
    expect((err416 as AppError).code).toBe('range_not_satisfiable');
    const err404 = await storage.read('posters/acme/missing.jpg').catch((e: unknown) => e);
    expect(err404).toBeInstanceOf(AppError);
    expect((err404 as AppError).code).toBe('not_found');

    expect(await storage.head('posters/acme/missing.jpg')).toBeUndefined();
    await storage.putFile('posters/acme/job_b.jpg', file, 'image/jpeg');
    await storage.putFile('posters/other/job_c.jpg', file, 'image/jpeg');
    expect(await storage.list('posters/acme/')).toEqual(['posters/acme/job_a.jpg', 'posters/acme/job_b.jpg']);
    expect(await storage.list('posters/acme/job_a')).toEqual(['posters/acme/job_a.jpg']);
    expect(await storage.list('')).toHaveLength(3);

    await storage.delete('posters/acme/job_a.jpg');
    await storage.delete('posters/acme/job_a.jpg'); // idempotent
    await storage.delete('posters/acme/never-existed.jpg');
    expect(await storage.head('posters/acme/job_a.jpg')).toBeUndefined();
    expect(await storage.list('posters/')).toEqual(['posters/acme/job_b.jpg', 'posters/other/job_c.jpg']);
  });

  it('list follows continuation past 1000 keys', async () => {
    const prefix = uniquePrefix('many');
    const storage = new S3Storage({ client, bucket, prefix });
    const keys = Array.from({ length: 1010 }, (_, i) => `k/${String(i).padStart(4, '0')}`);
    for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => rawPut(prefix + k, 'x')));
    expect(await storage.list('k/')).toEqual(keys);
  });

  it('refuses crafted keys before any request', async () => {
    const storage = new S3Storage({ client, bucket });
    const file = path.join(tmp, 'x.bin');
    fs.writeFileSync(file, 'x');
    for (const key of ['../x', 'a/../b', '/abs', 'a//b', '', 'a\\b', 'a/./b']) {
      await expect(storage.head(key)).rejects.toThrow(/invalid storage key/);
      await expect(storage.read(key)).rejects.toThrow(/invalid storage key/);
      await expect(storage.putFile(key, file, 'text/plain')).rejects.toThrow(/invalid storage key/);
      await expect(storage.delete(key)).rejects.toThrow(/invalid storage key/);
    }
  });
});

// ---------------------------------------------------------------------------- urls

describe('S3ObjectUrls', () => {
  it('presigned URLs download with a plain fetch, support Range, and stop working once the object is deleted', async () => {
    const prefix = uniquePrefix('urls');
    const storage = new S3Storage({ client, bucket, prefix });
    const urls = new S3ObjectUrls({ client, bucket, prefix, expiresSeconds: 3600 });
    const file = path.join(tmp, 'clip.mp4');
    const data = randomBytes(64 * 1024);
    fs.writeFileSync(file, data);
    await storage.putFile('videos/acme/job_u.mp4', file, 'video/mp4');

    const url = await urls.urlFor('videos/acme/job_u.mp4');
    expect(url).toContain('X-Amz-Signature=');
    expect(url).toContain(`/${bucket}/${prefix}videos/acme/job_u.mp4?`);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('video/mp4');
    expect(Buffer.from(await res.arrayBuffer())).toEqual(data);
    const part = await fetch(url, { headers: { range: 'bytes=100-199' } });
    expect(part.status).toBe(206);
    expect(Buffer.from(await part.arrayBuffer())).toEqual(data.subarray(100, 200));

    await storage.delete('videos/acme/job_u.mp4');
    const gone = await fetch(url);
    await gone.arrayBuffer();
    expect(gone.status).toBe(404);
  });

  it('signs as of the hour (stable URLs between polls) and caps the expiry at 7 days', async () => {
    const hour = Date.UTC(2030, 0, 1, 10);
    let now = hour + 25 * 60_000;
    const urls = new S3ObjectUrls({ client, bucket, expiresSeconds: 30 * 86_400, now: () => now });
    const a = new URL(await urls.urlFor('videos/acme/job_x.mp4'));
    expect(a.searchParams.get('X-Amz-Date')).toBe('20300101T100000Z');
    expect(a.searchParams.get('X-Amz-Expires')).toBe('604800');
    now += 20 * 60_000;
    expect(await urls.urlFor('videos/acme/job_x.mp4')).toBe(a.href);
    now += 20 * 60_000; // next hour: a new signature
    expect(await urls.urlFor('videos/acme/job_x.mp4')).not.toBe(a.href);

    const short = new S3ObjectUrls({ client, bucket, expiresSeconds: 600, now: () => hour + 25 * 60_000 });
    // 600 s from now, counted from the signing time at the top of the hour.
    expect(new URL(await short.urlFor('a/b')).searchParams.get('X-Amz-Expires')).toBe(String(600 + 25 * 60));
  });

  it('publicBaseUrl gives plain URLs with each key segment encoded, prefix included', async () => {
    const urls = new S3ObjectUrls({ client, bucket, prefix: 'prod', expiresSeconds: 60, publicBaseUrl: 'https://cdn.example.com/media/' });
    expect(await urls.urlFor('videos/acme/a b+c#.mp4')).toBe('https://cdn.example.com/media/prod/videos/acme/a%20b%2Bc%23.mp4');
    await expect(urls.urlFor('../secret')).rejects.toThrow(/invalid storage key/);
  });
});

// ---------------------------------------------------------------------------- job store

describe('S3JobStore: records, tenants, ids', () => {
  it('creates, reads back by tenant and by id, and keeps tenants apart', async () => {
    const { store } = jobStore();
    const job = makeJob({ tenant: 'acme', request: { images: [{ url: 'https://example.com/x.png' }], prompt: 'hello', metadata: { sku: 7 } } });
    expect(await store.create(job)).toEqual({ job, created: true });
    expect(await store.getById(job.id)).toEqual(job);
    expect(await store.get('acme', job.id)).toEqual(job);
    expect(await store.get('globex', job.id)).toBeUndefined();
    expect(await store.getById(newId('job'))).toBeUndefined();
    const theirs = makeJob({ tenant: 'globex' });
    await store.create(theirs);
    expect((await store.list({ tenant: 'acme', limit: 10 })).jobs.map((j) => j.id)).toEqual([job.id]);
    expect((await store.list({ tenant: 'globex', limit: 10 })).jobs.map((j) => j.id)).toEqual([theirs.id]);
    expect((await store.list({ tenant: 'nobody', limit: 10 })).jobs).toEqual([]);
  });

  it.skipIf(!cw)('a second create with the same id is refused and leaves the first record and its idempotency key alone', async () => {
    const { store } = jobStore();
    const job = makeJob();
    await store.create(job, { key: 'first', fingerprint: 'f1' });
    await expect(store.create({ ...job, status: 'failed' }, { key: 'second', fingerprint: 'f2' })).rejects.toThrow(/already exists/);
    expect(await store.getById(job.id)).toEqual(job);
    expect(await store.countActive('default')).toBe(1);
    // The failed create released its key; the first key still names the job.
    const other = makeJob();
    expect((await store.create(other, { key: 'second', fingerprint: 'f2' })).created).toBe(true);
    expect(await store.create(makeJob(), { key: 'first', fingerprint: 'f3' })).toEqual({ job, created: false, existingFingerprint: 'f1' });
  });

  it('rejects crafted ids and tenants without touching any other key', async () => {
    const { store, prefix } = jobStore();
    await rawPut(`${prefix}x.json`, JSON.stringify(makeJob({ id: 'job_x' })));
    for (const id of ['../x', 'job_../x', 'job_a/b', 'job_', 'job_a.json', `job_${'a'.repeat(101)}`, '']) {
      await expect(store.create(makeJob({ id }))).rejects.toThrow(/invalid job id/);
      expect(await store.getById(id)).toBeUndefined();
      expect(await store.get('default', id)).toBeUndefined();
      expect(await store.update(id, (j) => j)).toBeUndefined();
    }
    for (const tenant of ['../t', 'a/b', '', 'x'.repeat(65)]) {
      await expect(store.create(makeJob({ tenant }))).rejects.toThrow(/invalid tenant/);
      expect(await store.list({ tenant, limit: 5 })).toEqual({ jobs: [], nextCursor: null });
      expect(await store.countActive(tenant)).toBe(0);
    }
    const badCursor = await store.list({ tenant: 'default', limit: 5, cursor: '../x' }).catch((e: unknown) => e);
    expect(badCursor).toBeInstanceOf(AppError);
    expect((badCursor as AppError).code).toBe('validation_error');
    expect(await rawKeys(prefix)).toEqual([`${prefix}x.json`]);
  });

  it('update stamps updatedAt, a null change returns the record as found, and id/tenant cannot change', async () => {
    const { store } = jobStore();
    const job = makeJob({ updatedAt: '2000-01-01T00:00:00.000Z' });
    await store.create(job);
    const saved = await store.update(job.id, (j) => ({ ...j, stage: 'fetching', progress: 0.25 }));
    expect(saved).toMatchObject({ stage: 'fetching', progress: 0.25 });
    expect(Date.now() - Date.parse(saved!.updatedAt)).toBeLessThan(5000);
    expect(await store.getById(job.id)).toEqual(saved);

    expect(await store.update(job.id, () => null)).toEqual(saved);
    await expect(store.update(job.id, (j) => ({ ...j, tenant: 'evil' }))).rejects.toThrow(/tenant/);
    await expect(store.update(job.id, (j) => ({ ...j, id: newId('job') }))).rejects.toThrow(/id or tenant/);
    await expect(store.update(job.id, () => { throw new Error('boom'); })).rejects.toThrow('boom');
    expect(await store.getById(job.id)).toEqual(saved);
    let called = false;
    expect(await store.update(newId('job'), (j) => ((called = true), j))).toBeUndefined();
    expect(called).toBe(false);
  });

  it('close() makes later calls fail', async () => {
    const { store } = jobStore();
    await store.close();
    await expect(store.getById(newId('job'))).rejects.toThrow(/closed/);
  });
});

describe('S3JobStore: list', () => {
  const statuses: JobStatus[] = ['queued', 'succeeded', 'failed', 'running', 'succeeded'];
  const base = Date.UTC(2025, 0, 1);
  const jobs = Array.from({ length: 25 }, (_, i) => makeJob({ id: newId('job', base + i * 1000), tenant: 'acme', status: statuses[i % statuses.length]! }));
  const { store, prefix: listPrefix } = jobStore();
  const dbDir = fs.mkdtempSync(path.join(os.tmpdir(), 'photoreel-s3-sqlite-'));
  const db = openDatabase(path.join(dbDir, 'jobs.db'));
  const sqlite = new SqliteJobStore(db);
  afterAll(() => {
    db.close();
    fs.rmSync(dbDir, { recursive: true, force: true });
  });

  async function walk(s: { list: S3JobStore['list'] }, q: { status?: JobStatus; limit: number; cursor?: string }) {
    const pages: { ids: string[]; nextCursor: string | null }[] = [];
    let cursor = q.cursor;
    for (let i = 0; i < 50; i++) {
      const page = await s.list({ tenant: 'acme', status: q.status, limit: q.limit, cursor });
      pages.push({ ids: page.jobs.map((j) => j.id), nextCursor: page.nextCursor });
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    return pages;
  }

  it('25 jobs page newest first, with and without a status filter, exactly like the SQLite store', async () => {
    // Created out of order: the index, not creation order, decides.
    for (const j of [...jobs].reverse()) {
      await store.create(j);
      await sqlite.create(j);
    }
    await store.create(makeJob({ id: newId('job', base + 500), tenant: 'other', status: 'succeeded' }));
    const newestFirst = jobs.map((j) => j.id).reverse();

    const p = await walk(store, { limit: 10 });
    expect(p.map((x) => x.ids)).toEqual([newestFirst.slice(0, 10), newestFirst.slice(10, 20), newestFirst.slice(20)]);
    expect(p.map((x) => x.nextCursor)).toEqual([newestFirst[9], newestFirst[19], null]);
    const exact = await walk(store, { limit: 5 });
    expect(exact).toHaveLength(5);
    expect(exact[4]!.nextCursor).toBeNull();

    const succeeded = jobs.filter((j) => j.status === 'succeeded').map((j) => j.id).reverse();
    expect(succeeded).toHaveLength(10);
    const f = await walk(store, { status: 'succeeded', limit: 4 });
    expect(f.map((x) => x.ids)).toEqual([succeeded.slice(0, 4), succeeded.slice(4, 8), succeeded.slice(8)]);

    for (const q of [
      { limit: 10 },
      { limit: 5 },
      { limit: 25 },
      { limit: 1 },
      { limit: 100 },
      { status: 'succeeded' as const, limit: 4 },
      { status: 'succeeded' as const, limit: 5 },
      { status: 'queued' as const, limit: 2 },
      { status: 'running' as const, limit: 5 },
      { status: 'canceled' as const, limit: 5 },
      // A cursor that names no job still means "strictly older than this id".
      { limit: 3, cursor: newId('job', base + 12_500) },
      { status: 'failed' as const, limit: 1, cursor: newId('job', base + 30_000) },
      { limit: 3, cursor: jobs[0]!.id },
    ]) {
      expect(await walk(store, q), JSON.stringify(q)).toEqual(await walk(sqlite, q));
    }
  });

  it('a status filter sees the current status after an update', async () => {
    const target = jobs[24]!;
    await store.update(target.id, (j) => ({ ...j, status: 'canceled' }));
    expect((await store.list({ tenant: 'acme', status: 'canceled', limit: 5 })).jobs.map((j) => j.id)).toEqual([target.id]);
    expect((await store.list({ tenant: 'acme', status: 'queued', limit: 50 })).jobs.map((j) => j.id)).not.toContain(target.id);
  });

  it('a scan budget returns short pages with a cursor that still reaches every match', async () => {
    // The same jobs, read through a store with a tiny scan budget.
    const { store: tiny } = jobStore({ prefix: listPrefix, maxListScan: 3 });
    const pages = await walk(tiny, { status: 'failed', limit: 10 });
    expect(pages.length).toBeGreaterThan(1);
    expect(pages.flatMap((p) => p.ids)).toEqual(jobs.filter((j) => j.status === 'failed').map((j) => j.id).reverse());
  });

  it('skips index entries whose record is missing and removes them once stale', async () => {
    const ghost = makeJob({ id: newId('job', base + 99_000), tenant: 'acme' });
    const { store: eager } = jobStore({ prefix: listPrefix, staleMarkerMs: 0 });
    // An index entry without a record: a create that died before its commit point.
    await rawPut(`${listPrefix}tenants/acme/jobs/${invertJobId(ghost.id)}`, '');
    const fresh = await store.list({ tenant: 'acme', limit: 1 });
    expect(fresh.jobs.map((j) => j.id)).toEqual([jobs[24]!.id]);
    expect((await eager.list({ tenant: 'acme', limit: 1 })).jobs.map((j) => j.id)).toEqual([jobs[24]!.id]);
    expect(await rawKeys(`${listPrefix}tenants/acme/jobs/${invertJobId(ghost.id)}`)).toEqual([]);
  });
});

describe('S3JobStore: idempotent create', () => {
  it('a repeated key returns the first job with created false and its fingerprint; other tenants are separate', async () => {
    const { store, prefix } = jobStore();
    const first = makeJob();
    expect((await store.create(first, { key: 'k1', fingerprint: 'fp-1' })).created).toBe(true);
    const second = makeJob();
    const again = await store.create(second, { key: 'k1', fingerprint: 'fp-2' });
    expect(again).toEqual({ job: first, created: false, existingFingerprint: 'fp-1' });
    expect(await store.getById(second.id)).toBeUndefined();
    expect((await store.list({ tenant: 'default', limit: 10 })).jobs.map((j) => j.id)).toEqual([first.id]);
    // The repeat left no trace: no index entry or active marker for the second job.
    expect((await rawKeys(prefix)).filter((k) => k.includes(second.id) || k.includes(invertJobId(second.id)))).toEqual([]);

    const other = await store.create(makeJob({ tenant: 't2' }), { key: 'k1', fingerprint: 'fp-1' });
    expect(other.created).toBe(true);
    expect(other.job.id).not.toBe(first.id);
    // Keys are hashed: arbitrary text (slashes, dots) never becomes part of a key.
    const odd = await store.create(makeJob(), { key: '../../jobs/x', fingerprint: 'f' });
    expect(odd.created).toBe(true);
    expect((await rawKeys(prefix)).every((k) => !k.includes('..'))).toBe(true);
  });

  it.skipIf(!cw)('10 concurrent creates with one key make exactly one job', async () => {
    const { store, prefix } = jobStore();
    // Separate clients: like separate API instances, no shared connection pool.
    const stores = Array.from({ length: 3 }, () => new S3JobStore({ client: newClient(), bucket, prefix }));
    const attempts = Array.from({ length: 10 }, (_, i) => stores[i % 3]!.create(makeJob(), { key: 'burst', fingerprint: `fp-${i}` }));
    const results = await Promise.all(attempts);
    const winner = expectOneIdempotentWinner(results);
    expect((await store.list({ tenant: 'default', limit: 100 })).jobs.map((j) => j.id)).toEqual([winner]);
    expect(await store.countActive('default')).toBe(1);
  });

  it('a marker whose job never appeared: repeats wait, then take it over once stale', async () => {
    const { store, prefix } = jobStore({ pendingCreateWaitMs: 300 });
    const idemKey = `${prefix}idempotency/default/${createHash('sha256').update('crashed').digest('hex')}.json`;
    await rawPut(idemKey, JSON.stringify({ jobId: newId('job'), fingerprint: 'fp-dead', createdAt: new Date().toISOString() }));
    // Fresh: the creator may still be between its two writes.
    const pending = await store.create(makeJob(), { key: 'crashed', fingerprint: 'fp-new' }).catch((e: unknown) => e);
    expect(pending).toBeInstanceOf(AppError);
    expect(pending).toMatchObject({ code: 'idempotency_conflict', retryable: true });

    const { store: later } = jobStore({ prefix, staleMarkerMs: 0 });
    const job = makeJob();
    const res = await later.create(job, { key: 'crashed', fingerprint: 'fp-new' });
    expect(res).toEqual({ job, created: true });
    expect(await later.create(makeJob(), { key: 'crashed', fingerprint: 'fp-x' })).toEqual({ job, created: false, existingFingerprint: 'fp-new' });
  });
});

describe('S3JobStore: concurrent updates', () => {
  it.skipIf(!cw)('20 concurrent increments from 4 clients add exactly 20', async () => {
    const { store, prefix } = jobStore();
    const job = makeJob();
    await store.create(job);
    const stores = Array.from({ length: 4 }, () => new S3JobStore({ client: newClient(), bucket, prefix }));
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => stores[i % 4]!.update(job.id, (j) => ({ ...j, attempts: j.attempts + 1 }))),
    );
    expect(new Set(results.map((r) => r!.attempts))).toEqual(new Set(Array.from({ length: 20 }, (_, i) => i + 1)));
    expect((await store.getById(job.id))!.attempts).toBe(20);
  });

  it.skipIf(!cw)('two consumers racing to finish a job: exactly one final write wins', async () => {
    const { store, prefix } = jobStore();
    const job = makeJob({ status: 'running', stage: 'rendering' });
    await store.create(job);
    // Hold both record writes until both consumers have read the running job, so the
    // race is certain, not a matter of timing.
    const gated = newClient();
    let arrived = 0;
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    gated.middlewareStack.add(
      (next, context) => async (args) => {
        const key = (args.input as { Key?: string }).Key ?? '';
        if (context.commandName === 'PutObjectCommand' && key.endsWith(`jobs/${job.id}.json`) && arrived < 2) {
          if (++arrived === 2) open();
          await gate;
        }
        return next(args);
      },
      { step: 'initialize', name: 'raceGate' },
    );
    const racer = new S3JobStore({ client: gated, bucket, prefix });
    let changesMade = 0;
    const finish = (who: string) =>
      racer.update(job.id, (j) => {
        if (j.status === 'succeeded' || j.status === 'failed' || j.status === 'canceled') return null;
        changesMade++;
        return { ...j, status: 'succeeded', stage: 'done', progress: 1, engineState: { finishedBy: who } };
      });
    const [a, b] = await Promise.all([finish('a'), finish('b')]);
    // Both changes ran on the running job; only one was saved, and the loser then saw it final.
    expect(changesMade).toBe(2);
    const saved = await store.getById(job.id);
    const winner = (saved!.engineState as { finishedBy: string }).finishedBy;
    expect([a!.engineState, b!.engineState]).toEqual([{ finishedBy: winner }, { finishedBy: winner }]);
    expect(a).toEqual(saved);
    expect(b).toEqual(saved);
    expect(await store.countActive('default')).toBe(0);
    expect((await store.countByStatus()).succeeded).toBe(1);
  });
});

describe('S3JobStore: countActive and countByStatus', () => {
  it('countActive drops as jobs finish and heals markers a crash left behind', async () => {
    const { store, prefix } = jobStore();
    const a = makeJob({ tenant: 'acme' });
    const b = makeJob({ tenant: 'acme', status: 'running' });
    const c = makeJob({ tenant: 'acme' });
    for (const j of [a, b, c]) await store.create(j);
    await store.create(makeJob({ tenant: 'other' }));
    await store.create(makeJob({ tenant: 'acme', status: 'succeeded' }));
    expect(await store.countActive('acme')).toBe(3);

    await store.update(a.id, (j) => ({ ...j, status: 'failed' }));
    expect(await store.countActive('acme')).toBe(2);
    await store.update(b.id, (j) => ({ ...j, status: 'succeeded' }));
    expect(await store.countActive('acme')).toBe(1);

    // A consumer saved c as canceled and died before removing its active marker.
    const cRaw = JSON.parse((await (await emu.s3.send(new GetObjectCommand({ Bucket: bucket, Key: `${prefix}jobs/${c.id}.json` }))).Body!.transformToString()));
    await rawPut(`${prefix}jobs/${c.id}.json`, JSON.stringify({ ...cRaw, status: 'canceled' }));
    expect(await rawKeys(`${prefix}active/acme/`)).toEqual([`${prefix}active/acme/${c.id}`]);
    expect(await store.countActive('acme')).toBe(0);
    expect(await rawKeys(`${prefix}active/acme/`)).toEqual([]);
    expect(await rawKeys(`${prefix}final/canceled/`)).toEqual([`${prefix}final/canceled/${c.id}`]);

    // A create that died after its marker: counted while it may be in progress, removed once stale.
    const ghost = newId('job');
    await rawPut(`${prefix}active/acme/${ghost}`, '');
    expect(await store.countActive('acme')).toBe(1);
    const { store: eager } = jobStore({ prefix, staleMarkerMs: 0 });
    expect(await eager.countActive('acme')).toBe(0);
    expect(await rawKeys(`${prefix}active/acme/`)).toEqual([]);
    expect(await store.countActive('other')).toBe(1);
  });

  it('countByStatus: exact over all tenants; a final status past the counting limit is left out', async () => {
    const { store, prefix } = jobStore();
    const plan: [string, JobStatus][] = [
      ['t1', 'queued'], ['t1', 'queued'], ['t2', 'queued'], ['t1', 'running'], ['t2', 'running'],
      ['t1', 'succeeded'], ['t2', 'succeeded'], ['t1', 'failed'],
    ];
    const made: JobRecord[] = [];
    for (const [tenant, status] of plan) {
      const j = makeJob({ tenant });
      await store.create(j);
      made.push(j);
      if (status !== 'queued') await store.update(j.id, (x) => ({ ...x, status }));
    }
    expect(await store.countByStatus()).toEqual({ queued: 3, running: 2, succeeded: 2, failed: 1, canceled: 0 });
    await store.update(made[0]!.id, (x) => ({ ...x, status: 'canceled' }));
    expect(await store.countByStatus()).toEqual({ queued: 2, running: 2, succeeded: 2, failed: 1, canceled: 1 });

    const { store: capped } = jobStore({ prefix, maxFinalCount: 1 });
    expect(await capped.countByStatus()).toEqual({ queued: 2, running: 2, failed: 1, canceled: 1 });
  });
});
