/**
 * The ffmpeg command lines of the render bench (bench/render.ts) other than our engine's:
 * the hand-written baseline (and its optional 2x-upscale variant), the encode floor, and the
 * reference render + SSIM pass. All follow the geometry of workloads.ts.
 */
import path from 'node:path';
import { DEFAULT_X264_CRF } from '../../src/config.js';
import { x264Params } from '../../src/pipeline/engines/local/x264-settings.js';
import { type ClipGeometry, type Workload, geometry, totalFrames, windowAt } from './workloads.js';

export const PRESET = 'veryfast';
/** The hand-written command's CRF (the issue's); ours and the floor use the engine's default. */
export const CRF = 20;
export const OURS_CRF = DEFAULT_X264_CRF;

/**
 * Encoder settings: the hand-written command's (libx264 veryfast CRF 20, High, BT.709 tags, as
 * the issue gives it) or, with `ours`, our engine's defaults (x264-settings.ts, as
 * buildFfmpegArgs passes them: no scene-cut detection, since our plan knows its cuts; the fast
 * presets' lighter motion search; CRF 20.5), which the encode floor uses.
 */
export function x264Args(threads: number | null, ours = false): string[] {
  return [
    '-c:v', 'libx264', '-preset', PRESET, '-crf', String(ours ? OURS_CRF : CRF),
    '-profile:v', 'high', '-x264-params', ours ? x264Params(PRESET) : '8x8dct=1', '-pix_fmt', 'yuv420p',
    '-color_primaries', 'bt709', '-color_trc', 'bt709', '-colorspace', 'bt709', '-color_range', 'tv',
    ...(threads ? ['-threads', String(threads)] : []),
    '-an', '-movflags', '+faststart',
  ];
}

const num = (v: number) => Number(v.toFixed(9)).toString();
const secs = (frames: number, fps: number) => (frames / fps).toFixed(6);

/** ffmpeg expression of the clip's eased progress (smoothstep of t = frame / (frames - 1)); `n` is the 0-based frame number. */
function easeExpr(g: ClipGeometry, n: string): string {
  const t = `(${n})/${Math.max(1, g.frames - 1)}`;
  return `(${t})*(${t})*(3-2*${t})`;
}

/** The plan's zoom, interpolated geometrically (motion.ts: interpolateView). */
function zoomExpr(g: ClipGeometry, e: string): string {
  if (g.from.zoom === g.to.zoom) return num(g.from.zoom);
  return `${num(g.from.zoom)}*pow(${num(g.to.zoom / g.from.zoom)},${e})`;
}

function lerpExpr(a: number, b: number, e: string): string {
  return a === b ? num(a) : `(${num(a)}+${num(b - a)}*${e})`;
}

function xfadeChain(w: Workload, geo: ClipGeometry[], label: (i: number) => string, out: string): string[] {
  const lines: string[] = [];
  let acc = label(0);
  for (let i = 1; i < geo.length; i++) {
    const prev = geo[i - 1]!;
    const next = i === geo.length - 1 ? out : `x${i}`;
    lines.push(`[${acc}][${label(i)}]xfade=transition=fade:duration=${secs(prev.xfadeFrames, w.fps)}:offset=${secs(geo[i]!.startFrame, w.fps)}[${next}]`);
    acc = next;
  }
  if (geo.length === 1) lines.push(`[${acc}]null[${out}]`);
  return lines;
}

/**
 * The hand-written baseline: one ffmpeg command the way a user writes Ken Burns + crossfades.
 * Each photo is one `-i` input (a single decoded frame), scaled to cover the frame and cut to
 * it (`scale=W:H:force_original_aspect_ratio=increase,crop=W:H`; the colour conversion to
 * BT.709 limited range happens here, once per photo), then `zoompan` makes the clip's frames
 * from it (d = the clip's frame count) with the plan's zoom/pan path and smoothstep easing
 * written in zoompan's expression language over `on`, then an `xfade` chain, libx264
 * veryfast CRF 20, +faststart.
 *
 * `upscale`: the former baseline, optional (`--with-upscale`): every photo a `-loop 1` input
 * (decoded again for every frame), scaled to cover 2x the frame (to soften zoompan's
 * whole-pixel steps), zoompan one output frame per input frame. Same path, easing and crossfades.
 */
export function baselineArgs(w: Workload, files: string[], out: string, upscale = false): string[] {
  const { width: W, height: H } = w.out;
  const k = upscale ? 2 : 1;
  const geo = geometry(w);
  const args = ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y'];
  files.forEach((f, i) => {
    if (upscale) args.push('-loop', '1', '-framerate', String(w.fps), '-t', ((geo[i]!.frames - 0.5) / w.fps).toFixed(6));
    args.push('-i', f);
  });
  const lines: string[] = [];
  geo.forEach((g, i) => {
    const e = easeExpr(g, 'on');
    const u = lerpExpr(g.from.u, g.to.u, e);
    const v = lerpExpr(g.from.v, g.to.v, e);
    lines.push(
      `[${i}:v]scale=${k * W}:${k * H}:force_original_aspect_ratio=increase:out_color_matrix=bt709:out_range=tv,crop=${k * W}:${k * H},` +
        `zoompan=z='${zoomExpr(g, e)}':x='${u}*iw-iw/zoom/2':y='${v}*ih-ih/zoom/2':d=${upscale ? 1 : g.frames}:s=${W}x${H}:fps=${w.fps},setsar=1,format=yuv420p[v${i}]`,
    );
  });
  lines.push(...xfadeChain(w, geo, (i) => `v${i}`, 'out'));
  args.push('-filter_complex', lines.join(';'), '-map', '[out]', '-frames:v', String(totalFrames(w)), '-r', String(w.fps), ...x264Args(null), out);
  return args;
}

/** Encode floor: libx264 on raw yuv420p frames of the output size, our engine's settings. */
export function floorEncodeArgs(w: Workload, raw: string, out: string, threads: number): string[] {
  return [
    '-nostdin', '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-s', `${w.out.width}x${w.out.height}`, '-r', String(w.fps), '-i', raw,
    ...x264Args(threads, true), out,
  ];
}

/** Decode frames [from, from + count) of an MP4 to a raw yuv420p file. */
export function decodeRawArgs(w: Workload, mp4: string, from: number, count: number, raw: string): string[] {
  return [
    '-nostdin', '-hide_banner', '-loglevel', 'error', '-y',
    ...(from > 0 ? ['-ss', (from / w.fps).toFixed(6)] : []), '-i', mp4,
    '-frames:v', String(count), '-f', 'rawvideo', '-pix_fmt', 'yuv420p', raw,
  ];
}

/**
 * The reference render, as filter-graph lines ending in [label]: an independent, sub-pixel
 * renderer of the same edit. Per clip: `movie` decodes the photo once; swscale (lanczos)
 * scales the WHOLE photo to the fitted size times a density (the clip's deepest zoom times
 * `ss`), so photo edges map exactly to fitted-photo edges; an integer crop keeps the part the
 * motion needs; then ffmpeg's `perspective` filter (bicubic, 1/256 px positions, expressions
 * evaluated per frame) maps every output pixel centre to its exact source position:
 * source = density * (window.x + (j + 0.5) * window.w / W) - 0.5, with the window from the same
 * zoom/pan/smoothstep formulas as the plan. With ss > 1 it renders at ss x the output size
 * and lanczos-scales down. Crossfades: each clip overlaid at its start frame with an alpha
 * ramp k / D (the weights of xfade's `fade`), by timestamp.
 */
export function referenceGraph(w: Workload, files: string[], ss: number, label: string): string[] {
  const { width: W, height: H } = w.out;
  const Wo = ss * W;
  const Ho = ss * H;
  const geo = geometry(w);
  const lines: string[] = [];
  geo.forEach((g, i) => {
    const zmax = Math.max(g.from.zoom, g.to.zoom);
    const even = (v: number) => 2 * Math.round(v / 2);
    const Sw = even(g.fitted.width * ss * zmax);
    const Sh = even(g.fitted.height * ss * zmax);
    const Dx = Sw / g.fitted.width;
    const Dy = Sh / g.fitted.height;
    // Bounding box of all windows in still px, with room for the bicubic kernel.
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (let n = 0; n < g.frames; n++) {
      const r = windowAt(g, w.out, n);
      x0 = Math.min(x0, r.x * Dx);
      y0 = Math.min(y0, r.y * Dy);
      x1 = Math.max(x1, (r.x + r.w) * Dx);
      y1 = Math.max(y1, (r.y + r.h) * Dy);
    }
    const cx = Math.max(0, 2 * Math.floor((x0 - 4) / 2));
    const cy = Math.max(0, 2 * Math.floor((y0 - 4) / 2));
    let cw = Math.min(Sw - cx, 2 * Math.ceil((x1 + 4 - cx) / 2));
    let ch = Math.min(Sh - cy, 2 * Math.ceil((y1 + 4 - cy) / 2));
    // perspective's output is its input's size; the frame is its top-left Wo x Ho.
    cw = Math.max(cw, Wo);
    ch = Math.max(ch, Ho);
    if (cx + cw > Sw || cy + ch > Sh) throw new Error(`${w.id}: reference clip ${i}: still too small for the frame`);
    const e = easeExpr(g, 'on-1'); // perspective's `on` counts from 1
    const z = zoomExpr(g, e);
    const u = lerpExpr(g.from.u, g.to.u, e);
    const v = lerpExpr(g.from.v, g.to.v, e);
    // Window (fitted units): x = cropX + u*W - W/(2z), width W/z.
    const ax = `(${num(g.cropX)}+${u}*${W}-${W / 2}/(${z}))`;
    const ay = `(${num(g.cropY)}+${v}*${H}-${H / 2}/(${z}))`;
    const X0 = `(${num(Dx)}*(${ax}+${num(0.5 * W / Wo)}/(${z}))-${num(0.5 + cx)})`;
    const Y0 = `(${num(Dy)}*(${ay}+${num(0.5 * H / Ho)}/(${z}))-${num(0.5 + cy)})`;
    const X1 = `(${X0}+${num((cw * Dx * W) / Wo)}/(${z}))`;
    const Y1 = `(${Y0}+${num((ch * Dy * H) / Ho)}/(${z}))`;
    const persp = `perspective=x0='${X0}':y0='${Y0}':x1='${X1}':y1='${Y0}':x2='${X0}':y2='${Y1}':x3='${X1}':y3='${Y1}':interpolation=cubic:sense=source:eval=frame`;
    lines.push(
      [
        `movie=${path.basename(files[i]!)}`,
        `scale=w=${Sw}:h=${Sh}:flags=lanczos+accurate_rnd+full_chroma_int:out_color_matrix=bt709:out_range=tv`,
        'format=yuv420p',
        `crop=${cw}:${ch}:${cx}:${cy}`,
        `loop=loop=${g.frames - 1}:size=1:start=0`,
        `settb=1/${w.fps}`,
        'setpts=N',
        `fps=${w.fps}`,
        `trim=end_frame=${g.frames}`,
        persp,
        `crop=${Wo}:${Ho}:0:0`,
        ...(ss > 1 ? [`scale=${W}:${H}:flags=lanczos+accurate_rnd`] : []),
        'setsar=1',
        // The crossfade in: alpha k / D on the transition's frame k (xfade's fade weights).
        ...(i > 0 ? ['format=yuva420p', `fade=t=in:st=0:d=${secs(geo[i - 1]!.xfadeFrames, w.fps)}:alpha=1`] : ['format=yuv420p']),
        `setpts=PTS+${g.startFrame}`,
      ].join(',') + `[r${i}]`,
    );
  });
  // Crossfades by timestamp: each clip overlaid, fading in, on the previous ones (over a
  // black base as long as the video). Not xfade: in ffmpeg 5.1 xfade sometimes repeats or
  // skips a frame where a transition ends (scheduling-dependent), see README.
  lines.push(`color=c=black:s=${W}x${H}:r=${w.fps}:d=${secs(totalFrames(w), w.fps)},format=yuv420p,settb=1/${w.fps},setpts=N,setsar=1[b0]`);
  geo.forEach((_, i) => {
    lines.push(`[b${i}][r${i}]overlay=eof_action=pass:format=yuv420:shortest=0[${i === geo.length - 1 ? 'rx' : `b${i + 1}`}]`);
  });
  lines.push(`[rx]trim=end_frame=${totalFrames(w)},format=yuv420p[${label}]`);
  return lines;
}

/**
 * The reference render to a file: the graph of referenceGraph, cut to the workload's frame
 * count, encoded near-losslessly (x264 CRF 6; SSIM of such an encode against its source is
 * > 0.99). Run with cwd = the photo cache (movie sources use bare file names).
 */
export function referenceArgs(w: Workload, scriptPath: string, out: string, threads: number): string[] {
  return [
    '-nostdin', '-hide_banner', '-loglevel', 'error', '-y',
    '-filter_complex_script', scriptPath, '-map', '[ref]', '-frames:v', String(totalFrames(w)), '-r', String(w.fps),
    '-c:v', 'libx264', '-preset', PRESET, '-crf', String(REFERENCE_CRF), '-pix_fmt', 'yuv420p', '-threads', String(threads), '-an', out,
  ];
}
export const REFERENCE_CRF = 6;

/**
 * SSIM of every contender against the reference file (`ssim`, per-frame stats files), plus
 * raw yuv420p dumps for the framing check: the contenders' frames `checkFrames`, and the
 * reference's frames `refFrames`. Inputs: contenders, then the reference (last).
 */
export function ssimPassArgs(w: Workload, contenders: string[], reference: string, statsFiles: string[], frameFiles: string[], checkFrames: number[], refFrames: number[]): string[] {
  const K = contenders.length;
  const select = (frames: number[]) => `select='${frames.map((f) => `eq(n\\,${f})`).join('+')}'`;
  const lines: string[] = [];
  const pts = `settb=1/${w.fps},setpts=N,format=yuv420p`;
  lines.push(`[${K}:v]${pts},split=${K + 1}${Array.from({ length: K }, (_, k) => `[ra${k}]`).join('')}[rsel]`);
  lines.push(`[rsel]${select(refFrames)}[sel${K}]`);
  contenders.forEach((_, k) => {
    lines.push(`[${k}:v]${pts},split=2[m${k}][q${k}]`);
    lines.push(`[m${k}][ra${k}]ssim=stats_file=${statsFiles[k]}[s${k}]`);
    lines.push(`[q${k}]${select(checkFrames)}[sel${k}]`);
  });
  const args = ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y'];
  for (const c of [...contenders, reference]) args.push('-i', c);
  args.push('-filter_complex', lines.join(';'));
  contenders.forEach((_, k) => args.push('-map', `[s${k}]`, '-f', 'null', '-'));
  for (let k = 0; k <= K; k++) args.push('-map', `[sel${k}]`, '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'yuv420p', frameFiles[k]!);
  return args;
}

export interface SsimStats {
  /** Mean over frames of ssim's `All` (what ssim prints at the end). */
  all: number;
  y: number;
  minAll: number;
  minFrame: number;
  frames: number;
}

/** Parse an ssim stats file ("n:1 Y:0.9 U:0.9 V:0.9 All:0.9 (10.0)" per frame). */
export function parseSsimStats(text: string): SsimStats {
  let sum = 0, sumY = 0, frames = 0, minAll = Infinity, minFrame = -1;
  for (const line of text.split('\n')) {
    const m = /n:(\d+) Y:([\d.]+) .*All:([\d.]+)/.exec(line);
    if (!m) continue;
    const all = Number(m[3]);
    sum += all;
    sumY += Number(m[2]);
    frames++;
    if (all < minAll) {
      minAll = all;
      minFrame = Number(m[1]) - 1;
    }
  }
  return { all: sum / frames, y: sumY / frames, minAll, minFrame, frames };
}
