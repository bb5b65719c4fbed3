import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PhotoWarning } from '../../src/core/job.js';
import { createLocalEngine } from '../../src/pipeline/engines/local/index.js';
import { intakeImages } from '../../src/pipeline/intake/index.js';
import type { NetPolicy } from '../../src/pipeline/net/safe-http.js';
import { planJob } from '../../src/pipeline/plan/planner.js';
import { colourDistance, decodeFrame, regionMean, type Frame, type Rgb } from '../helpers/images.js';
import {
  animated,
  canMakeHeic,
  cmykJpeg,
  makeHeic,
  orientedJpeg,
  PNG16_CENTRE,
  png16Alpha,
  QUADRANTS,
  quadrantPixels,
  storeForOrientation,
} from '../helpers/intake-fixtures.js';
import { listen } from '../helpers/servers.js';

/**
 * Every promised format through intake and the local engine, checked on decoded video
 * frames: EXIF orientations 1-8 upright, CMYK in the right colours, 16-bit PNG alpha
 * composited onto white, the first frame of animated WEBP/GIF, AVIF, TIFF,
 * and HEIC (a grid of HEVC tiles with an `irot`).
 */

const RED: Rgb = [220, 30, 30];
const BLUE: Rgb = [30, 60, 220];
/** Inside the CMYK gamut (a saturated blue is not: no CMYK file can show it). */
const GREEN: Rgb = [40, 160, 90];
const BACKGROUND: Rgb = [255, 255, 255];

let files: Record<string, Buffer>;
let cdn: Awaited<ReturnType<typeof listen>>;
let root: string;
let heic = false;

async function makeFiles(): Promise<Record<string, Buffer>> {
  const q = quadrantPixels(320, 180);
  const raw = { raw: { width: 320, height: 180, channels: 3 as const } };
  const out: Record<string, Buffer> = {};
  for (let o = 1; o <= 8; o++) out[`orient${o}.jpg`] = await orientedJpeg(o);
  out['cmyk.jpg'] = await cmykJpeg(RED);
  out['cmyk-icc.jpg'] = await cmykJpeg(GREEN, { icc: true });
  out['alpha16.png'] = png16Alpha();
  out['anim.webp'] = await animated('webp', [RED, BLUE, BLUE]);
  out['anim.gif'] = await animated('gif', [RED, BLUE]);
  out['photo.avif'] = await sharp(q, raw).avif({ quality: 80 }).toBuffer();
  out['photo.tiff'] = await sharp(q, raw).tiff().toBuffer();
  out['progressive.jpg'] = await sharp(q, raw).jpeg({ progressive: true, quality: 90 }).toBuffer();
  if (heic) {
    // Stored rotated 90 degrees clockwise (640x360 -> 360x640) with irot = 1 (turn back counter-clockwise), in 256 px tiles.
    const big = quadrantPixels(640, 360);
    const stored = storeForOrientation(big, 640, 360, 8);
    out['photo.heic'] = await makeHeic({ rgb: stored.data, width: stored.width, height: stored.height, tile: 256, irot: 1 });
  }
  return out;
}

const policy = (): NetPolicy => ({ allowHosts: [cdn.hostPort], connectTimeoutMs: 2000, idleTimeoutMs: 2000, totalTimeoutMs: 10_000 });

beforeAll(async () => {
  heic = await canMakeHeic();
  files = await makeFiles();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'photoreel-intake-formats-'));
  cdn = await listen((req, res) => {
    const body = files[decodeURIComponent((req.url ?? '/').slice(1))];
    if (!body) return void res.writeHead(404).end();
    // A wrong Content-Type on purpose: the type must come from the bytes.
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length }).end(body);
  });
});
afterAll(async () => {
  await cdn?.close();
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

describe('intake: every promised format is recognised, sized after orientation, and decodes', () => {
  it('reports type and upright size for each', async () => {
    const names = Object.keys(files);
    const got = await intakeImages(names.map((n) => ({ url: `${cdn.origin}/${n}` })), { workDir: path.join(root, 'sizes'), policy: policy(), maxBytes: 10_000_000, maxPixels: 50_000_000 });
    const byName = Object.fromEntries(got.map((g) => [names[g.index]!, [g.type, g.width, g.height]]));
    for (let o = 1; o <= 8; o++) expect(byName[`orient${o}.jpg`]).toEqual(['jpeg', 320, 180]);
    expect(byName['cmyk.jpg']).toEqual(['jpeg', 320, 180]);
    expect(byName['alpha16.png']).toEqual(['png', 320, 180]);
    expect(byName['anim.webp']).toEqual(['webp', 320, 180]); // one frame's height, not the whole strip
    expect(byName['anim.gif']).toEqual(['gif', 320, 180]);
    expect(byName['photo.avif']).toEqual(['avif', 320, 180]);
    expect(byName['photo.tiff']).toEqual(['tiff', 320, 180]);
    if (heic) expect(byName['photo.heic']).toEqual(['heic', 640, 360]);
  });

  it('HEIC with a Display P3 ICC profile (as iPhones write) is converted to sRGB, not shown as if it were sRGB', async (ctx) => {
    if (!heic) return ctx.skip();
    const srgb: Rgb = [30, 200, 60];
    // The same colour written as Display P3 values, and the P3 profile itself.
    const p3 = sharp({ create: { width: 64, height: 64, channels: 3, background: { r: srgb[0], g: srgb[1], b: srgb[2] } } }).withIccProfile('p3');
    const p3Pixels = await p3.clone().raw().toBuffer();
    const icc = (await sharp(await p3.clone().png().toBuffer()).metadata()).icc!;
    const asP3: Rgb = [p3Pixels[0]!, p3Pixels[1]!, p3Pixels[2]!];
    expect(colourDistance(asP3, srgb)).toBeGreaterThan(30); // else this test could not tell the two apart
    files['p3.heic'] = await makeHeic({ rgb: p3Pixels, width: 64, height: 64, icc, crf: 4 });
    const [img] = await intakeImages([{ url: `${cdn.origin}/p3.heic` }], { workDir: path.join(root, 'p3'), policy: policy(), maxBytes: 10_000_000, maxPixels: 50_000_000 });
    const { data } = await sharp(img!.path).resize(1, 1).raw().toBuffer({ resolveWithObject: true });
    const shown: Rgb = [data[0]!, data[1]!, data[2]!];
    expect(colourDistance(shown, srgb), `shown ${shown} for sRGB ${srgb} (P3 values ${asP3})`).toBeLessThan(12);
  });

  it('skipBadImages leaves out a bad image with a warning and keeps request indexes', async () => {
    files['broken.jpg'] = files['progressive.jpg']!.subarray(0, 200);
    const warnings: PhotoWarning[] = [];
    const got = await intakeImages(
      [{ url: `${cdn.origin}/orient1.jpg` }, { url: `${cdn.origin}/broken.jpg` }, { url: `${cdn.origin}/missing.jpg` }, { url: `${cdn.origin}/cmyk.jpg` }],
      { workDir: path.join(root, 'skip'), policy: policy(), maxBytes: 10_000_000, maxPixels: 50_000_000, skipBadImages: true, onWarning: (w) => warnings.push(w) },
    );
    expect(got.map((g) => g.index)).toEqual([0, 3]);
    expect(warnings.sort((a, b) => a.index - b.index)).toEqual([
      { index: 1, code: 'image_corrupt', message: expect.stringMatching(/^images\[1\]: /) },
      { index: 2, code: 'fetch_failed', message: expect.stringMatching(/^images\[2\]: .*404/) },
    ]);
    // Only the kept images' files remain.
    const left = fs.readdirSync(path.join(root, 'skip')).sort();
    expect(left).toEqual(['intake-000.jpg', 'intake-003.jpg']);
  });

  it('skipBadImages with nothing left fails with the last failure\'s code, saying all failed', async () => {
    const err = await intakeImages([{ url: `${cdn.origin}/missing.jpg` }, { url: `${cdn.origin}/broken.jpg` }], {
      workDir: path.join(root, 'skip-all'),
      policy: policy(),
      maxBytes: 10_000_000,
      maxPixels: 50_000_000,
      skipBadImages: true,
    }).catch((e) => e);
    expect(err.code).toBe('image_corrupt');
    expect(err.message).toMatch(/^all 2 images failed .*images\[1\]: /);
    expect(fs.readdirSync(path.join(root, 'skip-all'))).toEqual([]);
  });

  it('more than 100 images -> too_many_images', async () => {
    const err = await intakeImages(Array.from({ length: 101 }, () => ({ url: `${cdn.origin}/orient1.jpg` })), {
      workDir: path.join(root, 'many'),
      policy: policy(),
      maxBytes: 10_000_000,
      maxPixels: 50_000_000,
    }).catch((e) => e);
    expect(err.code).toBe('too_many_images');
  });
});

describe('local engine: the odd formats render correctly (decoded frames)', () => {
  let frames: Map<string, Frame>;

  beforeAll(async () => {
    const names = Object.keys(files).filter((n) => n !== 'broken.jpg');
    const workDir = path.join(root, 'render');
    const images = await intakeImages(names.map((n) => ({ url: `${cdn.origin}/${n}` })), { workDir, policy: policy(), maxBytes: 10_000_000, maxPixels: 50_000_000 });
    const plan = planJob({
      images: images.map((img) => ({ source: names[img.index]!, width: img.width, height: img.height })),
      options: { resolution: '720p', fps: 25, secondsPerImage: 1, fit: 'contain', motion: 'none', transition: { type: 'none' } },
    });
    // The default plan (black letterbox background): transparent areas must still come out white.
    const engine = createLocalEngine({ ffmpegPath: process.env.FFMPEG_PATH ?? 'ffmpeg', x264Preset: 'superfast', x264Crf: 18 });
    const out = await engine.render({ plan, images, workDir, signal: new AbortController().signal, onProgress: () => undefined });
    frames = new Map();
    for (const [i, name] of names.entries()) frames.set(name, await decodeFrame(out.videoPath, i + 0.5));
  }, 180_000);

  const quadrantsOf = (f: Frame) => ({
    tl: regionMean(f, { x: 0.1, y: 0.1, w: 0.3, h: 0.3 }),
    tr: regionMean(f, { x: 0.6, y: 0.1, w: 0.3, h: 0.3 }),
    bl: regionMean(f, { x: 0.1, y: 0.6, w: 0.3, h: 0.3 }),
    br: regionMean(f, { x: 0.6, y: 0.6, w: 0.3, h: 0.3 }),
  });
  const expectUpright = (name: string) => {
    const q = quadrantsOf(frames.get(name)!);
    for (const k of ['tl', 'tr', 'bl', 'br'] as const) {
      expect(colourDistance(q[k], QUADRANTS[k]), `${name} ${k}: ${q[k].map(Math.round)}`).toBeLessThan(25);
    }
  };

  it.each([1, 2, 3, 4, 5, 6, 7, 8])('EXIF orientation %i ends up upright', (o) => expectUpright(`orient${o}.jpg`));

  it('progressive JPEG, AVIF and TIFF', () => {
    expectUpright('progressive.jpg');
    expectUpright('photo.avif');
    expectUpright('photo.tiff');
  });

  it('HEIC: HEVC grid tiles decoded, irot applied', (ctx) => {
    if (!heic) return ctx.skip();
    expectUpright('photo.heic');
  });

  it('CMYK JPEG (with and without an ICC profile) in the right colours, not inverted', async () => {
    for (const [name, original] of [['cmyk.jpg', RED], ['cmyk-icc.jpg', GREEN]] as const) {
      // The reference: the file's CMYK converted to sRGB through its profile (or the standard CMYK one) by lcms.
      const { data } = await sharp(files[name]!).toColourspace('srgb').resize(1, 1).raw().toBuffer({ resolveWithObject: true });
      const reference: Rgb = [data[0]!, data[1]!, data[2]!];
      const shown = regionMean(frames.get(name)!);
      expect(colourDistance(reference, original), `${name} reference ${reference}`).toBeLessThan(40);
      expect(colourDistance(shown, reference), `${name} shown ${shown.map(Math.round)} vs ${reference}`).toBeLessThan(20);
    }
  });

  it('16-bit PNG: opaque centre in its colour, transparent frame = white (not black, not the hidden colour)', () => {
    const f = frames.get('alpha16.png')!;
    const centre = regionMean(f, { x: 0.35, y: 0.35, w: 0.3, h: 0.3 });
    const frame = regionMean(f, { x: 0.02, y: 0.02, w: 0.18, h: 0.18 });
    expect(colourDistance(centre, PNG16_CENTRE), `centre ${centre.map(Math.round)}`).toBeLessThan(25);
    expect(colourDistance(frame, BACKGROUND), `frame ${frame.map(Math.round)}`).toBeLessThan(12);
  });

  it('animated WEBP and GIF show their first frame', () => {
    for (const name of ['anim.webp', 'anim.gif']) {
      const m = regionMean(frames.get(name)!);
      expect(colourDistance(m, RED), `${name} ${m.map(Math.round)}`).toBeLessThan(25);
    }
  });
});
