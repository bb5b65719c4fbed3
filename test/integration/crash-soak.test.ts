import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePhoto } from '../helpers/images.js';
import { exited, freePort, spawnService, waitUp } from '../helpers/processes.js';
import { api, isFinal, serveFolder, tempDir, waitForJob, webhookReceiver } from '../helpers/servers.js';

/**
 * kill -9 at random moments while 20 jobs go through fetch, render, publish and webhook
 * delivery; restart each time on the same data folder. Afterwards every job must have
 * succeeded, with exactly one video and one poster, no partial files anywhere, and every
 * job's webhook received (duplicates allowed, all with the same webhook-id).
 * The kill times come from a seeded generator, so a failure can be replayed.
 */
const JOBS = 20;
const SEED = 20261125;

function mulberry32(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let photos: Awaited<ReturnType<typeof serveFolder>>;
let hooks: Awaited<ReturnType<typeof webhookReceiver>>;
let dir: string;

beforeAll(async () => {
  dir = await tempDir('photoreel-crash-soak-');
  await makePhoto(path.join(dir, 'a.jpg'), { width: 1600, height: 900, colour: [200, 60, 40] });
  await makePhoto(path.join(dir, 'b.jpg'), { width: 900, height: 1600, colour: [40, 90, 200], seed: 2 });
  photos = await serveFolder(dir);
  hooks = await webhookReceiver();
});
afterAll(async () => {
  await photos?.close();
  await hooks?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function filesUnder(root: string): string[] {
  if (!fs.existsSync(root)) return [];
  return fs.readdirSync(root, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

describe('kill -9 at random points', () => {
  it(`${JOBS} jobs survive repeated SIGKILLs: all succeed, one video each, no partial files, every webhook delivered`, async () => {
    const random = mulberry32(SEED);
    const dataDir = await tempDir('photoreel-crash-soak-data-');
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const env = {
      PORT: String(port),
      DATA_DIR: dataDir,
      FETCH_ALLOW_HOSTS: `${photos.hostPort},${hooks.hostPort}`,
      CONCURRENCY: '2',
      QUEUE_VISIBILITY_SECONDS: '3',
      // Crashes must never use up a job's deliveries: only the kills end attempts here.
      QUEUE_MAX_RECEIVES: '100',
      WEBHOOK_RETRY_SCHEDULE: '0.5,0.5,0.5,0.5,0.5',
      X264_PRESET: 'superfast',
    };
    let child = spawnService(env);
    const killedDuring: string[] = [];
    try {
      await waitUp(base);
      const ids: string[] = [];
      for (let i = 0; i < JOBS; i++) {
        const res = await api(base, 'POST', '/v1/jobs', {
          images: [`${photos.origin}/a.jpg`, `${photos.origin}/b.jpg`],
          options: { resolution: '720p', secondsPerImage: 1 },
          webhook: { url: hooks.url },
          metadata: { n: i },
        }, { 'idempotency-key': `soak-${i}` });
        expect(res.status).toBe(202);
        ids.push(res.json.id);
      }

      const snapshot = async () => Promise.all(ids.map(async (id) => (await api(base, 'GET', `/v1/jobs/${id}`)).json));
      const delivered = () => new Set(hooks.received.map((r) => r.headers['webhook-id']));
      const allDone = (jobs: any[]) => jobs.every((j) => j.status === 'succeeded') && delivered().size >= JOBS;

      // Short and long gaps, so kills land in fetch, render, publish and webhook delivery alike.
      for (let kill = 0; kill < 10; kill++) {
        await new Promise((r) => setTimeout(r, 300 + random() * 5000));
        const jobs = await snapshot();
        if (allDone(jobs)) break;
        // What was going on at the moment of the kill (a job succeeded but not yet notified counts as "webhook").
        const ids_ = new Set(delivered());
        const stages = new Set(jobs.map((j: any) => (j.status === 'succeeded' ? (ids_.size < JOBS ? 'webhook' : 'done') : j.status === 'running' ? j.stage : j.status)));
        killedDuring.push([...stages].sort().join('+'));
        process.kill(-child.pid!, 'SIGKILL');
        await exited(child);
        child = spawnService(env);
        await waitUp(base);
      }

      // Let the last process finish everything.
      const deadline = Date.now() + 180_000;
      let jobs = await snapshot();
      while (!allDone(jobs)) {
        if (Date.now() > deadline) throw new Error(`not finished: ${jobs.map((j: any) => `${j.id}:${j.status}/${j.stage}`).join(' ')}; webhooks ${delivered().size}`);
        await new Promise((r) => setTimeout(r, 250));
        jobs = await snapshot();
      }
      child.kill('SIGTERM');
      expect(await exited(child)).toBe(0);

      expect(killedDuring.length).toBeGreaterThanOrEqual(3);
      for (const j of jobs) {
        expect(j.status).toBe('succeeded');
        expect(j.result.video.durationMs).toBe(2000);
        expect(j.webhookAttempts.some((a: any) => a.ok)).toBe(true);
      }
      const videos = fs.readdirSync(path.join(dataDir, 'objects/videos/default')).filter((f) => f.endsWith('.mp4')).sort();
      expect(videos).toEqual(ids.map((id) => `${id}.mp4`).sort());
      const posters = fs.readdirSync(path.join(dataDir, 'objects/posters/default')).filter((f) => f.endsWith('.jpg'));
      expect(posters.length).toBe(JOBS);
      // No partial writes, no scratch files, after a graceful stop.
      expect(filesUnder(path.join(dataDir, 'objects')).filter((f) => f.includes('.tmp-'))).toEqual([]);
      expect(filesUnder(path.join(dataDir, 'work'))).toEqual([]);

      // Every job's event arrived; repeats (a kill after sending, before recording) carry the same webhook-id.
      const byId = new Map<string, Set<string>>();
      for (const r of hooks.received) {
        const body = JSON.parse(r.body);
        expect(body.type).toBe('job.succeeded');
        byId.set(r.headers['webhook-id']!, (byId.get(r.headers['webhook-id']!) ?? new Set()).add(body.data.id));
      }
      expect(byId.size).toBe(JOBS);
      for (const jobIds of byId.values()) expect(jobIds.size).toBe(1);
      console.log(`crash soak: ${killedDuring.length} kills during [${killedDuring.join(', ')}]; ${hooks.received.length} webhook requests for ${JOBS} events`);
    } finally {
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGKILL');
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 300_000);
});

describe('kill -9 inside the publish step', () => {
  /**
   * Publishing (copying the video and poster into storage, then the final write) takes tens
   * of milliseconds, so random kills rarely land in it. Here the service is frozen with
   * SIGSTOP every few milliseconds and its job table read while it cannot move: when a job's
   * record says `publishing`, the frozen process gets SIGKILL, exactly there. After a restart
   * on the same data folder the job must succeed with one video, one poster and no partial file.
   */
  it('a kill while a job is publishing: after restart the job succeeds, one video, no partial files', async () => {
    const dataDir = await tempDir('photoreel-publish-kill-');
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const env = { PORT: String(port), DATA_DIR: dataDir, FETCH_ALLOW_HOSTS: `${photos.hostPort},${hooks.hostPort}`, QUEUE_VISIBILITY_SECONDS: '3', X264_PRESET: 'superfast' };
    let child = spawnService(env);
    try {
      await waitUp(base);
      const db = new Database(path.join(dataDir, 'photoreel.db'), { readonly: true, fileMustExist: true });
      const ids: string[] = [];
      let killedIn: string | undefined;
      // A few jobs, one after another, until one is caught publishing.
      for (let attempt = 0; attempt < 5 && !killedIn; attempt++) {
        const res = await api(base, 'POST', '/v1/jobs', { images: [`${photos.origin}/a.jpg`, `${photos.origin}/b.jpg`], options: { resolution: '1080p', secondsPerImage: 2 }, webhook: { url: hooks.url } });
        expect(res.status).toBe(202);
        ids.push(res.json.id);
        const deadline = Date.now() + 60_000;
        while (!killedIn && Date.now() < deadline) {
          process.kill(-child.pid!, 'SIGSTOP');
          const row = JSON.parse((db.prepare('SELECT record FROM jobs WHERE id = ?').get(res.json.id) as { record: string }).record) as { id: string; stage: string; status: string };
          if (row.status === 'running' && row.stage === 'publishing') {
            process.kill(-child.pid!, 'SIGKILL');
            killedIn = row.id;
            break;
          }
          process.kill(-child.pid!, 'SIGCONT');
          if (row.status === 'succeeded' || row.status === 'failed') break;
          await new Promise((r) => setTimeout(r, 3 + Math.random() * 10));
        }
      }
      db.close();
      expect(killedIn).toBeDefined();
      await exited(child);
      child = spawnService(env);
      await waitUp(base);
      for (const id of ids) expect((await waitForJob(base, id, isFinal, 90_000)).status).toBe('succeeded');
      child.kill('SIGTERM');
      expect(await exited(child)).toBe(0);
      const videos = fs.readdirSync(path.join(dataDir, 'objects/videos/default')).filter((f) => f.endsWith('.mp4')).sort();
      expect(videos).toEqual(ids.map((id) => `${id}.mp4`).sort());
      expect(fs.readdirSync(path.join(dataDir, 'objects/posters/default')).filter((f) => f.endsWith('.jpg')).length).toBe(ids.length);
      expect(filesUnder(path.join(dataDir, 'objects')).filter((f) => f.includes('.tmp-'))).toEqual([]);
      expect(filesUnder(path.join(dataDir, 'work'))).toEqual([]);
      console.log(`publish kill: caught job ${killedIn} publishing after ${ids.length} job(s)`);
    } finally {
      if (child.exitCode === null) {
        try {
          process.kill(-child.pid!, 'SIGCONT');
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 300_000);
});

describe('kill -9 during an upload', () => {
  it('a kill while POST /v1/uploads is streaming: nothing half-received survives the restart, and uploads work again', async () => {
    const dataDir = await tempDir('photoreel-upload-kill-');
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const env = { PORT: String(port), DATA_DIR: dataDir, FETCH_ALLOW_HOSTS: `${photos.hostPort},${hooks.hostPort}`, X264_PRESET: 'superfast' };
    let child = spawnService(env);
    try {
      await waitUp(base);
      // 8 MB declared, 3 MB sent, then the service dies mid-body.
      const req = http.request(`${base}/v1/uploads`, { method: 'POST', headers: { 'content-type': 'image/jpeg', 'content-length': String(8 * 1024 * 1024) } });
      req.on('error', () => {}); // the socket dies with the service
      req.write(Buffer.alloc(3 * 1024 * 1024, 0xab));
      const partialDir = path.join(dataDir, 'work', 'uploads');
      const deadline = Date.now() + 10_000;
      const received = () => filesUnder(partialDir).reduce((n, f) => n + fs.statSync(f).size, 0);
      while (received() < 1024 * 1024 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(received()).toBeGreaterThan(1024 * 1024);
      process.kill(-child.pid!, 'SIGKILL');
      await exited(child);
      req.destroy();
      expect(filesUnder(partialDir).length).toBe(1); // the half-received file is there until the restart

      child = spawnService(env);
      await waitUp(base);
      expect(filesUnder(partialDir)).toEqual([]);
      expect(filesUnder(path.join(dataDir, 'objects', 'uploads'))).toEqual([]);

      const upload = await fetch(`${base}/v1/uploads`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: fs.readFileSync(path.join(dir, 'a.jpg')) });
      expect(upload.status).toBe(201);
      const { id } = (await upload.json()) as { id: string };
      const job = await api(base, 'POST', '/v1/jobs', { images: [{ upload: id }], options: { resolution: '720p', secondsPerImage: 1 } });
      expect(job.status).toBe(202);
      expect((await waitForJob(base, job.json.id, isFinal, 60_000)).status).toBe('succeeded');
    } finally {
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGKILL');
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
