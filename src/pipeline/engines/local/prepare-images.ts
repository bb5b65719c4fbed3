import fs from 'node:fs/promises';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import type { Fit, Motion, Plan } from '../../../core/plan.js';
import type { SourceImage } from '../engine.js';
import { fittedSize, frameWindows, planStillGeometry, withMotion, type AxisPlacement, type Rect, type Size, type StillGeometry, type StillPlacement, type StillPlan } from './motion.js';
import { frameTimeline } from './timeline.js';
import { rgbToY4m } from './y4m.js';

/**
 * Photo preparation with sharp: one still per clip, holding exactly the part of the fitted
 * photo the clip's motion shows (plus a small margin), at the density the middle of its zoom
 * needs (motion.ts: MAX_UPSCALE).
 * ffmpeg then only crops and scales these modest stills instead of decoding 24 MP photos.
 *
 * Stills are written as Y4M in the video's colour (y4m.ts), which ffmpeg reads without decoding
 * or converting anything.
 */

export interface StillJob {
  clipIndex: number;
  source: SourceImage;
  fit: Fit;
  /** An end card: the blurred backdrop only, no photo over it. */
  card?: boolean;
  background: string;
  out: Size;
  fitted: Size;
  /** The part of the fitted photo shown in each frame (what the motion is planned from). */
  windows: Rect[];
  still: StillGeometry;
  /** File name inside workDir. */
  file: string;
}

/** A prepared clip, as the filter graph takes it: its still's file and how to move over it. */
export interface PreparedClip {
  file: string;
  still: StillPlan;
}

/** Pure and cheap: which still each clip needs (its motion is planned in prepareStills). */
export function planStillJobs(plan: Plan, images: SourceImage[]): StillJob[] {
  const byIndex = new Map(images.map((im) => [im.index, im]));
  const tl = frameTimeline(plan);
  const out = { width: plan.output.width, height: plan.output.height };
  return plan.clips.map((clip, i) => {
    const source = byIndex.get(clip.image.index);
    if (!source) throw new Error(`no source image for clip ${i} (image index ${clip.image.index})`);
    const img = { width: source.width, height: source.height };
    const fitted = fittedSize(clip.fit, img, out);
    const windows = frameWindows(clip.motion as Motion, tl.clips[i]!.frames, fitted, out);
    const nativeDensity = clip.fit === 'cover' ? img.width / fitted.width : Math.max(img.width / out.width, img.height / out.height);
    const still = planStillGeometry(windows, out, nativeDensity);
    return { clipIndex: i, source, fit: clip.fit, ...(clip.card ? { card: true } : {}), background: clip.background ?? plan.background, out, fitted, windows, still, file: `c${String(i).padStart(3, '0')}.y4m` };
  });
}

export interface PrepareOptions {
  workDir: string;
  signal: AbortSignal;
  /** Stills prepared at once (each one uses libvips threads too). */
  concurrency?: number;
  onStillDone?(done: number, total: number): void;
}

/**
 * Clips that show the same photo the same way (same photo, fit and geometry, e.g. a photo
 * used twice) share one file: sets `file` on each job, returns the jobs grouped by file.
 * Deterministic, so a child process preparing the stills names them as the caller expects.
 */
export function shareIdenticalStills(jobs: StillJob[]): StillJob[][] {
  const unique = new Map<string, StillJob[]>();
  for (const j of jobs) {
    const key = JSON.stringify([j.source.path, j.fit, j.card ?? false, j.background, j.still.region, j.still.width, j.still.height]);
    const list = unique.get(key);
    if (list) list.push(j);
    else unique.set(key, [j]);
  }
  const groups = [...unique.values()];
  for (const g of groups) for (const j of g) j.file = g[0]!.file;
  return groups;
}

/**
 * Prepare all stills, `concurrency` at a time, and meanwhile plan each clip's motion on this
 * thread (libvips works on its own threads). Clips that show the same photo the same way
 * share one file. Rejects with an AbortError as soon as the signal fires (stills in flight
 * finish in the background; their files land in workDir, which the caller removes).
 */
export async function prepareStills(jobs: StillJob[], opts: PrepareOptions): Promise<PreparedClip[]> {
  const { signal } = opts;
  throwIfAborted(signal);
  const concurrency = Math.max(1, opts.concurrency ?? 2);
  const groups = shareIdenticalStills(jobs);

  let next = 0;
  let done = 0;
  let aborted = false;
  const abortPromise = new Promise<never>((_, reject) => {
    const onAbort = () => {
      aborted = true;
      reject(abortError());
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  abortPromise.catch(() => {});
  const worker = async () => {
    while (!aborted && next < groups.length) {
      const g = groups[next++]!;
      await prepareStill(g[0]!, path.join(opts.workDir, g[0]!.file));
      done += g.length;
      if (!aborted) opts.onStillDone?.(done, jobs.length);
    }
  };
  const workers = Array.from({ length: Math.min(concurrency, groups.length) }, worker);
  const [, clips] = await Promise.race([Promise.all([Promise.all(workers), planMotions(jobs, () => aborted)]), abortPromise]);
  throwIfAborted(signal);
  return clips;
}

/**
 * Each job's motion, one clip at a time, yielding to the event loop in between: a clip takes
 * ~80 ms of CPU at 1080p, and a service's other requests (and sharp's callbacks) must not wait
 * for a whole 100-clip plan.
 */
async function planMotions(jobs: StillJob[], stop: () => boolean): Promise<PreparedClip[]> {
  const clips: PreparedClip[] = [];
  for (const j of jobs) {
    await new Promise((resolve) => setImmediate(resolve));
    if (stop()) return clips;
    clips.push({ file: j.file, still: withMotion(j.still, j.windows, j.out, stillPlacement(j)) });
  }
  return clips;
}

/**
 * How prepareStill lays a still out: the part of the region inside the fitted photo (`inner`,
 * fitted units) becomes innerW x innerH px at (left, top); the rest (motion margin) repeats
 * edge pixels.
 */
function stillLayout(job: StillJob) {
  const { still, fitted } = job;
  const R = still.region;
  const s = still.density;
  const inner: Rect = {
    x: Math.max(0, R.x),
    y: Math.max(0, R.y),
    w: Math.min(fitted.width, R.x + R.w) - Math.max(0, R.x),
    h: Math.min(fitted.height, R.y + R.h) - Math.max(0, R.y),
  };
  const left = clampInt(Math.round((inner.x - R.x) * s), 0, still.width - 1);
  const top = clampInt(Math.round((inner.y - R.y) * s), 0, still.height - 1);
  const innerW = clampInt(Math.round(inner.w * s), 1, still.width - left);
  const innerH = clampInt(Math.round(inner.h * s), 1, still.height - top);
  return { inner, left, top, innerW, innerH };
}

/**
 * Where the still's content lands (see StillPlacement): its layout and the cut of a cover
 * photo are whole pixels, so the photo sits up to ~1 px off its region, and its density is
 * innerW / inner.w rather than exactly the planned one (measured on the bench's 9:16 W2: the
 * picture 0.5-0.8 px right of the reference's at every patch). Cover photos only: a contain or
 * blur still's photo is placed inside its canvas at whole pixels too, which is not modelled.
 */
export function stillPlacement(job: StillJob): StillPlacement {
  const { inner, left, top, innerW, innerH } = stillLayout(job);
  const R = job.still.region;
  // The inner part starts at `at` px and spans innerW px for inner.w units; a cut made at whole
  // px `cutAt` instead of `cutV` moves the content by cutV - cutAt.
  const axis = (px: number, units: number, at: number, innerStart: number, regionStart: number, cutV = 0, cutAt = 0): AxisPlacement => {
    const k = px / units;
    return { k, c: at - (innerStart - regionStart) * k + (cutV - cutAt) };
  };
  if (job.fit !== 'cover') return { x: axis(innerW, inner.w, left, inner.x, R.x), y: axis(innerH, inner.h, top, inner.y, R.y) };
  const cut = partCut(job, inner, coverScale(job), 0, 0, innerW, innerH);
  return { x: axis(innerW, inner.w, left, inner.x, R.x, cut.vx, cut.left), y: axis(innerH, inner.h, top, inner.y, R.y, cut.vy, cut.top) };
}

/** Render one still to `outPath`. */
export async function prepareStill(job: StillJob, outPath: string): Promise<void> {
  const { still } = job;
  const { inner, left, top, innerW, innerH } = stillLayout(job);

  let img: Sharp;
  if (job.fit === 'cover') img = await coverPart(job, inner, innerW, innerH);
  else img = await composedPart(job, inner, innerW, innerH);

  // Exactly innerW x innerH (libvips may round a resize by a pixel), then the margins.
  const inner3 = await exactSize(img, innerW, innerH);
  const extend = { left, top, right: still.width - innerW - left, bottom: still.height - innerH - top };
  let rgb = inner3;
  if (extend.left || extend.top || extend.right || extend.bottom) {
    rgb = await sharp(inner3, { raw: { width: innerW, height: innerH, channels: 3 } }).extend({ ...extend, extendWith: 'copy' }).raw().toBuffer();
  }
  await fs.writeFile(outPath, rgbToY4m(rgb, still.width, still.height));
}

/** Render to packed RGB of exactly w x h: crops or repeats the edge if libvips rounded a size. */
async function exactSize(img: Sharp, w: number, h: number): Promise<Buffer> {
  const { data, info } = await img.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  if (info.width === w && info.height === h && info.channels === 3) return data;
  let fix = sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } });
  if (info.width > w || info.height > h) fix = fix.extract({ left: 0, top: 0, width: Math.min(w, info.width), height: Math.min(h, info.height) });
  const out = await fix.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  if (out.info.width === w && out.info.height === h) return out.data;
  return sharp(out.data, { raw: { width: out.info.width, height: out.info.height, channels: 3 } })
    .extend({ right: w - out.info.width, bottom: h - out.info.height, extendWith: 'copy' })
    .raw()
    .toBuffer();
}

/**
 * Transparent pixels become white, whatever the frame's background: transparent photos
 * are product cut-outs almost always, and they are designed to sit on white (black would
 * turn a dark product into a silhouette).
 */
export const TRANSPARENT_FILL = '#ffffff';

function open(job: StillJob): Sharp {
  return sharp(job.source.path, { limitInputPixels: false, failOn: 'none', sequentialRead: true })
    .rotate()
    .flatten({ background: TRANSPARENT_FILL })
    .toColourspace('srgb');
}

/** cover: the fitted photo is the photo itself scaled up/down; cut the part and size it. */
async function coverPart(job: StillJob, inner: Rect, w: number, h: number): Promise<Sharp> {
  return exactPart(job, inner, coverScale(job), 0, 0, w, h);
}

/**
 * The part `r` (fitted units; the photo's top-left at (ox, oy), `q` source px per unit) as
 * exactly w x h px. The source box is whole pixels, rounded out, so it is resized by the exact
 * scale w / (r.w * q) and then cut, rather than squeezed into w x h: that was up to 2 source px
 * of scale error across the still (0.12 % measured in a 9:16 render, 0.7 px at the frame edge).
 */
async function exactPart(job: StillJob, r: Rect, q: number, ox: number, oy: number, w: number, h: number): Promise<Sharp> {
  const cut = partCut(job, r, q, ox, oy, w, h);
  const resized = await open(job)
    .extract(cut.box)
    .resize(cut.rw, cut.rh, { fit: 'fill', kernel: 'lanczos3' })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const { width: rw, height: rh, channels } = resized.info;
  // (libvips keeps the size asked for; clamped again in case it rounded one differently)
  const left = Math.min(cut.left, Math.max(0, rw - w));
  const top = Math.min(cut.top, Math.max(0, rh - h));
  return sharp(resized.data, { raw: { width: rw, height: rh, channels } }).extract({ left, top, width: Math.min(w, rw - left), height: Math.min(h, rh - top) });
}

/**
 * exactPart's arithmetic: the whole-pixel source box, its resized size, and where the part is
 * cut from it (left, top: whole px; vx, vy: where it would start exactly).
 */
function partCut(job: StillJob, r: Rect, q: number, ox: number, oy: number, w: number, h: number) {
  const box = srcBox(r, q, ox, oy, job.source);
  const kx = w / (r.w * q);
  const ky = h / (r.h * q);
  const rw = Math.max(w, Math.round(box.width * kx));
  const rh = Math.max(h, Math.round(box.height * ky));
  const vx = ((r.x - ox) * q - box.left) * kx;
  const vy = ((r.y - oy) * q - box.top) * ky;
  return { box, rw, rh, vx, vy, left: clampInt(vx, 0, Math.max(0, rw - w)), top: clampInt(vy, 0, Math.max(0, rh - h)) };
}

/** cover: source px per fitted unit. */
function coverScale(job: StillJob): number {
  return job.source.width / job.fitted.width;
}

/**
 * contain / blur: the fitted photo is the frame-sized canvas with the photo fitted inside,
 * over plan.background (contain) or a blurred, darkened cover-scaled copy of itself (blur).
 */
async function composedPart(job: StillJob, inner: Rect, w: number, h: number): Promise<Sharp> {
  const { source, out } = job;
  const s = w / inner.w;
  const k = Math.min(out.width / source.width, out.height / source.height); // fitted units per source px
  const photo: Rect = { x: (out.width - source.width * k) / 2, y: (out.height - source.height * k) / 2, w: source.width * k, h: source.height * k };

  let canvas: Buffer;
  if (job.fit === 'blur') {
    // Blur a small cover-scaled copy (cheap), then upscale: a big blur at full size costs 50x more.
    const sw = Math.max(16, Math.round(out.width / 10));
    const sh = Math.max(16, Math.round(out.height / 10));
    const small = await open(job)
      .resize(sw, sh, { fit: 'cover' })
      .blur(3)
      .modulate({ brightness: 0.6 })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const fullW = Math.round(out.width * s);
    const fullH = Math.round(out.height * s);
    const bx = clampInt(Math.round(inner.x * s), 0, fullW - 1);
    const by = clampInt(Math.round(inner.y * s), 0, fullH - 1);
    const full = await exactSize(sharp(small.data, { raw: { width: small.info.width, height: small.info.height, channels: small.info.channels } }).resize(fullW, fullH, { fit: 'fill', kernel: 'cubic' }), fullW, fullH);
    canvas = await exactSize(sharp(full, { raw: { width: fullW, height: fullH, channels: 3 } }).extract({ left: bx, top: by, width: Math.min(w, fullW - bx), height: Math.min(h, fullH - by) }), w, h);
  } else {
    canvas = await sharp({ create: { width: w, height: h, channels: 3, background: job.background } }).raw().toBuffer();
  }

  // The photo's part inside `inner`.
  const ix0 = Math.max(inner.x, photo.x);
  const iy0 = Math.max(inner.y, photo.y);
  const ix1 = Math.min(inner.x + inner.w, photo.x + photo.w);
  const iy1 = Math.min(inner.y + inner.h, photo.y + photo.h);
  const base = sharp(canvas, { raw: { width: w, height: h, channels: 3 } });
  if (job.card || ix1 - ix0 < 1 / s || iy1 - iy0 < 1 / s) return base;
  const left = clampInt(Math.round((ix0 - inner.x) * s), 0, w - 1);
  const top = clampInt(Math.round((iy0 - inner.y) * s), 0, h - 1);
  const pw = clampInt(Math.round((ix1 - ix0) * s), 1, w - left);
  const ph = clampInt(Math.round((iy1 - iy0) * s), 1, h - top);
  const part = await (await exactPart(job, { x: ix0, y: iy0, w: ix1 - ix0, h: iy1 - iy0 }, 1 / k, photo.x, photo.y, pw, ph)).raw().toBuffer({ resolveWithObject: true });
  return base.composite([{ input: part.data, raw: { width: part.info.width, height: part.info.height, channels: part.info.channels }, left, top }]);
}

/** A rect in fitted units -> whole-pixel box in the (oriented) source image. */
function srcBox(r: Rect, q: number, ox: number, oy: number, src: { width: number; height: number }) {
  const left = clampInt(Math.floor((r.x - ox) * q + 1e-6), 0, src.width - 1);
  const top = clampInt(Math.floor((r.y - oy) * q + 1e-6), 0, src.height - 1);
  const right = clampInt(Math.ceil((r.x + r.w - ox) * q - 1e-6), left + 1, src.width);
  const bottom = clampInt(Math.ceil((r.y + r.h - oy) * q - 1e-6), top + 1, src.height);
  return { left, top, width: right - left, height: bottom - top };
}

function clampInt(v: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, Math.round(v)));
}

export function abortError(): Error {
  const e = new Error('The render was aborted.');
  e.name = 'AbortError';
  return e;
}

export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw abortError();
}
