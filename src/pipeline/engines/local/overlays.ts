import path from 'node:path';
import sharp from 'sharp';
import type { Aspect, Overlay, Plan } from '../../../core/plan.js';
import type { GraphOverlay } from './filtergraph.js';

/**
 * Text overlays: sharp's text input (Pango + fontconfig: Noto Sans, with the system's Noto
 * Sans CJK and Noto Color Emoji as fallbacks; apt packages fonts-noto-core, fonts-noto-cjk,
 * fonts-noto-color-emoji) renders each overlay, word-wrapped, white with a soft shadow on a
 * translucent dark rounded box for contrast on any photo, into an RGBA PNG that ffmpeg
 * composites for the overlay's time span (with a short alpha fade in/out; filtergraph.ts).
 *
 * Placement: every overlay stays inside the platform safe area (safeArea); the title at its
 * top, a caption at its bottom, a call to action in the lower third (above a caption shown at
 * the same time). Text too tall for its slot is set smaller (down to MIN_SCALE of its size),
 * then cut with an ellipsis: it never leaves the safe area or covers another overlay.
 */

/** Pango markup escaping: the text is the client's, never markup. */
export function escapePango(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;')
    // Control characters are invalid in Pango markup (XML); keep newlines and tabs.
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '');
}

/**
 * Margins that platform UI covers, as fractions of the frame.
 * - 9:16 (TikTok, Instagram/Facebook Reels, YouTube Shorts): top 14 % (Meta's published
 *   Reels figure; TikTok's and Shorts' top bars are 7-13 %), bottom 22 % (the username,
 *   description and music rows: TikTok 17-24 %, Shorts about 20 %), sides 6 % (Meta's 6 %;
 *   TikTok's left edge ~60 px). `rail`: text in the lower part of the frame also keeps clear of
 *   the like/comment/share column on the right (120-170 px of 1080 on TikTok, Reels, Shorts).
 * - 16:9: broadcast title-safe sides (5 %), 8 % top and bottom (player controls, captions).
 * - 1:1 and 4:5 (feeds): 8 % top, 10 % bottom, 6 % sides.
 */
export const SAFE_MARGINS: Record<Aspect, { top: number; bottom: number; side: number; rail: number }> = {
  '9:16': { top: 0.14, bottom: 0.22, side: 0.06, rail: 0.14 },
  '16:9': { top: 0.08, bottom: 0.08, side: 0.05, rail: 0.05 },
  '1:1': { top: 0.08, bottom: 0.1, side: 0.06, rail: 0.06 },
  '4:5': { top: 0.08, bottom: 0.1, side: 0.06, rail: 0.06 },
};

export interface SafeArea {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** The rectangle text may use, in pixels. */
export function safeArea(aspect: Aspect, width: number, height: number): SafeArea {
  const f = SAFE_MARGINS[aspect];
  const left = Math.round(width * f.side);
  const top = Math.round(height * f.top);
  return { left, top, width: width - 2 * left, height: height - top - Math.round(height * f.bottom) };
}

interface Style {
  sizeFrac: number;
  /** Pango weight. Debian's fonts-noto-core has Regular and Bold only: SemiBold resolves to Bold there. */
  weight: 'Bold' | 'SemiBold';
  /** Tallest box, as a fraction of the safe area's height (title + caption + cta together fit). */
  maxHeightFrac: number;
}

const STYLES: Record<Overlay['type'], Style> = {
  title: { sizeFrac: 0.075, weight: 'Bold', maxHeightFrac: 0.35 },
  cta: { sizeFrac: 0.055, weight: 'Bold', maxHeightFrac: 0.28 },
  caption: { sizeFrac: 0.045, weight: 'SemiBold', maxHeightFrac: 0.28 },
};

/** Text may be set down to this fraction of its style's size before it is cut short. */
const MIN_SCALE = 0.7;
/** A call to action's bottom edge, as a fraction of the safe area's height (the lower third). */
const CTA_BOTTOM = 0.78;
/** The box's opacity: white text on it over a white photo has a WCAG contrast of 5.7:1 (0.5 would give 3.9:1). */
const BOX_OPACITY = 0.6;
const ELLIPSIS = '…';

export interface RenderedOverlay extends GraphOverlay {
  width: number;
  height: number;
  /** Position of the overlay in `plan.overlays`. */
  index: number;
  /** The font size used, px (smaller than the style's when the text had to shrink to fit). */
  fontSize: number;
  /** The text was cut short (with an ellipsis) to fit its slot. */
  truncated: boolean;
}

/**
 * Render every overlay of the plan into workDir; returns where each goes. Overlays whose text
 * draws nothing (only invisible characters) are left out.
 */
export async function renderOverlays(plan: Plan, workDir: string): Promise<RenderedOverlay[]> {
  const { width, height, aspect } = plan.output;
  const safe = safeArea(aspect, width, height);
  const frameMin = Math.min(width, height);
  // Lower text (caption, cta) keeps clear of 9:16's right-hand buttons.
  const lowerRight = width - Math.round(width * SAFE_MARGINS[aspect].rail);
  const gap = Math.round(frameMin * 0.02);

  // Text shown only over an end card (the photo blurred behind it) is the card's message:
  // title-sized, in the middle of the safe area.
  const onCard = (o: Overlay) => plan.clips.some((c) => c.card && o.startMs >= c.startMs && o.startMs + o.durationMs <= c.startMs + c.durationMs);
  const drawn: (RenderedOverlay & { type: Overlay['type'] | 'card' })[] = [];
  for (const [k, o] of plan.overlays.entries()) {
    const right = o.type === 'title' ? safe.left + safe.width : Math.min(safe.left + safe.width, lowerRight);
    const style = onCard(o) ? 'title' : o.type;
    const img = await renderTextBox(o.text, style, frameMin, right - safe.left, Math.floor(safe.height * STYLES[style].maxHeightFrac));
    if (img.width === 0) continue;
    const file = `o${k}.png`;
    await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 4 } }).png({ compressionLevel: 1 }).toFile(path.join(workDir, file));
    // Centred on the frame, pushed left only as far as the buttons need.
    const x = Math.max(safe.left, Math.min(Math.round((width - img.width) / 2), right - img.width));
    drawn.push({ type: onCard(o) ? 'card' : o.type, file, x, y: 0, startMs: o.startMs, durationMs: o.durationMs, width: img.width, height: img.height, index: k, fontSize: img.fontSize, truncated: img.truncated });
  }

  const overlapsInTime = (a: RenderedOverlay, b: RenderedOverlay) => a.startMs < b.startMs + b.durationMs && b.startMs < a.startMs + a.durationMs;
  const safeBottom = safe.top + safe.height;
  for (const d of drawn) {
    if (d.type === 'title') d.y = safe.top;
    else if (d.type === 'caption') d.y = safeBottom - d.height;
    else if (d.type === 'card') d.y = safe.top + Math.round((safe.height - d.height) / 2);
  }
  for (const d of drawn) {
    if (d.type !== 'cta') continue;
    // Lower third; above any caption on screen at the same time.
    let bottom = safe.top + Math.round(safe.height * CTA_BOTTOM);
    for (const c of drawn) if (c.type === 'caption' && overlapsInTime(c, d)) bottom = Math.min(bottom, c.y - gap);
    d.y = Math.max(safe.top, bottom - d.height);
  }
  return drawn.map(({ type: _type, ...rest }) => rest);
}

/** The language Pango should shape Han characters for: Chinese glyph forms unless the text has kana (Japanese) or hangul (Korean). */
export function textLanguage(text: string): 'ja' | 'ko' | 'zh-cn' | undefined {
  if (/[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]/.test(text)) return 'ja';
  if (/[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]/.test(text)) return 'ko';
  if (/[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[\ud840-\ud87f][\udc00-\udfff]/.test(text)) return 'zh-cn';
  return undefined;
}

interface TextRaster {
  data: Buffer;
  width: number;
  height: number;
}

/** The text alone, white, wrapped to `wrapWidth`; null when it draws nothing. */
async function rasterText(text: string, size: number, weight: Style['weight'], wrapWidth: number, lang: string | undefined): Promise<TextRaster | null> {
  // insert_hyphens="false": a long token (a URL, a product code) breaks between characters
  // without gaining hyphens that are not in it.
  const markup = `<span foreground="#ffffff" insert_hyphens="false"${lang ? ` lang="${lang}"` : ''}>${escapePango(text)}</span>`;
  try {
    const t = await sharp({
      text: {
        text: markup,
        font: `Noto Sans ${weight} ${size}px`,
        width: Math.max(1, wrapWidth),
        align: 'centre',
        rgba: true,
        dpi: 72,
        wrap: 'word-char',
        spacing: Math.round(size * 0.15),
      },
    })
      .raw()
      .toBuffer({ resolveWithObject: true });
    return { data: t.data, width: t.info.width, height: t.info.height };
  } catch (err) {
    // libvips: the text has no ink (only invisible characters).
    if (err instanceof Error && /no text to render/i.test(err.message)) return null;
    throw err;
  }
}

/** Box padding and minimum inner height for a font size. */
function boxMetrics(size: number) {
  return { padX: Math.round(size * 0.6), padY: Math.round(size * 0.35), minInner: Math.round(size * 0.9) };
}

function boxSize(t: TextRaster, size: number): { w: number; h: number } {
  const m = boxMetrics(size);
  return { w: t.width + 2 * m.padX, h: Math.max(t.height, m.minInner) + 2 * m.padY };
}

export interface TextBox {
  /** Raw RGBA (straight alpha); empty when the text draws nothing. */
  data: Buffer;
  width: number;
  height: number;
  fontSize: number;
  truncated: boolean;
}

/**
 * White, wrapped, centred text with a soft shadow on a rounded translucent box; raw RGBA.
 * The box is at most `maxWidth` wide and `maxHeight` tall: text that does not fit is set
 * smaller (down to MIN_SCALE of the style's size), then cut with an ellipsis. Text with
 * nothing to draw gives a 0 x 0 box.
 */
export async function renderTextBox(text: string, type: Overlay['type'], frameMin: number, maxWidth: number, maxHeight = Infinity): Promise<TextBox> {
  const style = STYLES[type];
  const lang = textLanguage(text);
  const nominal = Math.max(12, Math.round(frameMin * style.sizeFrac));
  const minSize = Math.max(12, Math.round(nominal * MIN_SCALE));
  const layout = (s: string, size: number) => rasterText(s, size, style.weight, maxWidth - 2 * boxMetrics(size).padX, lang);
  const fits = (t: TextRaster, size: number) => {
    const b = boxSize(t, size);
    return b.w <= maxWidth && b.h <= maxHeight;
  };

  let size = nominal;
  let t = await layout(text, size);
  if (!t) return { data: Buffer.alloc(0), width: 0, height: 0, fontSize: size, truncated: false };
  // Smaller type: wrapped text's height goes with the square of the size.
  for (let i = 0; i < 8 && !fits(t, size) && size > minSize; i++) {
    const b = boxSize(t, size);
    const k = Math.min(Math.sqrt(maxHeight / b.h), maxWidth / b.w);
    size = Math.max(minSize, Math.min(size - 1, Math.floor(size * k)));
    t = (await layout(text, size))!;
  }
  let truncated = false;
  if (!fits(t, size)) {
    // Still too tall at the smallest size: the longest start of the text (whole graphemes) + "…" that fits.
    const g = Array.from(new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(text), (s) => s.segment);
    const cut = (n: number) => layout(g.slice(0, n).join('').trimEnd() + ELLIPSIS, size);
    let lo = 0;
    let hi = g.length - 1;
    let n = 0;
    let best: TextRaster | null = null;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const cand = await cut(mid);
      if (cand && fits(cand, size)) {
        best = cand;
        n = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    // Mid-word: end at the word's start instead, when a space is near (not for CJK: no spaces).
    const space = (s: string | undefined) => s !== undefined && /^\s+$/.test(s);
    if (best && !space(g[n]) && !space(g[n - 1])) {
      let j = n - 1;
      while (j > 0 && !space(g[j])) j--;
      if (j > 0 && n - j <= 15) {
        const cand = await cut(j);
        if (cand && fits(cand, size)) best = cand;
      }
    }
    t = best ?? (await layout(ELLIPSIS, size))!;
    truncated = true;
  }
  return { ...(await compose(t, size)), fontSize: size, truncated };
}

/** The box, the text's shadow and the text. */
async function compose(t: TextRaster, size: number): Promise<{ data: Buffer; width: number; height: number }> {
  const { padX, padY, minInner } = boxMetrics(size);
  const { w, h } = boxSize(t, size);
  const r = Math.round(Math.min(h / 2, size * 0.5));
  const box = Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}"><rect width="${w}" height="${h}" rx="${r}" ry="${r}" fill="#000000" fill-opacity="${BOX_OPACITY}"/></svg>`,
  );
  const top = padY + Math.floor((Math.max(t.height, minInner) - t.height) / 2);
  // Shadow: the text's alpha, blurred, a little below; it darkens the box right around the
  // strokes, so edges stay crisp after chroma subsampling and compression.
  const sigma = Math.max(0.8, size * 0.04);
  const spread = Math.ceil(sigma * 3);
  const alpha = await sharp(t.data, { raw: { width: t.width, height: t.height, channels: 4 } }).extractChannel(3).raw().toBuffer();
  const shadow = await sharp({ create: { width: t.width, height: t.height, channels: 3, background: '#000000' } })
    .joinChannel(alpha, { raw: { width: t.width, height: t.height, channels: 1 } })
    .extend({ top: spread, bottom: spread, left: spread, right: spread, background: { r: 0, g: 0, b: 0, alpha: 0 } })
    .blur(sigma)
    .linear([1, 1, 1, 0.6], [0, 0, 0, 0])
    .raw()
    .toBuffer({ resolveWithObject: true });
  const dy = Math.max(1, Math.round(size * 0.03));
  const out = await sharp(box)
    .ensureAlpha()
    .composite([
      { input: shadow.data, raw: { width: shadow.info.width, height: shadow.info.height, channels: 4 }, left: padX - spread, top: top - spread + dy },
      { input: t.data, raw: { width: t.width, height: t.height, channels: 4 }, left: padX, top },
    ])
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data: out.data, width: out.info.width, height: out.info.height };
}
