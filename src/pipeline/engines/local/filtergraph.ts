import type { Plan } from '../../../core/plan.js';
import { motionGraph, type StillPlan } from './motion.js';
import { frameTimeline, type FrameTimeline } from './timeline.js';

export type { FrameTimeline };

/**
 * Plan -> ffmpeg filter graph (pure; unit-tested). ffmpeg runs with cwd = workDir and
 * reads every prepared file through a `movie` source, so
 * - file names need no escaping (they are ours: c000.jpg, o0.png),
 * - each still is decoded once, when the graph first needs it, and repeated in memory by
 *   `loop` (an `-loop 1 -i` input would decode the JPEG again for every frame), and
 * - a clip's decoder does nothing until the xfade/concat chain reaches it.
 *
 * Per clip: movie -> BT.709 limited-range yuv420p (once, on the single decoded frame) ->
 * loop to the clip's frame count -> timestamps on the 1/fps grid (`fps` also stamps the
 * link's frame rate, which xfade checks). Ken Burns clips first put a resampled copy of the
 * still beside it and then loop and move each plane separately, merged back to yuv420p
 * (motion.ts: motionGraph). Clips joined by transitions are chained
 * with xfade (offset = the next clip's start relative to the chain's start); cuts split the
 * timeline into runs that one `concat` joins. Overlays are composited last.
 *
 * Long plans are split into segments (planSegments), one graph and one ffmpeg run each,
 * joined by stream copy: ffmpeg keeps every clip's chain alive until its graph ends.
 *
 * No audio: music is a later issue, so the graph has no audio branch and the output no
 * audio track.
 */

export interface GraphClip {
  /** Prepared still, relative to workDir. */
  file: string;
  still: StillPlan;
}

export interface GraphOverlay {
  /** RGBA PNG, relative to workDir. */
  file: string;
  x: number;
  y: number;
  startMs: number;
  durationMs: number;
}

export interface FilterGraph {
  /** The -filter_complex_script text. */
  script: string;
  /** Label of the final video pad (without brackets). */
  output: string;
  /** Frames this graph produces (the segment's length). */
  frames: number;
}

/** A stretch of the output timeline, [startFrame, endFrame). */
export interface Segment {
  startFrame: number;
  endFrame: number;
}

const FADE_MS = 300;

/**
 * Split the timeline into segments of at most `maxClips` clips each, for separate ffmpeg runs
 * whose outputs are joined by stream copy. Why: ffmpeg keeps every clip's filter chain (and
 * its frame pools: ~65 MB per clip at 1080p) until the whole graph ends, so one graph for
 * 100 clips would need several GB. Segments only ever start where a clip is alone on screen
 * (right after its incoming transition), so no transition is split.
 */
export function planSegments(tl: FrameTimeline, maxClips: number): Segment[] {
  const n = tl.clips.length;
  const limit = Math.max(2, maxClips);
  // Clip c can open a segment at frame boundary[c] (its first frame without a transition).
  const boundary = (c: number): number | null => {
    const clip = tl.clips[c]!;
    const tin = c > 0 ? (tl.clips[c - 1]!.xfade?.frames ?? 0) : 0;
    const tout = clip.xfade?.frames ?? 0;
    const f = clip.startFrame + tin;
    return f < clip.startFrame + clip.frames - tout ? f : null;
  };
  const segments: Segment[] = [];
  let first = 0; // clip that opens the current segment
  let startFrame = 0;
  while (first < n) {
    let cut: number | null = null;
    for (let c = first + 1; c < n; c++) {
      const b = boundary(c);
      if (b === null) continue;
      // Clips in [first, c] (c only partly, when it fades in) must fit.
      const tin = tl.clips[c - 1]!.xfade ? 1 : 0;
      if (c - first + tin > limit && cut !== null) break;
      cut = c;
      if (c - first + tin >= limit) break;
    }
    if (cut === null || n - first <= limit) {
      segments.push({ startFrame, endFrame: tl.totalFrames });
      break;
    }
    const f = boundary(cut)!;
    segments.push({ startFrame, endFrame: f });
    startFrame = f;
    first = cut;
  }
  return segments;
}

/** One ffmpeg filter graph for a segment of the plan (default: all of it). */
export function buildFilterGraph(plan: Plan, clips: GraphClip[], overlays: GraphOverlay[] = [], segment?: Segment): FilterGraph {
  if (clips.length !== plan.clips.length) throw new Error('buildFilterGraph: one prepared still per clip');
  const tl = frameTimeline(plan);
  const { fps } = tl;
  const seg = segment ?? { startFrame: 0, endFrame: tl.totalFrames };
  const segFrames = seg.endFrame - seg.startFrame;
  const out = { width: plan.output.width, height: plan.output.height };
  const lines: string[] = [];

  // The clips this segment shows, each with the part of it that falls inside.
  const parts: { i: number; from: number; frames: number; at: number }[] = [];
  tl.clips.forEach((fc, i) => {
    const from = Math.max(0, seg.startFrame - fc.startFrame);
    const to = Math.min(fc.frames, seg.endFrame - fc.startFrame);
    if (to > from) parts.push({ i, from, frames: to - from, at: fc.startFrame + from - seg.startFrame });
  });

  for (const p of parts) {
    const c = clips[p.i]!;
    const motion = motionGraph(c.still, out, { from: p.from, frames: p.frames, fps, id: `k${p.i}` });
    const decode = [
      `movie=${c.file}:dec_threads=1`,
      // Once per clip, on the single decoded frame: JPEG's full-range BT.601 -> BT.709 limited
      // range (swscale's matrix conversion is slow; per frame it would cost 5x the motion).
      `scale=${motion ? '' : `w=${out.width}:h=${out.height}:`}out_color_matrix=bt709:out_range=tv:flags=bicubic`,
      'format=yuv420p',
    ];
    const timing = [`loop=loop=${p.frames - 1}:size=1:start=0`, `settb=1/${fps}`, 'setpts=N', `fps=${fps}`];
    if (!motion) {
      lines.push(`${[...decode, ...timing, 'format=yuv420p', 'setsar=1'].join(',')}[c${p.i}]`);
      continue;
    }
    // Ken Burns: each plane loops and moves on its own (motion.ts); one line per clip all the same.
    lines.push(
      [
        `${[...decode, motion.prepare].join(',')}`,
        ...motion.planes.map((pl) => `[${pl.input}]${[...timing, pl.filters].join(',')}[${pl.output}]`),
        `${motion.merge},setsar=1[c${p.i}]`,
      ].join(';'),
    );
  }

  // Chain xfades within runs; cuts start a new run.
  const runs: string[] = [];
  let acc = `c${parts[0]!.i}`;
  let runStart = parts[0]!.at;
  for (let k = 0; k < parts.length - 1; k++) {
    const p = parts[k]!;
    const next = parts[k + 1]!;
    const xf = tl.clips[p.i]!.xfade;
    if (xf) {
      const label = `x${next.i}`;
      const offset = seconds(next.at - runStart, fps);
      const duration = seconds(xf.frames, fps);
      lines.push(`[${acc}][c${next.i}]xfade=transition=${xf.type}:duration=${duration}:offset=${offset}[${label}]`);
      acc = label;
    } else {
      runs.push(acc);
      acc = `c${next.i}`;
      runStart = next.at;
    }
  }
  runs.push(acc);
  let video = runs[0]!;
  if (runs.length > 1) {
    video = 'cat';
    lines.push(`${runs.map((r) => `[${r}]`).join('')}concat=n=${runs.length}:v=1:a=0[${video}]`);
  }

  overlays.forEach((o, k) => {
    const start = Math.round((o.startMs * fps) / 1000);
    const end = Math.min(tl.totalFrames, Math.round(((o.startMs + o.durationMs) * fps) / 1000));
    // The part inside this segment, in segment frames.
    const s0 = Math.max(start, seg.startFrame) - seg.startFrame;
    const s1 = Math.min(end, seg.endFrame) - seg.startFrame;
    if (s1 <= s0) return;
    const fade = Math.min(FADE_MS / 1000, (end - start) / fps / 4);
    const fadeIn = (start - seg.startFrame) / fps; // may be negative: began in an earlier segment
    const fadeOut = (end - seg.startFrame) / fps - fade;
    const chain = [
      `movie=${o.file}`,
      'format=rgba',
      `loop=loop=${s1 - s0 - 1}:size=1:start=0`,
      `settb=1/${fps}`,
      `setpts=N+${s0}`,
    ];
    if (fade >= 1 / fps) {
      if (fadeIn + fade > s0 / fps) chain.push(`fade=t=in:st=${fadeIn.toFixed(6)}:d=${fade.toFixed(3)}:alpha=1`);
      if (fadeOut < s1 / fps) chain.push(`fade=t=out:st=${fadeOut.toFixed(6)}:d=${fade.toFixed(3)}:alpha=1`);
    }
    lines.push(`${chain.join(',')}[t${k}]`);
    const label = `o${k}`;
    lines.push(`[${video}][t${k}]overlay=x=${Math.round(o.x)}:y=${Math.round(o.y)}:eof_action=pass:format=yuv420[${label}]`);
    video = label;
  });

  lines.push(`[${video}]format=yuv420p[vout]`);
  return { script: lines.join(';\n') + '\n', output: 'vout', frames: segFrames };
}

export interface EncodeOptions {
  scriptPath: string;
  outPath: string;
  fps: number;
  totalFrames: number;
  preset: string;
  crf: number;
  threads: number;
  /** Move the index to the front (the final file; segments skip it). */
  faststart?: boolean;
}

/** The ffmpeg command line (without the binary) for one render. */
export function buildFfmpegArgs(o: EncodeOptions): string[] {
  return [
    '-nostdin', '-hide_banner', '-loglevel', 'error', '-nostats',
    '-progress', 'pipe:1',
    '-filter_complex_script', o.scriptPath,
    '-map', '[vout]',
    '-c:v', 'libx264', '-preset', o.preset, '-crf', String(o.crf),
    // 8x8dct keeps the stream High profile even with presets that turn it off (ultrafast).
    '-profile:v', 'high', '-x264-params', '8x8dct=1', '-pix_fmt', 'yuv420p',
    '-color_primaries', 'bt709', '-color_trc', 'bt709', '-colorspace', 'bt709', '-color_range', 'tv',
    '-r', String(o.fps), '-frames:v', String(o.totalFrames),
    '-threads', String(o.threads),
    '-an',
    ...(o.faststart === false ? [] : ['-movflags', '+faststart']),
    '-y', o.outPath,
  ];
}

function seconds(frames: number, fps: number): string {
  return (frames / fps).toFixed(6);
}
