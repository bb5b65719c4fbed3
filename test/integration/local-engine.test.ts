import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/core/errors.js';
import type { Clip, Fit, Motion, Overlay, Plan, TransitionType } from '../../src/core/plan.js';
import type { SourceImage } from '../../src/pipeline/engines/engine.js';
import { createLocalEngine } from '../../src/pipeline/engines/local/index.js';
import { frameWindows } from '../../src/pipeline/engines/local/motion.js';
import { probeVideo, topLevelBoxes } from '../../src/pipeline/media/ffprobe.js';
import { brightFraction, colourDistance, decodeFrame, makePhoto, meanColour, regionMean, type Rgb } from '../helpers/images.js';
import { decodeFrames } from '../helpers/text-metrics.js';

const FFMPEG = process.env.FFMPEG_PATH ?? 'ffmpeg';
const FFPROBE = process.env.FFPROBE_PATH ?? 'ffprobe';

let root: string;
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'photoreel-local-engine-'));
});
afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

function engine(extra: Partial<Parameters<typeof createLocalEngine>[0]> = {}) {
  return createLocalEngine({ ffmpegPath: FFMPEG, ffprobePath: FFPROBE, x264Preset: 'veryfast', x264Crf: 20, ...extra });
}

async function waitUntil(ok: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function workDir(name: string): string {
  const d = path.join(root, name);
  fs.mkdirSync(d, { recursive: true });
  return d;
}

interface ClipSpec {
  image: SourceImage;
  durationMs: number;
  fit?: Fit;
  motion?: Motion;
  transition?: { type: TransitionType; durationMs: number };
}

/** A plan by plan.ts's timeline maths: each clip starts when the previous one's transition begins. */
function makePlan(output: Plan['output'], specs: ClipSpec[], overlays: Overlay[] = [], background = '#000000'): Plan {
  const clips: Clip[] = [];
  let start = 0;
  specs.forEach((s, i) => {
    const transition = i === specs.length - 1 ? { type: 'cut' as const, durationMs: 0 } : (s.transition ?? { type: 'fade' as const, durationMs: 500 });
    clips.push({
      image: { index: s.image.index, source: `photo-${s.image.index}`, width: s.image.width, height: s.image.height },
      startMs: start,
      durationMs: s.durationMs,
      fit: s.fit ?? 'cover',
      motion: s.motion ?? { type: 'none' },
      transition,
    });
    start += s.durationMs - transition.durationMs;
  });
  const last = clips[clips.length - 1]!;
  return { output, durationMs: last.startMs + last.durationMs, clips, overlays, background, notes: [] };
}

async function source(index: number, file: string, o: Parameters<typeof makePhoto>[1]): Promise<SourceImage> {
  const p = await makePhoto(file, o);
  const m = await sharp(p.path).rotate().metadata();
  return { index, path: p.path, type: file.endsWith('.png') ? 'png' : 'jpeg', width: m.width!, height: m.height! };
}

const KB_IN: Motion = { type: 'kenburns', from: { zoom: 1, x: 0.5, y: 0.5 }, to: { zoom: 1.25, x: 0.55, y: 0.45 }, easing: 'easeInOut' };
const KB_OUT: Motion = { type: 'kenburns', from: { zoom: 1.2, x: 0.45, y: 0.5 }, to: { zoom: 1, x: 0.5, y: 0.5 }, easing: 'linear' };
const CENTRE = { x: 0.4, y: 0.4, w: 0.2, h: 0.2 };

/** The poster JPEG shows video frame n: within a few levels of it, and clearly closer to it than to frames n-2 and n+2. */
async function expectPosterIsFrame(posterPath: string, videoPath: string, n: number): Promise<void> {
  const posterPixels = await sharp(posterPath).raw().toBuffer();
  const near = await decodeFrames(videoPath, [n - 2, n, n + 2], FFMPEG);
  const diff = (k: number) => {
    const f = near.get(k)!.data;
    expect(f.length).toBe(posterPixels.length);
    let sum = 0;
    for (let i = 0; i < f.length; i++) sum += Math.abs(f[i]! - posterPixels[i]!);
    return sum / f.length;
  };
  expect(diff(n)).toBeLessThan(4);
  expect(diff(n)).toBeLessThan(diff(n - 2) * 0.8);
  expect(diff(n)).toBeLessThan(diff(n + 2) * 0.8);
}

describe('local engine', () => {
  it('renders 3 photos (landscape JPEG, portrait JPEG, PNG with alpha) with crossfades and Ken Burns at 720p', async () => {
    const dir = workDir('three');
    const red = await source(0, path.join(dir, 'red.jpg'), { width: 1600, height: 1200, colour: [205, 45, 40], seed: 1 });
    const green = await source(1, path.join(dir, 'green.jpg'), { width: 900, height: 1600, colour: [40, 175, 60], seed: 2 });
    const blue = await source(2, path.join(dir, 'blue.png'), { width: 1000, height: 1000, colour: [45, 60, 200], seed: 3, transparentBorder: 80 });
    const plan = makePlan({ width: 1280, height: 720, fps: 30, aspect: '16:9' }, [
      { image: red, durationMs: 2000, motion: KB_IN, transition: { type: 'fade', durationMs: 600 } },
      { image: green, durationMs: 2000, fit: 'blur', motion: KB_OUT, transition: { type: 'fade', durationMs: 500 } },
      { image: blue, durationMs: 1500, fit: 'contain' },
    ], [], '#202020');
    expect(plan.durationMs).toBe(4400);

    const progress: number[] = [];
    const out = await engine().render({ plan, images: [red, green, blue], workDir: path.join(dir, 'work'), signal: new AbortController().signal, onProgress: (f) => progress.push(f) });

    const probe = await probeVideo(out.videoPath, FFPROBE);
    expect(probe.codec).toBe('h264');
    expect(probe.profile).toBe('High');
    expect(probe.pixFmt).toBe('yuv420p');
    expect([probe.width, probe.height]).toEqual([1280, 720]);
    expect(probe.fps).toBe(30);
    expect(Math.abs(probe.durationMs - plan.durationMs)).toBeLessThanOrEqual(1000 / 30);
    expect(probe.frames).toBe(Math.round((plan.durationMs * 30) / 1000));
    expect(probe.moovBeforeMdat).toBe(true);
    expect(probe.hasAudio).toBe(false);
    expect(out).toMatchObject({ width: 1280, height: 720, fps: 30, codec: 'h264', bytes: probe.bytes, durationMs: probe.durationMs });
    expect(path.dirname(out.videoPath)).toBe(path.join(dir, 'work'));

    // progress: monotonic, covers preparation and encoding, ends at 1
    expect(progress.length).toBeGreaterThan(3);
    for (let i = 1; i < progress.length; i++) expect(progress[i]!).toBeGreaterThanOrEqual(progress[i - 1]!);
    expect(progress.some((f) => f > 0 && f <= 0.15)).toBe(true);
    expect(progress.some((f) => f > 0.3 && f < 0.98)).toBe(true);
    expect(progress[progress.length - 1]).toBe(1);

    // poster: a JPEG of the video's size, showing frame 30 (a second in, mid-zoom): closer to
    // it than to the frames either side
    const poster = await sharp(out.posterPath).metadata();
    expect([poster.format, poster.width, poster.height]).toEqual(['jpeg', 1280, 720]);
    await expectPosterIsFrame(out.posterPath, out.videoPath, 30);

    // colours: the middle of each clip shows its photo; the crossfade midpoint is a mix
    const centreOf = { x: 0.35, y: 0.35, w: 0.3, h: 0.3 };
    const refs = [await meanColour(red.path, '#000000', centreOf), await meanColour(green.path, '#000000', centreOf), await meanColour(blue.path, '#202020', centreOf)];
    const f1 = regionMean(await decodeFrame(out.videoPath, 0.7, FFMPEG), CENTRE);
    const f2 = regionMean(await decodeFrame(out.videoPath, 2.15, FFMPEG), CENTRE);
    const f3 = regionMean(await decodeFrame(out.videoPath, 3.9, FFMPEG), CENTRE);
    [f1, f2, f3].forEach((f, i) => {
      const own = colourDistance(f, refs[i]!);
      expect(own).toBeLessThan(30);
      for (const [j, r] of refs.entries()) if (j !== i) expect(own).toBeLessThan(colourDistance(f, r) / 3);
    });
    // crossfade 1 runs 1.4 s - 2.0 s; at 1.7 s both photos contribute about half
    const mid = regionMean(await decodeFrame(out.videoPath, 1.7, FFMPEG), CENTRE);
    for (let c = 0; c < 3; c++) {
      const lo = Math.min(f1[c]!, f2[c]!);
      const hi = Math.max(f1[c]!, f2[c]!);
      expect(mid[c]!).toBeGreaterThan(lo + 0.2 * (hi - lo));
      expect(mid[c]!).toBeLessThan(hi - 0.2 * (hi - lo));
    }
    // contain: the frame's sides around the square photo are the plan background
    const side = regionMean(await decodeFrame(out.videoPath, 3.9, FFMPEG), { x: 0.02, y: 0.3, w: 0.1, h: 0.4 });
    expect(colourDistance(side, [32, 32, 32])).toBeLessThan(8);
    // blur: the sides show a darkened copy of the green photo, not the background
    const blurSide = regionMean(await decodeFrame(out.videoPath, 2.15, FFMPEG), { x: 0.02, y: 0.3, w: 0.1, h: 0.4 });
    expect(blurSide[1]).toBeGreaterThan(blurSide[0] + 40);
    expect(blurSide[1]).toBeLessThan(refs[1]![1]);
  });

  it('renders 9:16 at 720x1280 with a title overlay inside the safe zone, honouring EXIF orientation', async () => {
    const dir = workDir('vertical');
    // Stored 1200x800, left half dark red and right half dark blue; EXIF 6 = rotate 90 degrees
    // clockwise to display, so the displayed (800x1200) photo is red on top, blue below.
    const halves = Buffer.from(
      '<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="800"><rect width="600" height="800" fill="rgb(110,25,25)"/><rect x="600" width="600" height="800" fill="rgb(25,25,110)"/></svg>',
    );
    const rotatedPath = path.join(dir, 'rotated.jpg');
    await sharp(halves).jpeg({ quality: 90 }).withMetadata({ orientation: 6 }).toFile(rotatedPath);
    const rotated: SourceImage = { index: 0, path: rotatedPath, type: 'jpeg', width: 800, height: 1200 };
    const dark = await source(1, path.join(dir, 'dark.jpg'), { width: 1500, height: 2000, colour: [40, 40, 50], seed: 4 });
    const plan = makePlan(
      { width: 720, height: 1280, fps: 25, aspect: '9:16' },
      [
        { image: rotated, durationMs: 1500, transition: { type: 'wipeup', durationMs: 400 } },
        { image: dark, durationMs: 1500, motion: KB_IN },
      ],
      [{ type: 'title', text: 'SUMMER SALE', startMs: 0, durationMs: 1200 }],
    );
    const out = await engine().render({ plan, images: [rotated, dark], workDir: path.join(dir, 'work'), signal: new AbortController().signal, onProgress() {} });
    const probe = await probeVideo(out.videoPath, FFPROBE);
    expect([probe.width, probe.height, probe.fps]).toEqual([720, 1280, 25]);
    expect(probe.frames).toBe(65);
    expect(probe.moovBeforeMdat).toBe(true);

    const withTitle = await decodeFrame(out.videoPath, 0.6, FFMPEG);
    // EXIF orientation applied: red on top, blue at the bottom
    const top = regionMean(withTitle, { x: 0.3, y: 0.3, w: 0.4, h: 0.15 });
    const bottom = regionMean(withTitle, { x: 0.3, y: 0.7, w: 0.4, h: 0.15 });
    expect(top[0]).toBeGreaterThan(top[2] + 40);
    expect(bottom[2]).toBeGreaterThan(bottom[0] + 40);

    // white title text: below the top 12 %, in the upper part of the safe area, nowhere else
    const titleBand = { x: 0.06, y: 0.12, w: 0.88, h: 0.1 };
    expect(brightFraction(withTitle, titleBand)).toBeGreaterThan(0.03);
    expect(brightFraction(withTitle, { x: 0, y: 0, w: 1, h: 0.115 })).toBe(0);
    expect(brightFraction(withTitle, { x: 0, y: 0.25, w: 1, h: 0.75 })).toBe(0);
    // and only while the overlay is on
    const after = await decodeFrame(out.videoPath, 2.2, FFMPEG);
    expect(brightFraction(after, titleBand)).toBe(0);
  });

  it('renders long plans in segments joined without a seam', async () => {
    const dir = workDir('segments');
    const colours: Rgb[] = [[200, 50, 50], [50, 190, 60], [50, 60, 200], [210, 200, 60]];
    const imgs = await Promise.all(colours.map((c, i) => source(i, path.join(dir, `p${i}.jpg`), { width: 800, height: 600, colour: c, seed: i + 1 })));
    const plan = makePlan(
      { width: 640, height: 360, fps: 30, aspect: '16:9' },
      imgs.map((image, i) => ({ image, durationMs: 1400, motion: i % 2 ? KB_OUT : KB_IN, transition: { type: (i === 1 ? 'cut' : 'fade') as TransitionType, durationMs: i === 1 ? 0 : 400 } })),
      [{ type: 'caption', text: 'Across the seam', startMs: 500, durationMs: 3000 }],
    );
    const spawned: number[] = [];
    const out = await engine({ maxClipsPerRun: 2, onFfmpegSpawn: (pid) => spawned.push(pid) }).render({ plan, images: imgs, workDir: path.join(dir, 'work'), signal: new AbortController().signal, onProgress() {} });
    expect(spawned.length).toBeGreaterThan(1);
    const probe = await probeVideo(out.videoPath, FFPROBE);
    expect(probe.frames).toBe(Math.round((plan.durationMs * 30) / 1000));
    expect(Math.abs(probe.durationMs - plan.durationMs)).toBeLessThanOrEqual(34);
    expect(probe.profile).toBe('High');
    expect(probe.moovBeforeMdat).toBe(true);
    // every clip's solo part shows its photo
    for (const [i, clip] of plan.clips.entries()) {
      const t = (clip.startMs + clip.durationMs / 2) / 1000;
      const m = regionMean(await decodeFrame(out.videoPath, t, FFMPEG), CENTRE);
      expect(colourDistance(m, await meanColour(imgs[i]!.path, '#000000', { x: 0.3, y: 0.3, w: 0.4, h: 0.4 }))).toBeLessThan(30);
    }
    // The poster (taken from the segment that holds it while the segments are joined): frame 30, mid-fade.
    await expectPosterIsFrame(out.posterPath, out.videoPath, 30);
  });

  it('moves Ken Burns smoothly (sub-pixel): tracked dots follow the planned path', async () => {
    const dir = workDir('smooth');
    // Dark photo with a grid of small Gaussian dots whose centroids we can track.
    const W = 2560;
    const H = 1440;
    const dots: [number, number][] = [];
    for (let gy = 1; gy < 4; gy++) for (let gx = 1; gx < 6; gx++) dots.push([(gx * W) / 6, (gy * H) / 4]);
    const sig = 5;
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><defs><radialGradient id="d"><stop offset="0" stop-color="#fff"/><stop offset="0.5" stop-color="#fff" stop-opacity="0.35"/><stop offset="1" stop-color="#fff" stop-opacity="0"/></radialGradient></defs><rect width="${W}" height="${H}" fill="#141414"/>${dots.map(([x, y]) => `<circle cx="${x}" cy="${y}" r="${4 * sig}" fill="url(#d)"/>`).join('')}</svg>`;
    const file = path.join(dir, 'dots.png');
    await sharp(Buffer.from(svg)).png().toFile(file);
    const img: SourceImage = { index: 0, path: file, type: 'png', width: W, height: H };
    const motion: Motion = { type: 'kenburns', from: { zoom: 1, x: 0.5, y: 0.5 }, to: { zoom: 1.15, x: 0.54, y: 0.47 }, easing: 'easeInOut' };
    const plan = makePlan({ width: 1280, height: 720, fps: 30, aspect: '16:9' }, [{ image: img, durationMs: 2000, motion }]);
    const out = await engine({ x264Crf: 8 }).render({ plan, images: [img], workDir: path.join(dir, 'work'), signal: new AbortController().signal, onProgress() {} });

    const N = 60;
    const raw = execFileSync(FFMPEG, ['-loglevel', 'error', '-i', out.videoPath, '-f', 'rawvideo', '-pix_fmt', 'gray', '-'], { maxBuffer: 1 << 28 });
    expect(raw.length).toBe(N * 1280 * 720);
    const windows = frameWindows(motion, N, { width: 1280, height: 720 }, { width: 1280, height: 720 });
    const d2: number[] = [];
    const offsets: number[] = [];
    for (const [dx, dy] of dots) {
      const bx = dx / 2; // fitted units: the 2560-px photo covers 1280 px
      const by = dy / 2;
      const track: [number, number][] = [];
      for (let n = 0; n < N; n++) {
        const w = windows[n]!;
        const z = 1280 / w.w;
        const px = (bx - w.x) * z;
        const py = (by - w.y) * z;
        const r = Math.ceil(2.5 * sig * z);
        if (px < r + 2 || py < r + 2 || px > 1280 - r - 2 || py > 720 - r - 2) break;
        let sw = 0;
        let sx = 0;
        let sy = 0;
        for (let y = Math.round(py) - r; y <= Math.round(py) + r; y++) {
          for (let x = Math.round(px) - r; x <= Math.round(px) + r; x++) {
            const v = Math.max(0, raw[n * 1280 * 720 + y * 1280 + x]! - 40);
            sw += v;
            sx += v * x;
            sy += v * y;
          }
        }
        track.push([sx / sw - px, sy / sw - py]);
      }
      if (track.length < N) continue;
      for (const t of track) offsets.push(Math.hypot(t[0] + 0.5, t[1] + 0.5));
      for (let n = 1; n < N - 1; n++) for (const c of [0, 1]) d2.push(track[n + 1]![c]! - 2 * track[n]![c]! + track[n - 1]![c]!);
    }
    expect(d2.length).toBeGreaterThan(100);
    const rms = Math.sqrt(d2.reduce((s, v) => s + v * v, 0) / d2.length);
    // zoompan measures ~1.0-1.4 px/frame^2 RMS on the same kind of test; we measure ~0.04,
    // most of it this per-dot estimate's own noise through x264 (motion-smoothness.test.ts
    // measures the filters themselves: ~0.005)
    expect(rms).toBeLessThan(0.1);
    // and the dots are where the plan says (within a pixel)
    expect(Math.max(...offsets)).toBeLessThan(1.5);
  });

  it('aborts: kills ffmpeg and rejects with AbortError well within 2 s', async () => {
    const dir = workDir('abort');
    const a = await source(0, path.join(dir, 'a.jpg'), { width: 1600, height: 1200, colour: [150, 90, 40] });
    const b = await source(1, path.join(dir, 'b.jpg'), { width: 1600, height: 1200, colour: [40, 90, 150], seed: 5 });
    const plan = makePlan(
      { width: 1280, height: 720, fps: 30, aspect: '16:9' },
      Array.from({ length: 12 }, (_, i) => ({ image: i % 2 ? b : a, durationMs: 5500, motion: i % 2 ? KB_OUT : KB_IN, transition: { type: 'fade' as const, durationMs: 500 } })),
    );
    const ac = new AbortController();
    let pid = 0;
    let result!: Promise<unknown>;
    const spawnedAt = new Promise<void>((resolve) => {
      const render = engine({
        onFfmpegSpawn: (p) => {
          pid = p;
          resolve();
        },
      }).render({ plan, images: [a, b], workDir: path.join(dir, 'work'), signal: ac.signal, onProgress() {} });
      result = render.then(
        () => null,
        (e: unknown) => e,
      );
    });
    await spawnedAt;
    await new Promise((r) => setTimeout(r, 1000));
    expect(() => process.kill(pid, 0)).not.toThrow(); // still encoding
    const t0 = performance.now();
    ac.abort();
    const err = await result;
    const took = performance.now() - t0;
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).name).toBe('AbortError');
    expect(took).toBeLessThan(2000);
    expect(() => process.kill(pid, 0)).toThrow(); // the process is gone
  });

  it('stops during photo preparation when aborted early', async () => {
    const dir = workDir('abort-prep');
    const imgs = await Promise.all([0, 1, 2, 3].map((i) => source(i, path.join(dir, `p${i}.jpg`), { width: 2400, height: 1600, colour: [100, 100, 100], seed: i })));
    const plan = makePlan({ width: 1920, height: 1080, fps: 30, aspect: '16:9' }, imgs.map((image) => ({ image, durationMs: 3000, motion: KB_IN })));
    const ac = new AbortController();
    let spawned = false;
    const p = engine({ prepareConcurrency: 1, onFfmpegSpawn: () => (spawned = true) }).render({ plan, images: imgs, workDir: path.join(dir, 'work'), signal: ac.signal, onProgress() {} });
    setTimeout(() => ac.abort(), 20);
    const t0 = performance.now();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    expect(performance.now() - t0).toBeLessThan(1500);
    expect(spawned).toBe(false);
  });

  it('prepares stills in a child process byte for byte as in-process, and abort kills the child', async () => {
    const dir = workDir('child');
    const imgs = await Promise.all([0, 1].map((i) => source(i, path.join(dir, `p${i}.jpg`), { width: 2400, height: 1600, colour: [60 + 80 * i, 100, 140], seed: i })));
    const plan = makePlan({ width: 1280, height: 720, fps: 30, aspect: '16:9' }, imgs.map((image) => ({ image, durationMs: 1000, motion: KB_IN, transition: { type: 'fade', durationMs: 300 } })));
    const render = (name: string, inChild: boolean, signal = new AbortController().signal) =>
      engine({ prepareInChild: inChild }).render({ plan, images: imgs, workDir: path.join(dir, name), signal, onProgress() {} });
    const [viaChild, inProcess] = [await render('child', true), await render('inline', false)];
    for (const f of ['c000.y4m', 'c001.y4m']) expect(fs.readFileSync(path.join(dir, 'child', f)).equals(fs.readFileSync(path.join(dir, 'inline', f)))).toBe(true);
    // The child plans the motion too: the same per-frame crops, so the same filter graph.
    const graph = (name: string) => fs.readFileSync(path.join(dir, name, 'graph0.txt'), 'utf8');
    expect(graph('child')).toContain('sendcmd');
    expect(graph('child')).toBe(graph('inline'));
    expect(viaChild.durationMs).toBe(inProcess.durationMs);

    // Abort while the child works: rejected at once, and the child is gone.
    const children = () => fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
      try {
        return fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('prepare-child-main') && fs.readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]!.split(' ')[1] === String(process.pid);
      } catch {
        return false;
      }
    });
    const ac = new AbortController();
    const p = render('abort', true, ac.signal);
    await waitUntil(() => children().length === 1, 10_000);
    const t0 = performance.now();
    ac.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    expect(performance.now() - t0).toBeLessThan(500);
    await waitUntil(() => children().length === 0, 2000);

    // A photo the child cannot read: the same error as in-process, not a crash.
    const missing = { ...imgs[0]!, path: path.join(dir, 'gone.jpg') };
    await expect(engine({ prepareInChild: true }).render({ plan, images: [missing, imgs[1]!], workDir: path.join(dir, 'bad'), signal: new AbortController().signal, onProgress() {} }))
      .rejects.toMatchObject({ code: 'render_failed', retryable: false });
  });

  it('reports an ffmpeg failure as a retryable render_failed with stderr in the cause only', async () => {
    const dir = workDir('fail');
    const fake = path.join(dir, 'fake-ffmpeg.sh');
    fs.writeFileSync(fake, '#!/bin/sh\necho "[Parsed_xfade_7 @ 0x1] Something broke deep inside" >&2\necho "Conversion failed!" >&2\nexit 1\n', { mode: 0o755 });
    const a = await source(0, path.join(dir, 'a.jpg'), { width: 800, height: 600, colour: [100, 120, 140] });
    const plan = makePlan({ width: 640, height: 360, fps: 30, aspect: '16:9' }, [{ image: a, durationMs: 1000 }]);
    const err = await engine({ ffmpegPath: fake })
      .render({ plan, images: [a], workDir: path.join(dir, 'work'), signal: new AbortController().signal, onProgress() {} })
      .then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    const e = err as AppError;
    expect(e.code).toBe('render_failed');
    expect(e.retryable).toBe(true);
    expect(e.message).not.toMatch(/xfade|Conversion|0x1/);
    expect(String((e.cause as Error).message)).toContain('Something broke deep inside');
    expect(String((e.cause as Error).message)).toContain('Conversion failed!');
  });
});

describe('probeVideo', () => {
  it('tells fast-start MP4s from ones with the index at the end', async () => {
    const dir = workDir('probe');
    const args = (flags: string[], out: string) => ['-nostdin', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=s=320x240:r=25:d=1', '-f', 'lavfi', '-i', 'sine=d=1', '-c:v', 'libx264', '-preset', 'ultrafast', '-c:a', 'aac', '-shortest', ...flags, '-y', out];
    execFileSync(FFMPEG, args(['-movflags', '+faststart'], path.join(dir, 'fast.mp4')));
    execFileSync(FFMPEG, args([], path.join(dir, 'slow.mp4')));
    const fast = await probeVideo(path.join(dir, 'fast.mp4'), FFPROBE);
    const slow = await probeVideo(path.join(dir, 'slow.mp4'), FFPROBE);
    expect(fast.moovBeforeMdat).toBe(true);
    expect(slow.moovBeforeMdat).toBe(false);
    expect(fast.hasAudio).toBe(true);
    expect([fast.width, fast.height, fast.fps, fast.codec]).toEqual([320, 240, 25, 'h264']);
    expect(Math.abs(fast.durationMs - 1000)).toBeLessThanOrEqual(40);
    expect(fast.bytes).toBe(fs.statSync(path.join(dir, 'fast.mp4')).size);
    expect((await topLevelBoxes(path.join(dir, 'slow.mp4'))).slice(0, 1)).toEqual(['ftyp']);
    await expect(probeVideo(path.join(dir, 'missing.mp4'), FFPROBE)).rejects.toThrow();
  });
});
