/**
 * Ken Burns motion: geometry (which part of the fitted photo each frame shows) and the
 * ffmpeg filters that move a prepared still along that path.
 *
 * Why not zoompan: it crops its input at whole pixels (in yuv420p at even x/y) and rescales the
 * crop to the output, so position and scale advance in visible steps.
 *
 * Measured with `npm run bench:motion` (test/helpers/motion-metrics.ts): 3 s 30 fps clips,
 * smoothstep, over a field of Gaussian dots; every frame's per-axis scale and offset fitted to
 * the dots' centroids in losslessly read frames; jitter = second difference over frames of
 * (measured - planned) position at the frame edges, px/frame^2, RMS / max:
 *
 *                                   zoom in/out     pan left/right  pan up/down
 *   720p  zoompan command           0.87 / 1.98     0.60 / 1.46     0.55 / 1.36
 *         fixed crop (first)        0.35 / 0.88     0.52 / 1.79     0.50 / 1.11
 *         shrinking only            0.005 / 0.014   0.002 / 0.006   0.004 / 0.016
 *         this (enlarging)          0.009 / 0.042   0.003 / 0.008   0.004 / 0.018
 *   1080p zoompan command           0.78 / 1.89     0.57 / 1.45     0.54 / 1.43
 *         fixed crop (first)        0.34 / 1.25     0.48 / 1.69     0.49 / 1.17
 *         shrinking only            0.006 / 0.024   0.002 / 0.007   0.002 / 0.009
 *         this (enlarging)          0.007 / 0.025   0.003 / 0.007   0.003 / 0.010
 *
 * Filter-only speed, a 3 s 1080p30 zoom, best of 3 on this 2-core box: zoompan command 31 fps
 * (55 ms CPU per frame), fixed crop 59-68 fps (18-21 ms), shrinking only 113-115 fps (8.7 ms),
 * this 145 fps (6.7 ms; load 4.1; this zoom, 1 -> 1.3, is deeper than MAX_UPSCALE^2, so its
 * shallowest third still shrinks; every frame enlarged: 195 fps, 4.9 ms).
 *
 * (`perspective`, the only stock ffmpeg 5.1 filter that resamples at sub-pixel offsets, was
 * measured earlier at ~0.06 max but ~25-33 fps: it rebuilds a per-pixel table every frame.)
 *
 * How. Per frame and plane: crop the still at (L, T) to C x C', scale to S x S' (swscale,
 * bicubic), crop the output at (D, E). Output pixel j then samples source position
 * L + (j + D + 0.5) * step - 0.5, step being swscale's 16.16 fixed-point C/S (swscaleStep), so
 * the integers can be chosen in TypeScript against the exact mapping:
 * - The crop size changes per frame (sendcmd). With it fixed (previously) the ratio could only
 *   move in steps of 1/S: up to ~0.25 px of "breathing" at the frame edges, and for pans at
 *   ratio 1 whole pixels only. Searching C too gets the ratio to swscale's resolution.
 * - The offset's fractional part comes from (D + 0.5) * step alone, so it is as fine as the
 *   number of usable D. Near simple fractions (1, 5/4, 21/20, ...) ratios and offsets clump: a
 *   smaller copy of the still, built once per clip beside it, has its ratios elsewhere, and each
 *   frame uses whichever of the two places it better.
 * - Every frame is enlarged a little (MAX_UPSCALE), never shrunk where it can be helped:
 *   swscale enlarges with half the taps. The still has the detail of the middle of a zoom,
 *   the copy that of its shallow end, so each serves half the zoom's range.
 * - Of the best placements per frame, a Viterbi pass (smoothestPath) picks the sequence whose
 *   edge positions have the smallest second differences while the motion never stalls or
 *   reverses: an error of a few hundredths of a pixel that drifts slowly is invisible, a jump of
 *   one hundredth is what jitter is.
 * - Luma and the two chroma planes move separately, scaled to gray: luma crops at any pixel
 *   (yuv420p crops must be even: half the offsets), chroma gets its own plan on its half-size
 *   planes, mergeplanes joins them. Cheaper than the previous 4:2:0 -> 4:4:4 scale plus the
 *   conversion back, and single-threaded scales (swscale is set up again every frame).
 *
 * What it costs: planning, ~80 ms of JS per 113-frame 1080p clip (planMotion, run while the
 * stills are prepared, in the preparing child for big jobs); memory, per Ken Burns clip
 * the still, its copy, the strip of both and its chroma planes stay allocated until the graph
 * ends: ~+40 MB per 1080p clip (a 6-clip 1080p graph, filter only: 465 -> 706 MB peak).
 * What is left: swscale's 1/65536 step and bicubic's phase-dependent response put a floor of
 * ~0.005-0.02 px/frame^2 under the measurement; over random zooms and pans (modelled, not
 * rendered) the median clip's worst frame is ~0.02, the worst ~0.05-0.09: frames where the still
 * and the copy both sit near simple fractions. A second copy at another scale is the next thing
 * to try (+1 still of memory per clip).
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

/** Extra prepared pixels around the motion's path: room for the crop-size and offset search and for resampling kernels. */
export const MOTION_MARGIN_PX = 96;
/** Prepared stills are at most this many times the output density (cost grows with the square). */
export const MAX_STILL_DENSITY = 2;
/**
 * Each frame is resampled from an image of a little less detail than it shows: swscale's
 * bicubic then enlarges (4 taps per pixel and axis) instead of shrinking (5-6 taps, which its
 * SIMD code runs as 8), and sets up its filters faster. Measured on a 90-frame 1080p segment
 * of the bench's W1 (zoom 1 -> 1.15), filter only, 3 interleaved runs each: 0.92-1.34 -> 0.70-
 * 0.80 CPU-s (perf: 6013 -> 4639 samples). The cost is sharpness: a frame is enlarged by up to
 * this factor over the UPSCALE_MARGIN (the still and its copy split a zoom's range between
 * them, see planStillGeometry); W1's SSIM against the bench's reference went 0.9641 -> 0.9628.
 */
export const MAX_UPSCALE = 1.08;
/** How far below the frames' own density the images sit: keeps their ratios clear of 1, where swscale snaps to an unscaled copy (whole-pixel positions only). */
const UPSCALE_MARGIN = 0.97;
/** Smallest scale between the still and its resampled copy (see MotionParams): their ratios must differ, and by no simple fraction. */
export const ALT_SCALE = 1.045;
/** Placements kept per frame, axis and image for smoothestPath (its cost grows with their cube): luma, chroma. */
export const AXIS_CANDIDATES = 12;
const CHROMA_CANDIDATES = 10;

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

/**
 * The motion crops from a strip built once per clip from the yuv420p still (`width` x
 * `height`, both even) and a copy of it resampled to `altWidth` x `altHeight` (~ALT_SCALE,
 * even), side by side: still at x = 0, copy at x = width. Each frame takes the one that places
 * it better (see axisCandidates). The planes move separately: `luma` crops the strip's luma
 * (at any pixel: it is scaled straight to gray), `chroma` both half-size chroma planes.
 */
export interface MotionParams {
  altWidth: number;
  altHeight: number;
  luma: PlaneMotion;
  chroma: PlaneMotion;
}

/** Per frame: first crop (offset and size, in the plane's strip), scaled size, second crop offset. */
export interface PlaneMotion {
  cropX: number[];
  cropY: number[];
  cropW: number[];
  cropH: number[];
  scaleW: number[];
  scaleH: number[];
  outX: number[];
  outY: number[];
  /** Per frame: whether the frame uses the copy. */
  alt: boolean[];
  /** Largest modelled position error at the frame's edges, in this plane's output px (diagnostics). */
  maxErrorPx: number;
}

export function isStatic(windows: Rect[]): boolean {
  const a = windows[0];
  if (!a) return true;
  return windows.every((w) => Math.abs(w.x - a.x) < 1e-6 && Math.abs(w.y - a.y) < 1e-6 && Math.abs(w.w - a.w) < 1e-6 && Math.abs(w.h - a.h) < 1e-6);
}

/**
 * swscale's step between output pixels in source pixels: a 16.16 fixed-point ratio, rounded,
 * and exactly 1 (an unscaled copy) within 10/65536 of it. Output pixel j's centre then
 * samples source position (j + 0.5) * step - 0.5 (libswscale/utils.c: sws_init_context and
 * initFilter; chroma too, with its default centred siting).
 */
export function swscaleStep(src: number, dst: number): number {
  const inc = Math.floor((src * 65536 + (dst >> 1)) / dst);
  return Math.abs(inc - 65536) < 10 ? 1 : inc / 65536;
}

/** The still's geometry alone (see StillPlan): cheap, known before any motion is planned. */
export type StillGeometry = Omit<StillPlan, 'motion'> & {
  /** The resampled copy's size (see MotionParams); null: the still does not move. */
  alt: Size | null;
};

/**
 * Plan the still and its motion. `nativeDensity` is how many source pixels the photo has
 * per fitted unit: no point preparing more detail than the photo holds.
 */
export function planStill(windows: Rect[], out: Size, nativeDensity: number): StillPlan {
  return withMotion(planStillGeometry(windows, out, nativeDensity), windows, out);
}

/**
 * Per axis, where a prepared still's content actually lands: still px = (fitted - region start)
 * * k + c, in continuous coordinates (pixel i's centre at i + 0.5). Ideally k = density and
 * c = 0; photo preparation cuts and sizes at whole pixels, which it reports here
 * (stillPlacement in prepare-images.ts) so that the motion is planned over the real pixels.
 */
export interface AxisPlacement {
  k: number;
  c: number;
}

export interface StillPlacement {
  x: AxisPlacement;
  y: AxisPlacement;
}

/** A still planned by planStillGeometry, completed with its motion over the same windows (on its pixels as placed: default, exactly at its density). */
export function withMotion(g: StillGeometry, windows: Rect[], out: Size, placement?: StillPlacement): StillPlan {
  const { alt: _alt, ...still } = g;
  return { ...still, motion: planMotion(g, windows, out, placement ?? { x: { k: g.density, c: 0 }, y: { k: g.density, c: 0 } }) };
}

/**
 * The region, density and size of a clip's still (what photo preparation needs), without the
 * per-frame placements: those cost ~80 ms of CPU per 1080p clip (planMotion), so the engine
 * plans them while the stills are being prepared.
 */
export function planStillGeometry(windows: Rect[], out: Size, nativeDensity: number): StillGeometry {
  const first = windows[0];
  if (!first) throw new Error('planStill: no frames');
  if (isStatic(windows)) {
    return { region: first, density: out.width / first.w, width: out.width, height: out.height, alt: null };
  }
  // How much detail the frames need (output px per fitted unit: their zoom, for cover).
  const needs = windows.map((w) => out.width / w.w);
  const low = Math.min(...needs);
  const high = Math.max(...needs);
  // The still serves the deeper half of the range, its copy (smaller by `k`) the shallower
  // half, both enlarged by at most sqrt(high / low) (see MAX_UPSCALE); a zoom deeper than
  // MAX_UPSCALE^2 shrinks the copy for its shallowest frames. A pan (one zoom) gets the
  // still just below its density and a copy smaller by ALT_SCALE, for placements only.
  const span = Math.sqrt(high / low);
  const k = clamp(span, ALT_SCALE, MAX_UPSCALE);
  const density = clamp(Math.min((high / Math.min(span, MAX_UPSCALE)) * UPSCALE_MARGIN, Math.max(1, nativeDensity)), 0.5, MAX_STILL_DENSITY);
  const m = MOTION_MARGIN_PX / density;
  const x0 = Math.min(...windows.map((w) => w.x)) - m;
  const y0 = Math.min(...windows.map((w) => w.y)) - m;
  const x1 = Math.max(...windows.map((w) => w.x + w.w)) + m;
  const y1 = Math.max(...windows.map((w) => w.y + w.h)) + m;
  // Even, so the strip's chroma planes are exactly half its luma plane.
  const width = even(Math.ceil((x1 - x0) * density), 1);
  const height = even(Math.ceil((y1 - y0) * density), 1);
  const region = { x: x0, y: y0, w: width / density, h: height / density };
  return { region, density, width, height, alt: { width: even(width / k, 1), height: even(height / k, 1) } };
}

/** The per-frame placements over a still planned by planStillGeometry for the same windows (null: static). */
function planMotion(g: StillGeometry, windows: Rect[], out: Size, at: StillPlacement): MotionParams | null {
  if (!g.alt) return null;
  const { width, height } = g;
  const { x: x0, y: y0 } = g.region;
  const { width: altWidth, height: altHeight } = g.alt;
  // Plane px per prepared px: 1 for luma, 1/2 for chroma (centred siting: continuous
  // coordinates simply halve).
  const plane = (k: number, count: number) => planPlane(
    windows.map((w) => ({ x: ((w.x - x0) * at.x.k + at.x.c) * k, y: ((w.y - y0) * at.y.k + at.y.c) * k, w: w.w * at.x.k * k, h: w.h * at.y.k * k })),
    { width: width * k, height: height * k },
    { width: altWidth * k, height: altHeight * k },
    { width: out.width * k, height: out.height * k },
    2 * MOTION_MARGIN_PX * k,
    count,
  );
  return { altWidth, altHeight, luma: plane(1, AXIS_CANDIDATES), chroma: plane(0.5, CHROMA_CANDIDATES) };
}

/** A frame's placements are searched with any crop size too if its fourth best is off by more than this (output px). */
const WIDER_SEARCH_PX = 0.02;
/** Switching between still and copy costs like this much squared error (output px): each is resampled differently. */
const SWITCH_COST = 1e-4;

/**
 * One plane for every frame: `windows` in the plane's px of the still, `size` / `altSize`
 * the still's and the copy's sizes in this plane. First which of the two each frame uses
 * (a frame whose ratio sits near a simple fraction in one is usually well clear of it in the
 * other, on both axes at once: they share the zoom), then per axis the smoothest placements.
 */
function planPlane(windows: Rect[], size: Size, altSize: Size, out: Size, searchPx: number, count: number): PlaneMotion {
  // Continuous coordinates map exactly: still = copy * step (swscale's centre convention).
  const sx = swscaleStep(size.width, altSize.width);
  const sy = swscaleStep(size.height, altSize.height);
  // Near a simple fraction the usual crop sizes leave gaps in the offsets they reach; bigger
  // crops (more scaled pixels, so only where needed) fill them in.
  const search = (a: number, w: number, len: number, o: number) => {
    const c = axisCandidates(a, w, len, o, count, searchPx);
    if (c[Math.min(3, c.length - 1)]!.error * (o / w) <= WIDER_SEARCH_PX) return c;
    const more = axisCandidates(a, w, len, o, count, len).filter((m) => !c.some((k) => k.e0 === m.e0 && k.e1 === m.e1));
    return [...c, ...more].sort((p, q) => p.error - q.error);
  };
  const axis = (a: number, w: number, len: number, altLen: number, o: number, step: number) =>
    [
      search(a, w, len, o).map((c) => toPath(c, o / w)),
      search(a / step, w / step, altLen, o).map((c) => toPath(c, (o * step) / w)),
    ] as const;
  const cands = windows.map((w) => ({
    x: axis(w.x, w.w, size.width, altSize.width, out.width, sx),
    y: axis(w.y, w.h, size.height, altSize.height, out.height, sy),
  }));

  // Which image per frame: least (mean squared error of its placements, both axes: how
  // finely it can place this frame) plus what resampling from it costs (resample) plus switches.
  const badness = (c: PathPlacement[]) => c.reduce((s, p) => s + Math.max(Math.abs(p.u0), Math.abs(p.u1)) ** 2, 0) / c.length;
  // Image px per output px, still and copy.
  const ratios = windows.map((w) => [w.w / out.width, w.w / out.width / sx]);
  const frameCost = (n: number, i: number) => badness(cands[n]!.x[i]!) + badness(cands[n]!.y[i]!) + resample(ratios[n]!, i);
  let cost = [0, 1].map((i) => frameCost(0, i));
  const back: number[][] = [];
  for (let n = 1; n < windows.length; n++) {
    const from = [0, 1].map((i) => (cost[i]! <= cost[1 - i]! + SWITCH_COST ? i : 1 - i));
    cost = [0, 1].map((i) => cost[from[i]!]! + (from[i] === i ? 0 : SWITCH_COST) + frameCost(n, i));
    back.push(from);
  }
  const alt = new Array<boolean>(windows.length);
  let c = cost[0]! <= cost[1]! ? 0 : 1;
  for (let n = windows.length - 1; n >= 0; n--) {
    alt[n] = c === 1;
    if (n > 0) c = back[n - 1]![c]!;
  }

  const xs = smoothestPath(cands.map((f, n) => f.x[alt[n] ? 1 : 0]!), moves(windows.map((w) => [w.x, w.w]), out.width));
  const ys = smoothestPath(cands.map((f, n) => f.y[alt[n] ? 1 : 0]!), moves(windows.map((w) => [w.y, w.h]), out.height));
  const res: PlaneMotion = { cropX: [], cropY: [], cropW: [], cropH: [], scaleW: [], scaleH: [], outX: [], outY: [], alt, maxErrorPx: 0 };
  cands.forEach((f, n) => {
    const px = f.x[alt[n] ? 1 : 0]![xs[n]!]!;
    const py = f.y[alt[n] ? 1 : 0]![ys[n]!]!;
    res.cropX.push(px.s.crop + (alt[n] ? size.width : 0));
    res.cropY.push(py.s.crop);
    res.cropW.push(px.s.cropSize);
    res.cropH.push(py.s.cropSize);
    res.scaleW.push(px.s.scaled);
    res.scaleH.push(py.s.scaled);
    res.outX.push(px.s.offset);
    res.outY.push(py.s.offset);
    res.maxErrorPx = Math.max(res.maxErrorPx, Math.abs(px.u0), Math.abs(px.u1), Math.abs(py.u0), Math.abs(py.u1));
  });
  return res;
}

/** Shrinking a frame from an image costs swscale twice the taps of enlarging it (MAX_UPSCALE): worth it where that places the frame ~0.05 px better. */
const SHRINK_COST = 2.5e-3;
/** Enlarging from the smaller image when the other would enlarge less loses detail: worth it to place the frame ~0.03 px better. */
const DETAIL_COST = 1e-3;

/** What resampling a frame from image `i` costs beyond its placement, given both images' ratios (image px per output px). */
function resample(ratios: number[], i: number): number {
  const r = ratios[i]!;
  if (r > 1) return SHRINK_COST;
  return ratios.some((q) => q > r && q <= 1) ? DETAIL_COST : 0;
}

interface PathPlacement extends PathCandidate {
  s: AxisSolution;
}

function toPath(s: AxisSolution, k: number): PathPlacement {
  return { s, u0: s.e0 * k, u1: s.e1 * k };
}

/**
 * The planned movement of the picture at the two ends of an axis from frame n - 1 to n
 * (output px), from [start, length] per frame: what the error path must not undo.
 */
function moves(windows: [number, number][], out: number): [number, number][] {
  return windows.map(([a, w], n): [number, number] => {
    const [pa, pw] = windows[Math.max(0, n - 1)]!;
    const at = (j: number) => j + 0.5 - ((a + ((j + 0.5) * w) / out - pa) * out) / pw;
    return [at(0), at(out - 1)];
  });
}

export interface AxisSolution {
  /** First crop: offset and size. */
  crop: number;
  cropSize: number;
  /** Scaled size. */
  scaled: number;
  /** Second crop's offset. */
  offset: number;
  /** Signed position error at the first and last output pixel, source px. */
  e0: number;
  e1: number;
  /** max(|e0|, |e1|). */
  error: number;
}

/**
 * One axis of one frame. Show source interval [a, a + w] (continuous px of an axis `size` px
 * long) on `out` output px, using crop(L, C) -> scale(to S) -> crop(D, out). Output pixel j
 * then samples source position L + (j + D + 0.5) * step - 0.5 with step = swscaleStep(C, S);
 * ideal is a + (j + 0.5) * w/out - 0.5. The error is linear in j, so its extremes are at the
 * two ends. Returns the `count` placements with the smallest error, best first.
 *
 * With C fixed, C/S moves in steps of ~1/S (a few tenths of a px at the frame edge); searching
 * C as well gets the step within swscale's 1/65536 resolution for most ratios, but not near
 * fractions with small denominators (5/4, 6/5, ...): no C/S in range comes close to those
 * except the fraction itself (the copy's ratios, off by ALT_SCALE, are not near the same
 * fractions). The offset L + (D + 0.5) * step is then right to about 1/(number of usable D).
 */
export function axisCandidates(a: number, w: number, size: number, out: number, count = AXIS_CANDIDATES, searchPx = 2 * MOTION_MARGIN_PX): AxisSolution[] {
  const rho = w / out;
  const target = a + 0.5 * rho;
  // Room each side for swscale's kernel (bicubic: 2 taps, times the reduction).
  const kern = Math.ceil(2 * Math.max(1, rho)) + 1;
  const cMin = Math.ceil(w + 2 * kern);
  const cMax = Math.min(size, cMin + searchPx);
  // All (C, S) pairs, then the placements of those whose ratio error `delta` (source px at
  // the far end) is small enough to matter, smallest first.
  const cap = Math.max(0, cMax - cMin + 1) * 4;
  const pc = new Int32Array(cap);
  const ps = new Int32Array(cap);
  const pd = new Float64Array(cap);
  let nPairs = 0;
  for (let C = cMin; C <= cMax; C++) {
    const base = C / rho;
    for (let S = Math.max(out, Math.floor(base) - 1); S <= Math.ceil(base) + 1 && nPairs < cap; S++) {
      pc[nPairs] = C;
      ps[nPairs] = S;
      pd[nPairs++] = (out - 1) * (swscaleStep(C, S) - rho);
    }
  }
  const best: AxisSolution[] = [];
  let worst = Infinity;
  const tryPair = (i: number) => {
    const C = pc[i]!;
    const S = ps[i]!;
    const delta = pd[i]!;
    const r = delta / (out - 1) + rho;
    const lMin = Math.max(0, Math.ceil(a + w + kern - C));
    const lMax = Math.min(size - C, Math.floor(a - kern));
    if (lMin > lMax) return;
    // Aim e0 at -delta/2: the two ends then err equally, in opposite directions. Only the D
    // whose nearest L is in range.
    const goal = target - delta / 2;
    const dMin = Math.max(0, Math.floor((goal - lMax - 0.5) / r - 0.5));
    const dMax = Math.min(S - out, Math.ceil((goal - lMin + 0.5) / r - 0.5));
    for (let D = dMin; D <= dMax; D++) {
      const L = Math.round(goal - (D + 0.5) * r);
      if (L < lMin || L > lMax) continue;
      const e0 = L + (D + 0.5) * r - target;
      const e1 = e0 + delta;
      const error = Math.max(Math.abs(e0), Math.abs(e1));
      if (error >= worst) continue;
      // The same placement by another route is no new choice.
      if (best.some((p) => Math.abs(p.e0 - e0) < 1e-9 && Math.abs(p.e1 - e1) < 1e-9)) continue;
      let j = best.length;
      while (j > 0 && best[j - 1]!.error > error) j--;
      best.splice(j, 0, { crop: L, cropSize: C, scaled: S, offset: D, e0, e1, error });
      if (best.length > count) best.pop();
      if (best.length === count) worst = best[count - 1]!.error;
    }
  };
  // In widening bands of |delta|, each sorted, until the band's floor beats the worst kept
  // placement: usually only the first few pairs matter. Sort keys pack |delta| (to 1e-6 px) and
  // the pair's index into one number: a plain numeric sort, no comparator.
  for (let lo = 0, hi = 0.01; lo / 2 < worst; lo = hi, hi *= 4) {
    const band = new Float64Array(nPairs);
    let nb = 0;
    for (let i = 0; i < nPairs; i++) {
      const d = Math.abs(pd[i]!);
      if (d >= lo && d < hi) band[nb++] = Math.round(d * 1e6) * 65536 + i;
    }
    for (const key of band.subarray(0, nb).sort()) {
      if (Math.floor(key / 65536) / 2e6 >= worst) break;
      tryPair(key % 65536);
    }
    if (hi > 1e4) break;
  }
  if (best.length) return best;
  // No margin to search in (tiny or degenerate inputs): nearest integers, still correct framing.
  const C = Math.max(1, Math.min(size, Math.ceil(w)));
  const S = Math.max(out, Math.round(C / rho));
  const r = swscaleStep(C, S);
  const L = Math.max(0, Math.min(size - C, Math.round(a - (C - w) / 2)));
  const D = Math.max(0, Math.min(S - out, Math.round((target - L) / r - 0.5)));
  const e0 = L + (D + 0.5) * r - target;
  const e1 = e0 + (out - 1) * (r - rho);
  return [{ crop: L, cropSize: C, scaled: S, offset: D, e0, e1, error: Math.max(Math.abs(e0), Math.abs(e1)) }];
}

/** The single best placement (see axisCandidates). */
export function solveAxis(a: number, w: number, size: number, out: number): AxisSolution {
  return axisCandidates(a, w, size, out, 1)[0]!;
}

/** Cost of a frame's own error (output px, squared) against its second differences in smoothestPath. */
const ERROR_WEIGHT = 0.05;
/** Second differences above this (output px/frame^2) cost steeply more than their square. */
const JITTER_KNEE = 0.01;
/** Cost per squared px by which a frame falls short of half its planned movement (soft constraint). */
const REVERSE_COST = 1e3;

export interface PathCandidate {
  /** Position error at the first and last output pixel, output px (the picture is displaced by -u). */
  u0: number;
  u1: number;
}

/**
 * Pick one candidate per frame so that the errors at both ends of the axis change smoothly:
 * what the eye sees as jitter is the second difference of position over frames, and an error
 * of a few hundredths of a pixel that drifts slowly is invisible. `moves[n]` is the picture's
 * planned movement at the two ends from frame n - 1 to n; each end, and the zoom (their
 * difference), keeps at least half of it, so the motion never stalls or reverses. Viterbi over
 * pairs of consecutive frames (a second difference spans three). Returns the index per frame.
 */
export function smoothestPath(frames: PathCandidate[][], moves: [number, number][]): number[] {
  const N = frames.length;
  if (N < 3) return frames.map(() => 0);
  const unary = (c: PathCandidate) => ERROR_WEIGHT * (c.u0 * c.u0 + c.u1 * c.u1);
  const ik2 = 1 / (JITTER_KNEE * JITTER_KNEE);
  const short = (planned: number, err: number) => {
    if (Math.abs(planned) < 1e-6) return 0;
    const lack = 0.5 * Math.abs(planned) - Math.sign(planned) * (planned - err);
    return lack > 0 ? REVERSE_COST * lack * lack : 0;
  };
  const pair = (n: number, b: PathCandidate, c: PathCandidate) => {
    const [m0, m1] = moves[n]!;
    const d0 = c.u0 - b.u0;
    const d1 = c.u1 - b.u1;
    return short(m0, d0) + short(m1, d1) + short(m1 - m0, d1 - d0);
  };
  // cost[b * K + c]: best total with frame n - 1 = candidate b and frame n = c (K: frame n's
  // count); from[n - 2][b * K + c]: the frame n - 2 candidate it came from.
  let cost = new Float64Array(frames[0]!.length * frames[1]!.length);
  frames[0]!.forEach((b, i) => frames[1]!.forEach((c, j) => (cost[i * frames[1]!.length + j] = unary(b) + unary(c) + pair(1, b, c))));
  const from: Int32Array[] = [];
  for (let n = 2; n < N; n++) {
    const prev = frames[n - 2]!;
    const mid = frames[n - 1]!;
    const cur = frames[n]!;
    const KA = prev.length;
    const KB = mid.length;
    const KC = cur.length;
    const pu0 = Float64Array.from(prev, (c) => c.u0);
    const pu1 = Float64Array.from(prev, (c) => c.u1);
    const next = new Float64Array(KB * KC);
    const arg = new Int32Array(KB * KC);
    for (let b = 0; b < KB; b++) {
      const mb = mid[b]!;
      for (let c = 0; c < KC; c++) {
        const cc = cur[c]!;
        const t0 = cc.u0 - 2 * mb.u0;
        const t1 = cc.u1 - 2 * mb.u1;
        let bestCost = Infinity;
        let bestA = 0;
        for (let a = 0; a < KA; a++) {
          const d0 = t0 + pu0[a]!;
          const d1 = t1 + pu1[a]!;
          const q0 = d0 * d0;
          const q1 = d1 * d1;
          const v = cost[a * KB + b]! + q0 * (1 + q0 * ik2) + q1 * (1 + q1 * ik2);
          if (v < bestCost) {
            bestCost = v;
            bestA = a;
          }
        }
        next[b * KC + c] = bestCost + unary(cc) + pair(n, mb, cc);
        arg[b * KC + c] = bestA;
      }
    }
    cost = next;
    from.push(arg);
  }
  const KC = frames[N - 1]!.length;
  let bestAt = 0;
  for (let i = 1; i < cost.length; i++) if (cost[i]! < cost[bestAt]!) bestAt = i;
  const path = new Array<number>(N);
  path[N - 2] = Math.floor(bestAt / KC);
  path[N - 1] = bestAt % KC;
  for (let n = N - 1; n >= 2; n--) path[n - 2] = from[n - 2]![path[n - 1]! * frames[n]!.length + path[n]!]!;
  return path;
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

export interface MotionGraphOptions {
  /** First frame of the clip to render (a segment may start inside a clip). */
  from?: number;
  /** Frames to render (default: to the clip's end). */
  frames?: number;
  /** The chain's frame rate: frame k has timestamp k/fps. */
  fps: number;
  /** Prefix for the graph's labels and filter names; unique in the graph. */
  id: string;
}

export interface MotionGraph {
  /** Appended (with a comma) to the chain that yields the decoded yuv420p still: builds the strip and hands it to the `planes` inputs. Runs once per clip. */
  prepare: string;
  /** Per plane: input label, the per-frame filters (after the caller's loop and timestamps), output label. */
  planes: { input: string; filters: string; output: string }[];
  /** Joins the planes' outputs into yuv420p frames (the caller labels the result). */
  merge: string;
}

/**
 * The filter graph pieces for a Ken Burns clip (null for static ones). Each plane's chain
 * crops the strip, scales and crops again; the first crop's size changes per frame through
 * `sendcmd` (crop evaluates w/h only when configured or told to; scale with eval=frame
 * re-initialises for each new input size).
 */
export function motionGraph(still: StillPlan, out: Size, o: MotionGraphOptions): MotionGraph | null {
  const m = still.motion;
  if (!m) return null;
  const id = o.id;
  // xstack, not pad + overlay or hstack: the copy's size differs, and those would copy the
  // strip again (each copy stays allocated in a frame pool until the graph ends). The luma
  // chain crops the yuv420p strip itself; the chroma planes are split off once.
  const prepare = [
    `split=2[${id}s][${id}a]`,
    `[${id}a]scale=w=${m.altWidth}:h=${m.altHeight}:flags=bicubic[${id}b]`,
    `[${id}s][${id}b]xstack=inputs=2:layout=0_0|${still.width}_0:fill=black,split=2[${id}y][${id}c]`,
    `[${id}c]extractplanes=u+v[${id}u][${id}v]`,
  ].join(';');
  const half = { width: out.width / 2, height: out.height / 2 };
  const planes = (['y', 'u', 'v'] as const).map((p) => ({
    input: `${id}${p}`,
    filters: planeFilters(p === 'y' ? m.luma : m.chroma, p === 'y' ? out : half, { ...o, id: `${id}${p}` }),
    output: `${id}${p}m`,
  }));
  return { prepare, planes, merge: `[${id}ym][${id}um][${id}vm]mergeplanes=mapping=0x001020:format=yuv420p` };
}

/** One plane's per-frame chain: the strip (yuv420p for luma, gray for chroma) in, gray `out`-sized frames out. */
export function planeFilters(pm: PlaneMotion, out: Size, o: MotionGraphOptions): string {
  const from = o.from ?? 0;
  const end = o.frames === undefined ? undefined : from + o.frames;
  const sl = (v: number[]) => v.slice(from, end);
  const p = { cropX: sl(pm.cropX), cropY: sl(pm.cropY), cropW: sl(pm.cropW), cropH: sl(pm.cropH), scaleW: sl(pm.scaleW), scaleH: sl(pm.scaleH), outX: sl(pm.outX), outY: sl(pm.outY) };
  const target = `crop@${o.id}`;
  // The first crop takes all four values by command, as constants: each command makes crop
  // re-parse its expressions, which for lookup trees costs more than the scale itself.
  // Each command sits half a frame before the first frame that needs it (frame k's timestamp
  // is k/fps); sendcmd runs it as that frame passes, before the crop right after it sees it.
  const cmds: string[] = [];
  for (let k = 1; k < p.cropW.length; k++) {
    const c: string[] = [];
    // Size first, then offsets: each command is checked on its own against the input.
    if (p.cropW[k] !== p.cropW[k - 1]) c.push(`${target} w ${p.cropW[k]}`);
    if (p.cropH[k] !== p.cropH[k - 1]) c.push(`${target} h ${p.cropH[k]}`);
    if (p.cropX[k] !== p.cropX[k - 1]) c.push(`${target} x ${p.cropX[k]}`);
    if (p.cropY[k] !== p.cropY[k - 1]) c.push(`${target} y ${p.cropY[k]}`);
    if (c.length) cmds.push(`${((k - 0.5) / o.fps).toFixed(6)} ${c.join(',')}`);
  }
  return [
    ...(cmds.length ? [`sendcmd=c='${cmds.join(';')}'`] : []),
    // exact: odd offsets and sizes in the yuv420p strip (its chroma is not used here).
    `${target}=w=${p.cropW[0]}:h=${p.cropH[0]}:x=${p.cropX[0]}:y=${p.cropY[0]}:exact=1`,
    // Full range in and out: the plane's values pass unchanged (gray would otherwise be
    // expanded from limited range, chroma included). One thread: with eval=frame swscale is
    // set up again for every frame, and with threads that includes a new thread pool, which
    // cost more than the scaling (720p: 2.0 -> 1.0 s CPU for 270 frames); x264 has the cores.
    `scale=w=${lookupExpr(p.scaleW)}:h=${lookupExpr(p.scaleH)}:eval=frame:flags=bicubic:in_range=pc:out_range=pc:threads=1`,
    // Nothing may sit between scale and this crop: crop clips x/y to its input link's size,
    // which only scale itself updates when it changes size per frame.
    `crop=w=${out.width}:h=${out.height}:x=${lookupExpr(p.outX)}:y=${lookupExpr(p.outY)}`,
    // Pins scale's output format (crop passes formats through) and the aspect ratio
    // mergeplanes checks (scale derives one from each frame's sizes).
    'format=gray',
    'setsar=1',
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
