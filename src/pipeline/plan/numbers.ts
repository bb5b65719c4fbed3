/**
 * Numbers and durations. Number words are first rewritten as digits where they count
 * something the vocabulary measures ("thirty-second" -> "30-second", "two and a half
 * seconds" -> "2.5 seconds", "half a minute" -> "30 seconds", "两秒" -> "2秒", "半分钟" ->
 * "30秒", "一分半" -> "90秒", "百分之三十" -> "30%"), so the rules only ever match digits.
 * That keeps the rule regexes small (fast to compile) and unambiguous (linear to run).
 */

const UNITS: Record<string, number> = {
  zero: 0, one: 1, two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8, nine: 9, ten: 10,
  eleven: 11, twelve: 12, thirteen: 13, fourteen: 14, fifteen: 15, sixteen: 16, seventeen: 17, eighteen: 18, nineteen: 19,
};
const TENS: Record<string, number> = { twenty: 20, thirty: 30, forty: 40, fourty: 40, fifty: 50, sixty: 60, seventy: 70, eighty: 80, ninety: 90 };
const ONES = ['one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
const alt = (words: string[]) => [...words].sort((a, b) => b.length - a.length).join('|');

const WORD_NUM = `(?:${alt(Object.keys(TENS))})(?:[ -](?:${alt(ONES)}))?|${alt(Object.keys(UNITS))}`;
/** What a number can count here. */
const EN_UNIT = String.raw`(?:seconds?|secs?|s|minutes?|mins?|fps|frames?|percent|%)\b`;
const ZH_DIGIT = '[零〇一二两三四五六七八九十百]';

/** Digits: the only number form the rules match (after normaliseNumbers). */
export const NUM = String.raw`(?:\d{1,5}(?:\.\d{1,3})?|\.\d{1,3})`;
const RANGE = String.raw`${NUM}(?: ?(?:-|–|~|to|or|到|至) ?${NUM})?`;
const SEC = String.raw`(?:seconds?\b|secs?\b|s\b|秒钟?)`;
const MIN = String.raw`(?:minutes?\b|mins?\b|分钟|分(?= ?\d))`;
/** A duration, as one capture group: "2 s", "2.5 seconds", "30-second", "1 min 30 s", "2-3 s", "0-10s", "2秒", "1分30秒". */
export const DUR = String.raw`(\b${RANGE}[ -]?${MIN}(?: ?(?:and )?${NUM}[ -]?${SEC})?|\b${RANGE}[ -]?${SEC})`;

/** Rewrites number words that count seconds, minutes, frames or percent as digits (lower-cased input). */
export function normaliseNumbers(lower: string): string {
  let s = lower;
  if (/[a-z]/.test(s)) {
    s = s
      .replace(/\bhalf an? (?:minute|min)\b/g, '30 seconds')
      .replace(/\b(?:a|an|one) (?:minute|min) and a half\b/g, '90 seconds')
      .replace(/\bhalf an? (?:second|sec)\b/g, '0.5 seconds')
      .replace(/\ban? (?=(?:minute|min)\b)/g, '1 ')
      .replace(/\b(?:a )?couple(?: of)? (?=(?:seconds?|secs?|minutes?|mins?)\b)/g, '2 ')
      .replace(/\ba few (?=(?:seconds?|secs?)\b)/g, '3 ')
      .replace(new RegExp(String.raw`\b(${WORD_NUM})( and a half)?(?=[ -]?${EN_UNIT})`, 'g'), (_m, w: string, half?: string) => String(wordValue(w) + (half ? 0.5 : 0)))
      .replace(new RegExp(String.raw`\b(\d{1,5}) and a half(?=[ -]?${EN_UNIT})`, 'g'), (_m, d: string) => String(Number(d) + 0.5))
      .replace(new RegExp(String.raw`\b(${WORD_NUM})(?= ?(?:-|to|or) ?\d{1,5}(?:\.\d{1,3})?[ -]?${EN_UNIT})`, 'g'), (_m, w: string) => String(wordValue(w)));
  }
  if (/[\u4e00-\u9fff]/.test(s)) {
    s = s
      .replace(/半分钟/g, '30秒')
      .replace(new RegExp(`(${ZH_DIGIT}{1,4}|\\d{1,3}) ?分钟?半`, 'g'), (_m, n: string) => `${(chineseValue(n) ?? 0) * 60 + 30}秒`)
      .replace(new RegExp(`百分之(${ZH_DIGIT}{1,4}|\\d{1,3})`, 'g'), (_m, n: string) => `${chineseValue(n) ?? n}%`)
      .replace(new RegExp(`(${ZH_DIGIT}{1,4})(?= ?(?:秒|分钟|分 ?[0-9${ZH_DIGIT.slice(1, -1)}]{1,4} ?秒|帧|%|个?百分点))`, 'g'), (m: string) => String(chineseValue(m) ?? m))
      .replace(/半(?=秒)/g, '0.5');
  }
  return s;
}

function wordValue(w: string): number {
  const m = /^([a-z]+)(?:[ -]([a-z]+))?$/.exec(w)!;
  if (m[1]! in TENS) return TENS[m[1]!]! + (m[2] ? UNITS[m[2]]! : 0);
  return UNITS[w] ?? 0;
}

const ZH_DIGITS: Record<string, number> = { 零: 0, 〇: 0, 一: 1, 二: 2, 两: 2, 三: 3, 四: 4, 五: 5, 六: 6, 七: 7, 八: 8, 九: 9 };

/** "三十" -> 30, "二十五" -> 25, "两" -> 2, "一百" -> 100, "12" -> 12. */
export function chineseValue(s: string): number | null {
  if (/^\d+$/.test(s)) return Number(s);
  let section = 0;
  let cur = 0;
  for (const ch of s) {
    if (ch in ZH_DIGITS) cur = ZH_DIGITS[ch]!;
    else if (ch === '十') {
      section += (cur || 1) * 10;
      cur = 0;
    } else if (ch === '百') {
      section += (cur || 1) * 100;
      cur = 0;
    } else return null;
  }
  return section + cur;
}

/** "2-3", "2 to 3", "0-10": a range gives its middle, or its end when it starts at 0 (a span "0-10s" lasts 10 s). */
export function parseRange(raw: string): number | null {
  const s = raw.trim();
  if (/^\d*\.?\d+$/.test(s)) return Number(s);
  const m = /^(\d*\.?\d+) ?(?:-|–|~|to|or|到|至) ?(\d*\.?\d+)$/.exec(s);
  if (!m) return null;
  const a = Number(m[1]);
  const b = Number(m[2]);
  return a === 0 ? b : (a + b) / 2;
}

/** A matched DUR -> seconds. */
export function parseDuration(raw: string): number | null {
  const s = raw.trim();
  const m = /^(.+?)[ -]?(?:minutes?|mins?|分钟|分)(?: ?(?:and )?(\d*\.?\d+)[ -]?(?:seconds?|secs?|s|秒钟?))?$/.exec(s);
  if (m) {
    const min = parseRange(m[1]!);
    return min === null ? null : min * 60 + (m[2] ? Number(m[2]) : 0);
  }
  const sec = /^(.+?)[ -]?(?:seconds?|secs?|s|秒钟?)$/.exec(s);
  return sec ? parseRange(sec[1]!) : null;
}

/** A plain number (digits) or null. */
export function parseNumber(raw: string): number | null {
  const s = raw.trim();
  if (/^\d*\.?\d+$/.test(s)) return Number(s);
  return chineseValue(s);
}
