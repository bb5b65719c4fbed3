import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Aspect, Clip, Overlay, Plan } from '../../src/core/plan.js';
import type { SourceImage } from '../../src/pipeline/engines/engine.js';
import { createLocalEngine } from '../../src/pipeline/engines/local/index.js';
import { renderOverlays, renderTextBox, safeArea, type RenderedOverlay } from '../../src/pipeline/engines/local/overlays.js';
import { probeVideo } from '../../src/pipeline/media/ffprobe.js';
import type { Frame, Rgb } from '../helpers/images.js';
import {
  bboxWhere, colouredInkFraction, contrastRatio, countOutside, decodeFrames, flatPhoto, inkBox, inkColumns, inkRows, inside, intersects,
  looksLikeHexBox, luma, lumaValues, percentile, saturationOf, textInk, type PxRect, type Rgba,
} from '../helpers/text-metrics.js';

/**
 * Text overlays (issue 7), measured: real renders through the local engine decoded to RGB,
 * and renderTextBox's RGBA. Safe-zone figures are written out here as pixels so a change to
 * them is a visible decision, not a silent drift.
 */

const FFMPEG = process.env.FFMPEG_PATH ?? 'ffmpeg';
const FFPROBE = process.env.FFPROBE_PATH ?? 'ffprobe';
const FPS = 30;
const run = promisify(execFile);

let root: string;
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'photoreel-text-'));
});
afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

function dir(name: string): string {
  const d = path.join(root, name);
  fs.mkdirSync(d, { recursive: true });
  return d;
}

const engine = () => createLocalEngine({ ffmpegPath: FFMPEG, ffprobePath: FFPROBE, x264Preset: 'veryfast', x264Crf: 18 });

/** Photos shown one after another with cuts, no motion, each filling the frame. */
function makePlan(output: Plan['output'], shots: { image: SourceImage; durationMs: number }[], overlays: Overlay[]): Plan {
  let start = 0;
  const clips: Clip[] = shots.map((s) => {
    const c: Clip = {
      image: { index: s.image.index, source: `photo-${s.image.index}`, width: s.image.width, height: s.image.height },
      startMs: start,
      durationMs: s.durationMs,
      fit: 'cover',
      motion: { type: 'none' },
      transition: { type: 'cut', durationMs: 0 },
    };
    start += s.durationMs;
    return c;
  });
  return { output, durationMs: start, clips, overlays, background: '#000000', notes: [] };
}

async function flat(d: string, index: number, width: number, height: number, colour: Rgb): Promise<SourceImage> {
  const p = path.join(d, `flat${index}.jpg`);
  await flatPhoto(p, width, height, colour);
  return { index, path: p, type: 'jpeg', width, height };
}

const rectOf = (o: RenderedOverlay): PxRect => ({ x0: o.x, y0: o.y, x1: o.x + o.width, y1: o.y + o.height });
const grow = (r: PxRect, d: number): PxRect => ({ x0: r.x0 - d, y0: r.y0 - d, x1: r.x1 + d, y1: r.y1 + d });
const asRgba = (img: { data: Buffer; width: number; height: number }): Rgba => ({ data: img.data, width: img.width, height: img.height });
/** Text ink of any colour (white text, colour emoji) in a renderTextBox image: the box and the shadow are black. */
const anyInk = (img: Rgba) => (x: number, y: number) => {
  const i = (y * img.width + x) * 4;
  return (Math.max(img.data[i]!, img.data[i + 1]!, img.data[i + 2]!) * img.data[i + 3]!) / (255 * 255);
};
const whiteInk = (img: Rgba) => (x: number, y: number) => textInk(img, x, y);

/* ---------- the safe zones ---------- */

interface AspectCase {
  aspect: Aspect;
  width: number;
  height: number;
  /** Where text may go, px. */
  safe: PxRect;
  /** Right edge for text in the lower part of the frame (9:16: clear of the like/comment/share column). */
  lowerX1: number;
}

// 9:16 (TikTok, Reels, Shorts): top 14 % (269 px), bottom 22 % (422 px), sides 6 % (65 px),
// and lower text clear of the right-hand action column (14 %, 151 px).
// 16:9: broadcast title-safe sides (5 %), 8 % top and bottom (player controls).
// 1:1: 8 % top, 10 % bottom, 6 % sides.
const CASES: AspectCase[] = [
  { aspect: '9:16', width: 1080, height: 1920, safe: { x0: 65, y0: 269, x1: 1015, y1: 1498 }, lowerX1: 929 },
  { aspect: '16:9', width: 1920, height: 1080, safe: { x0: 96, y0: 86, x1: 1824, y1: 994 }, lowerX1: 1824 },
  { aspect: '1:1', width: 1080, height: 1080, safe: { x0: 65, y0: 86, x1: 1015, y1: 972 }, lowerX1: 1015 },
];

describe('safe area', () => {
  it.each(CASES)('$aspect $width x $height: the figures above', (c) => {
    const s = safeArea(c.aspect, c.width, c.height);
    expect({ x0: s.left, y0: s.top, x1: s.left + s.width, y1: s.top + s.height }).toEqual(c.safe);
  });
});

/* ---------- rendered videos ---------- */

const PHOTO_GREY: Rgb = [140, 140, 140];
/** Title 0-1.2 s, caption 1.5-2.7 s, cta 3.0-4.2 s of a 4.5 s video: never two at once. */
const WINDOWS: Record<Overlay['type'], [number, number]> = { title: [0, 1200], caption: [1500, 2700], cta: [3000, 4200] };
const TEXTS: Record<Overlay['type'], string> = {
  title: 'Summer Sale',
  caption: 'Linen shirts in three colours, light, breathable and machine washable',
  cta: 'Shop now at example.com',
};
const MIXED_SCRIPTS = '夏季大促 セール 세일 🎉🛍️';

describe.each(CASES)('text overlays rendered at $aspect ($width x $height)', (c) => {
  let video: string;
  let placed: RenderedOverlay[];
  let plan: Plan;
  let photoLuma: number;
  const frames = new Map<number, Frame>();
  const spans = new Map<Overlay['type'], { start: number; end: number; rect: PxRect; fontSize: number }>();

  beforeAll(async () => {
    const d = dir(`aspect-${c.aspect.replace(':', 'x')}`);
    const photo = await flat(d, 0, c.width, c.height, PHOTO_GREY);
    const overlays: Overlay[] = (['title', 'caption', 'cta'] as const).map((type) => ({
      type,
      text: type === 'title' && c.aspect === '9:16' ? MIXED_SCRIPTS : TEXTS[type],
      startMs: WINDOWS[type][0],
      durationMs: WINDOWS[type][1] - WINDOWS[type][0],
    }));
    plan = makePlan({ width: c.width, height: c.height, fps: FPS, aspect: c.aspect }, [{ image: photo, durationMs: 4500 }], overlays);
    const out = await engine().render({ plan, images: [photo], workDir: path.join(d, 'work'), signal: new AbortController().signal, onProgress() {} });
    video = out.videoPath;
    // Where the engine put each overlay: renderOverlays is deterministic, so a second call answers.
    placed = await renderOverlays(plan, dir(`aspect-${c.aspect.replace(':', 'x')}-again`));
    const wanted: number[] = [40];
    for (const [k, o] of plan.overlays.entries()) {
      const p = placed.find((q) => q.index === k)!;
      const start = Math.round((o.startMs * FPS) / 1000);
      const end = Math.round(((o.startMs + o.durationMs) * FPS) / 1000);
      spans.set(o.type, { start, end, rect: rectOf(p), fontSize: p.fontSize });
      wanted.push(start - 1, start, start + 3, start + 9, Math.floor((start + end) / 2), end - 1, end);
    }
    for (const [n, f] of await decodeFrames(video, wanted.filter((n) => n >= 0), FFMPEG)) frames.set(n, f);
    // Frame 40 shows no overlay: the photo's own level.
    photoLuma = percentile(lumaValues(frames.get(40)!, { x0: 0, y0: 0, x1: c.width, y1: c.height }), 0.5);
  });

  const touched = (r: number, g: number, b: number) => Math.abs(luma(r, g, b) - photoLuma) > 30;
  const textPixel = (r: number, g: number, b: number) => luma(r, g, b) >= 200 || (saturationOf(r, g, b) >= 0.4 && Math.max(r, g, b) >= 80);

  it('is an H.264 video of the plan\'s size and length', async () => {
    const probe = await probeVideo(video, FFPROBE);
    expect([probe.codec, probe.width, probe.height, probe.fps, probe.frames]).toEqual(['h264', c.width, c.height, FPS, 135]);
  });

  it.each(['title', 'caption', 'cta'] as const)('%s: box and text inside the safe area, in its slot, nothing elsewhere', (type) => {
    const s = spans.get(type)!;
    const mid = frames.get(Math.floor((s.start + s.end) / 2))!;
    const box = bboxWhere(mid, touched);
    expect(box, 'the overlay shows mid-way through its span').not.toBeNull();
    // The drawn box is where renderOverlays placed it (chroma subsampling blurs edges by a pixel or two).
    for (const k of ['x0', 'y0', 'x1', 'y1'] as const) expect(Math.abs(box![k] - s.rect[k]), `${type} box ${k}: ${box![k]} vs ${s.rect[k]}`).toBeLessThanOrEqual(3);
    expect(countOutside(mid, touched, grow(s.rect, 3)), 'pixels changed outside the box').toBe(0);

    // Everything the overlay draws lies inside the platform safe area.
    expect(inside(box!, c.safe, 1), `${type} box ${JSON.stringify(box)} inside ${JSON.stringify(c.safe)}`).toBe(true);
    const text = bboxWhere(mid, textPixel, box!);
    expect(text, 'text pixels inside the box').not.toBeNull();
    expect(text!.count).toBeGreaterThan(500);
    // Ink never touches the box's edge: at least a fifth of the font size of padding.
    const margin = Math.min(text!.x0 - box!.x0, box!.x1 - text!.x1, text!.y0 - box!.y0, box!.y1 - text!.y1);
    console.log(`${c.aspect} ${type}: box ${box!.x0},${box!.y0}-${box!.x1},${box!.y1} (placed ${s.rect.x0},${s.rect.y0}-${s.rect.x1},${s.rect.y1}), text ${text!.x0},${text!.y0}-${text!.x1},${text!.y1}, ink-to-edge ${margin} px, font ${s.fontSize} px`);
    expect(margin, `${type} ink-to-box margin`).toBeGreaterThanOrEqual(Math.floor(s.fontSize * 0.2));

    // The kind's slot.
    const sh = c.safe.y1 - c.safe.y0;
    const centreX = (box!.x0 + box!.x1) / 2;
    if (type === 'title') {
      expect(Math.abs(box!.y0 - c.safe.y0)).toBeLessThanOrEqual(3);
      expect(Math.abs(centreX - c.width / 2)).toBeLessThanOrEqual(3);
    } else {
      const bottom = type === 'caption' ? c.safe.y1 : c.safe.y0 + 0.78 * sh;
      expect(Math.abs(box!.y1 - bottom), `${type} bottom ${box!.y1} vs ${bottom}`).toBeLessThanOrEqual(3);
      expect(box!.x1, `${type} clear of the right-hand buttons`).toBeLessThanOrEqual(c.lowerX1 + 2);
      // Centred unless the buttons push it left.
      if (c.lowerX1 === c.safe.x1) expect(Math.abs(centreX - c.width / 2)).toBeLessThanOrEqual(3);
    }
  });

  it.each(['title', 'caption', 'cta'] as const)('%s: absent before and after its frames, fading in and out over 0.3 s', (type) => {
    const s = spans.get(type)!;
    const inner = grow(s.rect, -Math.ceil((s.rect.y1 - s.rect.y0) / 4));
    // The box's level: most of the box is box, not text (the 30th percentile is a box pixel).
    const level = (n: number) => percentile(lumaValues(frames.get(n)!, inner), 0.3);
    const full = level(Math.floor((s.start + s.end) / 2));
    const alpha = (n: number) => (photoLuma - level(n)) / (photoLuma - full);
    const measured = { start: alpha(s.start), plus3: alpha(s.start + 3), plus9: alpha(s.start + 9), lastFrame: alpha(s.end - 1) };
    console.log(`${c.aspect} ${type}: photo ${photoLuma.toFixed(1)}, box ${full.toFixed(1)}, alpha`, Object.fromEntries(Object.entries(measured).map(([k, v]) => [k, +v.toFixed(3)])));
    // ffmpeg's alpha fade over 9 frames (0.3 s at 30 fps): 0 on the first frame, 1/3 three frames in, full at nine.
    expect(measured.start).toBeLessThan(0.05);
    expect(Math.abs(measured.plus3 - 1 / 3)).toBeLessThan(0.1);
    expect(Math.abs(measured.plus9 - 1)).toBeLessThan(0.05);
    expect(Math.abs(measured.lastFrame - 1 / 9)).toBeLessThan(0.08);
    for (const n of [s.start - 1, s.end]) {
      if (n < 0) continue;
      expect(bboxWhere(frames.get(n)!, touched), `frame ${n} (outside ${type}'s frames ${s.start}..${s.end - 1}) is untouched`).toBeNull();
    }
  });

  if (c.aspect === '9:16') {
    it('the CJK + emoji title keeps the emoji\'s colours through the H.264 encode', () => {
      const s = spans.get('title')!;
      const mid = frames.get(Math.floor((s.start + s.end) / 2))!;
      const coloured = bboxWhere(mid, (r, g, b) => saturationOf(r, g, b) >= 0.5 && Math.max(r, g, b) >= 100, s.rect);
      console.log(`9:16 title: ${coloured?.count ?? 0} strongly coloured pixels`);
      expect(coloured?.count ?? 0).toBeGreaterThan(1500);
    });

    // The overlay PNG's RGB must reach YUV with the video's BT.709 matrix (filtergraph.ts
    // converts it once per overlay); with ffmpeg's BT.601 default the emoji's flat areas were
    // off by R 10-11, G 15-17, B 2-3 levels. Measured now: R 3.4, G 1.9, B 3.2.
    it('emoji colours arrive within 5 levels per channel (needs BT.709 in the overlay chain)', async () => {
      const s = spans.get('title')!;
      const mid = frames.get(Math.floor((s.start + s.end) / 2))!;
      const p = placed.find((q) => q.index === 0)!;
      const png = await sharp(path.join(root, `aspect-9x16-again`, p.file)).raw().toBuffer({ resolveWithObject: true });
      const err = [0, 0, 0];
      let n = 0;
      for (let y = 3; y < png.info.height - 3; y++) {
        for (let x = 3; x < png.info.width - 3; x++) {
          const i = (y * png.info.width + x) * 4;
          const [r, g, b] = [png.data[i]!, png.data[i + 1]!, png.data[i + 2]!];
          if (png.data[i + 3]! < 255 || Math.max(r, g, b) < 60 || saturationOf(r, g, b) < 0.4) continue;
          // Flat areas only (chroma is subsampled): the neighbours 3 px away have the same colour.
          const flat = [[3, 0], [-3, 0], [0, 3], [0, -3]].every(([dx, dy]) => {
            const j = ((y + dy!) * png.info.width + x + dx!) * 4;
            return [0, 1, 2, 3].every((ch) => Math.abs(png.data[j + ch]! - png.data[i + ch]!) <= 4);
          });
          if (!flat) continue;
          const k = ((p.y + y) * mid.width + p.x + x) * 3;
          for (let ch = 0; ch < 3; ch++) err[ch]! += Math.abs(mid.data[k + ch]! - png.data[i + ch]!);
          n++;
        }
      }
      const mean = err.map((e) => e / n);
      console.log(`9:16 emoji colour error over ${n} flat pixels: R ${mean[0]!.toFixed(1)}, G ${mean[1]!.toFixed(1)}, B ${mean[2]!.toFixed(1)}`);
      expect(n).toBeGreaterThan(500);
      expect(Math.max(...mean)).toBeLessThanOrEqual(5);
    });
  }
});

describe('contrast: the box keeps white text readable on any photo', () => {
  it('over a white photo and over a black photo the text stands out from its surroundings (WCAG ratio >= 4.5)', async () => {
    const d = dir('contrast');
    const white = await flat(d, 0, 1080, 1920, [245, 245, 245]);
    const black = await flat(d, 1, 1080, 1920, [12, 12, 12]);
    const plan = makePlan({ width: 1080, height: 1920, fps: FPS, aspect: '9:16' }, [{ image: white, durationMs: 1000 }, { image: black, durationMs: 1000 }], [
      { type: 'caption', text: 'Fresh linen, 50% off this week', startMs: 0, durationMs: 2000 },
    ]);
    const work = path.join(d, 'work');
    const out = await engine().render({ plan, images: [white, black], workDir: work, signal: new AbortController().signal, onProgress() {} });
    const [o] = await renderOverlays(plan, dir('contrast-again'));
    // The overlay's own PNG says which pixels are text (white ink) and which are plain box.
    const png = await sharp(path.join(work, 'o0.png')).raw().toBuffer({ resolveWithObject: true });
    const img: Rgba = { data: png.data, width: png.info.width, height: png.info.height };
    const frames = await decodeFrames(out.videoPath, [15, 45], FFMPEG);
    for (const [n, name] of [[15, 'white'], [45, 'black']] as const) {
      const f = frames.get(n)!;
      const textL: number[] = [];
      const boxL: number[] = [];
      for (let y = 0; y < img.height; y++) {
        for (let x = 0; x < img.width; x++) {
          const ink = textInk(img, x, y);
          const i = ((o!.y + y) * f.width + o!.x + x) * 3;
          const l = luma(f.data[i]!, f.data[i + 1]!, f.data[i + 2]!);
          if (ink > 0.95) textL.push(l);
          else if (ink < 0.01 && img.data[(y * img.width + x) * 4 + 3]! > 100) boxL.push(l);
        }
      }
      const med = (a: number[]) => a.sort((p, q) => p - q)[Math.floor(a.length / 2)]!;
      const t = med(textL);
      const b = med(boxL);
      const ratio = contrastRatio(t, b);
      console.log(`contrast over ${name}: text ${t.toFixed(1)}, box ${b.toFixed(1)}, ratio ${ratio.toFixed(2)}:1`);
      expect(ratio, `over a ${name} photo`).toBeGreaterThanOrEqual(4.5);
    }
  });
});

/* ---------- renderTextBox: scripts, wrapping, markup ---------- */

const TITLE_PX = Math.round(1080 * 0.075);
/** A string of Pango hex boxes the same length as `s`: U+0378 (unassigned) per BMP character, U+DFFFD per other one. */
function hexBoxesFor(s: string): string {
  return Array.from(s)
    .filter((ch) => !/[\u200d\ufe0e\ufe0f\s]/u.test(ch))
    .map((ch) => (ch.codePointAt(0)! > 0xffff ? '\u{dfffd}' : '\u0378'))
    .join('');
}

const SCRIPTS = [
  { name: 'Chinese', text: '夏季大促', pkg: 'fonts-noto-cjk', emoji: false },
  { name: 'Japanese kana', text: 'セール', pkg: 'fonts-noto-cjk', emoji: false },
  { name: 'Korean', text: '세일', pkg: 'fonts-noto-cjk', emoji: false },
  { name: 'emoji 🎉', text: '🎉', pkg: 'fonts-noto-color-emoji', emoji: true },
  { name: 'emoji 🛍️', text: '🛍️', pkg: 'fonts-noto-color-emoji', emoji: true },
];

/** Which of a text box's glyph cells look like hex boxes. */
function hexBoxCells(img: Rgba, size: number): number {
  const ink = anyInk(img);
  return inkColumns(img, ink).filter(([a, b]) => looksLikeHexBox(img, ink, a, b, size * 0.4)).length;
}

interface ScriptMeasure {
  name: string;
  width: number;
  height: number;
  refWidth: number;
  refHeight: number;
  hexCells: number;
  refHexCells: number;
  coloured: number;
  coverage: number;
  inkHeight: number;
}

async function measureScripts(): Promise<ScriptMeasure[]> {
  const out: ScriptMeasure[] = [];
  for (const s of SCRIPTS) {
    const img = asRgba(await renderTextBox(s.text, 'title', 1080, 4000, Infinity));
    const ref = asRgba(await renderTextBox(hexBoxesFor(s.text), 'title', 1080, 4000, Infinity));
    const box = inkBox(img, anyInk(img))!;
    out.push({
      name: s.name,
      width: img.width,
      height: img.height,
      refWidth: ref.width,
      refHeight: ref.height,
      hexCells: hexBoxCells(img, TITLE_PX),
      refHexCells: hexBoxCells(ref, TITLE_PX),
      coloured: colouredInkFraction(img),
      coverage: box.sum / ((box.x1 - box.x0) * (box.y1 - box.y0)),
      inkHeight: box.y1 - box.y0,
    });
  }
  return out;
}

/** True when a measure is what a missing font gives: Pango's hex boxes (or a monochrome emoji). */
function failsAsTofu(m: ScriptMeasure, emoji: boolean): string[] {
  const why: string[] = [];
  if (Math.abs(m.width - m.refWidth) <= 2 && Math.abs(m.height - m.refHeight) <= 2) why.push(`same size as ${m.refHexCells} hex boxes (${m.width}x${m.height})`);
  if (m.hexCells > 0) why.push(`${m.hexCells} glyph(s) drawn as hex boxes`);
  if (emoji && m.coloured < 0.4) why.push(`only ${(m.coloured * 100).toFixed(0)} % of the emoji's pixels are coloured`);
  return why;
}

describe('scripts: Noto fonts render CJK and colour emoji (not hex boxes)', () => {
  it('each script renders real glyphs; emoji in colour and about as tall as the text', async () => {
    const ms = await measureScripts();
    for (const m of ms) console.log(`${m.name}: ${m.width}x${m.height} (hex boxes ${m.refWidth}x${m.refHeight}), hex-box cells ${m.hexCells}/${m.refHexCells} in the reference, coloured ${(m.coloured * 100).toFixed(1)} %, ink coverage ${(m.coverage * 100).toFixed(1)} %, ink height ${m.inkHeight} px at ${TITLE_PX} px`);
    for (const [k, s] of SCRIPTS.entries()) {
      const m = ms[k]!;
      // The detector works here: the reference is all hex boxes.
      expect(m.refHexCells, `${s.name}: reference hex boxes detected`).toBe(Array.from(hexBoxesFor(s.text)).length);
      const why = failsAsTofu(m, s.emoji);
      expect(why, `${s.name} ("${s.text}") does not render: ${why.join('; ')}. Install the fonts: apt-get install ${s.pkg}`).toEqual([]);
      if (!s.emoji) {
        // CJK glyphs: full-height strokes, ink covering a plausible share of their box.
        expect(m.inkHeight, `${s.name} ink height`).toBeGreaterThan(TITLE_PX * 0.7);
        expect(m.coverage, `${s.name} ink coverage`).toBeGreaterThan(0.12);
        expect(m.coverage).toBeLessThan(0.6);
        expect(m.coloured, `${s.name}: white text`).toBeLessThan(0.01);
      }
    }
    const cjkHeight = ms[0]!.inkHeight;
    for (const e of ms.filter((_, k) => SCRIPTS[k]!.emoji)) {
      expect(e.inkHeight / cjkHeight, `${e.name}: emoji height vs Chinese`).toBeGreaterThan(0.9);
      expect(e.inkHeight / cjkHeight).toBeLessThan(1.3);
    }
    // The whole mixed string, as a title would get it.
    const mixed = asRgba(await renderTextBox(MIXED_SCRIPTS, 'title', 1080, 950));
    expect(hexBoxCells(mixed, TITLE_PX)).toBe(0);
    expect(colouredInkFraction(mixed)).toBeGreaterThan(0.1);
  });

  it('the check above fails when fonts-noto-cjk and fonts-noto-color-emoji are missing (fontconfig limited to Noto Sans)', async () => {
    const d = dir('no-cjk-fonts');
    const conf = path.join(d, 'fonts.conf');
    fs.writeFileSync(
      conf,
      `<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">
<fontconfig>
  <dir>/usr/share/fonts</dir>
  <cachedir>${d}/cache</cachedir>
  <selectfont>
    <acceptfont><glob>*/NotoSans-*</glob></acceptfont>
    <rejectfont><glob>*.ttf</glob><glob>*.ttc</glob><glob>*.otf</glob></rejectfont>
  </selectfont>
</fontconfig>
`,
    );
    // A child process: fontconfig reads its configuration once per process.
    const script = `
      import fs from 'node:fs';
      import { renderTextBox } from ${JSON.stringify(path.resolve('src/pipeline/engines/local/overlays.ts'))};
      const out = [];
      for (const [k, t] of ${JSON.stringify(SCRIPTS.flatMap((s) => [s.text, hexBoxesFor(s.text)]))}.entries()) {
        const r = await renderTextBox(t, 'title', 1080, 4000, Infinity);
        fs.writeFileSync(${JSON.stringify(d)} + '/r' + k + '.raw', r.data);
        out.push([r.width, r.height]);
      }
      console.log(JSON.stringify(out));
    `;
    const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, FONTCONFIG_FILE: conf }, cwd: process.cwd() });
    const sizes = JSON.parse(stdout.trim().split('\n').pop()!) as [number, number][];
    const load = (k: number): Rgba => ({ width: sizes[k]![0], height: sizes[k]![1], data: fs.readFileSync(path.join(d, `r${k}.raw`)) });
    const latinOk = sizes.length === SCRIPTS.length * 2;
    expect(latinOk).toBe(true);
    for (const [k, s] of SCRIPTS.entries()) {
      const img = load(2 * k);
      const ref = load(2 * k + 1);
      const box = inkBox(img, anyInk(img));
      const m: ScriptMeasure = {
        name: s.name, width: img.width, height: img.height, refWidth: ref.width, refHeight: ref.height,
        hexCells: hexBoxCells(img, TITLE_PX), refHexCells: hexBoxCells(ref, TITLE_PX), coloured: colouredInkFraction(img),
        coverage: box ? box.sum / ((box.x1 - box.x0) * (box.y1 - box.y0)) : 0, inkHeight: box ? box.y1 - box.y0 : 0,
      };
      const why = failsAsTofu(m, s.emoji);
      console.log(`without the fonts, ${s.name}: ${why.join('; ')}`);
      expect(why.length, `${s.name} is recognised as not rendered`).toBeGreaterThan(0);
    }
  });

  it('Chinese text gets the Simplified Chinese glyph forms, Japanese text the Japanese ones', async () => {
    // 骨 and 直 are drawn differently in Noto Sans CJK SC and JP.
    const reference = async (text: string, family: string) => {
      const t = await sharp({ text: { text, font: `${family} Bold ${TITLE_PX}px`, rgba: true, dpi: 72 } }).raw().toBuffer({ resolveWithObject: true });
      return { data: t.data, width: t.info.width, height: t.info.height };
    };
    /** Mean |difference| of text ink between a renderTextBox image and a bare rendering, aligned at the ink's top-left. */
    const distance = (img: Rgba, ref: Rgba) => {
      const a = inkBox(img, whiteInk(img))!;
      const refInk = (x: number, y: number) => ref.data[(y * ref.width + x) * 4 + 3]! / 255;
      const b = inkBox(ref, refInk)!;
      const w = Math.max(a.x1 - a.x0, b.x1 - b.x0);
      const h = Math.max(a.y1 - a.y0, b.y1 - b.y0);
      let sum = 0;
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const p = a.x0 + x < img.width && a.y0 + y < img.height ? textInk(img, a.x0 + x, a.y0 + y) : 0;
          const q = b.x0 + x < ref.width && b.y0 + y < ref.height ? refInk(b.x0 + x, b.y0 + y) : 0;
          sum += Math.abs(p - q);
        }
      }
      return sum / (w * h);
    };
    const zh = asRgba(await renderTextBox('骨直', 'title', 1080, 950));
    const ja = asRgba(await renderTextBox('骨直です', 'title', 1080, 950));
    const zhToSc = distance(zh, await reference('骨直', 'Noto Sans CJK SC'));
    const zhToJp = distance(zh, await reference('骨直', 'Noto Sans CJK JP'));
    const jaToSc = distance(ja, await reference('骨直です', 'Noto Sans CJK SC'));
    const jaToJp = distance(ja, await reference('骨直です', 'Noto Sans CJK JP'));
    console.log(`骨直: distance to SC ${zhToSc.toFixed(4)}, to JP ${zhToJp.toFixed(4)}; 骨直です: to SC ${jaToSc.toFixed(4)}, to JP ${jaToJp.toFixed(4)}`);
    expect(zhToSc).toBeLessThan(zhToJp / 3);
    expect(jaToJp).toBeLessThan(jaToSc / 3);
  });
});

const LONG_TITLE = 'Our biggest summer sale ever: linen shirts, cotton dresses, sandals and straw hats, all at half price until Sunday night'; // 120 chars
const LONG_CJK = '夏季大促销全场五折起限时抢购不要错过这个千载难逢的好机会赶快行动吧夏季大促销全场五折起限时抢购';
const LONG_TOKEN = 'https://shop.example.com/collections/summer-2025/linen-shirts-and-cotton-dresses?utm_source=photoreel';

describe('word wrap', () => {
  it.each([
    ['a 120-character title', LONG_TITLE],
    ['a long Chinese title without spaces', LONG_CJK],
    ['one unbreakable URL-like token', LONG_TOKEN],
  ])('%s wraps into lines inside the 9:16 safe width, none clipped, no hyphens added', async (_name, text) => {
    const safe = safeArea('9:16', 1080, 1920);
    const wrapped = asRgba(await renderTextBox(text, 'title', 1080, safe.width, Infinity));
    const oneLine = asRgba(await renderTextBox(text, 'title', 1080, 100_000, Infinity));
    const ink = whiteInk(wrapped);
    const lines = inkRows(wrapped, ink);
    const box = inkBox(wrapped, ink)!;
    const single = inkBox(oneLine, whiteInk(oneLine))!;
    console.log(`${_name}: ${lines.length} lines, box ${wrapped.width}x${wrapped.height} (one line: ${oneLine.width}x${oneLine.height}), ink ${box.sum.toFixed(0)} vs ${single.sum.toFixed(0)} on one line (${(((box.sum - single.sum) / single.sum) * 100).toFixed(2)} %)`);
    expect(inkRows(oneLine, whiteInk(oneLine)).length).toBe(1);
    expect(lines.length).toBeGreaterThanOrEqual(3);
    expect(wrapped.width).toBeLessThanOrEqual(safe.width);
    // The box grows with the lines.
    expect(wrapped.height).toBeGreaterThan(lines.length * TITLE_PX);
    // No line clipped: ink keeps clear of the box edge, and the wrapped text has all the one-line text's ink
    // (nor more: the hyphens Pango used to insert added 0.2 % to the URL's ink; nor less: a clipped line).
    expect(Math.min(box.x0, box.y0, wrapped.width - box.x1, wrapped.height - box.y1)).toBeGreaterThanOrEqual(TITLE_PX * 0.2);
    expect(Math.abs(box.sum - single.sum) / single.sum).toBeLessThan(0.0005);
  });

  it('text too tall for its slot shrinks, then is cut with an ellipsis; title, caption and cta never overlap', async () => {
    const d = dir('fit');
    const long200 = (LONG_TITLE + ' ' + LONG_TITLE).slice(0, 200);
    const cjk200 = LONG_CJK.repeat(5).slice(0, 200);
    for (const [aspect, width, height] of [['9:16', 1080, 1920], ['16:9', 1920, 1080], ['1:1', 1080, 1080]] as const) {
      for (const text of [long200, cjk200, LONG_TOKEN + LONG_TOKEN]) {
        const plan: Plan = {
          output: { width, height, fps: 30, aspect },
          durationMs: 6000,
          clips: [],
          // All three on screen at once (the caption for the whole video, the cta at the end).
          overlays: [
            { type: 'title', text, startMs: 0, durationMs: 6000 },
            { type: 'caption', text, startMs: 0, durationMs: 6000 },
            { type: 'cta', text, startMs: 3000, durationMs: 3000 },
          ],
          background: '#000000',
          notes: [],
        };
        const placed = await renderOverlays(plan, d);
        expect(placed.length).toBe(3);
        const s = safeArea(aspect, width, height);
        const safe = { x0: s.left, y0: s.top, x1: s.left + s.width, y1: s.top + s.height };
        const rects = placed.map(rectOf);
        for (const [k, p] of placed.entries()) {
          expect(inside(rects[k]!, safe), `${aspect} ${plan.overlays[p.index]!.type} inside the safe area`).toBe(true);
          const png = await sharp(path.join(d, p.file)).raw().toBuffer({ resolveWithObject: true });
          const img: Rgba = { data: png.data, width: png.info.width, height: png.info.height };
          const b = inkBox(img, whiteInk(img))!;
          expect(Math.min(b.x0, b.y0, img.width - b.x1, img.height - b.y1), 'ink clear of the box edge').toBeGreaterThanOrEqual(p.fontSize * 0.2);
          console.log(`${aspect} ${plan.overlays[p.index]!.type} "${text.slice(0, 12)}…": font ${p.fontSize} px, ${inkRows(img, whiteInk(img)).length} lines, ${p.width}x${p.height}${p.truncated ? ', cut with …' : ''}`);
        }
        for (let i = 0; i < rects.length; i++) for (let j = i + 1; j < rects.length; j++) expect(intersects(rects[i]!, rects[j]!), `${aspect}: overlays ${i} and ${j} overlap`).toBe(false);
        // 200 characters do not fit a title slot at full size: smaller type first, then the ellipsis.
        const title = placed.find((p) => p.index === 0)!;
        const nominal = Math.round(Math.min(width, height) * 0.075);
        expect(title.fontSize).toBeLessThan(nominal);
        // ... but never below 70 % of it: the rest is cut.
        for (const p of placed) expect(p.fontSize / Math.round(Math.min(width, height) * { title: 0.075, caption: 0.045, cta: 0.055 }[plan.overlays[p.index]!.type])).toBeGreaterThanOrEqual(0.69);
        if (text !== long200 || aspect === '9:16') expect(title.truncated).toBe(true);
      }
    }
  });
});

describe('Pango markup in the text', () => {
  it('renders literally: no bold, no colour, no entity decoding, no crash', async () => {
    const hostile = '<b>Bold</b> & <span foreground="red">red</span>';
    const img = asRgba(await renderTextBox(hostile, 'caption', 1080, 950));
    let red = 0;
    for (let p = 0; p < img.width * img.height; p++) {
      const [r, g, b, a] = [img.data[p * 4]!, img.data[p * 4 + 1]!, img.data[p * 4 + 2]!, img.data[p * 4 + 3]!];
      if (a > 128 && r > 120 && r > g + 60 && r > b + 60) red++;
    }
    expect(red, 'red pixels').toBe(0);
    const inkOf = async (t: string) => {
      const i = asRgba(await renderTextBox(t, 'caption', 1080, 100_000));
      return inkBox(i, whiteInk(i))!.sum;
    };
    // The tags are drawn: far more ink than the words alone.
    expect(await inkOf(hostile)).toBeGreaterThan(2.5 * (await inkOf('Bold & red')));
    // An entity stays as typed.
    expect(await inkOf('&amp;')).toBeGreaterThan(3 * (await inkOf('&')));
    for (const t of ['<', '</span>', '<span', '&', '&#0;', '<markup>', '"\'<>&']) await expect(renderTextBox(t, 'title', 1080, 950)).resolves.toBeDefined();
  });
});

describe('text with nothing to draw', () => {
  it('is skipped instead of failing the render', async () => {
    const plan: Plan = {
      output: { width: 720, height: 1280, fps: 30, aspect: '9:16' },
      durationMs: 3000,
      clips: [],
      overlays: [
        { type: 'title', text: '\u{e0041}\u{e0042}', startMs: 0, durationMs: 1000 },
        { type: 'caption', text: '\u2800\u00a0\u200d', startMs: 0, durationMs: 3000 },
        { type: 'cta', text: 'Buy', startMs: 2000, durationMs: 1000 },
      ],
      background: '#000000',
      notes: [],
    };
    const placed = await renderOverlays(plan, dir('blank'));
    expect(placed.map((p) => p.index)).toEqual([2]);
  });
});
