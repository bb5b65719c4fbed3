import { normaliseNumbers } from './numbers.js';
import type { PromptSettings } from './settings.js';
import { cleanPrompt, correctTypos, detectLanguage, excerpt, isMarker, MARKER_BASE, maskQuotes, MAX_READ_CHARS, type Quote } from './text.js';
import { MUSIC_MENTION, RULES, type Group, type Meaning, type Rule, type RuleContext } from './vocabulary.js';

/**
 * Rule-based reading of the plain-language instruction (English, Chinese, or both mixed).
 * Deterministic, offline and linear in the prompt's length:
 *
 *   clean (control and invisible characters out, NFKC, one space) -> mask quoted text (so
 *   words inside a title are never read as instructions) -> lower-case -> correct typos of
 *   vocabulary words -> run every rule of vocabulary.ts -> walk the matches in prompt order,
 *   longer first at one position, skipping phrases inside one already taken ("zoom" inside
 *   "no zoom"), each setting what it means (so a later phrase overrides an earlier one) ->
 *   quoted text becomes the title, captions or call to action by the words around it ->
 *   clauses with words nothing understood are reported as ignored.
 *
 * Explicit `options` override all of this; the planner applies them and words the notes.
 */

export type Lang = 'en' | 'zh';

export interface Note {
  en: string;
  zh: string;
}

/** A recognised phrase: what it set, and how to name it in a note. */
export interface Phrase {
  at: number;
  label: Note;
  meaning: Meaning;
  groups: Group[];
  /** What the phrase left each of its groups set to (so a later phrase saying the same thing is no conflict). */
  values?: Partial<Record<Group, string>>;
  /** "not vertical": recognised, preceded by a negation, so not applied. */
  negated?: boolean;
}

export interface PromptReading {
  settings: PromptSettings;
  /** Recognised phrases in prompt order. */
  phrases: Phrase[];
  /** Notes about the prompt as a whole: typos corrected, text not understood, quotes not used. */
  remarks: Note[];
  /** The language notes are written in: the prompt's main language. */
  lang: Lang;
}

const NEGATION = /(?:\bno|\bnot|n't|\bwithout|\bnever|\bnor|不要|不用|不需要|无需|别|不)(?: too| so| very| really| be| make it| in)? ?$/;
const SENTENCE_BREAK = /[.;!?。；！？\n]/;
const CLAUSE_SPLIT = /[,.;!?，。；！？、\n:：()（）[\]{}]+/;
const MAX_IGNORED_NOTES = 5;


export function understandPrompt(prompt: string): PromptReading {
  const { text, truncated } = cleanPrompt(prompt);
  const lang = detectLanguage(text);
  const { masked, quotes } = maskQuotes(text);
  const { text: corrected, corrections } = correctTypos(masked.toLowerCase());
  const lower = normaliseNumbers(corrected);
  // Labels show what was matched, with quotes back in place of their markers.
  const q = (raw: string): Note => {
    const t = excerpt(raw.replace(/[\ue000-\uf8ff]/g, (c) => `'${excerpt(quotes[c.charCodeAt(0) - MARKER_BASE]?.text ?? '', 20)}'`).trim(), 50);
    return { en: `"${t}"`, zh: `“${t}”` };
  };

  const remarks: Note[] = [];
  if (truncated) remarks.push({ en: `only the first ${MAX_READ_CHARS} characters of the prompt were read`, zh: `只读取了提示词的前 ${MAX_READ_CHARS} 个字符` });
  for (const c of corrections) remarks.push({ en: `"${c.from}" read as "${c.to}"`, zh: `“${c.from}” 按 “${c.to}” 理解` });

  const roles = assignRoles(lower, quotes);
  const ctx: RuleContext = {
    hasMusic: MUSIC_MENTION.test(lower),
    roleOf: (marker) => roles.get(marker)?.role,
  };

  const hits: { at: number; end: number; rule: Rule; m: RegExpExecArray }[] = [];
  for (const rule of RULES) {
    rule.re.lastIndex = 0;
    for (let m = rule.re.exec(lower); m; m = rule.re.exec(lower)) {
      if (m[0].length === 0) {
        rule.re.lastIndex++;
        continue;
      }
      hits.push({ at: m.index, end: m.index + m[0].length, rule, m });
    }
  }
  hits.sort((a, b) => a.at - b.at || b.end - a.end);

  const settings: PromptSettings = {};
  const phrases: Phrase[] = [];
  const taken: [number, number][] = [];
  let takenUntil = -1;
  for (const h of hits) {
    if (h.end <= takenUntil) continue;
    const before = lower.slice(Math.max(0, h.at - 16), h.at);
    if (NEGATION.test(before) && !h.rule.groups.includes('info')) {
      phrases.push({ at: h.at, label: q(h.m[0]), meaning: { en: '', zh: '' }, groups: h.rule.groups, negated: true });
    } else {
      const meaning = h.rule.apply(h.m, settings, ctx);
      if (!meaning) continue;
      phrases.push({ at: h.at, label: q(h.m[0]), meaning, groups: h.rule.groups, values: snapshot(h.rule.groups, settings) });
    }
    taken.push([h.at, h.end]);
    takenUntil = Math.max(takenUntil, h.end);
  }

  // Quoted text: title, captions, call to action.
  const unassigned: Quote[] = [];
  for (const quote of quotes) {
    const r = roles.get(quote.marker);
    if (!r) {
      unassigned.push(quote);
      continue;
    }
    phrases.push(overlayPhrase(r.role, quote, r.at, settings));
  }
  if (unassigned.length > 0 && settings.title === undefined) {
    const first = unassigned.shift()!;
    settings.title = first.text;
    phrases.push({
      at: lower.indexOf(first.marker),
      label: { en: `"${excerpt(first.text, 40)}"`, zh: `“${excerpt(first.text, 40)}”` },
      meaning: { en: `used as the title (no role given)${first.shortened ? ', shortened to 200 characters' : ''}`, zh: `用作标题（未说明用途）${first.shortened ? '，已截短为 200 个字符' : ''}` },
      groups: ['title'],
      values: { title: JSON.stringify(first.text) },
    });
  }
  for (const quote of unassigned.slice(0, 3)) {
    remarks.push({
      en: `quoted text "${excerpt(quote.text, 40)}" not used: say title, caption or call to action before it`,
      zh: `引号中的文字“${excerpt(quote.text, 40)}”未使用：请在前面注明标题、字幕或行动号召`,
    });
  }
  if (unassigned.length > 3) remarks.push({ en: `... and ${unassigned.length - 3} more quoted texts not used`, zh: `……另有 ${unassigned.length - 3} 处引号文字未使用` });
  phrases.sort((a, b) => a.at - b.at);

  remarks.push(...notUnderstood(lower, taken));
  return { settings, phrases, remarks, lang };
}

/** The value each group has after a phrase, as a comparable string. */
function snapshot(groups: Group[], s: PromptSettings): Partial<Record<Group, string>> {
  const v: Partial<Record<Group, string>> = {};
  for (const g of groups) {
    const value =
      g === 'length' ? [s.secondsPerImage, s.totalSeconds]
      : g === 'volume' ? [s.audio?.volume, s.audio?.off]
      : g === 'fades' ? [s.audio?.fadeInMs, s.audio?.fadeOutMs, s.audio?.off]
      : g === 'info' || g === 'caption' ? undefined
      : g === 'cta' ? s.cta
      : s[g as keyof PromptSettings];
    v[g] = JSON.stringify(value ?? null);
  }
  return v;
}

/* ---------- quotes -> overlays ---------- */

type Role = 'title' | 'caption' | 'cta';

const ROLE_WORDS: [Role, RegExp][] = [
  ['title', /\b(?:title card|titled|title|heading|headline|called|named|intro text|opening text)\b|标题|题目|片名|片头/g],
  ['caption', /\b(?:captions?|subtitles?|text|tagline|slogan|overlay|labels?|lower third|saying|that says|which says|reads|reading)\b|字幕|文字|文案|说明|标语|口号|配文|写着|文本/g],
  ['cta', /\b(?:call to action|call-to-action|cta|button|end card|end screen|ending|ends? with|closing text|outro|final text|sign[ -]?off)\b|结尾|片尾|行动号召|号召|按钮|引导语|结束语/g],
];
const AFTER_ROLE = /^ ?(?:(?:as|for|is|will be|should be)(?: (?:the|a|an|our|my))? )?(title|heading|headline|caption|subtitle|text|call to action|cta|button|ending)\b|^ ?(?:作为|当作|当|做|为)(标题|字幕|文案|结尾|片尾)/;
const AFTER_END = /^ ?(?:(?:at|in|on|for) the (?:end|last (?:photo|slide|image|frame)|close|finish)\b|在?(?:结尾|片尾|最后))/;
const AFTER_START = /^ ?(?:(?:at|in|on) the (?:start|beginning|top|opening)\b|在?(?:开头|片头))/;
const LIST_JOINER = /^[ ,、，:：]*(?:and|&|or|plus|和|与|及|还有|以及)?[ ,、，:：]*$/;

const roleFromWord = (w: string): Role =>
  /title|heading|headline|标题/.test(w) ? 'title' : /call to action|cta|button|ending|结尾|片尾/.test(w) ? 'cta' : 'caption';

function assignRoles(lower: string, quotes: Quote[]): Map<string, { role: Role; at: number }> {
  const roles = new Map<string, { role: Role; at: number }>();
  let prevEnd = 0;
  let prevRole: Role | undefined;
  for (const quote of quotes) {
    const at = lower.indexOf(quote.marker, prevEnd);
    if (at < 0) continue;
    // The lead: words since the previous quote or sentence, at most 60 characters back.
    let leadStart = Math.max(prevEnd, at - 60);
    for (let i = at - 1; i >= leadStart; i--) {
      if (SENTENCE_BREAK.test(lower[i]!)) {
        leadStart = i + 1;
        prevRole = undefined;
        break;
      }
    }
    const lead = lower.slice(leadStart, at);
    let role: Role | undefined;
    let best = -1;
    for (const [r, re] of ROLE_WORDS) {
      re.lastIndex = 0;
      for (let m = re.exec(lead); m; m = re.exec(lead)) {
        if (m.index >= best) {
          best = m.index;
          role = r;
        }
      }
    }
    if (!role && prevRole && LIST_JOINER.test(lead)) role = prevRole;
    let after = lower.slice(at + 1, at + 41);
    const cut = after.search(/[\ue000-\uf8ff.;!?。；！？\n]/);
    if (cut >= 0) after = after.slice(0, cut);
    if (!role) {
      const m = AFTER_ROLE.exec(after);
      if (m) role = roleFromWord(m[1] ?? m[2] ?? '');
    }
    if (role === undefined || role === 'caption') {
      if (AFTER_END.test(after)) role = 'cta';
      else if (AFTER_START.test(after)) role = 'title';
    }
    if (role) roles.set(quote.marker, { role, at });
    prevRole = role;
    prevEnd = at + 1;
  }
  return roles;
}

function overlayPhrase(role: Role, quote: Quote, at: number, s: PromptSettings): Phrase {
  const short = quote.shortened ? { en: ' (shortened to 200 characters)', zh: '（已截短为 200 个字符）' } : { en: '', zh: '' };
  const text = excerpt(quote.text, 40);
  if (role === 'title') {
    s.title = quote.text;
    return { at, label: { en: `title "${text}"`, zh: `标题“${text}”` }, meaning: { en: `title "${text}"${short.en}`, zh: `标题“${text}”${short.zh}` }, groups: ['title'], values: { title: JSON.stringify(quote.text) } };
  }
  if (role === 'cta') {
    s.cta = quote.text;
    return { at, label: { en: `call to action "${text}"`, zh: `行动号召“${text}”` }, meaning: { en: `call to action "${text}" at the end${short.en}`, zh: `结尾行动号召“${text}”${short.zh}` }, groups: ['cta'], values: { cta: JSON.stringify(quote.text) } };
  }
  s.captions = [...(s.captions ?? []), quote.text];
  return { at, label: { en: `caption "${text}"`, zh: `字幕“${text}”` }, meaning: { en: `caption "${text}"${short.en}`, zh: `字幕“${text}”${short.zh}` }, groups: ['caption'] };
}

/* ---------- what was not understood ---------- */

const STOPWORDS = new Set(
  (
    'a an the my our your me us i we you it its this that these those there here to into onto of for with and or but nor in on at by as from ' +
    'please pls plz kindly thanks thank just also then so very really too more less bit little some all each every any one ones both ' +
    'make made making turn turning convert converting create creating generate produce render rendering give build put want wants need needs ' +
    'would like could can should will shall be is are am was were been being do does did done get got let lets have has had them they their ' +
    'he she his her what which who how when where why while if than such same other another new now up down over about around via per ' +
    'photos photo images image pictures picture pics pic stills still shots shot product products item items video videos clip clips movie ' +
    'film slideshow slide slides show showing montage reel nice good great beautiful cool awesome amazing best pretty professional simple clean ' +
    'quality look looking looks style styled feel vibe version edit editing transition transitions effect effects format resolution mode ' +
    'everything something thing things way ok okay yes no not wait actually instead rather hmm um well sure title titled heading headline called ' +
    'named caption captions subtitle subtitles text tagline slogan overlay label labels saying says reads reading cta button ending end card ' +
    'screen first last final start beginning intro outro opening closing call action sign off hi hello hey maybe kind sort mine ' +
    'speed pace tempo frame frames per second seconds sec secs minute minutes min mins long short length total duration time add adding ' +
    'using use set setting settings output file high low camera zoom pan ken burns fade fades music audio sound bgm volume between across ' +
    'during after before throughout whole entire overall together along keep gently slowly nicely quickly smoothly ' +
    'thought second-thought mind scratch change changed instead actually oh oops sorry'
  ).split(' '),
);

const ZH_FILLER = new RegExp(
  [
    '请', '帮我', '帮忙', '给我', '把', '将', '我们的', '我的', '我们', '我', '这些', '这几张', '几张', '张', '照片', '图片', '相片', '图',
    '做成', '做', '制作', '生成', '转换成', '转换', '转成', '变成', '成', '一个', '一段', '个', '段', '的', '视频', '短视频', '影片',
    '想要', '需要', '要', '用', '和', '并且', '并', '然后', '再', '加上', '加', '添加', '吧', '呢', '啊', '呀', '哦', '一下', '谢谢', '好',
    '很', '更', '有', '带有', '带', '使用', '效果', '风格', '一点', '一些', '适合', '发布', '发', '到', '上', '里', '中', '为', '是', '在',
    '就', '都', '也', '可以', '能', '让', '它', '得', '地', '了', '着', '过', '来', '去', '这样', '那样', '模式', '版本', '格式', '感觉',
    '产品', '商品', '每', '帧', '秒', '转场', '过渡', '镜头', '画面', '背景', '音乐', '标题', '字幕', '文字', '文案', '结尾', '开头', '时长',
    '分辨率', '比例', '节奏', '顺序', '一', '些', '所有', '全部', '整个', '那', '这', '吗', '嗯', '然后再', '播放', '展示', '显示',
    '不对', '算了', '改成', '改为', '换成', '还是',
  ]
    .sort((a, b) => b.length - a.length)
    .join('|'),
  'g',
);
const HAN = /[\u3400-\u4dbf\u4e00-\u9fff]/g;

function notUnderstood(lower: string, taken: [number, number][]): Note[] {
  // Blank out everything recognised; what is left, clause by clause, was not understood.
  const chars = lower.split('');
  for (const [a, b] of taken) for (let i = a; i < b; i++) chars[i] = ' ';
  const residual = chars.map((c) => (isMarker(c) ? ' ' : c)).join('');
  const ignored: string[] = [];
  let more = 0;
  for (const clause of residual.split(CLAUSE_SPLIT)) {
    const words = clause.match(/[a-z][a-z'’-]*/g) ?? [];
    const content = words.some((w) => !STOPWORDS.has(w.replace(/['’]s$|['’]$/, '').replace(/-+$/, '')));
    const han = (clause.replace(ZH_FILLER, '').match(HAN) ?? []).length;
    const symbols = /[<>{}$#@*=_|\\^~`]/.test(clause);
    if (!content && han < 2 && !symbols) continue;
    const shown = clause.replace(/ {2,}/g, ' ').trim();
    if (!shown) continue;
    if (ignored.length < MAX_IGNORED_NOTES) ignored.push(excerpt(shown, 60));
    else more++;
  }
  const notes: Note[] = ignored.map((c) => ({ en: `not understood, ignored: "${c}"`, zh: `未能理解，已忽略：“${c}”` }));
  if (more > 0) notes.push({ en: `... and ${more} more parts not understood`, zh: `……另有 ${more} 处未能理解` });
  return notes;
}
