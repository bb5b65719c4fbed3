import path from 'node:path';
import sharp from 'sharp';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeVideo } from '../../src/pipeline/media/ffprobe.js';
import { api, isFinal, serveFolder, startService, tempDir, waitForJob, webhookReceiver } from '../helpers/servers.js';
import { decodeFrame, makePhoto, regionMean, type Rgb } from '../helpers/images.js';

/**
 * The whole path on the embedded default: real server on loopback, photos from a loopback
 * "CDN", a real render, a signed webhook to a loopback receiver, the MP4 downloaded from
 * the job's URL and checked with ffprobe and decoded frames.
 */
let photos: Awaited<ReturnType<typeof serveFolder>>;
let hooks: Awaited<ReturnType<typeof webhookReceiver>>;
let svc: Awaited<ReturnType<typeof startService>>;
let dir: string;

const COLOURS: Record<string, Rgb> = { red: [220, 30, 30], green: [30, 200, 60], blue: [30, 60, 220] };

beforeAll(async () => {
  dir = await tempDir('photoreel-photos-');
  await makePhoto(path.join(dir, 'red.jpg'), { width: 2400, height: 1350, colour: COLOURS.red! });
  await makePhoto(path.join(dir, 'green.png'), { width: 1200, height: 1600, colour: COLOURS.green! });
  await makePhoto(path.join(dir, 'blue.jpg'), { width: 1600, height: 900, colour: COLOURS.blue! });
  photos = await serveFolder(dir);
  hooks = await webhookReceiver([500]); // the first delivery fails: it must be retried
  svc = await startService({
    FETCH_ALLOW_HOSTS: `${photos.hostPort},${hooks.hostPort}`,
    WEBHOOK_RETRY_SCHEDULE: '0.2,0.2,0.2',
    WEBHOOK_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  });
});
afterAll(async () => {
  await svc?.stop();
  await photos?.close();
  await hooks?.close();
});

describe('end to end: photos in, HD MP4 out', () => {
  let job: any;
  const progress: number[] = [];

  it('renders a submitted job to success with monotonic progress', async () => {
    const res = await api(svc.url, 'POST', '/v1/jobs', {
      images: [`${photos.origin}/red.jpg`, { url: `${photos.origin}/green.png` }, { url: `${photos.origin}/blue.jpg` }],
      prompt: 'turn my photos into a smooth HD video with transitions',
      options: { secondsPerImage: 2 },
      webhook: { url: hooks.url },
      metadata: { sku: 'E2E-1' },
    });
    expect(res.status).toBe(202);
    job = await waitForJob(svc.url, res.json.id, isFinal, 120_000, (j) => progress.push(j.progress));
    expect(job.error).toBeNull();
    expect(job.status).toBe('succeeded');
    expect(job.stage).toBe('done');
    expect(job.progress).toBe(1);
    expect(progress.length).toBeGreaterThan(3);
    for (let i = 1; i < progress.length; i++) expect(progress[i]).toBeGreaterThanOrEqual(progress[i - 1]!);
    expect(progress.some((p) => p > 0 && p < 1)).toBe(true);
    // The plan now knows the photos' sizes and fitted each one.
    expect(job.plan.clips.map((c: any) => [c.image.width, c.image.height, c.fit])).toEqual([
      [2400, 1350, 'cover'],
      [1200, 1600, 'blur'],
      [1600, 900, 'cover'],
    ]);
    expect(job.result.video).toMatchObject({ width: 1920, height: 1080, fps: 30, codec: 'h264', durationMs: 6000 });
  });

  it('serves an MP4 that is H.264 High, yuv420p, 1920x1080, faststart, exactly the plan long', async () => {
    const out = path.join(dir, 'download.mp4');
    const res = await fetch(job.result.video.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('video/mp4');
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(Number(res.headers.get('content-length'))).toBe(bytes.length);
    expect(bytes.length).toBe(job.result.video.bytes);
    await import('node:fs/promises').then((f) => f.writeFile(out, bytes));

    const probe = await probeVideo(out);
    expect(probe.codec).toBe('h264');
    expect(probe.profile).toBe('High');
    expect(probe.pixFmt).toBe('yuv420p');
    expect([probe.width, probe.height]).toEqual([1920, 1080]);
    expect(probe.fps).toBe(30);
    expect(Math.abs(probe.durationMs - job.plan.durationMs)).toBeLessThanOrEqual(1000 / 30);
    expect(probe.moovBeforeMdat).toBe(true);

    // Each photo is on screen in its own time: sample the middle of each hold.
    for (const [t, want] of [[0.8, COLOURS.red!], [3.0, COLOURS.green!], [5.2, COLOURS.blue!]] as const) {
      // The centre of the frame (the photo itself, not its blurred fill) has the photo's colour.
      const mean = regionMean(await decodeFrame(out, t), { x: 0.4, y: 0.3, w: 0.2, h: 0.4 });
      expect(mean.indexOf(Math.max(...mean))).toBe(want.indexOf(Math.max(...want)));
      for (let ch = 0; ch < 3; ch++) expect(Math.abs(mean[ch]! - want[ch]!)).toBeLessThan(45);
    }
  });

  it('supports Range requests on the video and serves the poster', async () => {
    const res = await fetch(job.result.video.url, { headers: { range: 'bytes=100-199' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes 100-199/${job.result.video.bytes}`);
    expect((await res.arrayBuffer()).byteLength).toBe(100);
    const bad = await fetch(job.result.video.url, { headers: { range: `bytes=${job.result.video.bytes + 10}-` } });
    expect(bad.status).toBe(416);

    const poster = await fetch(job.result.poster.url);
    expect(poster.status).toBe(200);
    expect(poster.headers.get('content-type')).toBe('image/jpeg');
    const meta = await sharp(Buffer.from(await poster.arrayBuffer())).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 1920, 1080]);
  });

  it('delivers a signed job.succeeded webhook, retried after a 500 with the same webhook-id', async () => {
    const received = await hooks.waitFor(2, 30_000);
    const [first, second] = received;
    expect(first!.headers['webhook-id']).toBe(second!.headers['webhook-id']);
    const payload = new Webhook('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw').verify(second!.body, second!.headers) as any;
    expect(payload.type).toBe('job.succeeded');
    expect(payload.data.id).toBe(job.id);
    expect(payload.data.metadata).toEqual({ sku: 'E2E-1' });
    expect(payload.data.result.video.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/files\/videos\//);
    // A forged body fails verification.
    expect(() => new Webhook('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw').verify(second!.body.replace('succeeded', 'failed'), second!.headers)).toThrow();

    const after = await waitForJob(svc.url, job.id, (j) => j.webhookAttempts.length >= 2, 10_000);
    expect(after.webhookAttempts.map((a: any) => [a.attempt, a.ok, a.status])).toEqual([
      [1, false, 500],
      [2, true, 200],
    ]);
    expect(after.webhookAttempts[0].nextAttemptAt).not.toBeNull();
  });

  it('fails a job whose photo 404s with fetch_failed naming the image, and says so in a webhook', async () => {
    const res = await api(svc.url, 'POST', '/v1/jobs', {
      images: [`${photos.origin}/red.jpg`, `${photos.origin}/missing.jpg`],
      webhook: { url: hooks.url },
    });
    const failed = await waitForJob(svc.url, res.json.id, isFinal, 60_000);
    expect(failed.status).toBe('failed');
    expect(failed.error.code).toBe('fetch_failed');
    expect(failed.error.message).toMatch(/^images\[1\]: .*404/);
    expect(failed.result).toBeNull();
    const hook = await hooks.waitForEvent((p) => p.data.id === failed.id);
    expect(hook.type).toBe('job.failed');
    expect(hook.data.error.code).toBe('fetch_failed');
  });
});
