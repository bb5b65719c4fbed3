import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import type { Motion, Plan } from '../../src/core/plan.js';
import type { SourceImage } from '../../src/pipeline/engines/engine.js';
import { buildFilterGraph } from '../../src/pipeline/engines/local/filtergraph.js';
import { fittedSize, frameWindows, type Size } from '../../src/pipeline/engines/local/motion.js';
import { planStillJobs, prepareStills } from '../../src/pipeline/engines/local/prepare-images.js';

/**
 * Motion-smoothness measurement for Ken Burns renders (issue 7).
 *
 * The source is a grid of Gaussian dots at irregular sub-pixel phases: band-limited, so a
 * resampler can move it without aliasing, and each dot's intensity centroid is its centre
 * to ~1/1000 px. Frames are read back as raw luma (no lossy step between the filter graph and
 * the measurement), every visible dot is located, and a per-axis affine map
 * (output = scale * source + offset) is fitted to all of them: hundreds of dots per frame
 * average the per-dot noise away, and the renderers under test are separable
 * crop-and-scale pipelines, so per axis the true map is affine. A second pass takes out each
 * dot's constant offset (removeDotOffsets).
 *
 * Jitter is the second difference over frames of (measured - ideal) output position of a
 * source point, evaluated at the points on the frame's edges (the map is affine, so the
 * worst point is on an edge). A perfect renderer scores 0 whatever the easing; the ideal
 * path's own acceleration is reported separately.
 */

export interface DotField {
  file: string;
  width: number;
  height: number;
  /** Dot centres in continuous source px (pixel i spans [i, i + 1)). */
  xs: Float64Array;
  ys: Float64Array;
  /** Gaussian sigma, source px. */
  sigma: number;
}

export interface DotFieldOptions {
  width: number;
  height: number;
  /** Grid pitch, source px (default 80). */
  spacing?: number;
  /** Default 4 source px: ~2 output px when the source is twice the output. */
  sigma?: number;
}

const BACKGROUND = 32;
const AMPLITUDE = 200;

/** Write a PNG dot field. Deterministic. */
export async function makeDotField(file: string, o: DotFieldOptions): Promise<DotField> {
  const { width, height } = o;
  const spacing = o.spacing ?? 80;
  const sigma = o.sigma ?? 4;
  const xs: number[] = [];
  const ys: number[] = [];
  // R2 low-discrepancy offsets: every dot sits at a different sub-pixel phase, so the
  // centroid's small phase-dependent bias averages out over a frame instead of adding up.
  let k = 0;
  for (let gy = 0; (gy + 1) * spacing <= height; gy++) {
    for (let gx = 0; (gx + 1) * spacing <= width; gx++) {
      k++;
      xs.push((gx + 0.5) * spacing + frac(k * 0.7548776662466927) - 0.5);
      ys.push((gy + 0.5) * spacing + frac(k * 0.5698402909980532) - 0.5);
    }
  }
  const acc = new Float32Array(width * height).fill(BACKGROUND);
  const reach = Math.ceil(5 * sigma);
  for (let d = 0; d < xs.length; d++) {
    const cx = xs[d]!;
    const cy = ys[d]!;
    for (let y = Math.max(0, Math.floor(cy) - reach); y <= Math.min(height - 1, Math.floor(cy) + reach); y++) {
      const dy = y + 0.5 - cy;
      for (let x = Math.max(0, Math.floor(cx) - reach); x <= Math.min(width - 1, Math.floor(cx) + reach); x++) {
        const dx = x + 0.5 - cx;
        acc[y * width + x]! += AMPLITUDE * Math.exp(-(dx * dx + dy * dy) / (2 * sigma * sigma));
      }
    }
  }
  const rgb = Buffer.alloc(width * height * 3);
  for (let i = 0; i < acc.length; i++) {
    const v = Math.max(0, Math.min(255, Math.round(acc[i]!)));
    rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = v;
  }
  await sharp(rgb, { raw: { width, height, channels: 3 } }).png({ compressionLevel: 1 }).toFile(file);
  return { file, width, height, xs: Float64Array.from(xs), ys: Float64Array.from(ys), sigma };
}

/** Per axis: output pixel-index coordinate = z * s + t, s in continuous fitted units. */
export interface AxisMap {
  z: number;
  t: number;
}

export interface FrameMap {
  x: AxisMap;
  y: AxisMap;
}

/** What the plan asks for: window w shows fitted [w.x, w.x + w.w] on pixel centres 0.5 .. W - 0.5. */
export function idealMaps(motion: Motion, frames: number, fitted: Size, out: Size): FrameMap[] {
  return frameWindows(motion, frames, fitted, out).map((w) => {
    const zx = out.width / w.w;
    const zy = out.height / w.h;
    return { x: { z: zx, t: -w.x * zx - 0.5 }, y: { z: zy, t: -w.y * zy - 0.5 } };
  });
}

export interface DotObservation {
  /** Index into the field's dots. */
  id: number;
  /** Fitted-unit source position. */
  sx: number;
  sy: number;
  /** Measured centroid, output pixel-index coordinates. */
  ux: number;
  uy: number;
}

export interface FrameMeasurement {
  map: FrameMap;
  dots: number;
  /** RMS distance of the dots from the fitted map, px (how affine the frame really is). */
  residualPx: number;
  observations: DotObservation[];
}

/**
 * Locate every dot fully inside the frame (searching around where `guess` puts it) and fit
 * the per-axis affine map. `k` = fitted units per source px.
 */
export function measureFrame(luma: Uint8Array, out: Size, field: DotField, k: number, guess: FrameMap): FrameMeasurement {
  const W = out.width;
  const H = out.height;
  const bg = modeOf(luma);
  const obs: DotObservation[] = [];
  for (let d = 0; d < field.xs.length; d++) {
    const fx = field.xs[d]! * k;
    const fy = field.ys[d]! * k;
    const px = guess.x.z * fx + guess.x.t;
    const py = guess.y.z * fy + guess.y.t;
    // 4.5 sigma: the Gaussian tail left outside moves the centroid by < 1e-4 px.
    const r = Math.ceil(4.5 * field.sigma * k * Math.max(guess.x.z, guess.y.z)) + 1;
    const cx = Math.round(px);
    const cy = Math.round(py);
    if (cx - r < 0 || cy - r < 0 || cx + r >= W || cy + r >= H) continue;
    let m = 0;
    let mx = 0;
    let my = 0;
    for (let y = cy - r; y <= cy + r; y++) {
      const row = y * W;
      for (let x = cx - r; x <= cx + r; x++) {
        // Signed: the resampler's negative lobes are part of the (symmetric) response.
        const v = luma[row + x]! - bg;
        m += v;
        mx += v * x;
        my += v * y;
      }
    }
    if (m <= 0) continue;
    obs.push({ id: d, sx: fx, sy: fy, ux: mx / m, uy: my / m });
  }
  if (obs.length < 8) throw new Error(`measureFrame: only ${obs.length} dots found`);
  return fitFrame(obs);
}

function fitFrame(obs: DotObservation[]): FrameMeasurement {
  const x = fitLine(obs.map((o) => o.sx), obs.map((o) => o.ux));
  const y = fitLine(obs.map((o) => o.sy), obs.map((o) => o.uy));
  let ss = 0;
  for (const o of obs) ss += (x.z * o.sx + x.t - o.ux) ** 2 + (y.z * o.sy + y.t - o.uy) ** 2;
  return { map: { x, y }, dots: obs.length, residualPx: Math.sqrt(ss / obs.length), observations: obs };
}

/**
 * Second pass: each dot's own constant offset (from how the still was prepared: JPEG, the
 * resize; it travels with the picture, so it is no motion) is its mean residual over all
 * frames, in source units. Subtracting it leaves the fit with the frame-to-frame part only,
 * which is what jitter is made of; dots entering and leaving the frame then no longer shift
 * the fit by their offsets.
 */
export function removeDotOffsets(frames: FrameMeasurement[]): FrameMeasurement[] {
  const sum = new Map<number, [number, number, number]>();
  for (const f of frames) {
    for (const o of f.observations) {
      const s = sum.get(o.id) ?? [0, 0, 0];
      s[0] += (o.ux - (f.map.x.z * o.sx + f.map.x.t)) / f.map.x.z;
      s[1] += (o.uy - (f.map.y.z * o.sy + f.map.y.t)) / f.map.y.z;
      s[2]++;
      sum.set(o.id, s);
    }
  }
  return frames.map((f) =>
    fitFrame(
      f.observations.map((o) => {
        const [bx, by, n] = sum.get(o.id)!;
        return { ...o, ux: o.ux - (bx / n) * f.map.x.z, uy: o.uy - (by / n) * f.map.y.z };
      }),
    ),
  );
}

export interface MotionReport {
  frames: number;
  /** Second difference of (measured - ideal) edge positions, px/frame^2. */
  jitterRms: number;
  jitterMax: number;
  /** Frame (centre of the triple) where jitterMax occurs. */
  jitterMaxFrame: number;
  /** Second difference of the measured positions alone (includes the easing's acceleration). */
  accelRms: number;
  accelMax: number;
  /** The ideal path's own largest second difference, for comparison with accelMax. */
  idealAccelMax: number;
  /** Steps against the planned direction of travel (zoom, and positions that move > 1 px in total). */
  reversals: number;
  /** Largest step against the planned direction (px; 0 if none). */
  worstReversalPx: number;
  monotonic: boolean;
  /** Largest |measured - ideal| at the frame edges, px (framing accuracy, includes constant offsets). */
  maxOffsetPx: number;
  /** Mean per-frame RMS of the dots around the fitted map, px. */
  fitResidualPx: number;
  minDots: number;
}

/** Steps smaller than this against the direction of travel are measurement noise, not reversals. */
export const REVERSAL_TOLERANCE_PX = 1e-3;

export function motionReport(measured: FrameMeasurement[], ideal: FrameMap[], out: Size): MotionReport {
  const N = measured.length;
  if (ideal.length !== N) throw new Error('motionReport: one ideal map per frame');
  const jit: number[] = [];
  const acc: number[] = [];
  let idealAccelMax = 0;
  let jitterMax = 0;
  let jitterMaxFrame = 0;
  let maxOffsetPx = 0;
  for (let n = 0; n < N; n++) {
    for (const axis of ['x', 'y'] as const) {
      const size = axis === 'x' ? out.width : out.height;
      const id = ideal[n]![axis];
      // The source points on this frame's two edges.
      for (const u of [0, size - 1]) {
        const s = (u - id.t) / id.z;
        const at = (k: number, m: 'meas' | 'ideal') => {
          const a = m === 'meas' ? measured[k]!.map[axis] : ideal[k]![axis];
          return a.z * s + a.t;
        };
        maxOffsetPx = Math.max(maxOffsetPx, Math.abs(at(n, 'meas') - at(n, 'ideal')));
        if (n === 0 || n === N - 1) continue;
        const dm = at(n + 1, 'meas') - 2 * at(n, 'meas') + at(n - 1, 'meas');
        const di = at(n + 1, 'ideal') - 2 * at(n, 'ideal') + at(n - 1, 'ideal');
        jit.push(dm - di);
        acc.push(dm);
        idealAccelMax = Math.max(idealAccelMax, Math.abs(di));
        if (Math.abs(dm - di) > jitterMax) {
          jitterMax = Math.abs(dm - di);
          jitterMaxFrame = n;
        }
      }
    }
  }

  // Direction of travel: the zoom (as px at the frame edge) and fixed source points at the
  // middle frame's edges and centre.
  let reversals = 0;
  let worstReversalPx = 0;
  const mid = ideal[N >> 1]!;
  const series: { meas: number[]; ideal: number[] }[] = [];
  for (const axis of ['x', 'y'] as const) {
    const size = axis === 'x' ? out.width : out.height;
    series.push({ meas: measured.map((m) => (m.map[axis].z * size) / 2), ideal: ideal.map((m) => (m[axis].z * size) / 2) });
    for (const u of [0, (size - 1) / 2, size - 1]) {
      const s = (u - mid[axis].t) / mid[axis].z;
      series.push({ meas: measured.map((m) => m.map[axis].z * s + m.map[axis].t), ideal: ideal.map((m) => m[axis].z * s + m[axis].t) });
    }
  }
  for (const q of series) {
    const total = q.ideal[N - 1]! - q.ideal[0]!;
    if (Math.abs(total) < 1) continue;
    const dir = Math.sign(total);
    // Only quantities the plan moves one way throughout.
    if (q.ideal.some((v, n) => n > 0 && dir * (v - q.ideal[n - 1]!) < 0)) continue;
    for (let n = 1; n < N; n++) {
      const step = dir * (q.meas[n]! - q.meas[n - 1]!);
      if (step < -REVERSAL_TOLERANCE_PX) reversals++;
      if (step < 0) worstReversalPx = Math.max(worstReversalPx, -step);
    }
  }

  return {
    frames: N,
    jitterRms: rms(jit),
    jitterMax,
    jitterMaxFrame,
    accelRms: rms(acc),
    accelMax: Math.max(0, ...acc.map(Math.abs)),
    idealAccelMax,
    reversals,
    worstReversalPx,
    monotonic: reversals === 0,
    maxOffsetPx,
    fitResidualPx: measured.reduce((s, m) => s + m.residualPx, 0) / N,
    minDots: Math.min(...measured.map((m) => m.dots)),
  };
}

/**
 * Run ffmpeg and hand each frame's luma plane to `onFrame` as it arrives (yuv420p rawvideo:
 * the Y plane is the frame's first W*H bytes). Resolves with the frame count.
 */
export function readLumaFrames(ffmpeg: string, args: string[], cwd: string, out: Size, onFrame: (n: number, luma: Uint8Array) => void): Promise<number> {
  const ySize = out.width * out.height;
  const frameSize = (ySize * 3) / 2;
  return new Promise((resolve, reject) => {
    const child = spawn(ffmpeg, [...args, '-f', 'rawvideo', '-pix_fmt', 'yuv420p', 'pipe:1'], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const frame = new Uint8Array(frameSize);
    let fill = 0;
    let n = 0;
    let stderr = '';
    let failed: unknown = null;
    child.stdout.on('data', (chunk: Buffer) => {
      let off = 0;
      while (off < chunk.length) {
        const take = Math.min(frameSize - fill, chunk.length - off);
        frame.set(chunk.subarray(off, off + take), fill);
        fill += take;
        off += take;
        if (fill === frameSize) {
          try {
            if (!failed) onFrame(n, frame.subarray(0, ySize));
          } catch (err) {
            failed = err;
          }
          n++;
          fill = 0;
        }
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (failed) reject(failed);
      else if (code !== 0) reject(new Error(`ffmpeg exited ${code}: ${stderr.slice(-2000)}`));
      else if (fill !== 0) reject(new Error('ffmpeg: truncated frame'));
      else resolve(n);
    });
  });
}

export interface MotionCase {
  name: string;
  motion: Motion;
}

/** The issue's motions: zoom in, zoom out and the four pans, all eased. */
export const MOTION_CASES: MotionCase[] = [
  { name: 'zoom in', motion: kb({ zoom: 1, x: 0.5, y: 0.5 }, { zoom: 1.3, x: 0.5, y: 0.5 }) },
  { name: 'zoom out', motion: kb({ zoom: 1.3, x: 0.5, y: 0.5 }, { zoom: 1, x: 0.5, y: 0.5 }) },
  { name: 'pan left', motion: kb({ zoom: 1.25, x: 0.59, y: 0.5 }, { zoom: 1.25, x: 0.41, y: 0.5 }) },
  { name: 'pan right', motion: kb({ zoom: 1.25, x: 0.41, y: 0.5 }, { zoom: 1.25, x: 0.59, y: 0.5 }) },
  { name: 'pan up', motion: kb({ zoom: 1.25, x: 0.5, y: 0.59 }, { zoom: 1.25, x: 0.5, y: 0.41 }) },
  { name: 'pan down', motion: kb({ zoom: 1.25, x: 0.5, y: 0.41 }, { zoom: 1.25, x: 0.5, y: 0.59 }) },
];

function kb(from: { zoom: number; x: number; y: number }, to: { zoom: number; x: number; y: number }): Motion {
  return { type: 'kenburns', from, to, easing: 'easeInOut' };
}

export interface RenderSpec {
  ffmpeg: string;
  /** Scratch folder (created). */
  workDir: string;
  field: DotField;
  motion: Motion;
  out: Size;
  fps: number;
  frames: number;
}

/** A one-clip plan showing the dot field with `motion`. */
export function dotPlan(s: Pick<RenderSpec, 'field' | 'motion' | 'out' | 'fps' | 'frames'>): Plan {
  const durationMs = Math.round((s.frames * 1000) / s.fps);
  return {
    output: { width: s.out.width, height: s.out.height, fps: s.fps, aspect: '16:9' },
    durationMs,
    clips: [
      {
        image: { index: 0, source: 'dots', width: s.field.width, height: s.field.height },
        startMs: 0,
        durationMs,
        fit: 'cover',
        motion: s.motion,
        transition: { type: 'cut', durationMs: 0 },
      },
    ],
    overlays: [],
    background: '#000000',
    notes: [],
  };
}

/**
 * The local engine's own stills and filter graph (planStillJobs, prepareStills,
 * buildFilterGraph), run by ffmpeg to raw frames instead of x264. Returns the graph's
 * script path (relative to workDir) and the ffmpeg input args for it.
 */
export async function prepareEngineGraph(s: RenderSpec): Promise<string[]> {
  fs.mkdirSync(s.workDir, { recursive: true });
  const plan = dotPlan(s);
  const image: SourceImage = { index: 0, path: s.field.file, type: 'png', width: s.field.width, height: s.field.height };
  const jobs = planStillJobs(plan, [image]);
  const clips = await prepareStills(jobs, { workDir: s.workDir, signal: new AbortController().signal });
  const graph = buildFilterGraph(plan, clips);
  if (graph.frames !== s.frames) throw new Error(`graph has ${graph.frames} frames, expected ${s.frames}`);
  fs.writeFileSync(path.join(s.workDir, 'graph.txt'), graph.script);
  return ['-nostdin', '-hide_banner', '-loglevel', 'error', '-filter_complex_script', 'graph.txt', '-map', `[${graph.output}]`, '-frames:v', String(s.frames)];
}

/**
 * The usual hand-written zoompan command for the same eased path: the photo scaled to cover
 * 2x the frame, zoompan one output frame per input frame (as bench/render.ts's baseline).
 */
export function zoompanArgs(s: RenderSpec): string[] {
  const { width: W, height: H } = s.out;
  if (s.motion.type !== 'kenburns') throw new Error('zoompanArgs: Ken Burns only');
  const { from, to, easing } = s.motion;
  const t = `(on/${s.frames - 1})`;
  const e = easing === 'linear' ? t : `(${t}*${t}*(3-2*${t}))`;
  const z = `${from.zoom}*pow(${to.zoom / from.zoom}\\,${e})`;
  const cx = `(${from.x}+(${to.x - from.x})*${e})`;
  const cy = `(${from.y}+(${to.y - from.y})*${e})`;
  const chain =
    `[0:v]scale=${2 * W}:${2 * H}:force_original_aspect_ratio=increase,crop=${2 * W}:${2 * H},` +
    `zoompan=z='${z}':x='iw*${cx}-iw/zoom/2':y='ih*${cy}-ih/zoom/2':d=1:s=${W}x${H}:fps=${s.fps},setsar=1,format=yuv420p[v]`;
  return [
    '-nostdin', '-hide_banner', '-loglevel', 'error',
    '-loop', '1', '-framerate', String(s.fps), '-t', (s.frames / s.fps).toFixed(6), '-i', s.field.file,
    '-filter_complex', chain, '-map', '[v]', '-frames:v', String(s.frames),
  ];
}

/** Render with `args`, track every frame, report. */
export async function measureRender(s: RenderSpec, args: string[]): Promise<{ report: MotionReport; frames: FrameMeasurement[] }> {
  const fitted = fittedSize('cover', { width: s.field.width, height: s.field.height }, s.out);
  const k = fitted.width / s.field.width;
  const ideal = idealMaps(s.motion, s.frames, fitted, s.out);
  const frames: FrameMeasurement[] = [];
  const n = await readLumaFrames(s.ffmpeg, args, s.workDir, s.out, (i, luma) => {
    const guess = ideal[Math.min(i, ideal.length - 1)]!;
    frames.push(measureFrame(luma, s.out, s.field, k, guess));
  });
  if (n !== s.frames) throw new Error(`rendered ${n} frames, expected ${s.frames}`);
  const refined = removeDotOffsets(frames);
  return { report: motionReport(refined, ideal, s.out), frames: refined };
}

export function formatReport(r: MotionReport): string {
  return (
    `jitter rms ${r.jitterRms.toFixed(4)} max ${r.jitterMax.toFixed(4)} (frame ${r.jitterMaxFrame}) px/frame^2, ` +
    `accel max ${r.accelMax.toFixed(3)} (ideal ${r.idealAccelMax.toFixed(3)}), ` +
    `${r.monotonic ? 'monotonic' : `${r.reversals} reversals (worst ${r.worstReversalPx.toFixed(3)} px)`}, ` +
    `offset <= ${r.maxOffsetPx.toFixed(2)} px, fit residual ${r.fitResidualPx.toFixed(3)} px, >= ${r.minDots} dots`
  );
}

function fitLine(s: number[], u: number[]): AxisMap {
  const n = s.length;
  let ms = 0;
  let mu = 0;
  for (let i = 0; i < n; i++) {
    ms += s[i]!;
    mu += u[i]!;
  }
  ms /= n;
  mu /= n;
  let sss = 0;
  let ssu = 0;
  for (let i = 0; i < n; i++) {
    sss += (s[i]! - ms) ** 2;
    ssu += (s[i]! - ms) * (u[i]! - mu);
  }
  const z = ssu / sss;
  return { z, t: mu - z * ms };
}

function modeOf(luma: Uint8Array): number {
  const hist = new Uint32Array(256);
  for (let i = 0; i < luma.length; i += 7) hist[luma[i]!]!++;
  let best = 0;
  for (let v = 1; v < 256; v++) if (hist[v]! > hist[best]!) best = v;
  return best;
}

function rms(v: number[]): number {
  return v.length ? Math.sqrt(v.reduce((s, x) => s + x * x, 0) / v.length) : 0;
}

function frac(v: number): number {
  return v - Math.floor(v);
}
