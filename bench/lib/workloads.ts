/**
 * Render-bench workloads (bench/render.ts): the photos, the plan given to our engine, and the
 * exact per-frame geometry every renderer (ours, the hand-written zoompan command, the
 * reference) must reproduce.
 *
 * Framing. Our plan's views are relative to the *fitted* photo (the whole photo scaled to cover
 * the frame, overflowing in one dimension). A hand-written command cuts the frame-shaped middle
 * out of the cover-scaled photo first and zooms inside that. The bench therefore defines each
 * motion in the coordinates of that centre crop (u, v in 0..1, zoom z) and keeps every frame's
 * window inside it, so (1) no renderer ever clamps a window and (2) the plan's views, converted
 * to fitted-photo coordinates, show exactly the same part of the photo as the zoompan
 * expressions and the reference.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Plan } from '../../src/core/plan.js';
import { makePhoto, type Rgb } from '../../test/helpers/images.js';

export interface Workload {
  id: string;
  name: string;
  photos: { width: number; height: number }[];
  out: { width: number; height: number };
  aspect: '16:9' | '9:16';
  fps: number;
  secondsPerPhoto: number;
  transitionSeconds: number;
}

const alternate = (n: number, a: { width: number; height: number }, b: { width: number; height: number }) =>
  Array.from({ length: n }, (_, i) => (i % 2 ? b : a));
const MP12 = { width: 4000, height: 3000 };
const MP24 = { width: 6000, height: 4000 };

export const WORKLOADS: Workload[] = [
  {
    id: 'W1',
    name: 'W1: 10 photos (12/24 MP JPEG) -> 30 s 1920x1080 30 fps, 3 s each, 0.75 s crossfades, Ken Burns',
    photos: alternate(10, MP12, MP24),
    out: { width: 1920, height: 1080 },
    aspect: '16:9',
    fps: 30,
    secondsPerPhoto: 3,
    transitionSeconds: 0.75,
  },
  {
    id: 'W2',
    name: 'W2: W1 at 9:16 -> 30 s 1080x1920 30 fps',
    photos: alternate(10, MP12, MP24),
    out: { width: 1080, height: 1920 },
    aspect: '9:16',
    fps: 30,
    secondsPerPhoto: 3,
    transitionSeconds: 0.75,
  },
  {
    id: 'W3',
    name: 'W3: 50 photos (12/24 MP JPEG) -> 150 s 1920x1080 30 fps, 3 s each, 0.75 s crossfades, Ken Burns',
    photos: alternate(50, MP12, MP24),
    out: { width: 1920, height: 1080 },
    aspect: '16:9',
    fps: 30,
    secondsPerPhoto: 3,
    transitionSeconds: 0.75,
  },
];

export const QUICK_WORKLOADS: Workload[] = [
  {
    id: 'Q1',
    name: 'Q1 (quick): 4 photos (3/6 MP JPEG) -> 8 s 1280x720 30 fps, 2 s each, 0.5 s crossfades, Ken Burns',
    photos: alternate(4, { width: 2000, height: 1500 }, { width: 3000, height: 2000 }),
    out: { width: 1280, height: 720 },
    aspect: '16:9',
    fps: 30,
    secondsPerPhoto: 2,
    transitionSeconds: 0.5,
  },
  {
    id: 'Q2',
    name: 'Q2 (quick): Q1 at 9:16 -> 8 s 720x1280',
    photos: alternate(4, { width: 2000, height: 1500 }, { width: 3000, height: 2000 }),
    out: { width: 720, height: 1280 },
    aspect: '9:16',
    fps: 30,
    secondsPerPhoto: 2,
    transitionSeconds: 0.5,
  },
];

const COLOURS: Rgb[] = [[200, 60, 50], [50, 150, 80], [60, 80, 190], [210, 170, 40], [140, 60, 160], [40, 160, 170], [220, 110, 40], [90, 90, 90], [170, 40, 90], [80, 130, 40]];

export const CACHE_DIR = path.join(os.tmpdir(), 'photoreel-bench-cache');

/** The workload's photos, generated once into CACHE_DIR (photo i: seed i + 1; same files for every workload). */
export async function photosFor(w: Workload): Promise<string[]> {
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  const files: string[] = [];
  for (const [i, p] of w.photos.entries()) {
    const file = path.join(CACHE_DIR, `photo-${i}-${p.width}x${p.height}.jpg`);
    if (!fs.existsSync(file)) {
      process.stdout.write(`generating ${path.basename(file)}\n`);
      const tmp = `${file}.${process.pid}.tmp.jpg`;
      await makePhoto(tmp, { width: p.width, height: p.height, colour: COLOURS[i % COLOURS.length]!, seed: i + 1, quality: 92 });
      fs.renameSync(tmp, file);
    }
    files.push(file);
  }
  return files;
}

/** A view in the coordinates of the frame-shaped centre crop of the cover-scaled photo. */
export interface FrameView {
  zoom: number;
  /** Centre of the view, 0..1 across the centre crop. */
  u: number;
  v: number;
}

/** Alternating zoom in / zoom out (1 <-> 1.15), each with a little pan; every window stays inside the centre crop. */
export function motionFor(i: number): { from: FrameView; to: FrameView } {
  const a = { zoom: 1, u: 0.5, v: 0.5 };
  const b = { zoom: 1.15, u: i % 4 < 2 ? 0.55 : 0.45, v: 0.45 };
  return i % 2 ? { from: b, to: a } : { from: a, to: b };
}

export interface ClipGeometry {
  /** First frame on the output timeline. */
  startFrame: number;
  frames: number;
  /** Frames of the crossfade into the next clip (0 for the last). */
  xfadeFrames: number;
  /** The cover-scaled ("fitted") photo in output px; the plan's views are fractions of it. */
  fitted: { width: number; height: number };
  /** Top-left of the frame-shaped centre crop inside the fitted photo. */
  cropX: number;
  cropY: number;
  from: FrameView;
  to: FrameView;
}

/** Smoothstep, the plan's `easeInOut` (src/pipeline/engines/local/motion.ts: ease). */
export const smoothstep = (t: number) => t * t * (3 - 2 * t);

/**
 * Per-clip geometry on the frame grid, computed here from the workload (not with the engine's
 * timeline.ts; render.ts checks that both agree): clip i starts at i * secondsPerPhoto, lasts
 * secondsPerPhoto + transition (rounded to whole frames: 3.75 s -> 113 frames at 30 fps), the
 * last clip ends the video.
 */
export function geometry(w: Workload): ClipGeometry[] {
  const n = w.photos.length;
  const per = Math.round(w.secondsPerPhoto * w.fps);
  const total = n * per;
  const { width: W, height: H } = w.out;
  return w.photos.map((p, i) => {
    const startFrame = i * per;
    const perMs = w.secondsPerPhoto * 1000;
    const end = i < n - 1 ? Math.round(((i * perMs + perMs + w.transitionSeconds * 1000) * w.fps) / 1000) : total;
    const k = Math.max(W / p.width, H / p.height);
    const fitted = { width: Math.max(W, p.width * k), height: Math.max(H, p.height * k) };
    return {
      startFrame,
      frames: end - startFrame,
      xfadeFrames: i < n - 1 ? end - (i + 1) * per : 0,
      fitted,
      cropX: (fitted.width - W) / 2,
      cropY: (fitted.height - H) / 2,
      ...motionFor(i),
    };
  });
}

/** The view at frame n of a clip, in fitted-photo units: window [x, x + w] x [y, y + h]. */
export function windowAt(g: ClipGeometry, out: { width: number; height: number }, n: number) {
  const t = g.frames > 1 ? n / (g.frames - 1) : 0;
  const e = smoothstep(t);
  const zoom = g.from.zoom * Math.pow(g.to.zoom / g.from.zoom, e);
  const u = g.from.u + (g.to.u - g.from.u) * e;
  const v = g.from.v + (g.to.v - g.from.v) * e;
  const w = out.width / zoom;
  const h = out.height / zoom;
  return { zoom, x: g.cropX + u * out.width - w / 2, y: g.cropY + v * out.height - h / 2, w, h };
}

/** Frame view -> the plan's view (fractions of the fitted photo). */
function toPlanView(g: ClipGeometry, out: { width: number; height: number }, fv: FrameView) {
  return {
    zoom: fv.zoom,
    x: (g.cropX + fv.u * out.width) / g.fitted.width,
    y: (g.cropY + fv.v * out.height) / g.fitted.height,
  };
}

export function planFor(w: Workload): Plan {
  const n = w.photos.length;
  const per = w.secondsPerPhoto * 1000;
  const tr = w.transitionSeconds * 1000;
  const geo = geometry(w);
  return {
    output: { ...w.out, fps: w.fps, aspect: w.aspect },
    durationMs: n * per,
    background: '#000000',
    notes: [],
    overlays: [],
    clips: w.photos.map((p, i) => ({
      image: { index: i, source: `photo-${i}`, width: p.width, height: p.height },
      startMs: i * per,
      durationMs: per + (i < n - 1 ? tr : 0),
      fit: 'cover' as const,
      motion: {
        type: 'kenburns' as const,
        from: toPlanView(geo[i]!, w.out, geo[i]!.from),
        to: toPlanView(geo[i]!, w.out, geo[i]!.to),
        easing: 'easeInOut' as const,
      },
      transition: i < n - 1 ? { type: 'fade' as const, durationMs: tr } : { type: 'cut' as const, durationMs: 0 },
    })),
  };
}

export function totalFrames(w: Workload): number {
  return w.photos.length * Math.round(w.secondsPerPhoto * w.fps);
}

/** Throws unless every frame's window lies inside the centre crop (so nobody clamps). */
export function assertWindowsInsideCrop(w: Workload): void {
  for (const [i, g] of geometry(w).entries()) {
    for (let n = 0; n < g.frames; n++) {
      const r = windowAt(g, w.out, n);
      const eps = 1e-9;
      if (r.x < g.cropX - eps || r.y < g.cropY - eps || r.x + r.w > g.cropX + w.out.width + eps || r.y + r.h > g.cropY + w.out.height + eps) {
        throw new Error(`${w.id}: clip ${i} frame ${n}: window leaves the centre crop`);
      }
    }
  }
}
