import fs from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/core/logger.js';
import { startServer } from '../../src/entry/server.js';
import { probeVideo } from '../../src/pipeline/media/ffprobe.js';
import { startNemoFake, type NemoFake } from '../fakes/nemo-server.js';
import { makePhoto } from '../helpers/images.js';
import { api, isFinal, serveFolder, startService, tempDir, waitForJob, webhookReceiver } from '../helpers/servers.js';

/**
 * `engine: "nemo"` through the real service: HTTP API, queue, consumer, the nemo engine
 * against the fake Nemo backend on loopback, storage, webhooks. Logs are captured (debug
 * level) and scanned: no token and no raw backend text may appear.
 */

let photos: Awaited<ReturnType<typeof serveFolder>>;
let hooks: Awaited<ReturnType<typeof webhookReceiver>>;
let photoDir: string;
let logs = '';

beforeAll(async () => {
  photoDir = await tempDir('nemo-svc-photos-');
  await makePhoto(path.join(photoDir, 'red.jpg'), { width: 1600, height: 900, colour: [220, 30, 30] });
  await makePhoto(path.join(photoDir, 'green.png'), { width: 1200, height: 1200, colour: [30, 200, 60] });
  photos = await serveFolder(photoDir);
  hooks = await webhookReceiver();
});
afterAll(async () => {
  await photos?.close();
  await hooks?.close();
  await fs.rm(photoDir, { recursive: true, force: true });
  expect(logs).not.toMatch(/nmv_usr_/);
  expect(logs).not.toMatch(/RAW-BACKEND/);
  expect(logs).not.toMatch(/Bearer /);
});

/** The service with its logs captured into `logs`. */
async function service(fake: NemoFake | null, env: Record<string, string> = {}, dataDir?: string, consumer = true) {
  const dir = dataDir ?? (await tempDir('nemo-svc-data-'));
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dir,
    LOG_LEVEL: 'debug',
    FETCH_ALLOW_HOSTS: `${photos.hostPort},${hooks.hostPort}`,
    WEBHOOK_RETRY_SCHEDULE: '0.2',
    ...(fake ? { NEMO_BASE_URL: fake.origin, NEMO_POLL_INTERVAL_MS: '20', NEMO_RETRY_BASE_MS: '10', NEMO_RATE_LIMIT_WAIT_MS: '100' } : {}),
    ...env,
  });
  const sink = new PassThrough();
  sink.on('data', (c: Buffer) => (logs += c.toString('utf8')));
  const running = await startServer(config, { logger: createLogger('debug', sink), consumer });
  return { ...running, dataDir: dir };
}

const body = (extra: Record<string, unknown> = {}) => ({
  images: [`${photos.origin}/red.jpg`, { url: `${photos.origin}/green.png` }],
  prompt: 'turn my photos into a smooth HD video with transitions',
  engine: 'nemo',
  ...extra,
});

describe('engine selection and GET /v1/engines', () => {
  it('without NEMO_BASE_URL: only local; asking for nemo is a 400 naming `engine`', async () => {
    const svc = await startService({}, { consumer: false });
    try {
      const list = await api(svc.url, 'GET', '/v1/engines');
      expect(list.status).toBe(200);
      expect(list.json).toEqual({ engines: [{ name: 'local', default: true }] });
      const res = await api(svc.url, 'POST', '/v1/jobs', body());
      expect(res.status).toBe(400);
      expect(res.json.error).toMatchObject({ code: 'validation_error', field: 'engine' });
      expect(res.json.error.message).toMatch(/"nemo" is not available/);
      const bad = await api(svc.url, 'POST', '/v1/jobs', body({ engine: 'cloud9' }));
      expect(bad.status).toBe(400);
      expect(bad.json.error.field).toBe('engine');
    } finally {
      await svc.stop();
    }
  });

  it('ENGINE=nemo without NEMO_BASE_URL is a configuration error', () => {
    expect(() => loadConfig({ ENGINE: 'nemo' })).toThrow(/NEMO_BASE_URL/);
  });

  it('with NEMO_BASE_URL: both engines, nemo with its credit balance; ENGINE picks the default', async () => {
    const fake = await startNemoFake({ credits: 80 });
    const svc = await service(fake, { ENGINE: 'nemo' });
    try {
      const list = await api(svc.url, 'GET', '/v1/engines');
      expect(list.json).toEqual({
        engines: [
          { name: 'local', default: false },
          { name: 'nemo', default: true, credits: { available: 80, frozen: 0, total: 80 } },
        ],
      });
      expect(fake.counts.credits).toBe(1);
      // A job without `engine` gets the default.
      await svc.consumer.stop(0);
      const res = await api(svc.url, 'POST', '/v1/jobs', { images: [`${photos.origin}/red.jpg`] });
      expect(res.status).toBe(202);
      expect(res.json.engine).toBe('nemo');
      const local = await api(svc.url, 'POST', '/v1/jobs', { images: [`${photos.origin}/red.jpg`], engine: 'local' });
      expect(local.json.engine).toBe('local');
    } finally {
      await svc.close(0);
      await fake.close();
    }
  });

  it('credits: null when the backend cannot be reached', async () => {
    const fake = await startNemoFake();
    const svc = await service(fake, { NEMO_REQUEST_TIMEOUT_MS: '2000' });
    await fake.close();
    try {
      const list = await api(svc.url, 'GET', '/v1/engines');
      expect(list.json.engines[1]).toEqual({ name: 'nemo', default: false, credits: null });
    } finally {
      await svc.close(0);
    }
  });
});

describe('engine "nemo" end to end', () => {
  it('renders through the fake backend: a real MP4 in our storage, the webhook, nothing internal shown', async () => {
    const fake = await startNemoFake({ pollsNeeded: 3 });
    const svc = await service(fake);
    try {
      const res = await api(svc.url, 'POST', '/v1/jobs', body({ webhook: { url: hooks.url }, metadata: { sku: 'NEMO-1' } }));
      expect(res.status).toBe(202);
      expect(res.json.engine).toBe('nemo');
      const progress: number[] = [];
      const job = await waitForJob(svc.url, res.json.id, isFinal, 60_000, (j) => progress.push(j.progress));
      expect(job.error).toBeNull();
      expect(job.status).toBe('succeeded');
      expect(job.engine).toBe('nemo');
      for (let i = 1; i < progress.length; i++) expect(progress[i]).toBeGreaterThanOrEqual(progress[i - 1]!);
      expect(job).not.toHaveProperty('engineState');
      expect(JSON.stringify(job)).not.toMatch(/nmv_usr_|render_|RAW-BACKEND/);

      // The MP4 is mirrored into our storage and served from our URL.
      const dl = await fetch(job.result.video.url);
      expect(dl.status).toBe(200);
      const file = path.join(svc.dataDir, 'nemo-download-check.mp4');
      await fs.writeFile(file, Buffer.from(await dl.arrayBuffer()));
      const probe = await probeVideo(file);
      expect(probe).toMatchObject({ codec: 'h264', pixFmt: 'yuv420p', width: 1280, height: 720, moovBeforeMdat: true });
      expect(job.result.video).toMatchObject({ width: probe.width, height: probe.height, durationMs: probe.durationMs, bytes: probe.bytes, codec: 'h264' });
      expect((await fetch(job.result.poster.url)).headers.get('content-type')).toBe('image/jpeg');
      expect(fake.counts).toMatchObject({ session: 1, upload: 2, uploadUrl: 0, runSse: 1, exportCreate: 1, exportStatus: 3 });
      // The logs were captured (and are scanned for secrets after all tests).
      expect(logs).toMatch(/nemo: export started/);
      expect(logs).toMatch(/nemo: video downloaded/);

      // The record keeps no engine state after success; the webhook has no internals either.
      const hook = await hooks.waitFor(1, 20_000);
      const payload = JSON.parse(hook.find((h) => h.body.includes(job.id))!.body);
      expect(payload.type).toBe('job.succeeded');
      expect(JSON.stringify(payload)).not.toMatch(/nmv_usr_|engineState|sessionId|RAW-BACKEND/);
      const record = await svc.composition.services.store.getById(job.id);
      expect(record!.engineState ?? null).toBeNull();
    } finally {
      await svc.close(0);
      await fs.rm(svc.dataDir, { recursive: true, force: true });
      await fake.close();
    }
  });

  for (const [name, switches, code, wording] of [
    ['out of credits (2001)', { outOfCredits: true }, 'insufficient_credits', /out of credits/],
    ['plan blocks export (402)', { export402: true }, 'plan_export_blocked', /plan/],
    ['render failed', { renderFails: true }, 'engine_failed', /failed to render/],
  ] as const) {
    it(`${name}: the job fails at once, not retryable, with a message a user understands`, async () => {
      const fake = await startNemoFake(switches);
      const svc = await service(fake);
      try {
        const res = await api(svc.url, 'POST', '/v1/jobs', body());
        const job = await waitForJob(svc.url, res.json.id, isFinal, 30_000);
        expect(job.status).toBe('failed');
        expect(job.error).toMatchObject({ code, retryable: false });
        expect(job.error.message).toMatch(wording);
        const record = await svc.composition.services.store.getById(job.id);
        expect(record!.attempts).toBe(1);
        expect(JSON.stringify(record)).not.toMatch(/nmv_usr_|RAW-BACKEND/);
      } finally {
        await svc.close(0);
        await fs.rm(svc.dataDir, { recursive: true, force: true });
        await fake.close();
      }
    });
  }

  it('canceling a job mid-export cancels the render at the backend too', async () => {
    const fake = await startNemoFake({ pollsNeeded: 1_000_000 });
    const svc = await service(fake);
    try {
      const res = await api(svc.url, 'POST', '/v1/jobs', body());
      await fake.waitFor('exportStatus', 2, 30_000);
      const canceled = await api(svc.url, 'POST', `/v1/jobs/${res.json.id}/cancel`);
      expect(canceled.status).toBe(200);
      await fake.waitFor('exportCancel', 1, 10_000);
      expect([...fake.renders.values()][0]!.canceled).toBe(true);
      const job = await waitForJob(svc.url, res.json.id, isFinal, 10_000);
      expect(job.status).toBe('canceled');
    } finally {
      await svc.close(0);
      await fs.rm(svc.dataDir, { recursive: true, force: true });
      await fake.close();
    }
  });

  it('a redelivered job resumes from the recorded session and render: no second session, message or export', async () => {
    const fake = await startNemoFake({ pollsNeeded: 1_000_000 });
    const dataDir = await tempDir('nemo-svc-resume-');
    const first = await service(fake, {}, dataDir);
    const res = await api(first.url, 'POST', '/v1/jobs', body());
    const id = res.json.id as string;
    await fake.waitFor('exportStatus', 2, 30_000);
    // The worker goes away mid-export (shutdown with no grace: the render is released to the queue).
    await first.close(0);
    const record = await (async () => {
      const again = await service(null, {}, dataDir, false); // a look at the record, no consumer
      const r = await again.composition.services.store.getById(id);
      await again.close(0);
      return r!;
    })();
    expect(record.status).toBe('queued');
    expect(record.engineState).toMatchObject({ v: 1, sessionId: expect.any(String), messageDone: true, renderId: expect.stringMatching(/^render_/) });
    expect(JSON.stringify(record.engineState)).not.toMatch(/nmv_usr_|token/i);
    const before = { ...fake.counts };

    fake.set({ pollsNeeded: 1 });
    const second = await service(fake, {}, dataDir);
    try {
      const job = await waitForJob(second.url, id, isFinal, 60_000);
      expect(job.error).toBeNull();
      expect(job.status).toBe('succeeded');
      expect(fake.counts.session).toBe(before.session);
      expect(fake.counts.upload).toBe(before.upload);
      expect(fake.counts.runSse).toBe(1);
      expect(fake.counts.exportCreate).toBe(1);
      expect(fake.counts.exportStatus).toBeGreaterThan(before.exportStatus);
      // Same account after the restart: the client id is kept in DATA_DIR.
      // The new process asks for a token again, under the same client id, and gets the same account.
      const clientIds = fake.requests.filter((r) => r.endpoint === 'token').map((r) => r.headers['x-client-id']);
      expect(clientIds).toHaveLength(2);
      expect(clientIds[1]).toBe(clientIds[0]);
      expect(fake.issuedTokens).toHaveLength(1);
      const r = await second.composition.services.store.getById(id);
      expect(r!.attempts).toBe(2);
    } finally {
      await second.close(0);
      await fs.rm(dataDir, { recursive: true, force: true });
      await fake.close();
    }
  });
});
