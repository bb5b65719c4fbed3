import { z } from '@hono/zod-openapi';

/**
 * The timeline: the central data type. The planner produces it, engines consume it,
 * the job record shows it. Times are integer milliseconds on the output timeline.
 *
 * Timeline maths: clip i+1 starts `transition.durationMs` before clip i ends, so the
 * two overlap for exactly the transition. With every clip `secondsPerImage + its
 * outgoing transition` long, each photo holds the screen for `secondsPerImage` and
 * the total is `images x secondsPerImage`.
 */

export const ASPECTS = ['16:9', '9:16', '1:1', '4:5'] as const;
export type Aspect = (typeof ASPECTS)[number];
/** `2160p` (4K UHD) is opt-in only (never a default) and rendered by the `local` engine only. */
export const RESOLUTIONS = ['720p', '1080p', '2160p'] as const;
export type Resolution = (typeof RESOLUTIONS)[number];
export const FPS_VALUES = [24, 25, 30, 60] as const;
export type Fps = (typeof FPS_VALUES)[number];
export const FITS = ['cover', 'contain', 'blur'] as const;
export type Fit = (typeof FITS)[number];

/** Transition names: `cut` plus ffmpeg xfade's names that read well on product photos. */
export const TRANSITIONS = [
  'cut', 'fade', 'fadeblack', 'fadewhite', 'dissolve',
  'wipeleft', 'wiperight', 'wipeup', 'wipedown',
  'slideleft', 'slideright', 'slideup', 'slidedown',
  'smoothleft', 'smoothright', 'circleopen', 'circleclose', 'radial', 'zoomin', 'pixelize',
] as const;
export type TransitionType = (typeof TRANSITIONS)[number];

export const PlanOutputSchema = z.object({
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  fps: z.number().int().positive(),
  aspect: z.enum(ASPECTS),
}).openapi('PlanOutput');

/** A point of view on the (fitted) photo: zoom >= 1 and the view's centre in 0..1 photo coordinates. */
export const ViewSchema = z.object({
  zoom: z.number().min(1).max(4),
  x: z.number().min(0).max(1),
  y: z.number().min(0).max(1),
}).openapi('View');
export type View = z.infer<typeof ViewSchema>;

export const MotionSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('none') }),
  z.object({
    type: z.literal('kenburns'),
    from: ViewSchema,
    to: ViewSchema,
    easing: z.enum(['linear', 'easeInOut']),
  }),
]).openapi('Motion');
export type Motion = z.infer<typeof MotionSchema>;

export const TransitionSchema = z.object({
  type: z.enum(TRANSITIONS),
  durationMs: z.number().int().min(0),
}).openapi('Transition');
export type Transition = z.infer<typeof TransitionSchema>;

export const ClipImageSchema = z.object({
  index: z.number().int().min(0).openapi({ description: 'Position of the photo in the request\'s `images`.' }),
  source: z.string().openapi({ description: 'The URL or upload id the photo came from.' }),
  width: z.number().int().positive().nullable().openapi({ description: 'Pixel width after EXIF orientation; null until the photo is fetched.' }),
  height: z.number().int().positive().nullable(),
}).openapi('ClipImage');

export const ClipSchema = z.object({
  image: ClipImageSchema,
  startMs: z.number().int().min(0),
  durationMs: z.number().int().positive(),
  fit: z.enum(FITS),
  motion: MotionSchema,
  transition: TransitionSchema.openapi({ description: 'The transition from this clip into the next; the last clip has a `cut` of 0 ms.' }),
  card: z.boolean().optional().openapi({
    description: 'An end card: the photo only as a blurred, dimmed backdrop (no photo on top) for the call to action shown over it.',
  }),
  background: z.string().regex(/^#[0-9a-f]{6}$/i).optional().openapi({
    description: 'Colour around a `contain`-fitted photo for this clip, instead of the plan\'s `background`: a product photo on a plain light backdrop is shown whole on that colour.',
  }),
}).openapi('Clip');
export type Clip = z.infer<typeof ClipSchema>;

export const OverlaySchema = z.object({
  type: z.enum(['title', 'caption', 'cta']),
  text: z.string().min(1).max(200),
  startMs: z.number().int().min(0),
  durationMs: z.number().int().positive(),
}).openapi('Overlay');
export type Overlay = z.infer<typeof OverlaySchema>;

/**
 * The music of the video. With the request's `music`, `source` names the file and every
 * setting is the one the engine applies: explicit `music` fields win over the prompt's words
 * ("quiet music", "fade out over 3 s"), which win over the defaults. Without `music` there is
 * nothing to play: the object (volume, fades only) just records what the prompt asked, and
 * the MP4 has no audio track. Older records have the three original fields only.
 */
export const AudioSchema = z.object({
  source: z.string().optional().openapi({ description: 'The music\'s URL or `upload:<id>`; absent when the request has no `music` (then nothing plays).' }),
  volume: z.number().min(0).max(2).openapi({ description: 'Gain after loudness normalisation, 0..2 (a prompt\'s "35%" is 0.35; 1 plays at `loudnessLufs`).' }),
  fadeInMs: z.number().int().min(0),
  fadeOutMs: z.number().int().min(0),
  loudnessLufs: z.number().min(-30).max(-5).optional().openapi({ description: 'Integrated loudness target (EBU R128) at volume 1; present with `source`.' }),
}).openapi('Audio');
export type Audio = z.infer<typeof AudioSchema>;

export const PlanSchema = z.object({
  output: PlanOutputSchema,
  durationMs: z.number().int().positive(),
  clips: z.array(ClipSchema).min(1),
  overlays: z.array(OverlaySchema),
  background: z.string().regex(/^#[0-9a-f]{6}$/i).openapi({ description: 'Fill colour behind `contain`-fitted photos and transparent areas.' }),
  notes: z.array(z.string()).openapi({ description: 'How the prompt and options were understood.' }),
  audio: AudioSchema.optional().openapi({ description: 'The music that will play (with `source`), or, without the request\'s `music`, the volume and fades the instruction asked for (recorded only: the video has no audio track).' }),
}).openapi('Plan');
export type Plan = z.infer<typeof PlanSchema>;

/** Frame sizes: the short side is the resolution's number, the long side follows the aspect (4:5 is short x 5/4). */
export const OUTPUT_SIZES: Record<Resolution, Record<Aspect, { width: number; height: number }>> = {
  '2160p': { '16:9': { width: 3840, height: 2160 }, '9:16': { width: 2160, height: 3840 }, '1:1': { width: 2160, height: 2160 }, '4:5': { width: 2160, height: 2700 } },
  '1080p': { '16:9': { width: 1920, height: 1080 }, '9:16': { width: 1080, height: 1920 }, '1:1': { width: 1080, height: 1080 }, '4:5': { width: 1080, height: 1350 } },
  '720p': { '16:9': { width: 1280, height: 720 }, '9:16': { width: 720, height: 1280 }, '1:1': { width: 720, height: 720 }, '4:5': { width: 720, height: 900 } },
};
