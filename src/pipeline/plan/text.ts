import { MAX_OVERLAY_CHARS } from './settings.js';

/**
 * Text hygiene for the prompt reader: everything here is linear in the input (no regex
 * with nested or adjacent unbounded repetition), because prompts are untrusted.
 */

/** The reader looks at no more than this much of a prompt (the API allows 2000 characters). */
export const MAX_READ_CHARS = 4000;

/* eslint-disable no-control-regex */
const CONTROL = /[\u0000-\u0009\u000b\u000c\u000e-\u001f\u007f-\u009f]/g;
const NEWLINES = /\r\n?|[\u2028\u2029]/g;
/** Zero-width, bidi controls, BOM, private use (the reader's quote markers live there), lone surrogates. */
const INVISIBLE = /[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff\ue000-\uf8ff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
/* eslint-enable no-control-regex */

/** Prompt -> one line per line of input, single spaces, no control or invisible characters, NFKC (full-width digits and colons become ASCII). */
export function cleanPrompt(raw: string): { text: string; truncated: boolean } {
  let s = raw;
  let truncated = false;
  if (s.length > MAX_READ_CHARS) {
    s = s.slice(0, MAX_READ_CHARS);
    truncated = true;
  }
  s = s.replace(NEWLINES, '\n').replace(CONTROL, ' ').replace(INVISIBLE, '').normalize('NFKC');
  s = s.replace(CONTROL, ' ').replace(INVISIBLE, ''); // NFKC can produce neither, but cheap to be sure
  s = s.replace(/[ \t]+/g, ' ').replace(/ ?\n[\n ]*/g, '\n').trim();
  return { text: s, truncated };
}

/** Overlay text: plain text (the renderer escapes markup), one line, no control characters, at most 200 characters. */
export function cleanOverlayText(raw: string): { text: string; shortened: boolean } {
  const flat = raw.replace(NEWLINES, ' ').replace(CONTROL, ' ').replace(INVISIBLE, '').replace(/\s+/g, ' ').trim();
  const chars = Array.from(flat); // by code point, so a surrogate pair is never split
  if (chars.length <= MAX_OVERLAY_CHARS) return { text: flat, shortened: false };
  return { text: chars.slice(0, MAX_OVERLAY_CHARS - 1).join('').trimEnd() + '…', shortened: true };
}

/** Shortens text quoted in a note. */
export function excerpt(s: string, max = 60): string {
  const chars = Array.from(s);
  return chars.length <= max ? s : chars.slice(0, max - 1).join('') + '…';
}

const HAN = /[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]/g;
const LATIN = /[a-z]/gi;

/** 'zh' when Chinese carries more of the prompt than English (a Han character counts as about 2.5 letters). */
export function detectLanguage(text: string): 'en' | 'zh' {
  const han = text.match(HAN)?.length ?? 0;
  if (han === 0) return 'en';
  const latin = text.match(LATIN)?.length ?? 0;
  return han * 5 >= latin * 2 ? 'zh' : 'en';
}

export interface Quote {
  /** The quoted text, cleaned for an overlay. */
  text: string;
  shortened: boolean;
  /** The marker character standing for this quote in the masked text. */
  marker: string;
}

const PAIRS: Record<string, string> = { '"': '"', '“': '”', '「': '」', '『': '』', '‘': '’', "'": "'", '«': '»', '《': '》' };
/** Apostrophe-like quotes only open after a non-letter and close before one ("don't" is no quote). */
const APOSTROPHES = new Set(["'", '‘', '’']);
const WORDISH = /[\p{L}\p{N}]/u;
const MAX_QUOTE_SCAN = 400;
const MAX_QUOTES = 200;
export const MARKER_BASE = 0xe000;

/**
 * Finds quoted phrases (" ", “ ”, 「 」, 『 』, ' ', ‘ ’, « », 《 》) and replaces each with one
 * private-use marker character, so rules never read words inside quotes ("title 'Vertical
 * Sale'" is not a request for vertical video). Unclosed quotes stay text.
 */
export function maskQuotes(text: string): { masked: string; quotes: Quote[] } {
  const quotes: Quote[] = [];
  let out = '';
  let i = 0;
  let plainStart = 0;
  while (i < text.length) {
    const ch = text[i]!;
    const close = PAIRS[ch];
    if (close === undefined || quotes.length >= MAX_QUOTES || (APOSTROPHES.has(ch) && i > 0 && WORDISH.test(text[i - 1]!))) {
      i++;
      continue;
    }
    let j = -1;
    const limit = Math.min(text.length, i + 1 + MAX_QUOTE_SCAN);
    for (let k = i + 1; k < limit; k++) {
      const c = text[k]!;
      if (c === '\n') break;
      if (c !== close) continue;
      if (APOSTROPHES.has(close) && (k + 1 < text.length && WORDISH.test(text[k + 1]!) || /\s/.test(text[k - 1]!))) continue;
      j = k;
      break;
    }
    if (j < 0) {
      i++;
      continue;
    }
    const { text: inner, shortened } = cleanOverlayText(text.slice(i + 1, j));
    if (!inner) {
      i = j + 1;
      continue;
    }
    const marker = String.fromCharCode(MARKER_BASE + quotes.length);
    quotes.push({ text: inner, shortened, marker });
    out += text.slice(plainStart, i) + ` ${marker} `;
    i = j + 1;
    plainStart = i;
  }
  out += text.slice(plainStart);
  return { masked: out.replace(/ {2,}/g, ' ').trim(), quotes };
}

export const isMarker = (c: string) => {
  const code = c.charCodeAt(0);
  return code >= MARKER_BASE && code < MARKER_BASE + MAX_QUOTES;
};

/* ---------- typo tolerance ---------- */

/** Words worth correcting: the vocabulary's distinctive words (short words and look-alikes of common words are left alone). */
const VOCABULARY = [
  'vertical', 'horizontal', 'landscape', 'portrait', 'widescreen', 'square', 'instagram', 'youtube', 'tiktok',
  'transition', 'transitions', 'crossfade', 'crossfades', 'dissolve', 'smooth', 'letterbox', 'letterboxed', 'background',
  'blurred', 'reverse', 'reversed', 'backwards', 'shuffle', 'shuffled', 'seconds', 'second', 'minute', 'minutes',
  'static', 'caption', 'captions', 'subtitle', 'subtitles', 'title', 'music', 'volume', 'energetic', 'relaxed',
  'cinematic', 'dramatic', 'pixelate', 'pixelize', 'soundtrack', 'portrait', 'crop', 'cropped',
];
const VOCAB_SET = new Set(VOCABULARY);
/** Real words one edit away from a vocabulary word. */
const PROTECTED = new Set([
  'stores', 'revere', 'reveres', 'reserve', 'utile', 'translation', 'translations', 'transaction', 'transactions',
  'minuet', 'smooch', 'status', 'statics', 'squire', 'titled', 'musics', 'cropper', 'reserved', 'reverie', 'captain',
  'captains', 'crossfire', 'vertices', 'vertex', 'smoothie', 'secondly', 'minutely', 'blurted', 'translate', 'translated',
  'portray', 'portal', 'portals', 'seconded', 'volumes', 'musical', 'musicals', 'statistic', 'secondary',
]);
const MIN_TYPO_LENGTH = 5;

/** Optimal string alignment distance (Damerau-Levenshtein without repeated edits), giving up above `max`. */
export function editDistance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  const n = b.length;
  let prev2 = new Array<number>(n + 1).fill(0);
  let prev = Array.from({ length: n + 1 }, (_, j) => j);
  let cur = new Array<number>(n + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    let rowMin = i;
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, prev2[j - 2]! + 1);
      cur[j] = v;
      if (v < rowMin) rowMin = v;
    }
    if (rowMin > max) return max + 1;
    [prev2, prev, cur] = [prev, cur, prev2];
  }
  return prev[n]!;
}

const typoCache = new Map<string, string | null>();

function correctWord(w: string): string | null {
  if (w.length < MIN_TYPO_LENGTH || VOCAB_SET.has(w) || PROTECTED.has(w)) return null;
  const cached = typoCache.get(w);
  if (cached !== undefined) return cached;
  // Longer words tolerate two edits ("verticle"), but only with the first letter right.
  const max = w.length >= 8 ? 2 : 1;
  let best: string | null = null;
  let bestD = max + 1;
  for (const v of VOCABULARY) {
    if (v.length < MIN_TYPO_LENGTH) continue;
    const allowed = v[0] === w[0] ? max : 1;
    const d = editDistance(w, v, allowed);
    if (d <= allowed && d < bestD) {
      bestD = d;
      best = v;
    }
  }
  if (typoCache.size > 5000) typoCache.clear();
  typoCache.set(w, best);
  return best;
}

/** Lower-cased text -> the same with common misspellings of vocabulary words corrected ("verticle" -> "vertical"). */
export function correctTypos(text: string): { text: string; corrections: { from: string; to: string }[] } {
  const corrections: { from: string; to: string }[] = [];
  const out = text.replace(/[a-z]{5,24}/g, (w, at: number) => {
    // Only whole ASCII words (not part of a longer token like "abc123verticle").
    const before = at > 0 ? text[at - 1]! : ' ';
    const after = text[at + w.length] ?? ' ';
    if (/[a-z0-9]/.test(before) || /[a-z0-9]/.test(after)) return w;
    const fixed = correctWord(w);
    if (!fixed) return w;
    if (corrections.length < 20 && !corrections.some((c) => c.from === w)) corrections.push({ from: w, to: fixed });
    return fixed;
  });
  return { text: out, corrections };
}
