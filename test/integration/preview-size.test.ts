import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PREVIEW_MAX_BYTES } from '../../src/core/job.js';
import { LADDER, makePreview, nextRung, previewSegments, previewSize, type PreviewRequest } from '../../src/pipeline/media/preview.js';
import { colourDistance, regionMean, type Rgb } from '../helpers/images.js';
import { tempDir } from '../helpers/servers.js';

/**
 * The animated preview module on its own, with real ffmpeg: what it samples, how it keeps
 * under 2 MB (a noisy 1080p video that cannot fit on the first try), what happens when
 * nothing fits, and that it stops when aborted.
 */
const run = promisify(execFile);
let dir: string;
let noisy: string;
let bands: string;
const BANDS: Rgb[] = [[255, 0, 0], [0, 128, 0], [0, 0, 255], [255, 255, 0]];

beforeAll(async () => {
  dir = await tempDir('photoreel-preview-');
  noisy = path.join(dir, 'noisy.mp4');
  bands = path.join(dir, 'bands.mp4');
  // 4 s of 1080p where every pixel of every frame is random: the worst case for any encoder.
  await run('ffmpeg', [
    '-nostdin', '-loglevel', 'error', '-f', 'lavfi', '-i', 'color=c=0x808080:s=1920x1080:r=10:d=4',
    '-vf', 'noise=alls=100:allf=t+u,format=yuv420p', '-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '26', '-g', '10', '-y', noisy,
  ]);
  // 12 s of four solid colours, 3 s each (red, green, blue, yellow).
  await run('ffmpeg', [
    '-nostdin', '-loglevel', 'error',
    ...['red', 'green', 'blue', 'yellow'].flatMap((c) => ['-f', 'lavfi', '-i', `color=c=${c}:s=1280x720:r=30:d=3`]),
    '-filter_complex', '[0:v][1:v][2:v][3:v]concat=n=4:v=1:a=0,format=yuv420p', '-c:v', 'libx264', '-preset', 'ultrafast', '-y', bands,
  ]);
});
afterAll(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

async function workDir(name: string) {
  const d = path.join(dir, name);
  await fs.mkdir(d, { recursive: true });
  return d;
}

function request(over: Partial<PreviewRequest> & Pick<PreviewRequest, 'videoPath' | 'video' | 'format' | 'workDir'>): PreviewRequest {
  return { ffmpegPath: 'ffmpeg', signal: new AbortController().signal, ...over };
}

async function framesOf(file: string): Promise<{ pages: number; width: number; height: number; loop: number | undefined; delay: number[] }> {
  const m = await sharp(file, { animated: true }).metadata();
  return { pages: m.pages ?? 1, width: m.width ?? 0, height: m.pageHeight ?? m.height ?? 0, loop: m.loop, delay: m.delay ?? [] };
}

/** The frame on screen `ms` into the loop. */
function pageAt(delay: number[], ms: number): number {
  let t = 0;
  for (const [i, d] of delay.entries()) {
    t += d;
    if (ms < t) return i;
  }
  return delay.length - 1;
}

async function pageMean(file: string, page: number): Promise<Rgb> {
  const { data, info } = await sharp(file, { page }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return regionMean({ width: info.width, height: info.height, data }, { x: 0.25, y: 0.25, w: 0.5, h: 0.5 });
}

describe('preview geometry', () => {
  it('plays a short video whole and four centred 1.5 s excerpts of a longer one', () => {
    expect(previewSegments(6000)).toEqual([[0, 6]]);
    expect(previewSegments(2000)).toEqual([[0, 2]]);
    expect(previewSegments(12_000)).toEqual([[0.75, 1.5], [3.75, 1.5], [6.75, 1.5], [9.75, 1.5]]);
    const long = previewSegments(300_000);
    expect(long).toHaveLength(4);
    expect(long.reduce((n, [, d]) => n + d, 0)).toBe(6);
  });

  it('is 480 px on the long side in every shape, even, and never upscaled', () => {
    expect(previewSize({ width: 1920, height: 1080 }, 480)).toEqual({ width: 480, height: 270 });
    expect(previewSize({ width: 1080, height: 1920 }, 480)).toEqual({ width: 270, height: 480 });
    expect(previewSize({ width: 1080, height: 1080 }, 480)).toEqual({ width: 480, height: 480 });
    expect(previewSize({ width: 1080, height: 1350 }, 480)).toEqual({ width: 384, height: 480 });
    expect(previewSize({ width: 320, height: 180 }, 480)).toEqual({ width: 320, height: 180 });
  });

  it('after a too-large attempt jumps to the first rung predicted to fit, else the last', () => {
    const video = { width: 1920, height: 1080 };
    expect(nextRung(LADDER, 0, 2_100_000, PREVIEW_MAX_BYTES, video, 'webp')).toBe(1);
    expect(nextRung(LADDER, 0, 6_200_000, PREVIEW_MAX_BYTES, video, 'gif')).toBe(3);
    expect(nextRung(LADDER, 0, 100_000_000, PREVIEW_MAX_BYTES, video, 'gif')).toBe(LADDER.length - 1);
    expect(nextRung(LADDER, LADDER.length - 2, 3_000_000, PREVIEW_MAX_BYTES, video, 'webp')).toBe(LADDER.length - 1);
  });
});

describe('makePreview', () => {
  it('keeps a noisy 1080p GIF under 2 MB by retrying smaller, with progress that never goes back', async () => {
    const progress: number[] = [];
    const out = await makePreview(
      request({ videoPath: noisy, video: { width: 1920, height: 1080, durationMs: 4000 }, format: 'gif', workDir: await workDir('noisy-gif'), onProgress: (f) => progress.push(f) }),
    );
    expect(out.ok).toBe(true);
    if (!out.ok) return;
    // The first try (480 px, 10 fps, 256 colours) is far too large; a later one fits.
    expect(out.attempts[0]!.bytes).toBeGreaterThan(PREVIEW_MAX_BYTES);
    expect(out.attempts.length).toBeGreaterThanOrEqual(2);
    expect(out.attempts.length).toBeLessThanOrEqual(LADDER.length);
    const p = out.preview;
    expect(p.bytes).toBeLessThanOrEqual(PREVIEW_MAX_BYTES);
    expect((await fs.stat(p.path)).size).toBe(p.bytes);
    expect(p.contentType).toBe('image/gif');
    const meta = await framesOf(p.path);
    expect(meta.pages).toBe(p.frames);
    expect(p.frames).toBeGreaterThan(1);
    expect([meta.width, meta.height]).toEqual([p.width, p.height]);
    expect(p.width).toBeLessThan(480);
    expect(meta.loop).toBe(0);
    expect(Math.abs(p.durationMs - 4000)).toBeLessThanOrEqual(150);
    for (let i = 1; i < progress.length; i++) expect(progress[i]).toBeGreaterThan(progress[i - 1]!);
    expect(progress.at(-1)).toBe(1);
    // The intermediate is gone; only the preview is left.
    expect(await fs.readdir(path.dirname(p.path))).toEqual(['preview.gif']);
    console.log(`noisy gif: ${out.attempts.map((a) => `${a.width}x${a.height}@${a.rung.fps}fps=${a.bytes}`).join(' -> ')}`);
  });

  it('retries a WebP the same way under a tighter bound (noise as WebP fits 2 MB at once)', async () => {
    const out = await makePreview(
      request({ videoPath: noisy, video: { width: 1920, height: 1080, durationMs: 4000 }, format: 'webp', workDir: await workDir('noisy-webp'), maxBytes: 400_000 }),
    );
    expect(out.ok).toBe(true);
    if (!out.ok) return;
    expect(out.attempts[0]!.bytes).toBeGreaterThan(400_000);
    expect(out.attempts.length).toBeGreaterThanOrEqual(2);
    expect(out.preview.bytes).toBeLessThanOrEqual(400_000);
    const meta = await framesOf(out.preview.path);
    expect(meta.pages).toBe(out.preview.frames);
    expect(meta.loop).toBe(0);
    console.log(`noisy webp (400 kB bound): ${out.attempts.map((a) => `${a.width}x${a.height}@${a.rung.fps}fps=${a.bytes}`).join(' -> ')}`);
  });

  it('says preview_too_large after a bounded number of attempts, and leaves no file', async () => {
    const wd = await workDir('too-large');
    const out = await makePreview(request({ videoPath: noisy, video: { width: 1920, height: 1080, durationMs: 4000 }, format: 'gif', workDir: wd, maxBytes: 5_000 }));
    expect(out.ok).toBe(false);
    if (out.ok) return;
    expect(out.code).toBe('preview_too_large');
    expect(out.attempts.length).toBeLessThanOrEqual(LADDER.length);
    expect(out.attempts.at(-1)!.rung).toBe(LADDER.at(-1));
    expect(out.message).toMatch(/could not be made within 0\.01 MB/);
    expect(await fs.readdir(wd)).toEqual([]);
  });

  it('samples a long video as four excerpts, one per quarter (WebP, 16:9 from 720p)', async () => {
    const out = await makePreview(request({ videoPath: bands, video: { width: 1280, height: 720, durationMs: 12_000 }, format: 'webp', workDir: await workDir('bands') }));
    expect(out.ok).toBe(true);
    if (!out.ok) return;
    expect(out.attempts).toHaveLength(1);
    expect(out.preview).toMatchObject({ format: 'webp', contentType: 'image/webp', width: 480, height: 270, fps: 10, durationMs: 6000 });
    // libwebp stores a still stretch once (with a longer delay): solid colours need only a few frames.
    const meta = await framesOf(out.preview.path);
    expect(meta.pages).toBe(out.preview.frames);
    expect(out.preview.frames).toBeGreaterThanOrEqual(4);
    for (const [q, want] of BANDS.entries()) {
      const mean = await pageMean(out.preview.path, pageAt(meta.delay, q * 1500 + 750));
      expect(colourDistance(mean, want), `excerpt ${q}: ${mean.map(Math.round)} vs ${want}`).toBeLessThan(40);
    }
  });

  it('rejects (for the job to turn into a preview_failed warning) when ffmpeg cannot read the video', async () => {
    const wd = await workDir('broken');
    const broken = path.join(wd, 'broken.mp4');
    await fs.writeFile(broken, Buffer.from('not a video at all'));
    await expect(makePreview(request({ videoPath: broken, video: { width: 1920, height: 1080, durationMs: 4000 }, format: 'webp', workDir: wd }))).rejects.toMatchObject({
      code: 'render_failed',
      message: expect.stringMatching(/preview/),
    });
    expect(await fs.readdir(wd)).toEqual(['broken.mp4']);
  });

  it('stops when aborted: rejects with an AbortError and cleans up', async () => {
    const wd = await workDir('abort');
    const ac = new AbortController();
    const started = Date.now();
    const p = makePreview(request({ videoPath: noisy, video: { width: 1920, height: 1080, durationMs: 4000 }, format: 'gif', workDir: wd, signal: ac.signal }));
    setTimeout(() => ac.abort(), 150);
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await fs.readdir(wd)).toEqual([]);
  });
});
