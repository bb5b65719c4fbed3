import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRANSITIONS, type Clip, type Plan, type TransitionType } from '../../src/core/plan.js';
import type { SourceImage } from '../../src/pipeline/engines/engine.js';
import { planSegments } from '../../src/pipeline/engines/local/filtergraph.js';
import { createLocalEngine, defaultMaxClipsPerRun } from '../../src/pipeline/engines/local/index.js';
import { frameTimeline } from '../../src/pipeline/engines/local/timeline.js';
import { probeVideo } from '../../src/pipeline/media/ffprobe.js';
import { planJob } from '../../src/pipeline/plan/planner.js';
import { regionMean, type Frame, type Rgb } from '../helpers/images.js';

/**
 * Every named transition, rendered by the real engine in one video: 20 clips alternating a
 * red and a blue photo, clip i going into clip i+1 with TRANSITIONS[i] and a duration of its
 * own. For each, decoded frames show photo A just before the transition, photo B just after,
 * and at its midpoint a frame made of both: every part of it is A, B or a mix of the two
 * (fadeblack / fadewhite pass through black / white instead), with the split along the axis
 * the name says for wipes and slides.
 */
const A: Rgb = [220, 40, 40];
const B: Rgb = [40, 70, 220];
const FPS = 30;
const HOLD_MS = 600;
const NAMED = TRANSITIONS.filter((t) => t !== 'cut');
/** Each transition its own length: 400, 466, 533, ... ms (whole frames). */
const durationOf = (i: number) => Math.round(((12 + (i % 6) * 2) * 1000) / FPS);

let root: string;
let video: string;
let plan: Plan;
let all: Frame[] = [];

async function solid(index: number, colour: Rgb): Promise<SourceImage> {
  const file = path.join(root, `p${index}.png`);
  await sharp({ create: { width: 800, height: 450, channels: 3, background: { r: colour[0], g: colour[1], b: colour[2] } } }).png().toFile(file);
  return { index, path: file, type: 'png', width: 800, height: 450 };
}

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'photoreel-transitions-'));
  const images = [await solid(0, A), await solid(1, B)];
  // The last clip ends with a cut, so the 19 named transitions plus one cut need 21 clips.
  const types: TransitionType[] = [...NAMED, 'cut'];
  const clips: Clip[] = [];
  let start = 0;
  let incoming = 0;
  for (let i = 0; i <= types.length; i++) {
    const type = i < types.length ? types[i]! : 'cut';
    const td = type === 'cut' ? 0 : durationOf(i);
    // Each photo: the transition in, HOLD_MS alone on screen, the transition out.
    const durationMs = incoming + HOLD_MS + td;
    incoming = td;
    clips.push({
      image: { index: i % 2, source: `photo-${i % 2}`, width: 800, height: 450 },
      startMs: start,
      durationMs,
      fit: 'cover',
      motion: { type: 'none' },
      transition: { type, durationMs: td },
    });
    start += durationMs - td;
  }
  const last = clips[clips.length - 1]!;
  plan = { output: { width: 640, height: 360, fps: FPS, aspect: '16:9' }, durationMs: last.startMs + last.durationMs, clips, overlays: [], background: '#000000', notes: [] };
  const engine = createLocalEngine({ ffmpegPath: process.env.FFMPEG_PATH ?? 'ffmpeg', ffprobePath: process.env.FFPROBE_PATH ?? 'ffprobe', x264Preset: 'veryfast', x264Crf: 18 });
  const out = await engine.render({ plan, images, workDir: path.join(root, 'work'), signal: new AbortController().signal, onProgress() {} });
  video = out.videoPath;
  all = decodeAll(video, 64, 36);
}, 120_000);

/** Every frame of the video, scaled to w x h (area average), as RGB. */
function decodeAll(file: string, w: number, h: number): Frame[] {
  const raw = execFileSync(process.env.FFMPEG_PATH ?? 'ffmpeg', ['-nostdin', '-loglevel', 'error', '-i', file, '-vf', `scale=${w}:${h}:flags=area`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: 256 * 1024 * 1024 });
  const size = w * h * 3;
  return Array.from({ length: raw.length / size }, (_, k) => ({ width: w, height: h, data: raw.subarray(k * size, (k + 1) * size) }));
}

afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const near = (c: Rgb, want: Rgb, tol = 30) => c.every((v, k) => Math.abs(v - want[k]!) <= tol);
/** Distance from `c` to the segment between colours p and q (RGB). */
function distanceToMix(c: Rgb, p: Rgb, q: Rgb): number {
  const d = p.map((v, k) => q[k]! - v);
  const t = Math.max(0, Math.min(1, d.reduce((n, dk, k) => n + dk * (c[k]! - p[k]!), 0) / d.reduce((n, dk) => n + dk * dk, 0)));
  return Math.hypot(...c.map((v, k) => v - (p[k]! + t * d[k]!)));
}
/** Mean colours of an n x n grid of cells. */
function cells(f: Frame, n = 8): Rgb[][] {
  return Array.from({ length: n }, (_, row) => Array.from({ length: n }, (_, col) => regionMean(f, { x: col / n, y: row / n, w: 1 / n, h: 1 / n })));
}
/** How much of the frame is A-like, in [0, 1] per cell: 1 = photo A, 0 = photo B (projection on the A-B line). */
const aShare = (c: Rgb) => {
  const d = A.map((v, k) => v - B[k]!);
  return d.reduce((n, dk, k) => n + dk * (c[k]! - B[k]!), 0) / d.reduce((n, dk) => n + dk * dk, 0);
};
const spread = (xs: number[]) => Math.max(...xs) - Math.min(...xs);

describe('transitions: each named one, rendered and measured on decoded frames', () => {
  it('the video lasts the plan within one frame, and the plan has 19 named transitions plus cut', async () => {
    expect(NAMED.length).toBeGreaterThanOrEqual(19);
    const probe = await probeVideo(video);
    expect(Math.abs(probe.durationMs - plan.durationMs)).toBeLessThanOrEqual(1000 / FPS);
    expect([probe.width, probe.height, probe.fps]).toEqual([640, 360, FPS]);
  });

  it.each(NAMED.map((name, i) => [name, i] as const))('%s: A before, B after, every frame between a mix of the two', async (name, i) => {
    const tl = frameTimeline(plan);
    const begin = tl.clips[i + 1]!.startFrame;
    const frames = tl.clips[i]!.xfade!.frames;
    expect(frames).toBe(Math.round((plan.clips[i]!.transition.durationMs * FPS) / 1000));
    // A and B swap roles along the alternating clips; `share` is the outgoing photo's part of a cell.
    const [pa, pb] = i % 2 === 0 ? [A, B] : [B, A];
    const share = (c: Rgb) => (i % 2 === 0 ? aShare(c) : 1 - aShare(c));
    const frameMean = (f: number) => regionMean(all[f]!);

    expect(near(frameMean(begin - 1), pa), `${name}: frame before ${frameMean(begin - 1)}`).toBe(true);
    expect(near(frameMean(begin + frames), pb), `${name}: frame after ${frameMean(begin + frames)}`).toBe(true);

    const inside = Array.from({ length: frames }, (_, k) => begin + k);
    if (name === 'fadeblack' || name === 'fadewhite') {
      const target: Rgb = name === 'fadeblack' ? [0, 0, 0] : [255, 255, 255];
      // It passes through black / white, and every frame is a photo faded towards it.
      const closest = Math.min(...inside.map((f) => Math.hypot(...frameMean(f).map((v, k) => v - target[k]!))));
      expect(closest, `${name}: nearest frame to ${target}`).toBeLessThan(25);
      for (const f of inside) for (const c of cells(all[f]!).flat()) expect(Math.min(distanceToMix(c, pa, target), distanceToMix(c, pb, target))).toBeLessThan(40);
      return;
    }
    // Every cell of every frame is photo A, photo B or a mix of the two: nothing else appears.
    for (const f of inside) for (const c of cells(all[f]!).flat()) expect(distanceToMix(c, A, B), `${name}: frame ${f} cell ${c}`).toBeLessThan(45);
    // The outgoing photo gives way steadily (never comes back by more than noise), and some frame shows both.
    const shares = inside.map((f) => {
      const cs = cells(all[f]!).flat();
      return cs.reduce((n, c) => n + share(c), 0) / cs.length;
    });
    for (let k = 1; k < shares.length; k++) expect(shares[k]!, `${name}: shares ${shares.map((x) => x.toFixed(2))}`).toBeLessThan(shares[k - 1]! + 0.05);
    const mixed = shares.findIndex((x) => x > 0.35 && x < 0.65);
    expect(mixed, `${name}: shares ${shares.map((x) => x.toFixed(2))}`).toBeGreaterThanOrEqual(0);
    if (name === 'fade') {
      // Blended with weights (F - j) / (F + 1): every frame of the transition is a mix, none
      // either photo alone, and the hand-over is linear (within encoding noise).
      shares.forEach((x, j) => expect(Math.abs(x - (frames - j) / (frames + 1)), `fade: shares ${shares.map((v) => v.toFixed(2))}`).toBeLessThan(0.03));
    }

    // Wipes, slides and smooth wipes split the frame along the axis of their name; a
    // crossfade or dissolve mixes it evenly.
    const grid = cells(all[inside[mixed]!]!);
    const byCol = grid[0]!.map((_, col) => grid.reduce((n, row) => n + aShare(row[col]!), 0) / grid.length);
    const byRow = grid.map((row) => row.reduce((n, c) => n + aShare(c), 0) / row.length);
    const fmt = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(' ');
    if (/(left|right)$/.test(name)) {
      expect(spread(byCol), `${name}: columns ${fmt(byCol)}`).toBeGreaterThan(0.6);
      expect(spread(byRow), `${name}: rows ${fmt(byRow)}`).toBeLessThan(0.2);
    } else if (/(up|down)$/.test(name)) {
      expect(spread(byRow), `${name}: rows ${fmt(byRow)}`).toBeGreaterThan(0.6);
      expect(spread(byCol), `${name}: columns ${fmt(byCol)}`).toBeLessThan(0.2);
    } else if (name === 'fade' || name === 'dissolve') {
      expect(spread(byCol), `${name}: columns ${fmt(byCol)}`).toBeLessThan(0.2);
      expect(spread(byRow), `${name}: rows ${fmt(byRow)}`).toBeLessThan(0.2);
    }
  });

  it('cut: one photo straight to the next, no blended frame, within a frame of the plan', () => {
    const tl = frameTimeline(plan);
    const n = tl.clips.length - 1;
    const at = tl.clips[n]!.startFrame;
    const [pa, pb] = (n - 1) % 2 === 0 ? [A, B] : [B, A];
    const around = Array.from({ length: 6 }, (_, k) => regionMean(all[at - 3 + k]!));
    // Every frame around the cut is one photo or the other, and the switch happens once.
    const seq = around.map((c) => (near(c, pa) ? 'a' : near(c, pb) ? 'b' : '?')).join('');
    expect(seq).toMatch(/^a+b+$/);
    // On the planned frame exactly, after a chain of 18 xfades and a blended fade (xfade used
    // to end a transition early now and then, putting the cut a frame late: see XFADE_PAD).
    expect(seq.indexOf('b')).toBe(3);
    expect(all.length).toBe(tl.totalFrames);
  });
});

describe('keyframes', () => {
  it('fall on the hard cut and where segments join, never inside a transition (no scene-cut guessing)', () => {
    const tl = frameTimeline(plan);
    const cut = tl.clips[tl.clips.length - 1]!.startFrame;
    const starts = new Set(planSegments(tl, defaultMaxClipsPerRun(640 * 360)).map((s) => s.startFrame));
    // JSON: in CSV, frames with side data (x264's SEI) take extra lines.
    const probe = JSON.parse(execFileSync(process.env.FFPROBE_PATH ?? 'ffprobe', ['-v', 'error', '-select_streams', 'v', '-show_entries', 'frame=key_frame', '-of', 'json', video], { encoding: 'utf8' })) as { frames: { key_frame: number }[] };
    const keys = probe.frames.flatMap((f, i) => (f.key_frame === 1 ? [i] : []));
    expect(probe.frames.length).toBe(tl.totalFrames);
    // What the encoder must do: a keyframe at every segment start and at the cut, and
    // otherwise only x264's maximum interval (250 frames) when one runs out.
    const want: number[] = [];
    for (let f = 0, last = -Infinity; f < tl.totalFrames; f++) {
      if (starts.has(f) || f === cut || f - last >= 250) {
        want.push(f);
        last = f;
      }
    }
    expect(starts.size).toBeGreaterThan(1);
    expect(keys).toEqual(want);
  });
});

describe('"mixed" transitions from the prompt', () => {
  it('are varied, and the same request plans the same transitions every time', () => {
    const request = { images: Array.from({ length: 12 }, (_, i) => ({ source: `https://example.com/${i}.jpg` })), prompt: 'a mix of transitions, 2 s per photo' };
    const first = planJob(request).clips.map((c) => c.transition.type);
    const again = planJob(request).clips.map((c) => c.transition.type);
    expect(again).toEqual(first);
    expect(new Set(first.slice(0, -1)).size).toBeGreaterThanOrEqual(5);
    expect(first.slice(0, -1).every((t) => t !== 'cut')).toBe(true);
  });
});
