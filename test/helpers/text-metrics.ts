import { execFile } from 'node:child_process';
import sharp from 'sharp';
import type { Frame, Rgb } from './images.js';

/**
 * Measurements for text overlays: decoded video frames (packed RGB) and rendered text
 * boxes (packed RGBA, straight alpha). Rectangles here are in pixels, [x0, x1) x [y0, y1).
 */

export interface PxRect {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** Raw RGBA, straight (unpremultiplied) alpha, as renderTextBox returns it. */
export interface Rgba {
  width: number;
  height: number;
  data: Buffer;
}

/** Several frames by number, decoded in one ffmpeg pass (select) as packed RGB. */
export async function decodeFrames(video: string, frames: number[], ffmpegPath = 'ffmpeg'): Promise<Map<number, Frame>> {
  const wanted = [...new Set(frames)].sort((a, b) => a - b);
  const { width, height } = await probeSize(video);
  const buf = await new Promise<Buffer>((resolve, reject) => {
    execFile(
      ffmpegPath,
      [
        '-nostdin', '-loglevel', 'error', '-i', video,
        '-vf', `select=${wanted.map((n) => `eq(n\\,${n})`).join('+')}`,
        '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-',
      ],
      { encoding: 'buffer', maxBuffer: 1024 * 1024 * 1024 },
      (err, stdout) => (err ? reject(err) : resolve(stdout)),
    );
  });
  const size = width * height * 3;
  if (buf.length !== size * wanted.length) throw new Error(`decodeFrames: got ${buf.length / size} frames, wanted ${wanted.length}`);
  const out = new Map<number, Frame>();
  wanted.forEach((n, i) => out.set(n, { width, height, data: buf.subarray(i * size, (i + 1) * size) }));
  return out;
}

function probeSize(video: string): Promise<{ width: number; height: number }> {
  return new Promise((resolve, reject) => {
    execFile(process.env.FFPROBE_PATH ?? 'ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height', '-of', 'csv=p=0', video], (err, stdout) => {
      if (err) return reject(err);
      const [w, h] = stdout.trim().split(',').map(Number);
      resolve({ width: w!, height: h! });
    });
  });
}

/** A flat-colour photo with faint noise (JPEG), so overlays are easy to separate from it. */
export async function flatPhoto(path: string, width: number, height: number, colour: Rgb): Promise<void> {
  const noise = await sharp({ create: { width, height, channels: 3, background: '#000000', noise: { type: 'gaussian', mean: 128, sigma: 12 } } })
    .raw()
    .toBuffer();
  // colour + (noise - 128) / 4: about +-3 levels
  await sharp(noise, { raw: { width, height, channels: 3 } })
    .linear([0.25, 0.25, 0.25], colour.map((c) => c - 32) as Rgb)
    .jpeg({ quality: 92 })
    .toFile(path);
}

export const luma = (r: number, g: number, b: number) => 0.2126 * r + 0.7152 * g + 0.0722 * b;

/** sRGB 8-bit -> relative luminance (WCAG). */
export function relativeLuminance(v: number): number {
  const c = v / 255;
  return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
}

/** WCAG contrast ratio between two grey levels (8-bit). */
export function contrastRatio(a: number, b: number): number {
  const la = relativeLuminance(a);
  const lb = relativeLuminance(b);
  return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
}

export function saturationOf(r: number, g: number, b: number): number {
  const mx = Math.max(r, g, b);
  return mx === 0 ? 0 : (mx - Math.min(r, g, b)) / mx;
}

/** Bounding box and count of the frame's pixels that satisfy `pred`, within `within` (default: the whole frame). */
export function bboxWhere(f: Frame, pred: (r: number, g: number, b: number) => boolean, within?: PxRect): (PxRect & { count: number }) | null {
  const r = within ?? { x0: 0, y0: 0, x1: f.width, y1: f.height };
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity, count = 0;
  for (let y = r.y0; y < r.y1; y++) {
    for (let x = r.x0; x < r.x1; x++) {
      const i = (y * f.width + x) * 3;
      if (!pred(f.data[i]!, f.data[i + 1]!, f.data[i + 2]!)) continue;
      count++;
      if (x < x0) x0 = x;
      if (x >= x1) x1 = x + 1;
      if (y < y0) y0 = y;
      if (y >= y1) y1 = y + 1;
    }
  }
  return count ? { x0, y0, x1, y1, count } : null;
}

/** Count of pixels satisfying `pred` in the frame outside `hole`. */
export function countOutside(f: Frame, pred: (r: number, g: number, b: number) => boolean, hole: PxRect): number {
  let n = 0;
  for (let y = 0; y < f.height; y++) {
    for (let x = 0; x < f.width; x++) {
      if (x >= hole.x0 && x < hole.x1 && y >= hole.y0 && y < hole.y1) continue;
      const i = (y * f.width + x) * 3;
      if (pred(f.data[i]!, f.data[i + 1]!, f.data[i + 2]!)) n++;
    }
  }
  return n;
}

/** Luma values of a rectangle of the frame, sorted ascending. */
export function lumaValues(f: Frame, r: PxRect): Float64Array {
  const out = new Float64Array((r.x1 - r.x0) * (r.y1 - r.y0));
  let k = 0;
  for (let y = r.y0; y < r.y1; y++) {
    for (let x = r.x0; x < r.x1; x++) {
      const i = (y * f.width + x) * 3;
      out[k++] = luma(f.data[i]!, f.data[i + 1]!, f.data[i + 2]!);
    }
  }
  return out.sort();
}

export function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(p * (sorted.length - 1))))]!;
}

export function inside(inner: PxRect, outer: PxRect, slack = 0): boolean {
  return inner.x0 >= outer.x0 - slack && inner.y0 >= outer.y0 - slack && inner.x1 <= outer.x1 + slack && inner.y1 <= outer.y1 + slack;
}

export function intersects(a: PxRect, b: PxRect): boolean {
  return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
}

/* ---------- rendered text boxes (RGBA) ---------- */

/**
 * Per-pixel text ink of a renderTextBox image: white text over a dark box, so the
 * premultiplied red channel is the text's coverage (0..1).
 */
export function textInk(img: Rgba, x: number, y: number): number {
  const i = (y * img.width + x) * 4;
  return (img.data[i]! * img.data[i + 3]!) / (255 * 255);
}

/** Bounding box of the pixels where `ink(x, y) > threshold`, plus the summed ink. */
export function inkBox(img: Rgba, ink: (x: number, y: number) => number, threshold = 0.5): (PxRect & { sum: number }) | null {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity, sum = 0;
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      const v = ink(x, y);
      sum += v;
      if (v <= threshold) continue;
      if (x < x0) x0 = x;
      if (x >= x1) x1 = x + 1;
      if (y < y0) y0 = y;
      if (y >= y1) y1 = y + 1;
    }
  }
  return Number.isFinite(x0) ? { x0, y0, x1, y1, sum } : null;
}

/** Runs [a, b) of indices 0..n-1 where `inked(i)` holds, separated by indices where it does not. */
function runs(n: number, inked: (i: number) => boolean): [number, number][] {
  const out: [number, number][] = [];
  let start = -1;
  for (let i = 0; i <= n; i++) {
    const any = i < n && inked(i);
    if (any && start < 0) start = i;
    if (!any && start >= 0) {
      out.push([start, i]);
      start = -1;
    }
  }
  return out;
}

/** Rows (y0, y1) of ink separated by empty rows: the text's lines. */
export function inkRows(img: Rgba, ink: (x: number, y: number) => number, threshold = 0.5): [number, number][] {
  return runs(img.height, (y) => {
    for (let x = 0; x < img.width; x++) if (ink(x, y) > threshold) return true;
    return false;
  });
}

/** Columns of ink separated by empty columns (glyph cells for CJK, which has no joined glyphs). */
export function inkColumns(img: Rgba, ink: (x: number, y: number) => number, threshold = 0.5): [number, number][] {
  return runs(img.width, (x) => {
    for (let y = 0; y < img.height; y++) if (ink(x, y) > threshold) return true;
    return false;
  });
}

/**
 * Pango's "hex box" (drawn for a character no installed font has): a rectangular frame
 * around the code point's hex digits. True when the ink in [x0, x1) has a closed frame:
 * the ink's first and last columns and first and last rows are each at least 85 % inked,
 * and the frame is no thin bar (both sides at least `minSide` px).
 */
export function looksLikeHexBox(img: Rgba, ink: (x: number, y: number) => number, x0: number, x1: number, minSide: number): boolean {
  let y0 = Infinity, y1 = -Infinity, bx0 = Infinity, bx1 = -Infinity;
  for (let y = 0; y < img.height; y++) {
    for (let x = x0; x < x1; x++) {
      if (ink(x, y) <= 0.5) continue;
      y0 = Math.min(y0, y);
      y1 = Math.max(y1, y + 1);
      bx0 = Math.min(bx0, x);
      bx1 = Math.max(bx1, x + 1);
    }
  }
  if (!Number.isFinite(y0) || y1 - y0 < minSide || bx1 - bx0 < minSide) return false;
  // Within 2 px of each edge, the best line's coverage.
  const colCover = (x: number) => {
    let n = 0;
    for (let y = y0; y < y1; y++) if (ink(x, y) > 0.5) n++;
    return n / (y1 - y0);
  };
  const rowCover = (y: number) => {
    let n = 0;
    for (let x = bx0; x < bx1; x++) if (ink(x, y) > 0.5) n++;
    return n / (bx1 - bx0);
  };
  const best = (f: (v: number) => number, vs: number[]) => Math.max(...vs.map(f));
  const left = best(colCover, [bx0, bx0 + 1, bx0 + 2]);
  const right = best(colCover, [bx1 - 1, bx1 - 2, bx1 - 3]);
  const top = best(rowCover, [y0, y0 + 1, y0 + 2]);
  const bottom = best(rowCover, [y1 - 1, y1 - 2, y1 - 3]);
  return Math.min(left, right, top, bottom) >= 0.85;
}

/** Fraction of a text box's opaque-text pixels (coverage > 0.5, any colour) that are saturated (> 0.45): colour emoji. */
export function colouredInkFraction(img: Rgba): number {
  let ink = 0;
  let coloured = 0;
  for (let p = 0; p < img.width * img.height; p++) {
    const i = p * 4;
    const r = img.data[i]!, g = img.data[i + 1]!, b = img.data[i + 2]!, a = img.data[i + 3]!;
    // Box pixels are black at the box's alpha; text pixels are bright or coloured and opaque.
    if (a < 250 || Math.max(r, g, b) < 80) continue;
    ink++;
    if (saturationOf(r, g, b) > 0.45) coloured++;
  }
  return ink ? coloured / ink : 0;
}
