import { MUSIC_DEFAULTS, musicSource, type JobOptions, type MusicInput } from '../../core/job.js';
import { OUTPUT_SIZES, type Clip, type Fit, type Motion, type Plan, type TransitionType, type View } from '../../core/plan.js';
import { RANDOM_TRANSITIONS, randomTransitions, requestSeed, seededRandom, shuffle } from './random.js';
import { PACE_TIMING, type MotionKind, type PromptSettings, type TransitionChoice } from './settings.js';
import { cleanOverlayText } from './text.js';
import { understandPrompt, type Lang, type Note, type Phrase, type PromptReading } from './understand-prompt.js';
import { FIT_LABEL, MOTION_LABEL, MUSIC_WITHOUT_SOURCE, TRANSITION_LABEL, type Group } from './vocabulary.js';

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
  /** Pans need room to move: 15% zoom, the centre travelling 12% of the photo. */
  panZoom: 1.15,
  panTravel: 0.12,
  background: '#000000',
  titleSeconds: 3,
  ctaSeconds: 3,
} as const;

/** Photos whose aspect ratio is within this factor of the output's are cropped to fill; others get the blurred fill. */
const COVER_ASPECT_TOLERANCE = 1.06;
const MIN_SECONDS_PER_IMAGE = 0.5;
const MAX_SECONDS_PER_IMAGE = 30;

export interface PlanImage {
  source: string;
  /** Oriented size; absent until the photo has been fetched. */
  width?: number;
  height?: number;
  /** The photo's plain light backdrop (#rrggbb, see intake/plain-backdrop.ts), when it has one. */
  backdrop?: string;
}

export interface PlanInput {
  images: PlanImage[];
  prompt?: string;
  options?: JobOptions;
  /** The request's music; its explicit settings win over the prompt's. */
  music?: MusicInput;
}

export function planJob(input: PlanInput): Plan {
  return planFromReading(input, understandPrompt(input.prompt ?? ''));
}

/**
 * The deterministic half of planning: a reading of the prompt (from the rules, or settings
 * from a language model) + images + options -> the plan. `preface` notes go first.
 */
export function planFromReading(input: PlanInput, reading: PromptReading, preface: Note[] = []): Plan {
  const opts = input.options ?? {};
  const s: PromptSettings = reading.settings;
  const lang = reading.lang;
  const say = (n: Note) => n[lang];
  const notes: string[] = preface.map(say);

  // With music in the request, "add some music" is answered: say so instead of "the video is silent".
  const phrases = input.music
    ? reading.phrases.map((p) => (p.meaning.en === MUSIC_WITHOUT_SOURCE.en ? { ...p, meaning: { en: 'music requested: the request\'s "music" plays', zh: '需要音乐：使用请求中的 music' } } : p))
    : reading.phrases;
  notes.push(...phraseNotes(phrases, opts, lang));
  notes.push(...reading.remarks.map(say));
  const fromOptions = (name: string, value: unknown) =>
    notes.push(lang === 'zh' ? `请求参数 options.${name} = ${JSON.stringify(value)}` : `options.${name} = ${JSON.stringify(value)}`);
  const warnings: Note[] = [];

  const aspect = opts.aspect ?? s.aspect ?? DEFAULTS.aspect;
  const resolution = opts.resolution ?? s.resolution ?? DEFAULTS.resolution;
  const fps = opts.fps ?? s.fps ?? DEFAULTS.fps;
  if (opts.aspect) fromOptions('aspect', opts.aspect);
  if (opts.resolution) fromOptions('resolution', opts.resolution);
  if (opts.fps) fromOptions('fps', opts.fps);
  const { width, height } = OUTPUT_SIZES[resolution][aspect];

  const n = input.images.length;
  const pace = s.pace ? PACE_TIMING[s.pace] : undefined;
  let secondsPerImage: number = DEFAULTS.secondsPerImage;
  if (opts.secondsPerImage !== undefined) {
    secondsPerImage = opts.secondsPerImage;
    fromOptions('secondsPerImage', opts.secondsPerImage);
  } else if (s.secondsPerImage !== undefined) {
    secondsPerImage = s.secondsPerImage;
  } else if (s.totalSeconds !== undefined) {
    secondsPerImage = s.totalSeconds / n;
  } else if (pace) {
    secondsPerImage = pace.secondsPerImage;
  }
  const asked = secondsPerImage;
  secondsPerImage = clamp(secondsPerImage, MIN_SECONDS_PER_IMAGE, MAX_SECONDS_PER_IMAGE);
  if (!Number.isFinite(asked) || Math.abs(asked - secondsPerImage) > 1e-9) {
    const a = round2(asked);
    warnings.push({
      en: `${a} s per photo is out of range; using ${secondsPerImage} s (${MIN_SECONDS_PER_IMAGE} to ${MAX_SECONDS_PER_IMAGE} s per photo)`,
      zh: `每张照片 ${a} 秒超出范围，改为 ${secondsPerImage} 秒（每张 ${MIN_SECONDS_PER_IMAGE} 到 ${MAX_SECONDS_PER_IMAGE} 秒）`,
    });
  }

  let transition: TransitionChoice = DEFAULTS.transition;
  const optType = opts.transition?.type;
  if (optType) {
    transition = optType === 'crossfade' ? 'fade' : optType === 'none' ? 'cut' : optType === 'mixed' ? 'random' : optType;
    fromOptions('transition.type', optType);
  } else if (s.transition) transition = s.transition;
  let transitionSeconds: number = opts.transition?.duration ?? s.transitionSeconds ?? pace?.transitionSeconds ?? DEFAULTS.transitionSeconds;
  if (opts.transition?.duration !== undefined) fromOptions('transition.duration', opts.transition.duration);
  // A transition longer than half a photo's time would hide the photo; cap it there.
  const maxTransition = secondsPerImage / 2;
  if (transition !== 'cut' && transitionSeconds > maxTransition) {
    warnings.push({
      en: `transition shortened to ${maxTransition.toFixed(2)} s (at most half of each photo's ${secondsPerImage} s)`,
      zh: `转场缩短为 ${maxTransition.toFixed(2)} 秒（不超过每张照片 ${secondsPerImage} 秒的一半）`,
    });
    transitionSeconds = maxTransition;
  }
  if (transition === 'cut') transitionSeconds = 0;
  if (transitionSeconds === 0) transition = 'cut';

  const motionKind: MotionKind = opts.motion ?? s.motion ?? DEFAULTS.motion;
  if (opts.motion) fromOptions('motion', opts.motion);
  const fitChoice: Fit | 'auto' = opts.fit ?? s.fit ?? 'auto';
  if (opts.fit) fromOptions('fit', opts.fit);

  const holdMs = Math.round(secondsPerImage * 1000);
  const transitionMs = Math.round(transitionSeconds * 1000);
  const outputAspect = width / height;
  // Random choices come from options.seed, else from the request itself: the same request always plans the same video.
  const seed = opts.seed ?? requestSeed(input.images.map((img) => img.source), input.prompt);
  const shuffled = (s.order ?? 'keep') === 'shuffle';
  const order = orderOf(input.images, s.order ?? 'keep', opts.seed);
  const picks: TransitionType[] = transition === 'random' ? randomTransitions(n - 1, seed) : [];
  if (opts.seed !== undefined) {
    const unused = transition !== 'random' && !shuffled;
    notes.push(
      lang === 'zh'
        ? `请求参数 options.seed = ${opts.seed}${unused ? '（未使用：没有随机转场或随机顺序）' : ''}`
        : `options.seed = ${opts.seed}${unused ? ' (unused: no random transitions or shuffled order)' : ''}`,
    );
  }
  let unknownSizes = 0;
  let onBackdrop = 0;

  const clips: Clip[] = order.map((index, i) => {
    const img = input.images[index]!;
    const last = i === n - 1;
    const known = img.width !== undefined && img.height !== undefined;
    if (!known) unknownSizes++;
    let fit: Fit;
    let background: string | undefined;
    if (fitChoice !== 'auto') fit = fitChoice;
    else if (!known) fit = 'blur';
    else {
      const ratio = img.width! / img.height! / outputAspect;
      fit = ratio <= COVER_ASPECT_TOLERANCE && ratio >= 1 / COVER_ASPECT_TOLERANCE ? 'cover' : 'blur';
      // A packshot on a plain backdrop: whole, on its own backdrop colour (no crop, no blur).
      if (fit === 'blur' && img.backdrop) {
        fit = 'contain';
        background = img.backdrop;
        onBackdrop++;
      }
    }
    const type: TransitionType = transition === 'random' ? picks[i] ?? 'fade' : transition;
    return {
      image: { index, source: img.source, width: img.width ?? null, height: img.height ?? null },
      startMs: i * holdMs,
      durationMs: holdMs + (last ? 0 : transitionMs),
      fit,
      motion: motionFor(i, motionKind),
      transition: last ? { type: 'cut', durationMs: 0 } : { type, durationMs: transitionMs },
      ...(background ? { background } : {}),
    };
  });
  const photosMs = n * holdMs;
  // An end card: one more clip after the last photo, the photo blurred and dimmed behind the
  // call to action, faded into like the photos (or cut when they cut).
  const ctaText = s.cta === undefined ? '' : cleanOverlayText(s.cta).text;
  const wantsCard = opts.endCard ?? s.endCard ?? false;
  let card: { startMs: number; durationMs: number } | null = null;
  if (wantsCard && !ctaText) {
    warnings.push({ en: 'end card left out: it shows the call to action, and none was given (e.g. end card "Shop now")', zh: '未加片尾卡：片尾卡显示行动号召文字，但没有提供（例如 片尾卡“立即购买”）' });
  } else if (wantsCard) {
    const last = clips[n - 1]!;
    const cardMs = Math.max(1000, Math.round((s.ctaSeconds ?? DEFAULTS.ctaSeconds) * 1000));
    clips[n - 1] = { ...last, durationMs: holdMs + transitionMs, transition: transitionMs > 0 ? { type: 'fade', durationMs: transitionMs } : { type: 'cut', durationMs: 0 } };
    clips.push({ image: last.image, startMs: photosMs, durationMs: cardMs, fit: 'blur', motion: { type: 'none' }, transition: { type: 'cut', durationMs: 0 }, card: true });
    card = { startMs: photosMs, durationMs: cardMs };
    notes.push(say({ en: `end card: "${ctaText}" for ${cardMs / 1000} s after the last photo`, zh: `片尾卡：“${ctaText}”，在最后一张照片之后显示 ${cardMs / 1000} 秒` }));
  }
  const durationMs = photosMs + (card?.durationMs ?? 0);

  const overlays = overlaysFor(s, clips, holdMs, photosMs, card, warnings);
  const audio = audioFor(s, durationMs, input.music);

  const spi = round2(secondsPerImage);
  const total = durationMs / 1000;
  const transitionNote: Note =
    transition === 'cut'
      ? { en: 'hard cuts between photos', zh: '照片之间硬切' }
      : transition === 'random'
        ? randomNote(picks, seed, opts.seed !== undefined, transitionMs)
        : { en: `${transition} transitions of ${transitionMs / 1000} s`, zh: `${TRANSITION_LABEL[transition][1]}，每次 ${transitionMs / 1000} 秒` };
  notes.push(
    lang === 'zh'
      ? `${n} 张照片 × ${spi} 秒 = ${total} 秒，${width}x${height}，${fps} fps（${aspect}）`
      : `${n} photo${n === 1 ? '' : 's'} x ${spi} s = ${total} s at ${width}x${height} ${fps} fps (${aspect})`,
    say(transitionNote),
    say({ en: MOTION_LABEL[motionKind][0], zh: MOTION_LABEL[motionKind][1] }),
  );
  if (fitChoice === 'auto') {
    notes.push(
      say(
        unknownSizes > 0
          ? { en: 'fit: photos whose shape matches the frame fill it, others sit over a blurred fill (decided once photos are fetched)', zh: '适配：形状与画面一致的照片铺满，其余照片叠在模糊背景上（照片下载后决定）' }
          : { en: 'fit: photos whose shape matches the frame fill it, others sit over a blurred fill', zh: '适配：形状与画面一致的照片铺满，其余照片叠在模糊背景上' },
      ),
    );
    if (onBackdrop > 0) {
      notes.push(say({
        en: `fit: ${onBackdrop} photo${onBackdrop === 1 ? '' : 's'} on a plain light backdrop shown whole on that colour (nothing cropped)`,
        zh: `适配：${onBackdrop} 张纯浅色背景的照片完整显示在同色背景上（不裁切）`,
      }));
    }
  } else if (!opts.fit && s.fit === undefined) {
    notes.push(say({ en: `fit: ${FIT_LABEL[fitChoice][0]}`, zh: `适配：${FIT_LABEL[fitChoice][1]}` }));
  }
  if (audio?.source !== undefined) {
    const fromPrompt = s.audio?.off ? say({ en: ' ("no music" in the prompt ignored: the request gives music)', zh: '（提示中的"不要音乐"已忽略：请求提供了音乐）' }) : '';
    notes.push(
      say({
        en: `music: volume ${Math.round(audio.volume * 100)}%, fade in ${audio.fadeInMs / 1000} s, fade out ${audio.fadeOutMs / 1000} s, loudness ${audio.loudnessLufs} LUFS, looped or trimmed to ${durationMs / 1000} s`,
        zh: `音乐：音量 ${Math.round(audio.volume * 100)}%，淡入 ${audio.fadeInMs / 1000} 秒，淡出 ${audio.fadeOutMs / 1000} 秒，响度 ${audio.loudnessLufs} LUFS，循环或截取为 ${durationMs / 1000} 秒`,
      }) + fromPrompt,
    );
  } else if (audio) {
    notes.push(
      say({
        en: `music: volume ${Math.round(audio.volume * 100)}%, fade in ${audio.fadeInMs / 1000} s, fade out ${audio.fadeOutMs / 1000} s (recorded only: no music source in the request's "music", the video is silent)`,
        zh: `音乐：音量 ${Math.round(audio.volume * 100)}%，淡入 ${audio.fadeInMs / 1000} 秒，淡出 ${audio.fadeOutMs / 1000} 秒（仅记录：请求中没有音乐来源 music，视频无声）`,
      }),
    );
  }
  notes.push(...warnings.map(say));

  const plan: Plan = {
    output: { width, height, fps, aspect },
    durationMs,
    clips,
    overlays,
    background: s.background ?? DEFAULTS.background,
    notes,
  };
  if (audio) plan.audio = audio;
  return plan;
}

/** What `random` transitions picked (the first round: each transition at most once) and from which seed. */
function randomNote(picks: TransitionType[], seed: number, fromOptions: boolean, transitionMs: number): Note {
  const shown = picks.slice(0, RANDOM_TRANSITIONS.length);
  const more = picks.length > shown.length;
  const list = shown.length ? `: ${shown.join(', ')}${more ? ', ...' : ''}` : '';
  const listZh = shown.length ? `：${shown.join('、')}${more ? '……' : ''}` : '';
  const why = fromOptions
    ? { en: 'options.seed', zh: '来自 options.seed' }
    : { en: 'from the photos and prompt; set options.seed to keep these picks when they change', zh: '由照片和提示词生成；照片或提示词改变时如需保持这些转场，请设置 options.seed' };
  return {
    en: `random transitions of ${transitionMs / 1000} s, no two in a row alike${list} (seed ${seed}, ${why.en})`,
    zh: `随机转场，每次 ${transitionMs / 1000} 秒，相邻不重复${listZh}（种子 ${seed}，${why.zh}）`,
  };
}

/* ---------- notes for recognised phrases ---------- */

/** Which option overrides a setting family, if the request sets it. */
function optionFor(g: Group, o: JobOptions): string | undefined {
  switch (g) {
    case 'aspect': return o.aspect ? 'aspect' : undefined;
    case 'resolution': return o.resolution ? 'resolution' : undefined;
    case 'fps': return o.fps ? 'fps' : undefined;
    case 'length': return o.secondsPerImage !== undefined ? 'secondsPerImage' : undefined;
    case 'pace': return o.secondsPerImage !== undefined && o.transition?.duration !== undefined ? 'secondsPerImage' : undefined;
    case 'transition': return o.transition?.type ? 'transition.type' : undefined;
    case 'transitionSeconds': return o.transition?.duration !== undefined ? 'transition.duration' : undefined;
    case 'motion': return o.motion ? 'motion' : undefined;
    case 'fit': return o.fit ? 'fit' : undefined;
    default: return undefined;
  }
}

const NON_CONFLICTING: Group[] = ['info', 'caption'];

/** Phrase notes beyond this many (a prompt repeating itself) are summarised. */
const MAX_PHRASE_NOTES = 40;

export function phraseNotes(phrases: Phrase[], opts: JobOptions, lang: Lang): string[] {
  const out: string[] = [];
  // The last phrase of each family decides it.
  const lastOf = new Map<Group, number>();
  phrases.forEach((p, i) => {
    if (!p.negated) for (const g of p.groups) lastOf.set(g, i);
  });
  phrases.forEach((p, i) => {
    const label = p.label[lang];
    if (p.negated) {
      out.push(lang === 'zh' ? `${label} 已忽略：前面有否定词` : `${label} ignored: negated`);
      return;
    }
    const groups = p.groups.filter((g) => !NON_CONFLICTING.includes(g));
    if (groups.length > 0) {
      let later: Phrase | undefined;
      let option: string | undefined;
      const overridden = groups.every((g) => {
        // The last later phrase setting this family decides it; saying the same thing again is no conflict.
        const k = lastOf.get(g);
        const l = k !== undefined && k > i ? phrases[k] : undefined;
        const differs = l !== undefined && l.values?.[g] !== p.values?.[g];
        if (differs) later ??= l;
        const o = optionFor(g, opts);
        if (o) option ??= o;
        return differs || o !== undefined;
      });
      if (overridden && later) {
        out.push(lang === 'zh' ? `${label} 已忽略：以后面的 ${later.label.zh} 为准` : `${label} ignored: ${later.label.en} later in the prompt wins`);
        return;
      }
      if (overridden && option) {
        out.push(lang === 'zh' ? `${label} 已忽略：以请求参数 options.${option} 为准` : `${label} ignored: options.${option} wins`);
        return;
      }
    }
    // Overlay phrases carry their whole note; others read `"phrase" -> meaning`.
    if (p.groups.includes('title') || p.groups.includes('caption') || p.groups.includes('cta')) {
      out.push(p.meaning[lang].startsWith(label) ? p.meaning[lang] : `${label} ${p.meaning[lang]}`);
    } else out.push(`${label} ${lang === 'zh' ? '→' : '->'} ${p.meaning[lang]}`);
  });
  return summarise(out, lang);
}

/** The same note repeated becomes one note with a count; past MAX_PHRASE_NOTES the rest is counted. */
function summarise(notes: string[], lang: Lang): string[] {
  const counts = new Map<string, number>();
  for (const n of notes) counts.set(n, (counts.get(n) ?? 0) + 1);
  const out = [...counts].map(([n, c]) => (c > 1 ? `${n} (${lang === 'zh' ? `${c} 次` : `x${c}`})` : n));
  if (out.length <= MAX_PHRASE_NOTES) return out;
  const more = out.length - MAX_PHRASE_NOTES;
  return [...out.slice(0, MAX_PHRASE_NOTES), lang === 'zh' ? `……另有 ${more} 条说明从略` : `... and ${more} more phrases`];
}

/* ---------- order, motion, overlays, audio ---------- */

function orderOf(images: PlanImage[], order: 'keep' | 'reverse' | 'shuffle', seed: number | undefined): number[] {
  const idx = images.map((_, i) => i);
  if (order === 'reverse') return idx.reverse();
  if (order === 'shuffle') {
    // With options.seed, from it; else seeded by the photos themselves: the same photos always shuffle the same way.
    if (seed !== undefined) return shuffle(idx, seededRandom(seed));
    let h = 0x811c9dc5;
    for (const img of images) for (let k = 0; k < img.source.length; k++) h = Math.imul(h ^ img.source.charCodeAt(k), 0x01000193);
    const rand = mulberry32(h >>> 0);
    for (let i = idx.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [idx[i], idx[j]] = [idx[j]!, idx[i]!];
    }
  }
  return idx;
}

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CENTRE: View = { zoom: 1, x: 0.5, y: 0.5 };

function motionFor(i: number, kind: MotionKind): Motion {
  if (kind === 'none') return { type: 'none' };
  const close: View = { zoom: DEFAULTS.kenBurnsZoom, x: 0.5, y: 0.5 };
  const km = (from: View, to: View): Motion => ({ type: 'kenburns', from, to, easing: 'easeInOut' });
  const z = DEFAULTS.panZoom;
  const d = DEFAULTS.panTravel / 2;
  switch (kind) {
    case 'zoomin': return km(CENTRE, close);
    case 'zoomout': return km(close, CENTRE);
    // "pan left": the view travels left across the photo.
    case 'panleft': return km({ zoom: z, x: 0.5 + d, y: 0.5 }, { zoom: z, x: 0.5 - d, y: 0.5 });
    case 'panright': return km({ zoom: z, x: 0.5 - d, y: 0.5 }, { zoom: z, x: 0.5 + d, y: 0.5 });
    case 'panup': return km({ zoom: z, x: 0.5, y: 0.5 + d }, { zoom: z, x: 0.5, y: 0.5 - d });
    case 'pandown': return km({ zoom: z, x: 0.5, y: 0.5 - d }, { zoom: z, x: 0.5, y: 0.5 + d });
    case 'pan': return motionFor(i, i % 2 === 0 ? 'panright' : 'panleft');
    default:
      // Ken Burns: alternate in and out so consecutive photos don't all drift the same way.
      return i % 2 === 0 ? km(CENTRE, close) : km(close, CENTRE);
  }
}

/** `durationMs`: the photos' part of the video; `card`: the end card after it, which the call to action fills. */
function overlaysFor(s: PromptSettings, clips: Clip[], holdMs: number, durationMs: number, card: { startMs: number; durationMs: number } | null, warnings: Note[]): Plan['overlays'] {
  const overlays: Plan['overlays'] = [];
  const text = (raw: string | undefined) => (raw === undefined ? '' : cleanOverlayText(raw).text);
  const span = (seconds: number | undefined, def: number) => Math.max(1, Math.min(Math.round((seconds ?? def) * 1000), durationMs));

  const title = text(s.title);
  if (title) overlays.push({ type: 'title', text: title, startMs: 0, durationMs: span(s.titleSeconds, DEFAULTS.titleSeconds) });

  const captions = (s.captions ?? []).map(text).filter(Boolean);
  if (captions.length === 1) {
    overlays.push({ type: 'caption', text: captions[0]!, startMs: 0, durationMs });
  } else if (captions.length > 1) {
    // Caption i belongs to photo i, wherever the order puts that photo.
    for (const clip of clips) {
      const text = clip.card ? undefined : captions[clip.image.index];
      if (text) overlays.push({ type: 'caption', text, startMs: clip.startMs, durationMs: holdMs });
    }
    overlays.sort((a, b) => a.startMs - b.startMs || (a.type === 'title' ? -1 : b.type === 'title' ? 1 : 0));
    const photos = clips.filter((c) => !c.card).length;
    if (captions.length > photos) {
      const extra = captions.length - photos;
      warnings.push({ en: `${extra} caption${extra === 1 ? '' : 's'} dropped: one caption per photo`, zh: `多出的 ${extra} 条字幕已舍弃：每张照片一条字幕` });
    }
  }

  const cta = text(s.cta);
  if (cta && card) {
    overlays.push({ type: 'cta', text: cta, startMs: card.startMs, durationMs: card.durationMs });
  } else if (cta) {
    const d = span(s.ctaSeconds, DEFAULTS.ctaSeconds);
    overlays.push({ type: 'cta', text: cta, startMs: durationMs - d, durationMs: d });
  }
  return overlays;
}

function audioFor(s: PromptSettings, durationMs: number, music: MusicInput | undefined): Plan['audio'] {
  const a = s.audio;
  if (music) {
    // Explicit request fields > the prompt's words (even "no music": the request is explicit) > defaults.
    const fades = fitFades(
      music.fadeInMs ?? a?.fadeInMs ?? MUSIC_DEFAULTS.fadeInMs,
      music.fadeOutMs ?? a?.fadeOutMs ?? MUSIC_DEFAULTS.fadeOutMs,
      durationMs,
    );
    return {
      source: musicSource(music),
      volume: clamp(music.volume ?? a?.volume ?? MUSIC_DEFAULTS.volume, 0, 2),
      ...fades,
      loudnessLufs: music.loudnessLufs ?? MUSIC_DEFAULTS.loudnessLufs,
    };
  }
  if (!a || a.off || (a.volume === undefined && a.fadeInMs === undefined && a.fadeOutMs === undefined)) return undefined;
  return { volume: clamp(a.volume ?? 1, 0, 1), ...fitFades(a.fadeInMs ?? 0, a.fadeOutMs ?? 0, durationMs) };
}

/** Fades that together would outlast the video are shortened in proportion. */
function fitFades(inMs: number, outMs: number, durationMs: number): { fadeInMs: number; fadeOutMs: number } {
  let fadeInMs = Math.round(Math.max(0, inMs));
  let fadeOutMs = Math.round(Math.max(0, outMs));
  if (fadeInMs + fadeOutMs > durationMs) {
    const k = durationMs / (fadeInMs + fadeOutMs);
    fadeInMs = Math.floor(fadeInMs * k);
    fadeOutMs = Math.floor(fadeOutMs * k);
  }
  return { fadeInMs, fadeOutMs };
}

function clamp(v: number, lo: number, hi: number): number {
  return Number.isFinite(v) ? Math.min(hi, Math.max(lo, v)) : lo;
}

const round2 = (v: number) => Math.round(v * 100) / 100;

/**
 * The planner port: the rule-based planner below is always there; the LLM planner
 * (llm-planner.ts) implements the same interface and falls back to it. Chosen in the entry point.
 */
export interface Planner {
  readonly name: string;
  plan(input: PlanInput, signal?: AbortSignal): Promise<Plan>;
}

export const rulesPlanner: Planner = {
  name: 'rules',
  plan: async (input) => planJob(input),
};
