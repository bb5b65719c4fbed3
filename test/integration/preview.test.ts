import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PREVIEW_MAX_BYTES } from '../../src/core/job.js';
import { api, isFinal, serveFolder, startService, tempDir, waitForJob, webhookReceiver } from '../helpers/servers.js';
import { makePhoto, regionMean, type Rgb } from '../helpers/images.js';

/**
 * `options.preview` end to end on the embedded default: real server on loopback, photos from a
 * loopback "CDN", real renders, the animated preview downloaded from its signed URL and decoded
 * frame by frame, and the webhook carrying it.
 */
let photos: Awaited<ReturnType<typeof serveFolder>>;
let hooks: Awaited<ReturnType<typeof webhookReceiver>>;
let svc: Awaited<ReturnType<typeof startService>>;
let dir: string;

const COLOURS: Record<string, Rgb> = { red: [220, 30, 30], green: [30, 200, 60], blue: [30, 60, 220], yellow: [230, 210, 40] };
const NAMES = ['red', 'green', 'blue', 'yellow'] as const;

beforeAll(async () => {
  dir = await tempDir('photoreel-preview-photos-');
  for (const [i, name] of NAMES.entries()) {
    await makePhoto(path.join(dir, `${name}.jpg`), { width: 1600, height: 900, colour: COLOURS[name]!, seed: i + 1 });
    await makePhoto(path.join(dir, `${name}-tall.jpg`), { width: 900, height: 1600, colour: COLOURS[name]!, seed: i + 5 });
  }
  photos = await serveFolder(dir);
  hooks = await webhookReceiver();
  svc = await startService({ FETCH_ALLOW_HOSTS: `${photos.hostPort},${hooks.hostPort}` });
});
afterAll(async () => {
  await svc?.stop();
  await photos?.close();
  await hooks?.close();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

interface Animation {
  bytes: Buffer;
  pages: number;
  width: number;
  height: number;
  loop: number | undefined;
  delay: number[];
}

/** Download a preview from its URL; checks status, content type and length on the way. */
async function download(url: string, contentType: string): Promise<Animation> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe(contentType);
  const bytes = Buffer.from(await res.arrayBuffer());
  expect(Number(res.headers.get('content-length'))).toBe(bytes.length);
  const m = await sharp(bytes, { animated: true }).metadata();
  return { bytes, pages: m.pages ?? 1, width: m.width ?? 0, height: m.pageHeight ?? m.height ?? 0, loop: m.loop, delay: m.delay ?? [] };
}

/** Mean colour of the middle of the frame on screen `ms` into the loop. */
async function colourAt(a: Animation, ms: number): Promise<Rgb> {
  let t = 0;
  let page = a.delay.length - 1;
  for (const [i, d] of a.delay.entries()) {
    t += d;
    if (ms < t) {
      page = i;
      break;
    }
  }
  const { data, info } = await sharp(a.bytes, { page }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return regionMean({ width: info.width, height: info.height, data }, { x: 0.35, y: 0.35, w: 0.3, h: 0.3 });
}

function expectColour(got: Rgb, want: Rgb, what: string) {
  // The photo's strongest channel is the frame's strongest, and the mean is close to the photo's colour.
  const strongest = (c: Rgb) => c.indexOf(Math.max(...c));
  if (want[0] > 200 && want[1] > 200) expect(Math.min(got[0], got[1]), `${what}: ${got.map(Math.round)}`).toBeGreaterThan(150);
  else expect(strongest(got), `${what}: ${got.map(Math.round)}`).toBe(strongest(want));
  for (let ch = 0; ch < 3; ch++) expect(Math.abs(got[ch]! - want[ch]!), `${what}: ${got.map(Math.round)} vs ${want}`).toBeLessThan(50);
}

const objectPath = (key: string) => path.join(svc.dataDir, 'objects', key);
const exists = (file: string) => fs.stat(file).then(() => true, () => false);

describe('animated previews (options.preview)', () => {
  it('webp: a 6 s job gets a 480x270 looping WebP of the whole video, under 2 MB, with the photos in order', async () => {
    const progress: number[] = [];
    const res = await api(svc.url, 'POST', '/v1/jobs', {
      images: NAMES.slice(0, 3).map((n) => `${photos.origin}/${n}.jpg`),
      options: { secondsPerImage: 2, resolution: '720p', preview: 'webp' },
      webhook: { url: hooks.url },
    });
    expect(res.status).toBe(202);
    expect(res.json.options.preview).toBe('webp');
    const job = await waitForJob(svc.url, res.json.id, isFinal, 180_000, (j) => progress.push(j.progress));
    expect(job.error).toBeNull();
    expect(job.status).toBe('succeeded');
    expect(job.warnings).toEqual([]);
    for (let i = 1; i < progress.length; i++) expect(progress[i]).toBeGreaterThanOrEqual(progress[i - 1]!);

    const p = job.result.preview;
    expect(p).toMatchObject({ format: 'webp', width: 480, height: 270, fps: 10 });
    expect(p.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/files\/previews\/default\/job_[0-9a-z]+\.webp\?/);
    expect(p.bytes).toBeLessThanOrEqual(PREVIEW_MAX_BYTES);
    expect(Math.abs(p.durationMs - 6000)).toBeLessThanOrEqual(100);
    expect(p.frames).toBeGreaterThan(1);

    const a = await download(p.url, 'image/webp');
    expect(a.bytes.length).toBe(p.bytes);
    expect(a.bytes.length).toBeLessThanOrEqual(PREVIEW_MAX_BYTES);
    expect(a.pages).toBe(p.frames);
    expect(a.pages).toBeGreaterThan(1);
    expect([a.width, a.height]).toEqual([480, 270]);
    expect(a.loop).toBe(0); // forever
    expect(a.delay.reduce((n, d) => n + d, 0)).toBe(p.durationMs);
    // Each photo is on screen in its own time, as in the video (the preview is the whole 6 s).
    for (const [t, name] of [[800, 'red'], [3000, 'green'], [5200, 'blue']] as const) expectColour(await colourAt(a, t), COLOURS[name]!, `${name} at ${t} ms`);

    expect(await exists(objectPath(`previews/default/${job.id}.webp`))).toBe(true);
    console.log(`webp preview: ${p.bytes} bytes, ${p.width}x${p.height}, ${p.frames} frames, ${p.durationMs} ms (video ${job.result.video.bytes} bytes)`);

    // The webhook carries it too, with a URL that downloads the same bytes.
    const hook = await hooks.waitForEvent((x) => x.data.id === job.id);
    expect(hook.type).toBe('job.succeeded');
    expect(hook.data.result.preview).toMatchObject({ format: 'webp', bytes: p.bytes, width: 480, height: 270, frames: p.frames, durationMs: p.durationMs });
    expect((await download(hook.data.result.preview.url, 'image/webp')).bytes.equals(a.bytes)).toBe(true);
  });

  it('gif: a 12 s vertical job gets a 270x480 GIF montage, one excerpt per photo, under 2 MB', async () => {
    const res = await api(svc.url, 'POST', '/v1/jobs', {
      images: NAMES.map((n) => `${photos.origin}/${n}-tall.jpg`),
      options: { aspect: '9:16', resolution: '720p', secondsPerImage: 3, preview: 'gif' },
    });
    expect(res.status).toBe(202);
    const job = await waitForJob(svc.url, res.json.id, isFinal, 240_000);
    expect(job.error).toBeNull();
    expect(job.status).toBe('succeeded');
    expect(job.result.video).toMatchObject({ width: 720, height: 1280, durationMs: 12_000 });

    const p = job.result.preview;
    expect(p.format).toBe('gif');
    expect(p.bytes).toBeLessThanOrEqual(PREVIEW_MAX_BYTES);
    // 270x480 at 10 fps when it fits at once; a retry keeps the shape and goes smaller.
    expect(p.height).toBeLessThanOrEqual(480);
    expect(Math.abs(p.width / p.height - 9 / 16)).toBeLessThan(0.02);
    expect(Math.abs(p.durationMs - 6000)).toBeLessThanOrEqual(150);

    const a = await download(p.url, 'image/gif');
    expect(a.bytes.length).toBe(p.bytes);
    expect(a.bytes.length).toBeLessThanOrEqual(PREVIEW_MAX_BYTES);
    expect(a.pages).toBe(p.frames);
    expect(a.pages).toBeGreaterThan(1);
    expect([a.width, a.height]).toEqual([p.width, p.height]);
    expect(a.loop).toBe(0);
    // Four 1.5 s excerpts from the middle of each quarter: the middle of each photo, in order.
    for (const [q, name] of NAMES.entries()) expectColour(await colourAt(a, q * 1500 + 750), COLOURS[name]!, `excerpt ${q} (${name})`);

    expect(await exists(objectPath(`previews/default/${job.id}.gif`))).toBe(true);
    console.log(`gif preview: ${p.bytes} bytes, ${p.width}x${p.height} @ ${p.fps} fps, ${p.frames} frames, ${p.durationMs} ms`);
  });

  it('without options.preview: no result.preview field and nothing stored under previews/', async () => {
    const res = await api(svc.url, 'POST', '/v1/jobs', { images: [`${photos.origin}/red.jpg`], options: { secondsPerImage: 1, resolution: '720p' } });
    const job = await waitForJob(svc.url, res.json.id, isFinal, 120_000);
    expect(job.status).toBe('succeeded');
    expect(Object.keys(job.result).sort()).toEqual(['poster', 'video']);
    expect(job.warnings).toEqual([]);
    for (const ext of ['webp', 'gif']) expect(await exists(objectPath(`previews/default/${job.id}.${ext}`))).toBe(false);
    const stored = await svc.composition.services.storage.list('previews/');
    expect(stored.filter((k) => k.includes(job.id))).toEqual([]);
  });

  it('a cancel while the preview is being made stops it: canceled, nothing published', async () => {
    const res = await api(svc.url, 'POST', '/v1/jobs', {
      images: [...NAMES, ...NAMES].map((n) => `${photos.origin}/${n}.jpg`),
      options: { resolution: '720p', secondsPerImage: 2.5, preview: 'gif' },
    });
    // The render owns the rendering band up to 0.2 + 0.75 x 0.9 = 0.875; beyond it the preview runs.
    const during = await waitForJob(svc.url, res.json.id, (j) => isFinal(j) || (j.stage === 'rendering' && j.progress > 0.876), 240_000);
    expect(during.status).toBe('running');
    const cancel = await api(svc.url, 'POST', `/v1/jobs/${res.json.id}/cancel`);
    expect(cancel.status).toBe(200);
    const job = await waitForJob(svc.url, res.json.id, isFinal, 10_000);
    expect(job.status).toBe('canceled');
    expect(job.result).toBeNull();
    // The attempt ends (its work folder goes) without publishing anything.
    const work = path.join(svc.dataDir, 'work', job.id);
    const deadline = Date.now() + 5000;
    while ((await exists(work)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await exists(work)).toBe(false);
    const stored = await svc.composition.services.storage.list('');
    expect(stored.filter((k) => k.includes(job.id))).toEqual([]);
  });

  it('rejects an unknown preview format with a 400 naming the field', async () => {
    const res = await api(svc.url, 'POST', '/v1/jobs', { images: [`${photos.origin}/red.jpg`], options: { preview: 'apng' } });
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe('validation_error');
    expect(JSON.stringify(res.json.error)).toMatch(/options\.preview/);
  });
});
