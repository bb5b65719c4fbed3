/**
 * Ken Burns motion: geometry (which part of the fitted photo each frame shows) and the
 * ffmpeg filters that move a prepared still along that path.
 *
 * Why not zoompan: zoompan crops its input at whole pixels (in yuv420p at even x/y) and
 * rescales the crop to the output, so position and scale advance in visible steps.
 * Measured on 3 s 1080p30 clips (zoom ~1.0 -> 1.2 with a small pan, smoothstep), tracking the
 * centroids of 24 Gaussian dots in losslessly decoded frames; jitter = RMS / max of the
 * second difference of (measured - ideal) position in px/frame^2 (lower is smoother);
 * filter-only speed on this 2-core box (noisy: other jobs were running):
 *
 *   method                                            jitter rms / max   filter fps
 *   zoompan, still prepared at 1.2x (yuv420p)         1.0-1.4 / 2.9      ~130-190
 *   zoompan, gbrp still (x no longer rounded to even) 0.78 / 2.0         ~37
 *   zoompan, 2.4x supersampled gbrp still             0.36 / 1.1         ~12
 *   perspective (bilinear, eval=frame, 1/256 px)      0.014 / 0.06       ~25-33
 *   ours, all integers even (yuv420p throughout)      0.45 / 1.9         ~150
 *   ours (below), yuv444p after the scale             0.20 / 0.87        ~70-100
 *
 * `perspective` is the only stock ffmpeg 5.1 filter that resamples at true sub-pixel offsets,
 * but it is single-threaded and recomputes a per-pixel LUT every frame: 4-5x zoompan's cost,
 * which doubled the whole render. We use swscale and get the sub-pixel part from integer
 * choices: per frame, crop the still at an even (L, T) with a fixed size (CW x CH), scale that
 * to an integer DW x DH (converting to yuv444p on the way), and crop the output frame at any
 * (D, E). The source position of output pixel j is then L + (j + D + 0.5) * CW/DW - 0.5;
 * searching L, D and DW (a few hundred combinations per frame, here in TypeScript) puts the
 * image within a few hundredths of a pixel of the ideal path at the centre. What is left is the
 * scale step of CW/DW (one DW step = 1/DW relative): up to ~0.25 px of "breathing" at the
 * frame edges. The per-frame integers become lookup trees on the frame number `n` in the
 * filter expressions. Cost: scale with eval=frame re-initialises swscale every frame (like
 * zoompan does); with the yuv444p step that is ~10 ms/frame at 1080p, about 2x zoompan's
 * filter time; whole W1 renders (bench/) are still dominated by x264 and run 4x faster than
 * a hand-written zoompan command. The integration test asserts RMS jitter < 0.35.
 *
 * Next steps for the <= 0.05 px/frame^2 target: also vary CW per frame (crop `w`/`h` via
 * sendcmd; scale with eval=frame picks the new input size up), which makes CW/DW exact to
 * ~1e-5 and leaves only the offset search, whose error is already ~0.02 px.
 */
import type { Fit, Motion, View } from '../../../core/plan.js';

/** A rectangle in fitted-photo units (1 unit = 1 output pixel at zoom 1). */
export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface Size {
  width: number;
  height: number;
}

/**
 * The fitted photo's size in output pixels at zoom 1. `cover` scales the photo to cover the
 * frame (it overflows in one dimension and can be panned); `contain` and `blur` compose the
 * photo on a frame-sized canvas, so the fitted photo is exactly the frame.
 */
export function fittedSize(fit: Fit, image: Size, out: Size): Size {
  if (fit !== 'cover') return { width: out.width, height: out.height };
  const k = Math.max(out.width / image.width, out.height / image.height);
  // Never smaller than the frame because of float rounding.
  return { width: Math.max(out.width, image.width * k), height: Math.max(out.height, image.height * k) };
}

/** The part of the fitted photo a view shows: frame/zoom, centred on (x, y), kept inside. */
export function viewWindow(view: View, fitted: Size, out: Size): Rect {
  const w = Math.min(fitted.width, out.width / view.zoom);
  const h = Math.min(fitted.height, out.height / view.zoom);
  const x = clamp(view.x * fitted.width - w / 2, 0, fitted.width - w);
  const y = clamp(view.y * fitted.height - h / 2, 0, fitted.height - h);
  return { x, y, w, h };
}

export function ease(t: number, easing: 'linear' | 'easeInOut'): number {
  const u = clamp(t, 0, 1);
  return easing === 'linear' ? u : u * u * (3 - 2 * u);
}

/** The view at eased progress e: zoom interpolated geometrically (constant perceived speed), centre linearly. */
export function interpolateView(from: View, to: View, e: number): View {
  return {
    zoom: from.zoom * Math.pow(to.zoom / from.zoom, e),
    x: from.x + (to.x - from.x) * e,
    y: from.y + (to.y - from.y) * e,
  };
}

const CENTRE: View = { zoom: 1, x: 0.5, y: 0.5 };

/** One window per frame of the clip (first frame shows `from`, last shows `to`). */
export function frameWindows(motion: Motion, frames: number, fitted: Size, out: Size): Rect[] {
  if (motion.type === 'none') {
    const w = viewWindow(CENTRE, fitted, out);
    return Array.from({ length: frames }, () => w);
  }
  const res: Rect[] = [];
  for (let n = 0; n < frames; n++) {
    const t = frames > 1 ? n / (frames - 1) : 0;
    res.push(viewWindow(interpolateView(motion.from, motion.to, ease(t, motion.easing)), fitted, out));
  }
  return res;
}

/** Extra prepared pixels around the motion's path: room for the (L, T) search and for resampling kernels. */
export const MOTION_MARGIN_PX = 48;
/** Prepared stills are at most this many times the output density (cost grows with the square). */
export const MAX_STILL_DENSITY = 2;
/**
 * Alignment of the motion's integers. The looped still is yuv420p, so the first crop must be
 * at even x/y with even size (chroma); scale converts to yuv444p as it resizes, so the scaled size and the second crop's offset can be any integer. (All even,
 * in yuv420p throughout, measured 0.45 instead of 0.20 px/frame^2 RMS jitter.)
 */
export const CROP_ALIGN = 2;

/**
 * What to prepare for one clip: the region of the fitted photo (fitted units, may reach past
 * its edges by the margin, which is filled by repeating edge pixels) at `density` prepared
 * pixels per fitted unit, and how to move over it.
 */
export interface StillPlan {
  region: Rect;
  density: number;
  width: number;
  height: number;
  /** null: the still is exactly the output frame and does not move. */
  motion: MotionParams | null;
}

export interface MotionParams {
  cropW: number;
  cropH: number;
  /** Per frame: first crop offset, scaled size, second crop offset (all integers, offsets even). */
  cropX: number[];
  cropY: number[];
  scaleW: number[];
  scaleH: number[];
  outX: number[];
  outY: number[];
  /** Largest modelled position error at the frame's edges, prepared px -> output px (diagnostics). */
  maxErrorPx: number;
}

export function isStatic(windows: Rect[]): boolean {
  const a = windows[0];
  if (!a) return true;
  return windows.every((w) => Math.abs(w.x - a.x) < 1e-6 && Math.abs(w.y - a.y) < 1e-6 && Math.abs(w.w - a.w) < 1e-6 && Math.abs(w.h - a.h) < 1e-6);
}

/**
 * Plan the still and its motion. `nativeDensity` is how many source pixels the photo has
 * per fitted unit: no point preparing more detail than the photo holds.
 */
export function planStill(windows: Rect[], out: Size, nativeDensity: number): StillPlan {
  const first = windows[0];
  if (!first) throw new Error('planStill: no frames');
  if (isStatic(windows)) {
    return { region: first, density: out.width / first.w, width: out.width, height: out.height, motion: null };
  }
  const maxZoomDensity = Math.max(...windows.map((w) => out.width / w.w));
  const density = clamp(Math.min(maxZoomDensity, Math.max(1, nativeDensity)), 1, MAX_STILL_DENSITY);
  const m = MOTION_MARGIN_PX / density;
  const x0 = Math.min(...windows.map((w) => w.x)) - m;
  const y0 = Math.min(...windows.map((w) => w.y)) - m;
  const x1 = Math.max(...windows.map((w) => w.x + w.w)) + m;
  const y1 = Math.max(...windows.map((w) => w.y + w.h)) + m;
  const width = Math.ceil((x1 - x0) * density);
  const height = Math.ceil((y1 - y0) * density);
  const region = { x: x0, y: y0, w: width / density, h: height / density };

  const cropW = even(Math.ceil(Math.max(...windows.map((w) => w.w * density))) + MOTION_MARGIN_PX, 1);
  const cropH = even(Math.ceil(Math.max(...windows.map((w) => w.h * density))) + MOTION_MARGIN_PX, 1);
  const p: MotionParams = { cropW: Math.min(cropW, even(width, -1)), cropH: Math.min(cropH, even(height, -1)), cropX: [], cropY: [], scaleW: [], scaleH: [], outX: [], outY: [], maxErrorPx: 0 };
  for (const w of windows) {
    const sx = solveAxis((w.x - x0) * density, w.w * density, width, p.cropW, out.width);
    const sy = solveAxis((w.y - y0) * density, w.h * density, height, p.cropH, out.height);
    p.cropX.push(sx.crop);
    p.cropY.push(sy.crop);
    p.scaleW.push(sx.scaled);
    p.scaleH.push(sy.scaled);
    p.outX.push(sx.offset);
    p.outY.push(sy.offset);
    p.maxErrorPx = Math.max(p.maxErrorPx, sx.error, sy.error);
  }
  return { region, density, width, height, motion: p };
}

export interface AxisSolution {
  crop: number;
  scaled: number;
  offset: number;
  /** Max |position error| at the two ends of the output axis, in source (prepared) px. */
  error: number;
}

/**
 * One axis of one frame. Show source interval [a, a + w] (prepared px, a still of `size`
 * px) on `out` output px, using crop(L, cropSize) -> scale(to `scaled`) -> crop(offset, out).
 * Output pixel j then samples source position L + (j + D + 0.5) * cropSize/scaled - 0.5;
 * ideal is a + (j + 0.5) * w/out - 0.5. Offsets are even (yuv420p chroma alignment) and so
 * is `scaled` (so chroma scales by exactly the luma ratio).
 */
export function solveAxis(a: number, w: number, size: number, cropSize: number, out: number): AxisSolution {
  const rho = w / out;
  const target = a + 0.5 * rho; // source position of output pixel 0's centre, + 0.5
  const lMin = Math.max(0, Math.ceil(a + w + 1 - cropSize));
  const lMax = Math.min(size - cropSize, Math.floor(a - 1));
  let best: AxisSolution | null = null;
  const base = cropSize / rho;
  const A = CROP_ALIGN;
  for (let L = Math.ceil(lMin / A) * A; L <= lMax; L += A) {
    for (let scaled = Math.floor(base) - 2; scaled <= base + 2; scaled++) {
      if (scaled < out) continue;
      const r = cropSize / scaled;
      const dReal = (target - L) / r - 0.5;
      const d0 = Math.floor(dReal);
      for (const D of [d0, d0 + 1]) {
        if (D < 0 || D + out > scaled) continue;
        const e0 = L + (D + 0.5) * r - target;
        const e1 = e0 + (out - 1) * (r - rho);
        const error = Math.max(Math.abs(e0), Math.abs(e1));
        if (!best || error < best.error) best = { crop: L, scaled, offset: D, error };
      }
    }
  }
  if (best) return best;
  // No margin to search in (tiny or degenerate inputs): nearest integers, still correct framing.
  const scaled = Math.max(out, Math.round(cropSize / rho));
  const r = cropSize / scaled;
  const crop = clampEven(a - (cropSize - w) / 2, 0, size - cropSize);
  const offset = Math.max(0, Math.min(scaled - out, Math.round((target - crop) / r - 0.5)));
  return { crop, scaled, offset, error: Math.abs(crop + (offset + 0.5) * r - target) };
}

/** `if(lt(n,k),…)` lookup tree returning values[n] (runs of equal values collapse). */
export function lookupExpr(values: number[], v = 'n'): string {
  const build = (lo: number, hi: number): string => {
    const first = values[lo]!;
    let same = true;
    for (let i = lo + 1; i <= hi; i++) {
      if (values[i] !== first) {
        same = false;
        break;
      }
    }
    if (same) return String(first);
    const mid = (lo + hi + 1) >> 1;
    return `if(lt(${v}\\,${mid})\\,${build(lo, mid - 1)}\\,${build(mid, hi)})`;
  };
  return values.length ? build(0, values.length - 1) : '0';
}

/**
 * The filters (a comma-joined chain) that move a looped yuv420p still along its motion.
 * Output: yuv444p frames of the output size. Empty for static clips. `from`/`frames` select
 * the part of the clip to render (a segment may start or end inside a clip).
 */
export function motionFilters(still: StillPlan, out: Size, from = 0, frames?: number): string {
  const m = still.motion;
  if (!m) return '';
  const end = frames === undefined ? undefined : from + frames;
  const p = {
    ...m,
    cropX: m.cropX.slice(from, end),
    cropY: m.cropY.slice(from, end),
    scaleW: m.scaleW.slice(from, end),
    scaleH: m.scaleH.slice(from, end),
    outX: m.outX.slice(from, end),
    outY: m.outY.slice(from, end),
  };
  return [
    `crop=w=${p.cropW}:h=${p.cropH}:x=${lookupExpr(p.cropX)}:y=${lookupExpr(p.cropY)}`,
    `scale=w=${lookupExpr(p.scaleW)}:h=${lookupExpr(p.scaleH)}:eval=frame:flags=bicubic`,
    // Nothing may sit between scale and this crop: crop clips x/y to its input link's size,
    // which only scale itself updates when it changes size per frame.
    `crop=w=${out.width}:h=${out.height}:x=${lookupExpr(p.outX)}:y=${lookupExpr(p.outY)}`,
    // Pins scale's output format (crop passes formats through): in yuv420p the crop above
    // would round x/y down to even.
    'format=yuv444p',
  ].join(',');
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

/** Round to an even integer (dir -1: down, 1: up, 0: nearest). */
function even(v: number, dir: -1 | 0 | 1 = 0): number {
  const h = v / 2;
  return 2 * (dir < 0 ? Math.floor(h) : dir > 0 ? Math.ceil(h) : Math.round(h));
}

function clampEven(v: number, lo: number, hi: number): number {
  return Math.max(lo + (lo & 1), Math.min(even(hi, -1), even(v)));
}
