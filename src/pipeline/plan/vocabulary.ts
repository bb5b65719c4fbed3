import { ASPECTS, OUTPUT_SIZES, type Aspect, type Fit, type Fps, type Resolution, type TransitionType } from '../../core/plan.js';
import { DUR, NUM, parseDuration, parseNumber } from './numbers.js';
import type { MotionKind, Order, Pace, PromptSettings, TransitionChoice } from './settings.js';

/**
 * The prompt vocabulary: each rule recognises a family of phrases (English and Chinese,
 * matched on lower-cased, whitespace-collapsed text with quotes masked) and sets one or
 * more settings. Rules are plain data, so adding a phrase is adding an alternative.
 *
 * Regex hygiene (prompts are untrusted): single optional spaces (` ?`) instead of `\s*`,
 * bounded repetition only, no nested quantifiers, so every pattern runs in linear time.
 */

/** A setting family: phrases that set the same family conflict (the later wins) and explicit options override them. */
export type Group =
  | 'aspect' | 'resolution' | 'fps' | 'length' | 'pace' | 'transition' | 'transitionSeconds' | 'motion' | 'fit'
  | 'background' | 'order' | 'volume' | 'fades' | 'title' | 'caption' | 'cta' | 'endCard' | 'info';

export interface Meaning {
  en: string;
  zh: string;
  /** Recognised but not applied (unsupported, not applicable). */
  ignored?: boolean;
}

export interface RuleContext {
  /** The prompt mentions music or audio somewhere (decides what a bare "fade out" means). */
  hasMusic: boolean;
  /** Overlay role of each quote marker character. */
  roleOf(marker: string): 'title' | 'caption' | 'cta' | undefined;
}

export interface Rule {
  groups: Group[];
  re: RegExp;
  apply(m: RegExpExecArray, s: PromptSettings, ctx: RuleContext): Meaning | null;
}

const rule = (groups: Group[], source: string, apply: Rule['apply']): Rule => ({ groups, re: new RegExp(source, 'g'), apply });
const meaning = (en: string, zh: string, ignored = false): Meaning => ({ en, zh, ...(ignored ? { ignored } : {}) });

/* ---------- labels ---------- */

export const ASPECT_LABEL: Record<Aspect, [string, string]> = {
  '16:9': ['16:9 landscape', '16:9 横屏'],
  '9:16': ['9:16 vertical', '9:16 竖屏'],
  '1:1': ['1:1 square', '1:1 方形'],
  '4:5': ['4:5 portrait', '4:5 竖版'],
};

export const TRANSITION_LABEL: Record<TransitionChoice, [string, string]> = {
  cut: ['hard cuts (no transitions)', '硬切（无转场）'],
  fade: ['crossfade transitions', '淡入淡出（交叉淡化）转场'],
  fadeblack: ['fade-through-black transitions', '黑场转场'],
  fadewhite: ['fade-through-white transitions', '白场（闪白）转场'],
  dissolve: ['dissolve transitions', '溶解转场'],
  wipeleft: ['wipe-left transitions', '向左擦除转场'],
  wiperight: ['wipe-right transitions', '向右擦除转场'],
  wipeup: ['wipe-up transitions', '向上擦除转场'],
  wipedown: ['wipe-down transitions', '向下擦除转场'],
  slideleft: ['slide-left transitions', '向左滑动转场'],
  slideright: ['slide-right transitions', '向右滑动转场'],
  slideup: ['slide-up transitions', '向上滑动转场'],
  slidedown: ['slide-down transitions', '向下滑动转场'],
  smoothleft: ['smooth-left transitions', '向左平滑推移转场'],
  smoothright: ['smooth-right transitions', '向右平滑推移转场'],
  circleopen: ['circle-open transitions', '圆形展开转场'],
  circleclose: ['circle-close transitions', '圆形收缩转场'],
  radial: ['radial wipe transitions', '径向擦除转场'],
  zoomin: ['zoom transitions', '缩放转场'],
  pixelize: ['pixelize transitions', '像素化转场'],
  random: ['random transitions (a different one each time)', '随机转场（每次不同）'],
};

export const MOTION_LABEL: Record<MotionKind, [string, string]> = {
  kenburns: ['gentle Ken Burns motion, alternating zoom in and out', '轻微的肯·伯恩斯效果，推近与拉远交替'],
  zoomin: ['slow zoom in on every photo', '每张照片缓慢推近'],
  zoomout: ['slow zoom out on every photo', '每张照片缓慢拉远'],
  pan: ['slow pans, alternating right and left', '缓慢平移，左右交替'],
  panleft: ['the camera pans left on every photo', '每张照片镜头向左平移'],
  panright: ['the camera pans right on every photo', '每张照片镜头向右平移'],
  panup: ['the camera pans up on every photo', '每张照片镜头向上平移'],
  pandown: ['the camera pans down on every photo', '每张照片镜头向下平移'],
  none: ['no camera motion', '无镜头运动（静止画面）'],
};

export const FIT_LABEL: Record<Fit, [string, string]> = {
  cover: ['photos fill the frame (cropped)', '照片铺满画面（会裁剪）'],
  contain: ['whole photo on a plain background', '完整显示照片，空白处纯色填充'],
  blur: ['whole photo over a blurred fill', '完整显示照片，背景模糊填充'],
};

const PACE_LABEL: Record<Pace, [string, string]> = {
  veryslow: ['a very slow pace', '很慢的节奏'],
  slow: ['a slower pace', '较慢的节奏'],
  normal: ['a normal pace', '正常节奏'],
  fast: ['a faster pace', '较快的节奏'],
  veryfast: ['a very fast pace', '很快的节奏'],
};

const fmtS = (v: number) => `${Math.round(v * 100) / 100}`;

/* ---------- setters ---------- */

const setAspect = (a: Aspect, extraEn = '', extraZh = ''): Rule['apply'] => (_m, s) => {
  s.aspect = a;
  return meaning(ASPECT_LABEL[a][0] + extraEn, ASPECT_LABEL[a][1] + extraZh);
};

const setTransition = (t: TransitionChoice): Rule['apply'] => (_m, s) => {
  s.transition = t;
  return meaning(TRANSITION_LABEL[t][0], TRANSITION_LABEL[t][1]);
};

function motionMeaning(k: MotionKind, s: PromptSettings): Meaning {
  s.motion = k;
  return meaning(MOTION_LABEL[k][0], MOTION_LABEL[k][1]);
}
const setMotion = (k: MotionKind): Rule['apply'] => (_m, s) => motionMeaning(k, s);

const setFit = (f: Fit): Rule['apply'] => (_m, s) => {
  s.fit = f;
  return meaning(FIT_LABEL[f][0], FIT_LABEL[f][1]);
};

const setPace = (p: Pace): Rule['apply'] => (_m, s) => {
  s.pace = p;
  return meaning(PACE_LABEL[p][0], PACE_LABEL[p][1]);
};

const setOrder = (o: Order, en: string, zh: string): Rule['apply'] => (_m, s) => {
  s.order = o;
  return meaning(en, zh);
};

const durationOf = (m: RegExpExecArray): number | null => {
  for (const g of m.slice(1)) {
    const v = g === undefined ? null : parseDuration(g);
    if (v !== null) return v;
  }
  return null;
};

const setPerPhoto: Rule['apply'] = (m, s) => {
  const v = durationOf(m);
  if (v === null || v <= 0) return null;
  s.secondsPerImage = v;
  s.totalSeconds = undefined;
  return meaning(`${fmtS(v)} s per photo`, `每张照片 ${fmtS(v)} 秒`);
};

const setTotal: Rule['apply'] = (m, s) => {
  const v = durationOf(m);
  if (v === null || v <= 0) return null;
  s.totalSeconds = v;
  s.secondsPerImage = undefined;
  return meaning(`${fmtS(v)} s in total`, `总时长 ${fmtS(v)} 秒`);
};

const setTransitionSeconds = (type?: TransitionChoice): Rule['apply'] => (m, s) => {
  const v = durationOf(m);
  if (v === null) return null;
  s.transitionSeconds = Math.min(v, 5);
  const clamp = v > 5 ? ' (at most 5 s)' : '';
  if (type) s.transition = type;
  return meaning(`transitions of ${fmtS(s.transitionSeconds)} s${clamp}`, `转场时长 ${fmtS(s.transitionSeconds)} 秒${clamp ? '（最长 5 秒）' : ''}`);
};

const FADE_WORD = /fade|dissolve|淡|叠化/;

const setTransitionMood = (seconds: number): Rule['apply'] => (m, s) => {
  s.transitionSeconds = seconds;
  if (FADE_WORD.test(m[0])) s.transition = /dissolve/.test(m[0]) ? 'dissolve' : 'fade';
  return meaning(`transitions of ${seconds} s`, `转场时长 ${seconds} 秒`);
};

/* ---------- aspect helpers ---------- */

const ASPECT_VALUE: Record<Aspect, number> = { '16:9': 16 / 9, '9:16': 9 / 16, '1:1': 1, '4:5': 4 / 5 };

export function nearestAspect(ratio: number): Aspect {
  let best: Aspect = '16:9';
  let bestD = Infinity;
  for (const a of ASPECTS) {
    const d = Math.abs(Math.log(ratio / ASPECT_VALUE[a]));
    if (d < bestD - 1e-9) {
      bestD = d;
      best = a;
    }
  }
  return best;
}

const setRatio: Rule['apply'] = (m, s) => {
  const a = Number(m[1]);
  const b = Number(m[2]);
  if (!(a > 0 && b > 0)) return null;
  const r = a / b;
  if (r < 0.4 || r > 2.6) return null; // "2:30" is a time, not a shape
  const asked = `${m[1]}:${m[2]}`;
  const exact = (ASPECTS as readonly string[]).includes(asked);
  const aspect = exact ? (asked as Aspect) : nearestAspect(r);
  s.aspect = aspect;
  return exact
    ? meaning(ASPECT_LABEL[aspect][0], ASPECT_LABEL[aspect][1])
    : meaning(`${ASPECT_LABEL[aspect][0]} (the closest supported shape to ${asked})`, `${ASPECT_LABEL[aspect][1]}（最接近 ${asked} 的支持比例）`);
};

const setSize: Rule['apply'] = (m, s) => {
  const w = Number(m[1]);
  const h = Number(m[2]);
  if (!(w >= 100 && h >= 100)) return null;
  const r = w / h;
  if (r < 0.3 || r > 3.5) return null;
  // The resolution whose short side is closest: 720 / 1080 / 2160 (halfway points 900 and 1620).
  const short = Math.min(w, h);
  s.resolution = short > 1620 ? '2160p' : short > 900 ? '1080p' : '720p';
  s.aspect = nearestAspect(r);
  const { width, height } = OUTPUT_SIZES[s.resolution][s.aspect];
  const same = width === w && height === h;
  const tail = same ? '' : ` (closest supported to ${w}x${h})`;
  return meaning(`${width}x${height}, ${ASPECT_LABEL[s.aspect][0]}${tail}`, `${width}x${height}，${ASPECT_LABEL[s.aspect][1]}${same ? '' : `（最接近 ${w}x${h} 的支持尺寸）`}`);
};

/* ---------- fps ---------- */

const FPS_LIST: Fps[] = [24, 25, 30, 60];
const FPS_NUM = String.raw`\d{1,4}(?:\.\d{1,3})?`;

function fpsFrom(raw: string | undefined, s: PromptSettings): Meaning | null {
  const v = parseNumber(raw ?? '');
  if (v === null || v <= 0 || v > 1000) return null;
  const nearest = FPS_LIST.reduce((a, b) => (Math.abs(b - v) < Math.abs(a - v) ? b : a));
  s.fps = nearest;
  if (nearest === v) return meaning(`${nearest} fps`, `${nearest} fps（帧/秒）`);
  const why = v > 60 ? 'the highest supported' : 'the closest supported';
  return meaning(`${nearest} fps (${why}; ${fmtS(v)} fps is not offered)`, `${nearest} fps（${v > 60 ? '支持的最高帧率' : '最接近的支持帧率'}，不提供 ${fmtS(v)} fps）`);
}

/* ---------- overlays ---------- */

const setOverlaySeconds: Rule['apply'] = (m, s, ctx) => {
  const role = ctx.roleOf(m[1] ?? '');
  const v = durationOf(m);
  if (v === null || v <= 0 || role === undefined) return null;
  if (role === 'title') s.titleSeconds = v;
  else if (role === 'cta') s.ctaSeconds = v;
  else return meaning('caption timing ignored: captions follow their photos', '字幕时长已忽略：字幕跟随对应照片显示', true);
  const zhRole = role === 'title' ? '标题' : '行动号召';
  return meaning(`${role === 'title' ? 'title' : 'call to action'} shown for ${fmtS(v)} s`, `${zhRole}显示 ${fmtS(v)} 秒`);
};

/* ---------- audio ---------- */

const MUSIC = '(?:background music|music|bgm|soundtrack|audio|song|sound)';
const ZH_MUSIC = '(?:背景音乐|音乐|配乐|bgm|音频|歌曲|声音)';
export const MUSIC_MENTION = /music|bgm|soundtrack|audio|song|sound|tune|音乐|配乐|音频|歌/;

/** The note on a music phrase when the request has no `music` (the planner swaps it when it has). */
export const MUSIC_WITHOUT_SOURCE = {
  en: 'music requested: no music source in the request (send it as "music": {"url": ...}), so the video is silent (volume and fades are kept in plan.audio)',
  zh: '需要音乐：请求中没有音乐来源（请用 "music": {"url": ...} 提供），视频暂无声音（音量和淡入淡出记录在 plan.audio 中）',
} as const;

const setVolume = (fixed?: number): Rule['apply'] => (m, s) => {
  let pct: number;
  if (fixed !== undefined) pct = fixed;
  else {
    const raw = m.slice(1).find((g) => g !== undefined);
    const v = raw === undefined ? null : parseNumber(raw);
    if (v === null) return null;
    pct = v;
  }
  if (pct < 0 || pct > 100) return meaning(`music volume ${fmtS(pct)}% ignored: must be 0-100%`, `音乐音量 ${fmtS(pct)}% 已忽略：应在 0-100% 之间`, true);
  s.audio = { ...s.audio, volume: Math.round(pct * 10) / 1000, off: undefined };
  return meaning(`music volume ${fmtS(pct)}%`, `音乐音量 ${fmtS(pct)}%`);
};

const DEFAULT_FADE_IN_MS = 1000;
const DEFAULT_FADE_OUT_MS = 2000;
const DUR_RE = new RegExp(DUR);

const setFades: Rule['apply'] = (m, s, ctx) => {
  const text = m[0];
  const zh = /[淡渐]/.test(text);
  const en = /fad(?:e|es|ed|ing)?[ -]?(in|out)\b(?: (?:and|&|\/) (?:fades? |fade[ -]?)?(in|out)\b)?/.exec(text);
  const fadeIn = zh ? /淡入|渐强|渐入|渐显/.test(text) : en !== null && (en[1] === 'in' || en[2] === 'in');
  const fadeOut = zh ? /淡出|渐弱|渐出|渐隐/.test(text) : en !== null && (en[1] === 'out' || en[2] === 'out');
  const musical = MUSIC_MENTION.test(text) || ctx.hasMusic;
  if (!musical) {
    return meaning('ignored: fading the video itself in or out is not supported yet (transitions between photos are separate)', '已忽略：暂不支持整段视频的淡入淡出（照片之间的转场另行设置）', true);
  }
  const d = DUR_RE.exec(text);
  const ms = d ? Math.round((parseDuration(d[1] ?? d[0]) ?? 0) * 1000) : undefined;
  s.audio = { ...s.audio, off: undefined };
  const parts: string[] = [];
  const partsZh: string[] = [];
  if (fadeIn) {
    s.audio.fadeInMs = Math.min(ms ?? DEFAULT_FADE_IN_MS, 60_000);
    parts.push(`fade in ${s.audio.fadeInMs / 1000} s`);
    partsZh.push(`淡入 ${s.audio.fadeInMs / 1000} 秒`);
  }
  if (fadeOut) {
    s.audio.fadeOutMs = Math.min(ms ?? DEFAULT_FADE_OUT_MS, 60_000);
    parts.push(`fade out ${s.audio.fadeOutMs / 1000} s`);
    partsZh.push(`淡出 ${s.audio.fadeOutMs / 1000} 秒`);
  }
  if (!parts.length) return null;
  return meaning(`music ${parts.join(', ')}`, `音乐${partsZh.join('，')}`);
};

/* ---------- routing words of the original product ---------- */

const info = (en: string, zh: string, ignored = false): Rule['apply'] => () => meaning(en, zh, ignored);

/* ---------- the rules ---------- */

const T = (src: string) => src; // marks a regex source, for readability below
const DIRS: Record<string, 'left' | 'right' | 'up' | 'down'> = {
  left: 'left', leftward: 'left', leftwards: 'left', right: 'right', rightward: 'right', rightwards: 'right',
  up: 'up', upward: 'up', upwards: 'up', top: 'up', down: 'down', downward: 'down', downwards: 'down', bottom: 'down',
};
const SLOW = '(?:(?:slow(?:ly)?|gentle|gently|subtle|soft|smooth|light) )?';

const transitionRules: [TransitionChoice, string][] = [
  ['fade', T(String.raw`\b(?:cross[ -]?fad(?:e|es|ing)|crossfad(?:e|es|ing)|cross[ -]?dissolves?|fade transitions?|fades|fading|fade|smooth(?:ly|er)?|soft|seamless(?:ly)?|elegant|gentle transitions?|blend(?:s|ed|ing)?|mellow)\b|平滑|流畅|丝滑|柔和|淡入淡出|交叉淡化|渐变|淡化|叠化|自然过渡|过渡自然|顺滑|优雅`)],
  ['cut', T(String.raw`\b(?:hard cuts?|jump cuts?|straight cuts?|clean cuts?|simple cuts?|cuts only|only cuts|just cuts?|no transitions?|without (?:any )?transitions?|no (?:cross[ -]?)?fades?|no crossfades?|snappy|instant (?:switch|change)(?:es)?|cut transitions?|abrupt)\b|硬切|直切|直接切换?|无转场|不要转场|没有转场|不用转场|不需要转场|不要过渡|无过渡|没有过渡|干脆利落`)],
  ['dissolve', T(String.raw`\b(?:dissolves?|dissolving|dreamy|romantic|ethereal)\b|溶解|梦幻|浪漫`)],
  ['fadeblack', T(String.raw`\b(?:fade (?:to|through|via|into) black|dip (?:to|through) black|black fades?|fadeblack|fade black|dark fades?|dramatic|moody)\b|黑场过渡|黑场|渐黑|淡出到黑|闪黑`)],
  ['fadewhite', T(String.raw`\b(?:fade (?:to|through|via|into) white|dip (?:to|through) white|white fades?|fadewhite|fade white|(?:white|bright) flash(?:es)?|flash transitions?)\b|白场|闪白|白闪`)],
  ['wipeleft', T(String.raw`\b(?:wipe[ -]?left|left wipes?|wipe to the left|wipe transitions?|wipes?|wiping)\b|向左擦除|左擦除|擦除`)],
  ['wiperight', T(String.raw`\b(?:wipe[ -]?right|right wipes?|wipe to the right)\b|向右擦除|右擦除`)],
  ['wipeup', T(String.raw`\b(?:wipe[ -]?up(?:wards?)?|upward wipes?)\b|向上擦除|上擦除`)],
  ['wipedown', T(String.raw`\b(?:wipe[ -]?down(?:wards?)?|downward wipes?)\b|向下擦除|下擦除`)],
  ['slideleft', T(String.raw`\b(?:slide[ -]?left|slides? to the left|slide transitions?|sliding(?: transitions?)?|push transitions?)\b|向左滑动?|左滑|滑动转场|滑动|推移`)],
  ['slideright', T(String.raw`\b(?:slide[ -]?right|slides? to the right)\b|向右滑动?|右滑`)],
  ['slideup', T(String.raw`\b(?:slide[ -]?up(?:wards?)?)\b|向上滑动?|上滑`)],
  ['slidedown', T(String.raw`\b(?:slide[ -]?down(?:wards?)?)\b|向下滑动?|下滑`)],
  ['smoothleft', T(String.raw`\bsmooth[ -]?left\b`)],
  ['smoothright', T(String.raw`\bsmooth[ -]?right\b`)],
  ['circleopen', T(String.raw`\b(?:circle[ -]?open|iris[ -]?(?:open|in)|circle reveal|circular reveal|circle transitions?)\b|圆形展开|圆形打开|圆形扩展|圆形转场`)],
  ['circleclose', T(String.raw`\b(?:circle[ -]?close|iris[ -]?(?:close|out)|closing circles?)\b|圆形收缩|圆形关闭|圆形闭合`)],
  ['radial', T(String.raw`\b(?:radial(?: wipes?| transitions?)?|clock wipes?|clock transitions?)\b|径向|时钟擦除`)],
  ['zoomin', T(String.raw`\b(?:zoom[ -]?in transitions?|zoom transitions?|zoomin(?: transitions?)?)\b|缩放转场|放大转场|缩放过渡`)],
  ['pixelize', T(String.raw`\b(?:pixeli[sz]e[sd]?|pixelate[sd]?|pixelation|pixel(?:ated)? transitions?|mosaic transitions?)\b|像素化|马赛克`)],
  ['random', T(String.raw`\b(?:random(?:i[sz]ed)?|varied|various|different|mixed|assorted|all kinds of|a (?:random )?mix of|a variety of|variety of|lots of|many) (?:transitions?|transition effects?)\b|\b(?:mix|vary|randomi[sz]e|shuffle) (?:up )?(?:the )?transitions\b|\btransitions? (?:at random|randomly|randomi[sz]ed)\b|随机转场|转场随机|多种转场|不同转场|各种转场|混合转场|多样转场|转场多样`)],
];

const COLOURS: Record<string, string> = {
  white: '#ffffff', black: '#000000', grey: '#808080', gray: '#808080', 'dark grey': '#333333', 'dark gray': '#333333',
  'light grey': '#d3d3d3', 'light gray': '#d3d3d3', beige: '#f5f5dc', cream: '#fffdd0', navy: '#000080', pink: '#ffc0cb',
  blue: '#1e4bd2', red: '#c81e1e', green: '#1e8c3c', yellow: '#f0d21e',
  白色: '#ffffff', 白: '#ffffff', 黑色: '#000000', 黑: '#000000', 灰色: '#808080', 灰: '#808080', 红色: '#c81e1e', 蓝色: '#1e4bd2', 粉色: '#ffc0cb', 米色: '#f5f5dc',
};

const setBackground: Rule['apply'] = (m, s) => {
  const key = (m[1] ?? m[2] ?? '').trim();
  const hex = key.startsWith('#') ? key : COLOURS[key];
  if (!hex) return null;
  s.background = hex;
  s.fit = 'contain';
  return meaning(`whole photo on a ${hex} background`, `完整显示照片，背景色 ${hex}`);
};

export const RULES: Rule[] = [
  /* aspect */
  rule(['aspect'], String.raw`\b(?:vertical(?:ly)?(?: video| format| orientation)?|portrait(?: mode| orientation| format| video)?|tik ?tok|douyin|kuaishou|(?:instagram|insta|ig|facebook|fb|snap|snapchat|whatsapp) (?:reels?|stories|story|status)|reels|stories|(?:youtube |yt )?shorts|snapchat|phone screens?|upright)\b|竖屏|竖版|竖向|竖着|竖的|抖音|快手|视频号`, setAspect('9:16')),
  rule(['aspect'], String.raw`\b(?:square(?: video| format)?|instagram(?: feed| grid)?(?: posts?)?|insta(?:gram)? posts?|ig (?:posts?|feed)|feed posts?|facebook posts?)\b|正方形|方形|方屏`, setAspect('1:1')),
  rule(['aspect'], String.raw`\b(?:instagram portrait|insta portrait|ig portrait|portrait posts?|xiaohongshu|rednote)\b|小红书`, setAspect('4:5')),
  rule(['aspect'], String.raw`\b(?:landscape(?: mode| orientation| format| video)?|horizontal(?:ly)?(?: video| format)?|wide ?screen|youtube(?: video)?|yt|tv|television|desktop)\b|横屏|横版|横向|宽屏|b站|哔哩哔哩|bilibili|西瓜视频`, setAspect('16:9')),
  rule(['aspect'], String.raw`\b(\d{1,2}(?:\.\d{1,2})?) ?(?::|x|/|比) ?(\d{1,2}(?:\.\d{1,2})?)\b`, setRatio),

  /* resolution */
  rule(['resolution'], String.raw`\b(?:1080 ?[pi]?|full ?hd|fhd|hd|high[ -]?def(?:inition)?|high[ -]?res(?:olution)?|high quality|best quality|hq)\b|全高清|高清|超清|蓝光`, (_m, s) => ((s.resolution = '1080p'), meaning('1080p', '1080p（全高清）'))),
  rule(['resolution'], String.raw`\b(?:720 ?p?|hd ready|sd|standard def(?:inition)?|low[ -]?res(?:olution)?|low quality|smaller files?|small file(?: size)?|480 ?p|360 ?p)\b|标清`, (m, s) => {
    s.resolution = '720p';
    return /480|360|sd|standard/.test(m[0]) ? meaning('720p (the lowest supported resolution)', '720p（支持的最低分辨率）') : meaning('720p', '720p');
  }),
  // 4K is opt-in: only these words (or options.resolution) ask for it, never "HD" or "high quality".
  rule(['resolution'], String.raw`(?<![a-z0-9])4 ?k ?(?:超高清|超清)|超高清(?: ?4 ?k\b)?|\b(?:4 ?k(?: ?(?:uhd|ultra[ -]?hd))?|2160 ?p|uhd|ultra[ -]?hd(?: 4 ?k)?)\b`, (_m, s) => {
    s.resolution = '2160p';
    return meaning('2160p (4K UHD)', '2160p（4K 超高清）');
  }),
  rule(['resolution'], String.raw`\b(?:8 ?k(?: uhd)?|4320 ?p)\b|8 ?k ?超高清`, (m, s) => {
    s.resolution = '2160p';
    return meaning(`2160p (4K UHD): ${m[0].toUpperCase()} output is not offered, so the highest supported resolution is used`, `2160p（4K 超高清）：不提供 ${m[0].toUpperCase()} 输出，使用支持的最高分辨率`);
  }),
  rule(['resolution'], String.raw`\b(?:1440 ?p|qhd|2(?:\.5)? ?k)\b`, (m, s) => {
    s.resolution = '1080p';
    return meaning(`1080p: ${m[0].toUpperCase()} output is not offered, so the closest supported resolution is used (say 4K for 2160p)`, `1080p：不提供 ${m[0].toUpperCase()} 输出，使用最接近的支持分辨率（需要 2160p 请写 4K）`);
  }),
  rule(['resolution', 'aspect'], String.raw`\b(\d{3,4}) ?[x×*] ?(\d{3,4})\b`, setSize),
  rule(['resolution', 'fps'], String.raw`\b(720|1080|2160) ?p ?(24|25|30|50|60)\b`, (m, s) => {
    s.resolution = `${m[1]}p` as Resolution;
    const fps = fpsFrom(m[2], s);
    const k4 = m[1] === '2160' ? ' (4K UHD)' : '';
    return meaning(`${s.resolution}${k4}, ${fps?.en ?? ''}`, `${s.resolution}${k4 ? '（4K 超高清）' : ''}，${fps?.zh ?? ''}`);
  }),

  rule(['fps', 'transition'], String.raw`\b(?:cinematic|film look|filmic|movie[ -]like)(?: look| style| feel)?\b|电影感|电影风格`, (_m, s) => {
    s.fps = 24;
    s.transition = 'fadeblack';
    return meaning('24 fps with fade-through-black transitions (a film look)', '24 fps，黑场转场（电影感）');
  }),

  /* fps */
  rule(['fps'], String.raw`\b(${FPS_NUM}) ?(?:fps|frames? ?(?:per|a|/) ?(?:second|sec|s)\b|frame ?rate)\b|(${FPS_NUM}) ?帧(?: ?(?:每秒|/秒|/s))?|每秒 ?(${FPS_NUM}) ?帧`, (m, s) => fpsFrom(m[1] ?? m[2] ?? m[3], s)),
  rule(['fps'], String.raw`\b(?:fps|frame ?rate|frames per second)(?: of| at| to| =|:)? ?(\d{1,3}(?:\.\d{1,3})?)\b|帧率 ?(?:为|是|:)? ?(\d{1,3})`, (m, s) => fpsFrom(m[1] ?? m[2], s)),
  rule(['fps'], String.raw`\bhigh frame ?rate\b|高帧率`, (_m, s) => ((s.fps = 60), meaning('60 fps', '60 fps（帧/秒）'))),

  /* length: per photo (more specific, so listed first), then in total */
  rule(['length'], String.raw`${DUR} ?(?:per|each|a|for each|on each|for every|every|/) ?(?:photo|image|picture|pic|slide|shot|frame|one|still|item|product)s?\b|${DUR} ?(?:一张|每张)`, setPerPhoto),
  rule(['length'], String.raw`${DUR} (?:each|apiece|per)\b`, setPerPhoto),
  rule(['length'], String.raw`\b(?:each|every|per) (?:photo|image|picture|pic|slide|shot|still|product)s? (?:(?:for|of|lasts?|gets?|at|:|=|should (?:be|last|get)|is|stays?(?: for)?|shown for|on screen for|displayed for|holds? for) ?)?${DUR}`, setPerPhoto),
  rule(['length'], String.raw`\b(?:show|hold|display|keep|give) (?:each|every) (?:photo|image|picture|pic|slide|shot|product)s? (?:(?:for|on screen for|about|around) )?${DUR}`, setPerPhoto),
  rule(['length'], String.raw`每(?:一)?(?:张|幅|个)(?:照片|图片|图|相片|画面|产品)?(?:都)?(?:停留|显示|展示|持续|播放|放|停)?(?:约|大约)? ?${DUR}`, setPerPhoto),
  rule(['length'], String.raw`\b(?:total(?: length| duration| time)?|in total|length|duration|runtime|run time|lasting|lasts?|overall)(?: of| is| should be| =|:)? ?${DUR}`, setTotal),
  rule(['length'], String.raw`${DUR} ?(?:in total|total|long|overall|max(?:imum)?|or less|or so)\b`, setTotal),
  rule(['length'], String.raw`${DUR}[ -]?(?:long )?(?:video|clip|reel|film|movie|slideshow|slide show|montage|story|ad|advert|promo|teaser|trailer|edit|compilation)s?\b`, setTotal),
  rule(['length'], String.raw`(?:总共|总长度|总时长|总长|时长|一共|全长|长度|视频长度|全片|整个视频|整体)(?:为|是|:|约|大约|控制在)? ?${DUR}|${DUR} ?(?:左右)?(?:的|长的)?(?:视频|短片|短视频|片子|影片)`, setTotal),
  rule(['length'], DUR, setTotal),

  /* pace */
  rule(['pace'], String.raw`\b(?:very|super|really|extra) slow(?:ly)?\b|非常慢|很慢`, setPace('veryslow')),
  rule(['pace'], String.raw`\b(?:slow(?:er|ly)?(?:[ -]paced?| tempo)?|calm|relaxed|relaxing|leisurely|chill|laid[ -]back|slow[ -]?mo(?:tion)?|unhurried)\b|慢节奏|节奏慢|慢一点|慢一些|慢慢|舒缓|缓慢|悠闲|放慢`, setPace('slow')),
  rule(['pace'], String.raw`\b(?:normal|medium|moderate|regular|steady) (?:pace|speed|tempo)\b|正常节奏|中等节奏|节奏适中`, setPace('normal')),
  rule(['pace'], String.raw`\b(?:fast(?:er)?(?:[ -]paced?| tempo)?|quick(?:er)?[ -]paced?|quick pace|quicker|rapid(?:ly)?|energetic|upbeat|punchy|dynamic|lively|high[ -]energy|hype|speedy)\b|快节奏|节奏快|快一点|快一些|快速|动感|活力|节奏感强|有节奏感`, setPace('fast')),
  rule(['pace'], String.raw`\b(?:very|super|really|extra) (?:fast|quick)\b|非常快|很快`, setPace('veryfast')),
  rule(['pace', 'transition'], String.raw`\b(?:fast|quick|rapid) cuts?\b|快切`, (_m, s) => ((s.pace = 'fast'), (s.transition = 'cut'), meaning('a faster pace with hard cuts', '较快的节奏，硬切'))),

  /* transitions */
  ...transitionRules.map(([type, src]) => rule(['transition'], src, setTransition(type))),
  rule(['transitionSeconds'], String.raw`${DUR} ?(?:long )?(?:transitions?|wipes?)\b|${DUR} ?的?(?:转场|过渡)`, setTransitionSeconds()),
  rule(['transitionSeconds', 'transition'], String.raw`${DUR} ?(?:long )?(?:cross[ -]?fades?|crossfades?|fades?)\b`, setTransitionSeconds('fade')),
  rule(['transitionSeconds', 'transition'], String.raw`${DUR} ?(?:long )?dissolves?\b`, setTransitionSeconds('dissolve')),
  rule(['transitionSeconds'], String.raw`\b(?:transitions?|cross[ -]?fades?|crossfades?|fades?|dissolves?)(?: of| lasting| last| should (?:be|last)| at| =|:| about| around)? ?${DUR}|(?:转场|过渡|切换)(?:时间|时长)?(?:为|是|:|约)? ?${DUR}`, setTransitionSeconds()),
  rule(['transitionSeconds', 'transition'], String.raw`\b(?:slow|long|longer|gentle|lingering) (?:cross[ -]?fades?|crossfades?|fades?|dissolves?|transitions?)\b|慢转场|长转场`, setTransitionMood(1.5)),
  rule(['transitionSeconds', 'transition'], String.raw`\b(?:quick|fast|short|shorter|brief|snappy|rapid) (?:cross[ -]?fades?|crossfades?|fades?|dissolves?|transitions?)\b|快转场|短转场`, setTransitionMood(0.4)),

  /* motion */
  rule(['motion'], String.raw`\b(?:static|no (?:zoom(?:ing)?|motion|movement|animation|pan(?:ning)?|ken ?burns|camera (?:motion|movement|moves?))|without (?:any )?(?:zoom(?:ing)?|motion|movement|animation|panning)|don'?t (?:zoom|pan|move|animate)|do not (?:zoom|pan|move|animate)|keep (?:them|it|the (?:photos|images|pictures)) still|still frames?|not moving|motionless|stationary|steady shots?)\b|静止|静态|固定镜头|不要动画|不要动|不要缩放|不缩放|不要移动|无运动|无动画|没有动画|不要镜头运动`, setMotion('none')),
  rule(['motion'], String.raw`\b(?:ken[ -]?burns?(?: effect| style| motion)?|burns effect|(?:slow|gentle|subtle|soft|light|smooth) zoom(?:s|ing)?|zoom(?:ing)? (?:in (?:and|&|/) out|out (?:and|&|/) in)|zoom and pan|pan and zoom|zoom(?:s|ing)?|animated?|animate (?:them|it|the photos|my photos|the images)|motion|movement|moving|camera (?:motion|movement|moves?)|parallax|dynamic camera)\b|肯[·・ ]?伯恩斯|推拉|缩放效果|镜头运动|动态效果|动起来|运镜|缓慢缩放`, setMotion('kenburns')),
  rule(['motion'], String.raw`\b${SLOW}(?:zoom(?:s|ing|ed)?[ -]?in(?:to|wards?)?|push(?:es|ing)?[ -]?in|move in(?:wards)?|dolly in|zoom forward)(?: (?:slowly|gently))?\b|(?:缓慢|慢慢|轻轻)?(?:镜头推进|推镜头|推进|放大|拉近)`, setMotion('zoomin')),
  rule(['motion'], String.raw`\b${SLOW}(?:zoom(?:s|ing|ed)?[ -]?out(?:wards?)?|pull(?:s|ing)?[ -]?(?:out|back)|dolly out|zoom backwards?)(?: (?:slowly|gently))?\b|(?:缓慢|慢慢|轻轻)?(?:镜头拉远|拉镜头|拉远|缩小)`, setMotion('zoomout')),
  rule(['motion'], String.raw`\b${SLOW}(?:pan(?:s|ning)?|tilt(?:s|ing)?|drift(?:s|ing)?)(?: the camera)?(?: slowly)? (?:to (?:the )?)?(left|right|up|down|upwards?|downwards?|leftwards?|rightwards?)(?: (?:slowly|gently))?\b`, (m, s) => {
    const dir = DIRS[m[1] ?? ''];
    return dir ? motionMeaning(`pan${dir}`, s) : null;
  }),
  rule(['motion'], String.raw`\bpan(?:s|ning)? from (?:the )?(?:left|right|top|bottom) to (?:the )?(left|right|top|bottom)\b`, (m, s) => {
    const dir = DIRS[m[1] ?? ''];
    return dir ? motionMeaning(`pan${dir}`, s) : null;
  }),
  rule(['motion'], String.raw`(?:向左|往左|左)(?:平移|摇|移动|移)|从右(?:到|往|向)左`, setMotion('panleft')),
  rule(['motion'], String.raw`(?:向右|往右|右)(?:平移|摇|移动|移)|从左(?:到|往|向)右`, setMotion('panright')),
  rule(['motion'], String.raw`(?:向上|往上)(?:平移|摇|移动|移)|上移|从下(?:到|往|向)上`, setMotion('panup')),
  rule(['motion'], String.raw`(?:向下|往下)(?:平移|摇|移动|移)|下移|从上(?:到|往|向)下`, setMotion('pandown')),
  rule(['motion'], String.raw`\b${SLOW}(?:pan(?:s|ning)? (?:left and right|right and left|back and forth|side to side)|pan(?:s|ning)?|panoramic)\b|平移|摇镜头?|横移`, setMotion('pan')),

  /* fit and background */
  rule(['fit'], String.raw`\b(?:crop(?:ped|ping)?(?: to (?:fill|fit))?|fill (?:the )?(?:whole )?(?:frame|screen)|full[ -]?bleed|full ?screen|edge to edge|no (?:black )?bars|no borders|no letterbox(?:ing)?|zoom to fill|cover the (?:frame|screen))\b|裁剪|裁切|铺满|填满|充满画面|全屏|满屏|不要黑边|去掉黑边|去黑边|无黑边`, setFit('cover')),
  rule(['fit'], String.raw`\b(?:letterbox(?:ed|ing)?|pillarbox(?:ed|ing)?|fit(?: (?:to|inside|in|within) (?:the )?(?:frame|screen)| (?:the )?(?:frame|screen))?(?! for\b| in\b| into\b| within\b)|contain|show (?:the )?(?:whole|entire|full) (?:photos?|images?|pictures?|products?)|(?:whole|entire|full) (?:photos?|images?|pictures?) visible|no crop(?:ping)?|don'?t crop|do not crop|without crop(?:ping)?|uncropped|not cropped|never crop|black bars|borders)\b|完整显示|不裁剪|不要裁剪|不剪裁|不要剪裁|别裁剪|保留完整|显示完整|完整展示|留黑边|加黑边|黑边|适应画面`, setFit('contain')),
  rule(['fit'], String.raw`\b(?:blur(?:red|ry)? (?:background|backdrop|fill|bars|sides|edges|borders)|blur(?:red)? fill|background blur|blur)\b|模糊背景|背景模糊|模糊填充|虚化背景|背景虚化`, setFit('blur')),
  rule(['background', 'fit'], String.raw`\b(white|black|dark gr[ae]y|light gr[ae]y|gr[ae]y|beige|cream|navy|pink|blue|red|green|yellow|#[0-9a-f]{6})(?: colou?red)? (?:background|backdrop|bars|borders|padding|fill|canvas)\b|(白色|黑色|灰色|红色|蓝色|粉色|米色|白|黑|灰)的?(?:背景|底色|底)`, setBackground),

  /* order */
  rule(['order'], String.raw`\b(?:reverse(?:d)?(?: (?:the )?order)?|in reverse|backwards?|last (?:photo|image|picture) first|newest first)\b|倒序|反序|逆序|倒过来|反向顺序|从后往前`, setOrder('reverse', 'photos in reverse order', '照片倒序排列')),
  rule(['order'], String.raw`\b(?:keep (?:the |my )?(?:original |same )?order|in (?:the )?(?:same |original |given |upload(?:ed)? )?order(?! to\b)|original order|as uploaded|same order|in sequence|chronological(?:ly)?)\b|按顺序|保持顺序|原顺序|原始顺序|按原顺序|顺序不变|按上传顺序`, setOrder('keep', 'photos in the given order', '照片保持原顺序')),
  rule(['order'], String.raw`\b(?:shuffle[ds]?|random(?:i[sz]ed?)?(?: order)?|mix (?:them |the photos )?up|any order)\b|随机顺序|随机|打乱|乱序`, setOrder('shuffle', 'photos shuffled (the same photos always give the same order)', '照片随机排列（同样的照片总是同样的顺序）')),

  /* overlay timing right after a quote: title 'Sale' for 5 seconds, Title: "Urban Dreams" (0-3s) */
  rule(['endCard'], String.raw`\b(?:end|closing|final|outro) (?:card|screen|slate)s?\b|片尾卡|结尾卡|结尾页|片尾画面|结束画面`, (_m, s) => {
    s.endCard = true;
    return meaning('an end card: the call to action on its own card after the last photo', '片尾卡：行动号召单独成卡，放在最后一张照片之后');
  }),
  rule(['info'], String.raw`([\ue000-\ue0c7]) ?(?:\( ?${DUR} ?\)|(?:for|lasting|during|shown for|on screen for|displayed for) (?:the (?:first|last) )?${DUR}|(?:显示|持续|停留) ?${DUR})`, setOverlaySeconds),

  /* audio */
  rule(['volume'], String.raw`\b${MUSIC}(?: volume| level)?[^.;!?\n%]{0,30}?\b(${NUM}) ?(?:%|percent|pct)|\b(${NUM}) ?(?:%|percent|pct) (?:music|bgm|volume|audio|sound)\b|\bvolume(?: of (?:the )?(?:music|bgm|audio))?(?: at| to| of| =|:)? ?(${NUM}) ?(?:%|percent|pct)`, setVolume()),
  rule(['volume'], String.raw`${ZH_MUSIC}的?(?:音量)?[^。；！？\n%]{0,12}?(\d{1,3}(?:\.\d{1,2})?) ?%|(?:音量)[^。；！？\n%]{0,12}?(\d{1,3}(?:\.\d{1,2})?) ?%|(\d{1,3}(?:\.\d{1,2})?) ?%的?(?:音量)?的?${ZH_MUSIC}`, setVolume()),
  rule(['volume'], String.raw`\b(?:quiet|soft|low|subtle|gentle|faint|background[- ]level)(?: background)? (?:music|bgm|soundtrack|audio)\b|\bmusic (?:quiet|low|soft|in the background)\b|\b(?:turn|keep) (?:the )?music (?:down|low)\b|音乐(?:小声|轻一点|小一点|低一点)|小声的?(?:背景)?音乐|音量(?:小|低)一点`, setVolume(30)),
  rule(['volume'], String.raw`\b(?:loud|full[ -]volume|max(?:imum)? volume)(?: background)?(?: (?:music|bgm|soundtrack|audio))?\b|音乐(?:大声|响一点|大一点)|大声的?音乐|音量最大|最大音量`, setVolume(100)),
  rule(['volume', 'fades'], String.raw`\b(?:no (?:background )?(?:music|sound|audio|bgm|soundtrack)|without (?:music|sound|audio)|mute[ds]?|silent|silence)\b|静音|无声|不要音乐|无音乐|不要背景音乐|没有音乐|不要声音`, (_m, s) => {
    s.audio = { off: true };
    return meaning('no music (plan.audio left out)', '不要音乐（不生成 plan.audio）');
  }),
  rule(['fades'], String.raw`\b(?:the )?${MUSIC} (?:should )?(?:fades?|fading)[ -]?(?:in|out)\b(?: (?:and|&) (?:fades? )?(?:in|out)\b)?(?: (?:over|for|of|in|during) ?(?:the (?:first|last) )?${DUR})?`, setFades),
  rule(['fades'], String.raw`\b(?:${DUR} )?fade[sd]?[ -]?(?:in|out)\b(?: (?:and|&|/) (?:fade[ -]?)?(?:in|out)\b)?(?: (?:the )?${MUSIC})?(?: (?:over|for|of|in|during) ?(?:the (?:first|last) )?${DUR})?(?: (?:at|to) the (?:end|start|beginning))?`, setFades),
  rule(['fades'], String.raw`${ZH_MUSIC}(?:要|要有|需要|在开头|在结尾|开头|结尾)?(?:淡入|淡出|渐强|渐弱|渐入|渐出)(?:(?:和|与|、|并|,)?(?:淡入|淡出|渐强|渐弱|渐入|渐出))?|(?:淡入|渐强|渐入)(?:和|与|、)?(?:淡出|渐弱|渐出)?的?${ZH_MUSIC}|(?:开头|结尾|最后|末尾)(?:淡入|淡出|渐隐|渐显)|淡出|渐隐|渐弱`, setFades),
  rule(['info'], String.raw`\b(?:(?:lo-?fi|upbeat|chill|calm|epic|happy|relaxing|acoustic|piano|jazz|pop|rock|electronic|edm|ambient|cinematic|corporate|inspiring|uplifting|romantic|dramatic|some|nice|add|with) )?(?:background music|music|bgm|soundtrack|song|tune)s?\b|背景音乐|音乐|配乐|歌曲`,
    info(MUSIC_WITHOUT_SOURCE.en, MUSIC_WITHOUT_SOURCE.zh, true)),

  /* output format */
  rule(['info'], String.raw`\b(?:mp4|h\.?264|avc|x264)\b`, info('MP4 (H.264), the output format', 'MP4（H.264），即输出格式')),
  rule(['info'], String.raw`\b(?:mov|gif|webm|avi|mkv|prores|hevc|h\.?265|wmv|flv)\b`, (m) => meaning(`ignored: the output is always MP4 (H.264), not ${m[0].toUpperCase()}`, `已忽略：输出始终是 MP4（H.264），不支持 ${m[0].toUpperCase()}`, true)),

  /* the original product's routing words (导出 / 积分 / 状态 / 上传) */
  rule(['info'], String.raw`\b(?:export(?:ed|ing)?|download(?:able)?|send me the video)\b|导出|下载|输出`, info('export: the finished job\'s result.video.url is the MP4 download', '导出：任务完成后 result.video.url 即 MP4 下载地址')),
  rule(['info'], String.raw`\b(?:credits?|(?:credit|account|my) balance)\b|积分|余额`, info('credits/balance: not applicable, Photoreel has no credits', '积分/余额：不适用，Photoreel 没有积分', true)),
  rule(['info'], String.raw`\b(?:status|show (?:the )?tracks|progress)\b|状态|进度`, info('status: GET /v1/jobs/{id} shows status, progress and this plan (its clips are the tracks)', '状态：GET /v1/jobs/{id} 可查看状态、进度和本计划（clips 即轨道）', true)),
  rule(['info'], String.raw`\b(?:upload(?:ed|s|ing)?)\b|上传`, info('upload: photos come from the request\'s images (URLs)', '上传：照片来自请求中的 images（URL）', true)),
];

export { DUR, MUSIC };
