import path from 'node:path';
import sharp from 'sharp';
import type { Aspect, Overlay, Plan } from '../../../core/plan.js';
import type { GraphOverlay } from './filtergraph.js';

/**
 * Text overlays: sharp's text input (Pango + fontconfig: Noto Sans, with the system's Noto
 * CJK and Noto Color Emoji as fallbacks) renders each overlay, word-wrapped, white on a
 * translucent dark rounded box for contrast on any photo, into an RGBA PNG that ffmpeg
 * composites for the overlay's time span (with a short alpha fade in/out).
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

/** Margins that platform UI covers, as fractions of the frame (vertical video: top 12 %, bottom 20 %). */
export function safeArea(aspect: Aspect, width: number, height: number) {
  const f =
    aspect === '9:16' ? { top: 0.12, bottom: 0.2, side: 0.06 }
    : aspect === '16:9' ? { top: 0.08, bottom: 0.08, side: 0.05 }
    : { top: 0.08, bottom: 0.1, side: 0.06 };
  const left = Math.round(width * f.side);
  const top = Math.round(height * f.top);
  return { left, top, width: width - 2 * left, height: height - top - Math.round(height * f.bottom) };
}

interface Style {
  sizeFrac: number;
  weight: 'Bold' | 'SemiBold' | 'Medium';
}

const STYLES: Record<Overlay['type'], Style> = {
  title: { sizeFrac: 0.075, weight: 'Bold' },
  cta: { sizeFrac: 0.055, weight: 'Bold' },
  caption: { sizeFrac: 0.045, weight: 'Medium' },
};

export interface RenderedOverlay extends GraphOverlay {
  width: number;
  height: number;
}

/** Render every overlay of the plan into workDir; returns where each goes. */
export async function renderOverlays(plan: Plan, workDir: string): Promise<RenderedOverlay[]> {
  const { width, height, aspect } = plan.output;
  const safe = safeArea(aspect, width, height);
  const res: RenderedOverlay[] = [];
  for (const [k, o] of plan.overlays.entries()) {
    const file = `o${k}.png`;
    const img = await renderTextBox(o.text, o.type, Math.min(width, height), safe.width);
    await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 4 } }).png({ compressionLevel: 1 }).toFile(path.join(workDir, file));
    const x = safe.left + (safe.width - img.width) / 2;
    let y: number;
    if (o.type === 'title') y = safe.top;
    else if (o.type === 'caption') y = safe.top + safe.height - img.height;
    // cta: above the caption slot, in the lower third of the safe area
    else y = safe.top + safe.height * 0.78 - img.height;
    res.push({ file, x: Math.round(x), y: Math.round(Math.max(0, y)), startMs: o.startMs, durationMs: o.durationMs, width: img.width, height: img.height });
  }
  return res;
}

/** White, wrapped, centred text on a rounded translucent box; raw RGBA. */
export async function renderTextBox(text: string, type: Overlay['type'], frameMin: number, maxWidth: number): Promise<{ data: Buffer; width: number; height: number }> {
  const style = STYLES[type];
  const size = Math.max(12, Math.round(frameMin * style.sizeFrac));
  const padX = Math.round(size * 0.6);
  const padY = Math.round(size * 0.35);
  const markup = `<span foreground="#ffffff">${escapePango(text)}</span>`;
  const textImg = sharp({
    text: {
      text: markup,
      font: `Noto Sans ${style.weight} ${size}px`,
      width: Math.max(1, maxWidth - 2 * padX),
      align: 'centre',
      rgba: true,
      dpi: 72,
      wrap: 'word-char',
      spacing: Math.round(size * 0.15),
    },
  });
  const t = await textImg.raw().toBuffer({ resolveWithObject: true });
  const w = t.info.width + 2 * padX;
  const h = t.info.height + 2 * padY;
  const r = Math.round(Math.min(h / 2, size * 0.5));
  const box = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}"><rect width="${w}" height="${h}" rx="${r}" ry="${r}" fill="#000000" fill-opacity="0.5"/></svg>`);
  const out = await sharp(box)
    .ensureAlpha()
    .composite([{ input: t.data, raw: { width: t.info.width, height: t.info.height, channels: t.info.channels as 4 }, left: padX, top: padY }])
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data: out.data, width: out.info.width, height: out.info.height };
}
