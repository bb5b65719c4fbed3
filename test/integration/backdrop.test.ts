import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SourceImage } from '../../src/pipeline/engines/engine.js';
import { createLocalEngine } from '../../src/pipeline/engines/local/index.js';
import { plainBackdrop } from '../../src/pipeline/intake/plain-backdrop.js';
import { planJob } from '../../src/pipeline/plan/planner.js';
import { makePhoto } from '../helpers/images.js';
import { tempDir } from '../helpers/servers.js';
import { decodeFrames } from '../helpers/text-metrics.js';

/**
 * Product photos on a plain light backdrop keep the whole product in frame in a 9:16 video:
 * intake recognises the backdrop, the planner fits such a photo with `contain` on its own
 * backdrop colour, and the render shows the product edge to edge on that colour.
 */

const FFMPEG = process.env.FFMPEG_PATH ?? 'ffmpeg';
let dir: string;

/** A 1600x1200 packshot: a red product (x 6-94 %, y 25-75 %) on `backdrop`. */
async function packshot(file: string, backdrop: string, format: 'jpeg' | 'png' = 'jpeg'): Promise<string> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="1600" height="1200"><rect x="96" y="300" width="1408" height="600" rx="60" fill="#d02820"/></svg>`;
  const img = sharp({ create: { width: 1600, height: 1200, channels: 4, background: backdrop } }).composite([{ input: Buffer.from(svg) }]);
  await (format === 'png' ? img.png() : img.jpeg({ quality: 92 })).toFile(file);
  return file;
}

beforeAll(async () => {
  dir = await tempDir('photoreel-backdrop-');
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('plain backdrop detection', () => {
  it('finds white and light grey packshot backdrops (transparency counts as white), and nothing on real photos or dark backdrops', async () => {
    expect(await plainBackdrop(await packshot(path.join(dir, 'white.jpg'), '#ffffff'))).toMatch(/^#f[c-f]f[c-f]f[c-f]$/);
    const grey = await plainBackdrop(await packshot(path.join(dir, 'grey.jpg'), '#f0f0f0'));
    expect(grey).toMatch(/^#e[e-f]e[e-f]e[e-f]|^#f[0-2]f[0-2]f[0-2]$/);
    expect(await plainBackdrop(await packshot(path.join(dir, 'cutout.png'), '#00000000', 'png'))).toBe('#ffffff');
    expect(await plainBackdrop(await packshot(path.join(dir, 'dark.jpg'), '#202020'))).toBeNull();
    const photo = await makePhoto(path.join(dir, 'photo.jpg'), { width: 1600, height: 1200, colour: [200, 200, 200], seed: 4 });
    expect(await plainBackdrop(photo.path)).toBeNull();
  });
});

describe('a packshot in a 9:16 video', () => {
  it('is planned as contain on its backdrop, and rendered whole on that colour', async () => {
    const file = await packshot(path.join(dir, 'shoe.jpg'), '#ffffff');
    const backdrop = (await plainBackdrop(file))!;
    const images = [{ source: 'shoe.jpg', width: 1600, height: 1200, backdrop }];
    const plan = planJob({ images, options: { aspect: '9:16', resolution: '720p', motion: 'none', secondsPerImage: 1 } });
    expect(plan.clips[0]).toMatchObject({ fit: 'contain', background: backdrop });
    expect(plan.notes.join('\n')).toMatch(/plain light backdrop/);
    // Without a backdrop (or with an explicit fit) nothing changes.
    expect(planJob({ images: [{ source: 'p.jpg', width: 1600, height: 1200 }], options: { aspect: '9:16' } }).clips[0]!.fit).toBe('blur');
    expect(planJob({ images, options: { aspect: '9:16', fit: 'cover' } }).clips[0]).not.toHaveProperty('background');
    expect(planJob({ images: [{ ...images[0]!, width: 1200, height: 2133 }], options: { aspect: '9:16' } }).clips[0]!.fit).toBe('cover');

    const source: SourceImage = { index: 0, path: file, type: 'jpeg', width: 1600, height: 1200 };
    const engine = createLocalEngine({ ffmpegPath: FFMPEG, x264Preset: 'veryfast', x264Crf: 18 });
    const out = await engine.render({ plan, images: [source], workDir: path.join(dir, 'work'), signal: new AbortController().signal, onProgress() {} });
    const f = (await decodeFrames(out.videoPath, [5], FFMPEG)).get(5)!;
    const px = (x: number, y: number) => Array.from(f.data.subarray((y * f.width + x) * 3, (y * f.width + x) * 3 + 3));
    // The photo is 720x540 in the middle of 720x1280 (y 370-910); the product spans x 43-677, y 505-775.
    const red = (p: number[]) => p[0]! > 150 && p[1]! < 90 && p[2]! < 90;
    const white = (p: number[]) => p.every((v) => v > 235);
    for (const x of [50, 360, 670]) expect(red(px(x, 640)), `product at x=${x}: ${px(x, 640)}`).toBe(true);
    for (const [x, y] of [[20, 640], [700, 640], [360, 100], [360, 450], [360, 1200], [5, 5]] as const) expect(white(px(x, y)), `backdrop at ${x},${y}: ${px(x, y)}`).toBe(true);
  }, 60_000);
});
