import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Aspect, Fps, Plan, Resolution } from '../../src/core/plan.js';
import type { SourceImage } from '../../src/pipeline/engines/engine.js';
import { createLocalEngine } from '../../src/pipeline/engines/local/index.js';
import { frameTimeline } from '../../src/pipeline/engines/local/timeline.js';
import { probeVideo } from '../../src/pipeline/media/ffprobe.js';
import { planJob } from '../../src/pipeline/plan/planner.js';
import { colourDistance, makePhoto, regionMean, type Rgb } from '../helpers/images.js';
import { tempDir } from '../helpers/servers.js';
import { decodeFrames } from '../helpers/text-metrics.js';

/**
 * Every output shape the product offers, rendered for real through the planner and the local
 * engine: the four aspects at 720p and 1080p, and the four frame rates. Each video is checked
 * with ffprobe (size, rate, exact frame count, duration within a frame, H.264 High yuv420p,
 * index first) and on decoded frames (each photo where the plan puts it, the crossfade's
 * middle frame a mix of both, the hand-over on the planned frame).
 */

const FFMPEG = process.env.FFMPEG_PATH ?? 'ffmpeg';
const FFPROBE = process.env.FFPROBE_PATH ?? 'ffprobe';
const A: Rgb = [205, 50, 45];
const B: Rgb = [40, 70, 205];

const SIZES: Record<Resolution, Record<Aspect, [number, number]>> = {
  '720p': { '16:9': [1280, 720], '9:16': [720, 1280], '1:1': [720, 720], '4:5': [720, 900] },
  '1080p': { '16:9': [1920, 1080], '9:16': [1080, 1920], '1:1': [1080, 1080], '4:5': [1080, 1350] },
  '2160p': { '16:9': [3840, 2160], '9:16': [2160, 3840], '1:1': [2160, 2160], '4:5': [2160, 2700] },
};

let dir: string;
let images: SourceImage[];

beforeAll(async () => {
  dir = await tempDir('photoreel-outputs-');
  images = [];
  // A landscape and a portrait photo, so every aspect crops one of them.
  for (const [i, [colour, width, height]] of ([[A, 1600, 1200], [B, 1000, 1500]] as const).entries()) {
    const p = await makePhoto(path.join(dir, `p${i}.jpg`), { width, height, colour: [...colour], seed: i + 3 });
    const m = await sharp(p.path).metadata();
    images.push({ index: i, path: p.path, type: 'jpeg', width: m.width!, height: m.height! });
  }
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function render(name: string, options: { aspect: Aspect; resolution: Resolution; fps: Fps }) {
  const plan: Plan = planJob({
    images: images.map((img) => ({ source: path.basename(img.path), width: img.width, height: img.height })),
    options: { ...options, secondsPerImage: 1, transition: { type: 'fade', duration: 0.4 }, motion: 'kenburns' },
  });
  const engine = createLocalEngine({ ffmpegPath: FFMPEG, ffprobePath: FFPROBE, x264Preset: 'veryfast', x264Crf: 20 });
  const out = await engine.render({ plan, images, workDir: path.join(dir, name), signal: new AbortController().signal, onProgress() {} });
  return { plan, out, probe: await probeVideo(out.videoPath, FFPROBE) };
}

/** ffprobe and decoded-frame checks shared by every shape. */
async function checkVideo(r: Awaited<ReturnType<typeof render>>, size: [number, number], fps: number) {
  const { plan, out, probe } = r;
  expect([plan.output.width, plan.output.height, plan.output.fps]).toEqual([...size, fps]);
  expect([probe.codec, probe.profile, probe.pixFmt, probe.width, probe.height, probe.fps]).toEqual(['h264', 'High', 'yuv420p', ...size, fps]);
  const tl = frameTimeline(plan);
  expect(probe.frames).toBe(tl.totalFrames);
  expect(Math.abs(probe.durationMs - plan.durationMs)).toBeLessThanOrEqual(1000 / fps);
  expect(probe.moovBeforeMdat).toBe(true);

  // Photo A alone, the crossfade's middle frame, photo B alone; the fade spans F frames from
  // B's first frame, and frame k of it gives A the weight (F - k) / (F + 1).
  const start = tl.clips[1]!.startFrame;
  const F = tl.clips[0]!.xfade!.frames;
  const mid = start + Math.floor(F / 2);
  const frames = await decodeFrames(out.videoPath, [2, start - 1, mid, start + F, tl.totalFrames - 2], FFMPEG);
  const centre = { x: 0.3, y: 0.3, w: 0.4, h: 0.4 };
  const mean = (n: number) => regionMean(frames.get(n)!, centre);
  for (const [n, own, other] of [[2, A, B], [start - 1, A, B], [start + F, B, A], [tl.totalFrames - 2, B, A]] as const) {
    const d = colourDistance(mean(n), own);
    expect(d, `frame ${n}: ${mean(n)}`).toBeLessThan(45);
    expect(d).toBeLessThan(colourDistance(mean(n), other) / 2);
  }
  // The middle frame is the planned mix of the two (red channel: A's weight).
  const wA = (F - Math.floor(F / 2)) / (F + 1);
  const red = mean(mid)[0]!;
  const expected = wA * mean(start - 1)[0]! + (1 - wA) * mean(start + F)[0]!;
  expect(Math.abs(red - expected), `mid-fade red ${red}, expected ${expected}`).toBeLessThan(12);
}

describe('every aspect at 720p and 1080p', () => {
  const cases = (['720p', '1080p'] as const).flatMap((resolution) => (['16:9', '9:16', '1:1', '4:5'] as const).map((aspect) => [resolution, aspect] as const));
  it.each(cases)('%s %s: the planned size, exact frames, each photo in its place, a true crossfade', async (resolution, aspect) => {
    const r = await render(`${resolution}-${aspect.replace(':', 'x')}`, { aspect, resolution, fps: 30 });
    await checkVideo(r, SIZES[resolution][aspect], 30);
  }, 120_000);
});

describe('every frame rate', () => {
  it.each([24, 25, 30, 60] as const)('%i fps: exact frame count and the hand-over on the planned frame', async (fps) => {
    const r = await render(`fps-${fps}`, { aspect: '16:9', resolution: '720p', fps });
    await checkVideo(r, SIZES['720p']['16:9'], fps);
    expect(r.probe.frames).toBe(Math.round((r.plan.durationMs * fps) / 1000));
  }, 120_000);
});
