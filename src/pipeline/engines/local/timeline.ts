import type { Plan, TransitionType } from '../../../core/plan.js';

/**
 * The plan's millisecond timeline on whole frames. Every time is rounded to the frame grid
 * once, on the global timeline, so clip lengths, overlaps and the total always add up:
 * a clip spans frames [start, start + frames), and with an xfade into the next clip the two
 * overlap by `transitionFrames`, i.e. the next clip starts at `start + frames - transitionFrames`.
 */
export interface FrameClip {
  startFrame: number;
  frames: number;
  /** Into the next clip; null for a cut (and for the last clip). */
  xfade: { type: Exclude<TransitionType, 'cut'>; frames: number } | null;
}

export interface FrameTimeline {
  fps: number;
  totalFrames: number;
  clips: FrameClip[];
}

export function msToFrame(ms: number, fps: number): number {
  return Math.round((ms * fps) / 1000);
}

/** Output frame count of a plan: round(durationMs * fps / 1000), at least one. */
export function totalFrames(plan: Plan): number {
  return Math.max(1, msToFrame(plan.durationMs, plan.output.fps));
}

export function frameTimeline(plan: Plan): FrameTimeline {
  const fps = plan.output.fps;
  const total = totalFrames(plan);
  const n = plan.clips.length;
  const starts = plan.clips.map((c) => msToFrame(c.startMs, fps));
  const clips: FrameClip[] = [];
  for (let i = 0; i < n; i++) {
    const clip = plan.clips[i]!;
    const start = i === 0 ? 0 : clips[i - 1]!.startFrame + clips[i - 1]!.frames - (clips[i - 1]!.xfade?.frames ?? 0);
    if (i === n - 1) {
      clips.push({ startFrame: start, frames: Math.max(1, total - start), xfade: null });
      break;
    }
    const end = msToFrame(clip.startMs + clip.durationMs, fps);
    // The next clip's start as planned, but never before this one's (degenerate plans).
    const nextStart = Math.max(start + 1, starts[i + 1]!);
    const overlap = end - nextStart;
    const t = clip.transition;
    if (t.type !== 'cut' && t.durationMs > 0 && overlap > 0) {
      // An xfade needs both sides at least as long as the overlap.
      const nextFrames = msToFrame(plan.clips[i + 1]!.startMs + plan.clips[i + 1]!.durationMs, fps) - starts[i + 1]!;
      const frames = Math.max(1, Math.min(overlap, nextFrames - 1));
      clips.push({ startFrame: start, frames: nextStart - start + frames, xfade: { type: t.type, frames } });
    } else {
      // A cut: this clip holds the screen until the next one starts (no gap, no overlap).
      clips.push({ startFrame: start, frames: nextStart - start, xfade: null });
    }
  }
  return { fps, totalFrames: total, clips };
}
