import type { JobOptions } from '../../core/job.js';
import { OUTPUT_SIZES, type Clip, type Fit, type Motion, type Plan, type TransitionType } from '../../core/plan.js';
import { understandPrompt } from './understand-prompt.js';

/**
 * prompt + images + options -> plan (the timeline). Pure and synchronous: the same
 * input always gives the same plan, so a redelivered job renders the same video.
 * Precedence: explicit `options` > the prompt (its later phrases over earlier ones) > defaults.
 */

export const DEFAULTS = {
  aspect: '16:9',
  resolution: '1080p',
  fps: 30,
  secondsPerImage: 3,
  transition: 'fade',
  transitionSeconds: 0.75,
  motion: 'kenburns',
  /** Gentle Ken Burns: 8% zoom over a clip. */
  kenBurnsZoom: 1.08,
  background: '#000000',
  titleSeconds: 3,
} as const;

/** Photos whose aspect ratio is within this factor of the output's are cropped to fill; others get the blurred fill. */
const COVER_ASPECT_TOLERANCE = 1.06;

export interface PlanImage {
  source: string;
  /** Oriented size; absent until the photo has been fetched. */
  width?: number;
  height?: number;
}

export interface PlanInput {
  images: PlanImage[];
  prompt?: string;
  options?: JobOptions;
}

export function planJob(input: PlanInput): Plan {
  const opts = input.options ?? {};
  const reading = understandPrompt(input.prompt ?? '');
  const p = reading.settings;
  const notes = [...reading.notes];
  const fromOptions = (name: string, value: unknown) => notes.push(`options.${name} = ${JSON.stringify(value)}`);

  const aspect = opts.aspect ?? p.aspect ?? DEFAULTS.aspect;
  const resolution = opts.resolution ?? p.resolution ?? DEFAULTS.resolution;
  const fps = opts.fps ?? p.fps ?? DEFAULTS.fps;
  if (opts.aspect) fromOptions('aspect', opts.aspect);
  if (opts.resolution) fromOptions('resolution', opts.resolution);
  if (opts.fps) fromOptions('fps', opts.fps);
  const { width, height } = OUTPUT_SIZES[resolution][aspect];

  const n = input.images.length;
  let secondsPerImage: number = DEFAULTS.secondsPerImage;
  if (opts.secondsPerImage !== undefined) {
    secondsPerImage = opts.secondsPerImage;
    fromOptions('secondsPerImage', opts.secondsPerImage);
  } else if (p.secondsPerImage !== undefined) {
    secondsPerImage = p.secondsPerImage;
  } else if (p.totalSeconds !== undefined) {
    secondsPerImage = p.totalSeconds / n;
  }
  secondsPerImage = clamp(secondsPerImage, 0.5, 30);

  let transition: TransitionType = DEFAULTS.transition;
  const optType = opts.transition?.type;
  if (optType) {
    transition = optType === 'crossfade' ? 'fade' : optType === 'none' ? 'cut' : optType;
    fromOptions('transition.type', optType);
  } else if (p.transition) transition = p.transition;
  let transitionSeconds: number = opts.transition?.duration ?? p.transitionSeconds ?? DEFAULTS.transitionSeconds;
  if (opts.transition?.duration !== undefined) fromOptions('transition.duration', opts.transition.duration);
  // A transition longer than half a photo's time would hide the photo; cap it there.
  const maxTransition = secondsPerImage / 2;
  if (transition !== 'cut' && transitionSeconds > maxTransition) {
    notes.push(`transition shortened to ${maxTransition.toFixed(2)} s (at most half of each photo's ${secondsPerImage} s)`);
    transitionSeconds = maxTransition;
  }
  if (transition === 'cut') transitionSeconds = 0;
  if (transitionSeconds === 0) transition = 'cut';

  const motionKind = opts.motion ?? p.motion ?? DEFAULTS.motion;
  if (opts.motion) fromOptions('motion', opts.motion);
  const fitChoice: Fit | 'auto' = opts.fit ?? p.fit ?? 'auto';
  if (opts.fit) fromOptions('fit', opts.fit);

  const holdMs = Math.round(secondsPerImage * 1000);
  const transitionMs = Math.round(transitionSeconds * 1000);
  const outputAspect = width / height;
  let unknownSizes = 0;

  const clips: Clip[] = input.images.map((img, i) => {
    const last = i === n - 1;
    const known = img.width !== undefined && img.height !== undefined;
    if (!known) unknownSizes++;
    let fit: Fit;
    if (fitChoice !== 'auto') fit = fitChoice;
    else if (!known) fit = 'blur';
    else {
      const ratio = img.width! / img.height! / outputAspect;
      fit = ratio <= COVER_ASPECT_TOLERANCE && ratio >= 1 / COVER_ASPECT_TOLERANCE ? 'cover' : 'blur';
    }
    return {
      image: { index: i, source: img.source, width: img.width ?? null, height: img.height ?? null },
      startMs: i * holdMs,
      durationMs: holdMs + (last ? 0 : transitionMs),
      fit,
      motion: motionFor(i, motionKind),
      transition: last ? { type: 'cut', durationMs: 0 } : { type: transition, durationMs: transitionMs },
    };
  });
  const durationMs = n * holdMs;

  const overlays: Plan['overlays'] = [];
  if (p.title) {
    overlays.push({ type: 'title', text: p.title, startMs: 0, durationMs: Math.min(DEFAULTS.titleSeconds * 1000, durationMs) });
  }

  notes.push(
    `${n} photo${n === 1 ? '' : 's'} x ${secondsPerImage} s = ${durationMs / 1000} s at ${width}x${height} ${fps} fps (${aspect})`,
    transition === 'cut' ? 'hard cuts between photos' : `${transition} transitions of ${transitionMs / 1000} s`,
    motionKind === 'none' ? 'no camera motion' : 'gentle Ken Burns motion, alternating zoom in and out',
  );
  if (fitChoice === 'auto') {
    notes.push(
      unknownSizes > 0
        ? 'fit: photos whose shape matches the frame fill it, others sit over a blurred fill (decided once photos are fetched)'
        : 'fit: photos whose shape matches the frame fill it, others sit over a blurred fill',
    );
  }

  return { output: { width, height, fps, aspect }, durationMs, clips, overlays, background: DEFAULTS.background, notes };
}

function motionFor(i: number, kind: 'kenburns' | 'none'): Motion {
  if (kind === 'none') return { type: 'none' };
  const wide = { zoom: 1, x: 0.5, y: 0.5 };
  const close = { zoom: DEFAULTS.kenBurnsZoom, x: 0.5, y: 0.5 };
  // Alternate in and out so consecutive photos don't all drift the same way.
  return i % 2 === 0
    ? { type: 'kenburns', from: wide, to: close, easing: 'easeInOut' }
    : { type: 'kenburns', from: close, to: wide, easing: 'easeInOut' };
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

/**
 * The planner port: the rule-based planner below is always there; an LLM planner (later)
 * implements the same interface and falls back to it. Chosen in the entry point.
 */
export interface Planner {
  readonly name: string;
  plan(input: PlanInput, signal?: AbortSignal): Promise<Plan>;
}

export const rulesPlanner: Planner = {
  name: 'rules',
  plan: async (input) => planJob(input),
};
