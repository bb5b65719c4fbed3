import type { Aspect, Fit, Fps, Resolution, TransitionType } from '../../core/plan.js';

/**
 * Rule-based reading of the plain-language instruction. Deterministic and offline:
 * each rule recognises a phrase and sets one setting; a later phrase overrides an
 * earlier one (the last thing a user said wins), and explicit `options` override both
 * (applied by the planner). Every match leaves a note so users see how they were read.
 */

export interface PromptSettings {
  aspect?: Aspect;
  resolution?: Resolution;
  fps?: Fps;
  secondsPerImage?: number;
  totalSeconds?: number;
  transition?: TransitionType;
  transitionSeconds?: number;
  motion?: 'kenburns' | 'none';
  fit?: Fit;
  title?: string;
}

export interface PromptReading {
  settings: PromptSettings;
  notes: string[];
}

interface Rule {
  pattern: RegExp;
  apply(m: RegExpExecArray, s: PromptSettings): string;
}

const NUMBER_WORDS: Record<string, number> = {
  one: 1, two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8, nine: 9, ten: 10,
  fifteen: 15, twenty: 20, thirty: 30, forty: 40, 'forty-five': 45, fifty: 50, sixty: 60, ninety: 90,
};
const num = (s: string) => NUMBER_WORDS[s.toLowerCase()] ?? Number(s);
const NUM = String.raw`(\d+(?:\.\d+)?|${Object.keys(NUMBER_WORDS).join('|')})`;

const RULES: Rule[] = [
  { pattern: /\b(vertical|portrait|tiktok|reels?|shorts|stories|9\s*[:x/]\s*16)\b|竖屏|竖版/gi, apply: (m, s) => ((s.aspect = '9:16'), `"${m[0]}" -> 9:16 vertical`) },
  { pattern: /\b(square|instagram post|1\s*[:x/]\s*1)\b|方形/gi, apply: (m, s) => ((s.aspect = '1:1'), `"${m[0]}" -> 1:1 square`) },
  { pattern: /\b(4\s*[:x/]\s*5)\b/gi, apply: (m, s) => ((s.aspect = '4:5'), `"${m[0]}" -> 4:5`) },
  { pattern: /\b(landscape|widescreen|youtube|horizontal|16\s*[:x/]\s*9)\b|横屏|横版/gi, apply: (m, s) => ((s.aspect = '16:9'), `"${m[0]}" -> 16:9 landscape`) },
  { pattern: /\b(720p|hd ready)\b/gi, apply: (m, s) => ((s.resolution = '720p'), `"${m[0]}" -> 1280x720 class output`) },
  { pattern: /\b(1080p|full\s*hd|fhd)\b|高清/gi, apply: (m, s) => ((s.resolution = '1080p'), `"${m[0]}" -> 1080p`) },
  { pattern: /\b(24|25|30|60)\s*fps\b/gi, apply: (m, s) => ((s.fps = Number(m[1]) as Fps), `"${m[0]}" -> ${m[1]} fps`) },
  {
    pattern: new RegExp(String.raw`\b${NUM}\s*(?:s|sec|secs|seconds?)\s*(?:per|each|a|for each)\s*(?:photo|image|picture|pic|slide)s?\b`, 'gi'),
    apply: (m, s) => ((s.secondsPerImage = num(m[1]!)), (s.totalSeconds = undefined), `"${m[0]}" -> ${num(m[1]!)} s per photo`),
  },
  {
    pattern: new RegExp(String.raw`\b${NUM}[\s-]*(?:s|sec|second)s?[\s-]*(?:long\s+)?(?:video|clip|reel|film)\b`, 'gi'),
    apply: (m, s) => ((s.totalSeconds = num(m[1]!)), (s.secondsPerImage = undefined), `"${m[0]}" -> ${num(m[1]!)} s in total`),
  },
  { pattern: /\bhalf a minute\b|半分钟/gi, apply: (m, s) => ((s.totalSeconds = 30), (s.secondsPerImage = undefined), `"${m[0]}" -> 30 s in total`) },
  { pattern: /\b(smooth|crossfades?|cross-fades?|dissolves?)\b|平滑|淡入淡出/gi, apply: (m, s) => ((s.transition = 'fade'), `"${m[0]}" -> crossfade transitions`) },
  { pattern: /\b(hard cuts?|snappy|no transitions?|jump cuts?)\b/gi, apply: (m, s) => ((s.transition = 'cut'), `"${m[0]}" -> hard cuts`) },
  { pattern: /\b(static|no zoom|no motion|no movement)\b/gi, apply: (m, s) => ((s.motion = 'none'), `"${m[0]}" -> no camera motion`) },
  { pattern: /\b(ken burns|zoom|pan)\b/gi, apply: (m, s) => ((s.motion = 'kenburns'), `"${m[0]}" -> Ken Burns motion`) },
  { pattern: /\b(slow|calm|relaxed)\b/gi, apply: (m, s) => ((s.secondsPerImage = 4), (s.totalSeconds = undefined), `"${m[0]}" -> 4 s per photo`) },
  { pattern: /\b(fast|energetic|quick|punchy)\b/gi, apply: (m, s) => ((s.secondsPerImage = 2), (s.totalSeconds = undefined), `"${m[0]}" -> 2 s per photo`) },
  { pattern: /\b(letterbox|fit|show the whole|contain)\b/gi, apply: (m, s) => ((s.fit = 'contain'), `"${m[0]}" -> whole photo on a plain background`) },
  { pattern: /\b(crop|fill the frame|full bleed)\b/gi, apply: (m, s) => ((s.fit = 'cover'), `"${m[0]}" -> photos fill the frame (cropped)`) },
  { pattern: /\bblur(?:red)? background\b/gi, apply: (m, s) => ((s.fit = 'blur'), `"${m[0]}" -> whole photo over a blurred fill`) },
];

/** Quoted text after "title", or the first quoted phrase: 'Summer Sale', "Summer Sale", “Summer Sale”, 「Summer Sale」. */
const QUOTED = /(?:^|[\s:：,(（])(?:"([^"\n]{1,120})"|“([^”\n]{1,120})”|「([^」\n]{1,120})」|'([^'\n]{1,120})')/g;

export function understandPrompt(prompt: string): PromptReading {
  // Control characters never reach the planner's output (they could end up in overlays).
  const text = prompt.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, ' ');
  const hits: { at: number; rule: Rule; m: RegExpExecArray }[] = [];
  for (const rule of RULES) {
    rule.pattern.lastIndex = 0;
    for (let m = rule.pattern.exec(text); m; m = rule.pattern.exec(text)) hits.push({ at: m.index, rule, m });
  }
  // Earlier first; at one position the longer phrase first, and a phrase inside one
  // already taken ("zoom" inside "no zoom") is not read again.
  hits.sort((a, b) => a.at - b.at || b.m[0].length - a.m[0].length);
  const settings: PromptSettings = {};
  const notes: string[] = [];
  let takenUntil = -1;
  for (const h of hits) {
    const end = h.at + h.m[0].length;
    if (end <= takenUntil) continue;
    takenUntil = Math.max(takenUntil, end);
    notes.push(h.rule.apply(h.m, settings));
  }

  if (/\btitle\b|标题/i.test(text)) {
    QUOTED.lastIndex = 0;
    const q = QUOTED.exec(text);
    const title = q && (q[1] ?? q[2] ?? q[3] ?? q[4])?.trim();
    if (title) {
      settings.title = title;
      notes.push(`title "${title}"`);
    }
  }
  return { settings, notes };
}
