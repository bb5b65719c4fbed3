import type { Plan } from '../../../core/plan.js';
import { motionGraph, type StillPlan } from './motion.js';
import { frameTimeline, type FrameTimeline } from './timeline.js';
import { x264Params } from './x264-settings.js';

export type { FrameTimeline };

/**
 * Plan -> ffmpeg filter graph (pure; unit-tested). ffmpeg runs with cwd = workDir and
 * reads every prepared file through a `movie` source, so
 * - file names need no escaping (they are ours: c000.y4m, o0.png),
 * - each still is read once, when the graph first needs it, and repeated in memory by
 *   `loop` (an `-loop 1 -i` input would read the file again for every frame), and
 * - a clip's decoder does nothing until the xfade/concat chain reaches it.
 *
 * Per clip: movie (the still, already BT.709 limited-range yuv420p: y4m.ts) ->
 * loop to the clip's frame count -> timestamps on the 1/fps grid (`fps` also stamps the
 * link's frame rate, which xfade checks). Ken Burns clips first put a resampled copy of the
 * still beside it and then loop and move each plane separately, merged back to yuv420p
 * (motion.ts: motionGraph). Fades are blended (blendedFades: split, trim, blend); other
 * transitions chain clips with xfade (offset = the next clip's start relative to the chain's
 * start); one `concat` joins the pieces this makes, cuts included. Overlays are composited last.
 *
 * Long plans are split into segments (planSegments), one graph and one ffmpeg run each,
 * joined by stream copy: ffmpeg keeps every clip's chain alive until its graph ends.
 *
 * No audio: the graph makes the picture only; music is mixed in afterwards (audio.ts).
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

/** The segment that holds output frame `frame` (clamped to the video), and the frame's index in it. */
export function segmentOf(segments: Segment[], frame: number): { index: number; offset: number } {
  const last = segments.length - 1;
  const f = Math.max(0, Math.min(frame, segments[last]!.endFrame - 1));
  const index = segments.findIndex((s) => f < s.endFrame);
  return { index, offset: f - segments[index]!.startFrame };
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

  const blended = blendedFades(tl);
  const last = parts.length - 1;
  const xfadeAfter = (k: number) => k < last && tl.clips[parts[k]!.i]!.xfade !== null && !blended[parts[k]!.i];
  // Frames each chain makes beyond its part (see XFADE_PAD): into an xfade, and the last part
  // when it comes out of one (the encoder stops at the segment's frame count).
  const pad = (k: number) => (xfadeAfter(k) || (k === last && k > 0 && xfadeAfter(k - 1)) ? XFADE_PAD : 0);
  parts.forEach((p, k) => {
    const c = clips[p.i]!;
    const frames = p.frames + pad(k);
    const motion = motionGraph(c.still, out, { from: p.from, frames, fps, id: `k${p.i}` });
    // The still is already BT.709 limited-range yuv420p at its planned size (y4m.ts).
    const decode = [`movie=${c.file}`, 'format=yuv420p'];
    const timing = [`loop=loop=${frames - 1}:size=1:start=0`, `settb=1/${fps}`, 'setpts=N', `fps=${fps}`];
    if (!motion) {
      lines.push(`${[...decode, ...timing, 'setsar=1'].join(',')}[c${p.i}]`);
      return;
    }
    // Ken Burns: each plane loops and moves on its own (motion.ts); one line per clip all the same.
    lines.push(
      [
        `${[...decode, motion.prepare].join(',')}`,
        ...motion.planes.map((pl) => `[${pl.input}]${[...timing, pl.filters].join(',')}[${pl.output}]`),
        `${motion.merge},setsar=1[c${p.i}]`,
      ].join(';'),
    );
  });

  // Join the clips: fades are blended (see blendedFades), other transitions chained with
  // xfade, and the pieces this makes (xfade groups, blended fades; cuts split them too)
  // joined by one concat.
  // Frames of part k blended with the next part (its tail) and with the previous one (its head).
  const fadeOut = (k: number) => (k < last && blended[parts[k]!.i] ? tl.clips[parts[k]!.i]!.xfade!.frames : 0);
  const fadeIn = (k: number) => (k > 0 ? fadeOut(k - 1) : 0);
  const pieces: string[] = [];
  let acc: string | null = null;
  let groupStart = 0;
  parts.forEach((p, k) => {
    const fin = fadeIn(k);
    const fout = fadeOut(k);
    const mainFrames = p.frames - fin - fout;
    // What this part shows alone or in an xfade: the whole chain, or its split-off middle.
    const main = !(fin || fout) ? `c${p.i}` : mainFrames > 0 ? `c${p.i}m` : null;
    if (fin || fout) {
      // split + trim: each part's frames go to one output, the others drop them unbuffered
      // (concat consumes the pieces in timeline order). Every piece starts at pts 0.
      const outs: string[] = [];
      if (fin) outs.push(`trim=end_frame=${fin},setpts=PTS-STARTPTS[c${p.i}h]`);
      if (main) outs.push(`trim=start_frame=${fin}:end_frame=${fin + mainFrames + pad(k)},setpts=PTS-STARTPTS[${main}]`);
      if (fout) outs.push(`trim=start_frame=${p.frames - fout},setpts=PTS-STARTPTS,${fadeCommands(p.i + 1, fout, fps)}[c${p.i}t]`);
      lines.push(`[c${p.i}]split=${outs.length}${outs.map((_, n) => `[c${p.i}s${n}]`).join('')}`);
      outs.forEach((o, n) => lines.push(`[c${p.i}s${n}]${o}`));
    }
    if (fin) {
      const prev = parts[k - 1]!.i;
      lines.push(`[c${prev}t][c${p.i}h]blend@f${p.i}=all_mode=normal:all_opacity=${fadeOpacity(0, fin)}[f${p.i}]`);
      pieces.push(`f${p.i}`);
    }
    if (main) {
      const xf = k > 0 ? tl.clips[parts[k - 1]!.i]!.xfade : null;
      if (acc !== null && xf) {
        const label = `x${p.i}`;
        lines.push(`[${acc}][${main}]xfade=transition=${xf.type}:duration=${seconds(xf.frames, fps)}:offset=${seconds(p.at - groupStart, fps)}[${label}]`);
        acc = label;
      } else {
        acc = main;
        groupStart = p.at + fin;
      }
    }
    // The group ends unless an xfade follows.
    if (acc !== null && !xfadeAfter(k)) {
      pieces.push(acc);
      acc = null;
    }
  });
  let video = pieces[0]!;
  if (pieces.length > 1) {
    video = 'cat';
    // concat places each piece after the previous one by its timestamps, guessing a piece's
    // length from its frame count (a one-frame piece would get none): the frames are
    // consecutive, so they are simply renumbered.
    lines.push(`${pieces.map((r) => `[${r}]`).join('')}concat=n=${pieces.length}:v=1:a=0,settb=1/${fps},setpts=N[${video}]`);
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
      // Once, before the loop: to the video's BT.709 limited range (overlay would otherwise
      // convert RGB with its BT.601 default, shifting colours such as emoji's).
      'scale=out_color_matrix=bt709:out_range=tv',
      'format=yuva420p',
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

/**
 * Extra frames at the end of a clip's chain that goes into an xfade. ffmpeg 5.1's xfade keeps
 * blending while the first input's frame is at most `duration` past the offset (one frame
 * more than the transition: pure second input), and ends the transition early if it finds the
 * first input's end queued before the second input's frame; which of the two comes first
 * depends on scheduling, and when it is the end, it drops a frame or stamps the next one a
 * frame late. With the first input 3 frames longer than the transition, the transition is
 * over (xfade drops the rest of the first input) before its end can be seen.
 */
export const XFADE_PAD = 3;

/** Transitions drawn by blendedFades instead of xfade. */
const BLENDED = new Set<string>(['fade']);

/**
 * Per clip: whether its fade into the next one is drawn with `blend` rather than `xfade`.
 * Why: ffmpeg 5.1's xfade computes `fade` per pixel in floats (~16 ms CPU per 1080p frame,
 * measured), while blend's normal mode is SIMD (~4 ms), given a new opacity per frame by
 * sendcmd; and its weights are ours, symmetric: no frame of the transition shows either
 * photo alone (xfade's first fade frame is all of the first photo). The two sides are split
 * off their clips with trim, so every clip needs a frame of its own between a blended
 * fade in and out; where it has none, the fade stays an xfade.
 */
export function blendedFades(tl: FrameTimeline): boolean[] {
  const blend = tl.clips.map((c) => c.xfade !== null && BLENDED.has(c.xfade.type));
  tl.clips.forEach((c, i) => {
    if (i > 0 && blend[i - 1] && tl.clips[i - 1]!.xfade!.frames >= c.frames) blend[i - 1] = false;
    const fin = i > 0 && blend[i - 1] ? tl.clips[i - 1]!.xfade!.frames : 0;
    if (blend[i] && fin + c.xfade!.frames >= c.frames) blend[i] = false;
  });
  return blend;
}

/** Weight of the outgoing photo in frame j of an F-frame fade: (F - j) / (F + 1), from just under 1 to just over 0. */
export function fadeOpacity(j: number, frames: number): string {
  return ((frames - j) / (frames + 1)).toFixed(6);
}

/** sendcmd for the fade into clip `next`: frame j's opacity, sent half a frame before it (the tail starts at pts 0). */
function fadeCommands(next: number, frames: number, fps: number): string {
  const cmds: string[] = [];
  for (let j = 1; j < frames; j++) cmds.push(`${((j - 0.5) / fps).toFixed(6)} blend@f${next} all_opacity ${fadeOpacity(j, frames)}`);
  return cmds.length ? `sendcmd=c='${cmds.join(';')}'` : 'null';
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
  /** Frames (of this run's output) that start a new shot: hard cuts, made keyframes (see cutFrames). */
  keyFrames?: number[];
  /** x264 options after the preset (x264Params); default: the preset's tuning. */
  x264Tuning?: string;
}

/**
 * The frames of a segment's output that follow a hard cut (relative to the segment's start).
 * The encoder gets no scene-cut detection (buildFfmpegArgs), since the plan says where the
 * cuts are: these become keyframes, so a cut never lands in a B-frame.
 */
export function cutFrames(tl: FrameTimeline, seg: Segment): number[] {
  const cuts: number[] = [];
  tl.clips.forEach((c, i) => {
    if (i > 0 && tl.clips[i - 1]!.xfade === null && c.startFrame > seg.startFrame && c.startFrame < seg.endFrame) cuts.push(c.startFrame - seg.startFrame);
  });
  return cuts;
}

/** The ffmpeg command line (without the binary) for one render. */
export function buildFfmpegArgs(o: EncodeOptions): string[] {
  return [
    '-nostdin', '-hide_banner', '-loglevel', 'error', '-nostats',
    '-progress', 'pipe:1',
    // One filter thread: x264 keeps both cores busy anyway, and each extra thread's malloc arena
    // and slice buffers stayed allocated (W1, 2 cores: ffmpeg peak 419 -> 405 MB, CPU 38.7 ->
    // 38.1 s, wall the same or shorter).
    '-filter_complex_threads', '1',
    '-filter_complex_script', o.scriptPath,
    '-map', '[vout]',
    '-c:v', 'libx264', '-preset', o.preset, '-crf', String(o.crf),
    '-profile:v', 'high', '-x264-params', x264Params(o.preset, o.x264Tuning), '-pix_fmt', 'yuv420p',
    // Half a frame early: the first frame at or after each time is made a keyframe.
    ...(o.keyFrames?.length ? ['-force_key_frames', o.keyFrames.map((n) => ((n - 0.5) / o.fps).toFixed(6)).join(',')] : []),
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
