import { z } from 'zod';
import { ASPECTS, FITS, RESOLUTIONS, TRANSITIONS, type Aspect, type Fit, type Fps, type Resolution, type TransitionType } from '../../core/plan.js';

/**
 * What an instruction can ask for, before options and timeline maths are applied. Both
 * readers produce this: the rule-based reader (understand-prompt.ts) and the optional
 * language model (llm-planner.ts, validated by PromptSettingsSchema below). The planner
 * (planner.ts) turns it into the plan, so the timeline maths are the same either way.
 */

/** Camera motion: `kenburns` alternates zoom in and out; `pan` alternates right and left. */
export const MOTION_KINDS = ['kenburns', 'zoomin', 'zoomout', 'pan', 'panleft', 'panright', 'panup', 'pandown', 'none'] as const;
export type MotionKind = (typeof MOTION_KINDS)[number];
export const ORDERS = ['keep', 'reverse', 'shuffle'] as const;
export type Order = (typeof ORDERS)[number];
export const PACES = ['veryslow', 'slow', 'normal', 'fast', 'veryfast'] as const;
export type Pace = (typeof PACES)[number];
/**
 * `random`: a different transition between each pair of photos, picked from RANDOM_TRANSITIONS
 * by a seed (random.ts), so the same request always gets the same picks. (`mixed`, an earlier
 * name, is read as `random` wherever it is accepted.)
 */
export type TransitionChoice = TransitionType | 'random';

/** Seconds per photo and transition seconds each pace stands for (used when no length is given). */
export const PACE_TIMING: Record<Pace, { secondsPerImage: number; transitionSeconds: number }> = {
  veryslow: { secondsPerImage: 5, transitionSeconds: 1.2 },
  slow: { secondsPerImage: 4, transitionSeconds: 1 },
  normal: { secondsPerImage: 3, transitionSeconds: 0.75 },
  fast: { secondsPerImage: 2, transitionSeconds: 0.5 },
  veryfast: { secondsPerImage: 1.5, transitionSeconds: 0.4 },
};

export const MAX_OVERLAY_CHARS = 200;
export const MAX_CAPTIONS = 100;

export interface AudioSettings {
  /** 0..1 (a prompt's percent / 100). */
  volume?: number;
  fadeInMs?: number;
  fadeOutMs?: number;
  /** "no music", "mute": no audio settings at all. */
  off?: boolean;
}

export interface PromptSettings {
  aspect?: Aspect;
  resolution?: Resolution;
  fps?: Fps;
  secondsPerImage?: number;
  totalSeconds?: number;
  pace?: Pace;
  transition?: TransitionChoice;
  transitionSeconds?: number;
  motion?: MotionKind;
  fit?: Fit;
  /** #rrggbb behind `contain`-fitted photos. */
  background?: string;
  order?: Order;
  title?: string;
  titleSeconds?: number;
  /** One caption: over the whole video; several: one per photo, in order. */
  captions?: string[];
  cta?: string;
  ctaSeconds?: number;
  /** The call to action on its own card after the last photo ("end card"), not over it. */
  endCard?: boolean;
  audio?: AudioSettings;
}

const overlayText = z.string().min(1).max(MAX_OVERLAY_CHARS);

/** The settings a language model may return; anything else (or out of range) is refused. */
export const PromptSettingsSchema = z
  .object({
    aspect: z.enum(ASPECTS),
    resolution: z.enum(RESOLUTIONS),
    fps: z.union([z.literal(24), z.literal(25), z.literal(30), z.literal(60)]),
    secondsPerImage: z.number().min(0.5).max(30),
    totalSeconds: z.number().min(0.5).max(3600),
    pace: z.enum(PACES),
    transition: z.enum([...TRANSITIONS, 'random', 'mixed']).transform((t): TransitionChoice => (t === 'mixed' ? 'random' : t)),
    transitionSeconds: z.number().min(0).max(5),
    motion: z.enum(MOTION_KINDS),
    fit: z.enum(FITS),
    background: z.string().regex(/^#[0-9a-f]{6}$/i),
    order: z.enum(ORDERS),
    title: overlayText,
    titleSeconds: z.number().min(0.5).max(600),
    captions: z.array(overlayText).max(MAX_CAPTIONS),
    cta: overlayText,
    ctaSeconds: z.number().min(0.5).max(600),
    endCard: z.boolean(),
    audio: z
      .object({
        volume: z.number().min(0).max(1),
        fadeInMs: z.number().int().min(0).max(60_000),
        fadeOutMs: z.number().int().min(0).max(60_000),
        off: z.boolean(),
      })
      .partial()
      .strict(),
  })
  .partial()
  .strict();

/** Every key the settings can have, for prompts and documentation. */
export const SETTING_KEYS = Object.keys(PromptSettingsSchema.shape) as (keyof PromptSettings)[];

export type { Aspect, Fit, Fps, Resolution, TransitionType };
