import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SourceImage } from '../../src/pipeline/engines/engine.js';
import { createLocalEngine } from '../../src/pipeline/engines/local/index.js';
import { frameTimeline } from '../../src/pipeline/engines/local/timeline.js';
import { probeVideo } from '../../src/pipeline/media/ffprobe.js';
import { planJob } from '../../src/pipeline/plan/planner.js';
import { makePhoto, regionMean, type Frame } from '../helpers/images.js';
import { tempDir } from '../helpers/servers.js';
import { decodeFrames } from '../helpers/text-metrics.js';

/**
 * The end card: the call to action on its own card after the last photo (the photo blurred
 * and dimmed behind it), asked for by the prompt ("end card", 片尾卡) or `options.endCard`.
 */

const FFMPEG = process.env.FFMPEG_PATH ?? 'ffmpeg';
const imgs = (n: number) => Array.from({ length: n }, (_, i) => ({ source: `https://example.com/${i}.jpg`, width: 1600, height: 900 }));

describe('planning an end card', () => {
  it('adds a card clip after the last photo, faded into, with the call to action over all of it', () => {
    const plan = planJob({ images: imgs(3), prompt: 'end card "Shop now", 2 s per photo' });
    expect(plan.clips).toHaveLength(4);
    const [, , last, card] = plan.clips;
    expect(card).toMatchObject({ card: true, fit: 'blur', startMs: 6000, durationMs: 3000, motion: { type: 'none' }, image: { index: last!.image.index } });
    expect(last!.transition.type).toBe('fade');
    expect(last!.startMs + last!.durationMs).toBe(6000 + last!.transition.durationMs);
    expect(plan.durationMs).toBe(9000);
    expect(plan.overlays).toEqual([{ type: 'cta', text: 'Shop now', startMs: 6000, durationMs: 3000 }]);
    expect(plan.notes.join('\n')).toContain('end card: "Shop now" for 3 s after the last photo');
    // The same from options and from Chinese; its length from the prompt.
    expect(planJob({ images: imgs(2), prompt: '"Buy today" as the call to action', options: { endCard: true } }).clips.at(-1)!.card).toBe(true);
    const zh = planJob({ images: imgs(2), prompt: '片尾卡“立即购买”显示4秒' });
    expect(zh.clips.at(-1)).toMatchObject({ card: true, durationMs: 4000 });
    // Without the text there is nothing to put on a card: a warning, no card.
    const none = planJob({ images: imgs(2), prompt: 'with an end card' });
    expect(none.clips.some((c) => c.card)).toBe(false);
    expect(none.notes.join('\n')).toMatch(/end card left out/);
    // Without asking, the call to action stays over the last photo.
    const plain = planJob({ images: imgs(2), prompt: '"Shop now" as the call to action' });
    expect(plain.clips.some((c) => c.card)).toBe(false);
    expect(plain.overlays).toEqual([{ type: 'cta', text: 'Shop now', startMs: plain.durationMs - 3000, durationMs: 3000 }]);
  });
});

describe('rendering an end card', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir('photoreel-endcard-');
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** Mean absolute difference between horizontal neighbours (luma-ish): fine detail. */
  const detail = (f: Frame, r: { x0: number; y0: number; x1: number; y1: number }) => {
    let sum = 0;
    let n = 0;
    for (let y = r.y0; y < r.y1; y++) {
      for (let x = r.x0; x < r.x1 - 1; x++) {
        const i = (y * f.width + x) * 3;
        sum += Math.abs(f.data[i + 1]! - f.data[i + 4]!);
        n++;
      }
    }
    return sum / n;
  };

  it('shows the last photo blurred and dimmed, the call to action big in the middle, for the planned time', async () => {
    const files = await Promise.all([[200, 60, 50], [50, 90, 200]].map((c, i) => makePhoto(path.join(dir, `p${i}.jpg`), { width: 1600, height: 900, colour: c as [number, number, number], seed: i + 2 })));
    const images: SourceImage[] = await Promise.all(files.map(async (f, i) => ({ index: i, path: f.path, type: 'jpeg', width: (await sharp(f.path).metadata()).width!, height: 900 })));
    const plan = planJob({
      images: images.map((im) => ({ source: path.basename(im.path), width: im.width, height: im.height })),
      prompt: 'end card "Shop the sale"',
      options: { resolution: '720p', secondsPerImage: 1, motion: 'none' },
    });
    const engine = createLocalEngine({ ffmpegPath: FFMPEG, x264Preset: 'veryfast', x264Crf: 18 });
    const out = await engine.render({ plan, images, workDir: path.join(dir, 'work'), signal: new AbortController().signal, onProgress() {} });
    const probe = await probeVideo(out.videoPath);
    const tl = frameTimeline(plan);
    expect(probe.frames).toBe(tl.totalFrames);
    expect(Math.abs(probe.durationMs - plan.durationMs)).toBeLessThanOrEqual(34);

    const cardStart = tl.clips[2]!.startFrame;
    const photoFrame = cardStart - 10; // the second photo alone
    const cardFrame = tl.totalFrames - 20; // the card, text fully faded in
    const frames = await decodeFrames(out.videoPath, [photoFrame, cardFrame], FFMPEG);
    const photo = frames.get(photoFrame)!;
    const card = frames.get(cardFrame)!;
    // Away from the text (top band): the card has no fine detail left, the photo has plenty.
    const band = { x0: 40, y0: 20, x1: 1240, y1: 120 };
    expect(detail(card, band)).toBeLessThan(detail(photo, band) / 4);
    // Dimmed blue: darker than the photo, still its hue.
    const [pr, , pb] = regionMean(photo);
    const [cr, , cb] = regionMean(card, { x: 0, y: 0, w: 1, h: 120 / card.height });
    expect(cb).toBeGreaterThan(cr! + 40);
    expect(cb).toBeLessThan(pb! * 0.8);
    expect(pr).toBeLessThan(pb!);
    // The text: white pixels, centred vertically (rows 300-420 of 720), none in the top and bottom fifths.
    const whiteRows = new Set<number>();
    for (let y = 0; y < card.height; y++) for (let x = 0; x < card.width; x++) {
      const i = (y * card.width + x) * 3;
      if (card.data[i]! > 235 && card.data[i + 1]! > 235 && card.data[i + 2]! > 235) whiteRows.add(y);
    }
    const rows = [...whiteRows];
    expect(rows.length).toBeGreaterThan(20);
    const mid = (Math.min(...rows) + Math.max(...rows)) / 2;
    expect(Math.abs(mid - 360)).toBeLessThan(60);
    expect(rows.every((y) => y > 144 && y < 576)).toBe(true);
  }, 60_000);
});
