import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePhoto } from '../helpers/images.js';
import { exited, freePort, spawnService, waitUp } from '../helpers/processes.js';
import { api, isFinal, serveFolder, startService, tempDir, waitForJob, webhookReceiver } from '../helpers/servers.js';

/** Cancel, crash and shutdown: the job always ends in a final state, with one video at most. */
let photos: Awaited<ReturnType<typeof serveFolder>>;
let dir: string;
const N = 8;

beforeAll(async () => {
  dir = await tempDir('photoreel-resilience-');
  for (let i = 0; i < N; i++) {
    await makePhoto(path.join(dir, `p${i}.jpg`), { width: 2000, height: 1125, colour: [40 + i * 25, 200 - i * 20, 90] });
  }
  photos = await serveFolder(dir);
});
afterAll(async () => photos?.close());

/** A job long enough to still be rendering when we interfere: 8 photos x 4 s. */
const longJob = (extra: object = {}, resolution: '720p' | '1080p' = '1080p') => ({
  images: Array.from({ length: N }, (_, i) => `${photos.origin}/p${i}.jpg`),
  options: { secondsPerImage: 4, resolution },
  ...extra,
});

function ffmpegChildrenOf(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid), 'ffmpeg']).toString().trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

describe('cancel', () => {
  it('stops a running render within 2 s, frees the worker and sends job.canceled', async () => {
    const hooks = await webhookReceiver();
    const svc = await startService({ FETCH_ALLOW_HOSTS: `${photos.hostPort},${hooks.hostPort}`, CONCURRENCY: '1', X264_PRESET: 'veryfast' });
    try {
      const { json } = await api(svc.url, 'POST', '/v1/jobs', longJob({ webhook: { url: hooks.url } }));
      // Past photo preparation: ffmpeg is encoding.
      await waitForJob(svc.url, json.id, (j) => j.stage === 'rendering' && j.progress > 0.4, 60_000);
      expect(ffmpegChildrenOf(process.pid).length).toBe(1);

      const t0 = Date.now();
      const res = await api(svc.url, 'POST', `/v1/jobs/${json.id}/cancel`);
      expect(res.json.status).toBe('canceled');
      while (ffmpegChildrenOf(process.pid).length > 0 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50));
      const stoppedAfter = Date.now() - t0;
      expect(ffmpegChildrenOf(process.pid)).toEqual([]);
      expect(stoppedAfter).toBeLessThan(2000);

      // The single worker is free: a small job runs to success right after.
      const next = await api(svc.url, 'POST', '/v1/jobs', { images: [`${photos.origin}/p0.jpg`], options: { resolution: '720p', secondsPerImage: 1 } });
      const done = await waitForJob(svc.url, next.json.id, isFinal, 60_000);
      expect(done.status).toBe('succeeded');

      const final = await waitForJob(svc.url, json.id, () => true);
      expect(final).toMatchObject({ status: 'canceled', result: null, error: { code: 'canceled' } });
      expect(await svc.composition.services.storage.list(`videos/default/${json.id}`)).toEqual([]);
      const [hook] = await hooks.waitFor(1, 20_000);
      expect(JSON.parse(hook!.body)).toMatchObject({ type: 'job.canceled', data: { id: json.id, status: 'canceled' } });
    } finally {
      await svc.stop();
      await hooks.close();
    }
  });
});

describe('crash and shutdown', () => {
  it('a job whose process is SIGKILLed mid-render is redelivered after restart and succeeds with exactly one video', async () => {
    const dataDir = await tempDir('photoreel-crash-');
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const env = { PORT: String(port), DATA_DIR: dataDir, FETCH_ALLOW_HOSTS: photos.hostPort, QUEUE_VISIBILITY_SECONDS: '3', X264_PRESET: 'superfast' };
    let child = spawnService(env);
    try {
      await waitUp(base);
      const { json } = await api(base, 'POST', '/v1/jobs', longJob({}, '720p'));
      await waitForJob(base, json.id, (j) => j.stage === 'rendering' && j.progress > 0.3, 60_000);
      process.kill(-child.pid!, 'SIGKILL'); // the whole group: node and its ffmpeg
      await exited(child);
      expect(fs.readdirSync(path.join(dataDir, 'work'))).toEqual([json.id]); // the crash left scratch files

      child = spawnService(env);
      await waitUp(base);
      const done = await waitForJob(base, json.id, isFinal, 120_000);
      expect(done.status).toBe('succeeded');
      expect(done.result.video.durationMs).toBe(32_000);
      const videos = fs.readdirSync(path.join(dataDir, 'objects', 'videos', 'default')).filter((f) => f.endsWith('.mp4'));
      expect(videos).toEqual([`${json.id}.mp4`]);
      // The scratch folder goes right after the final state is written (the API can show it a moment before).
      for (const deadline = Date.now() + 10_000; fs.existsSync(path.join(dataDir, 'work', json.id)) && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
      expect(fs.existsSync(path.join(dataDir, 'work', json.id))).toBe(false);
    } finally {
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGKILL');
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('SIGTERM releases a running render back to the queue and exits; the next start finishes it', async () => {
    const dataDir = await tempDir('photoreel-term-');
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const env = { PORT: String(port), DATA_DIR: dataDir, FETCH_ALLOW_HOSTS: photos.hostPort, SHUTDOWN_GRACE_SECONDS: '0', X264_PRESET: 'superfast' };
    let child = spawnService(env);
    try {
      await waitUp(base);
      const { json } = await api(base, 'POST', '/v1/jobs', longJob({}, '720p'));
      await waitForJob(base, json.id, (j) => j.stage === 'rendering' && j.progress > 0.25, 60_000);
      const t0 = Date.now();
      child.kill('SIGTERM');
      expect(await exited(child)).toBe(0);
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(ffmpegChildrenOf(child.pid!)).toEqual([]);

      child = spawnService(env);
      await waitUp(base);
      const requeued = (await api(base, 'GET', `/v1/jobs/${json.id}`)).json;
      expect(['queued', 'running']).toContain(requeued.status);
      const done = await waitForJob(base, json.id, isFinal, 120_000);
      expect(done.status).toBe('succeeded');
    } finally {
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGKILL');
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
