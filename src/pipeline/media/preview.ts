import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { PREVIEW_MAX_BYTES, type PreviewFormat } from '../../core/job.js';
import { runFfmpeg } from '../engines/local/run-ffmpeg.js';

/**
 * The animated preview of `options.preview`, made from the finished MP4 whatever engine
 * rendered it (so it shows exactly what the video shows).
 *
 * What it shows: the whole video when it is at most PREVIEW_SECONDS long, else
 * MONTAGE_SEGMENTS excerpts of equal length, centred in equal slices of the video (a
 * 12 s video of four photos gives the middle 1.5 s of each photo). It loops forever.
 *
 * How it stays within `maxBytes` (2 MB): the excerpts are decoded once (each input seeks
 * to its excerpt, so a long video is not decoded whole) into a small raw intermediate at
 * the largest size and rate; then the ladder below is encoded from it, best rung first.
 * After an attempt that is too large, the next attempt is the
 * first later rung whose size, estimated from the measured one, fits with some margin
 * (or the last rung). At most LADDER.length encodes; when even the last is too large the
 * result says so (the caller keeps the video and warns) rather than throwing.
 */

export const PREVIEW_SECONDS = 6;
export const MONTAGE_SEGMENTS = 4;
/** Frames are decoded at this rate (the ladder's highest). */
const SAMPLE_FPS = 10;

export interface PreviewRung {
  /** Long side in px (never more than the video's own). */
  longSide: number;
  fps: number;
  /** libwebp_anim -quality (0-100). */
  webpQuality: number;
  /** GIF palette size. */
  gifColours: number;
  /**
   * Rough size of this rung's quality (WebP) or palette (GIF) relative to the first rung's,
   * at the same pixel size and rate (measured on rendered photo slideshows).
   */
  factor: { webp: number; gif: number };
}

/**
 * From best to smallest. Every rung plays the same excerpts for the same time. The factors
 * are typical of photo slideshows (pure noise shrinks less with a smaller GIF palette: the
 * next attempt then re-estimates from what it measured). The last rung fits 2 MB even for
 * noise (about 0.6 MB as GIF, 0.01 MB as WebP).
 */
export const LADDER: readonly PreviewRung[] = [
  { longSide: 480, fps: 10, webpQuality: 75, gifColours: 256, factor: { webp: 1, gif: 1 } },
  { longSide: 480, fps: 10, webpQuality: 55, gifColours: 128, factor: { webp: 0.7, gif: 0.7 } },
  { longSide: 400, fps: 8, webpQuality: 50, gifColours: 96, factor: { webp: 0.65, gif: 0.55 } },
  { longSide: 320, fps: 8, webpQuality: 45, gifColours: 64, factor: { webp: 0.6, gif: 0.42 } },
  { longSide: 240, fps: 6, webpQuality: 35, gifColours: 32, factor: { webp: 0.5, gif: 0.3 } },
];
/** An estimate must come under this share of the limit to be tried (estimates are rough). */
const ESTIMATE_MARGIN = 0.85;

export interface PreviewRequest {
  /** The rendered video (any file ffmpeg reads; normally the job's MP4). */
  videoPath: string;
  /** Its size and length, as the engine measured them. */
  video: { width: number; height: number; durationMs: number };
  format: PreviewFormat;
  /** Folder for the intermediate and the output (the job's work folder). */
  workDir: string;
  ffmpegPath: string;
  signal: AbortSignal;
  /** 0..1, never backwards. */
  onProgress?(fraction: number): void;
  /** Default PREVIEW_MAX_BYTES. */
  maxBytes?: number;
  /** Default LADDER (tests pass their own). */
  ladder?: readonly PreviewRung[];
}

export interface PreviewFile {
  path: string;
  format: PreviewFormat;
  contentType: 'image/webp' | 'image/gif';
  bytes: number;
  width: number;
  height: number;
  frames: number;
  fps: number;
  /** One loop, from the file's frame delays. */
  durationMs: number;
}

export interface PreviewAttempt {
  rung: PreviewRung;
  bytes: number;
  width: number;
  height: number;
}

export type PreviewOutcome =
  | { ok: true; preview: PreviewFile; attempts: PreviewAttempt[] }
  | { ok: false; code: 'preview_too_large'; message: string; attempts: PreviewAttempt[] };

export const PREVIEW_CONTENT_TYPES = { webp: 'image/webp', gif: 'image/gif' } as const;

/** Which stretches of the video the preview plays: [start, duration] in seconds. */
export function previewSegments(durationMs: number): Array<[number, number]> {
  const total = durationMs / 1000;
  if (!(total > PREVIEW_SECONDS)) return [[0, Math.max(total, 0.1)]];
  const slice = total / MONTAGE_SEGMENTS;
  const length = PREVIEW_SECONDS / MONTAGE_SEGMENTS;
  return Array.from({ length: MONTAGE_SEGMENTS }, (_, i) => [i * slice + (slice - length) / 2, length] as [number, number]);
}

/** Even pixel size with `longSide` on the longer side, never larger than the video. */
export function previewSize(video: { width: number; height: number }, longSide: number): { width: number; height: number } {
  const long = Math.max(video.width, video.height);
  const scale = Math.min(1, longSide / long);
  const even = (n: number) => Math.max(2, Math.round((n * scale) / 2) * 2);
  return { width: even(video.width), height: even(video.height) };
}

export async function makePreview(req: PreviewRequest): Promise<PreviewOutcome> {
  const ladder = req.ladder ?? LADDER;
  if (ladder.length === 0) throw new Error('makePreview: empty ladder');
  const samplePath = path.join(req.workDir, 'preview-sample.nut');
  const outPath = path.join(req.workDir, `preview.${req.format}`);
  let ok = false;
  try {
    const outcome = await sampleAndEncode(req, ladder, samplePath, outPath);
    ok = outcome.ok;
    return outcome;
  } finally {
    await fs.rm(samplePath, { force: true });
    if (!ok) await fs.rm(outPath, { force: true });
  }
}

async function sampleAndEncode(req: PreviewRequest, ladder: readonly PreviewRung[], samplePath: string, outPath: string): Promise<PreviewOutcome> {
  const maxBytes = req.maxBytes ?? PREVIEW_MAX_BYTES;
  let reported = 0;
  const report = (f: number) => {
    const v = Math.min(1, Math.max(reported, f));
    if (v > reported) {
      reported = v;
      req.onProgress?.(v);
    }
  };

  // 1. The excerpts, decoded once, scaled to the largest rung, as raw frames (cheap to re-read).
  const segments = previewSegments(req.video.durationMs);
  const top = previewSize(req.video, Math.max(...ladder.map((r) => r.longSide)));
  const sampleFps = Math.max(SAMPLE_FPS, ...ladder.map((r) => r.fps));
  const expectedFrames = Math.max(1, Math.round(segments.reduce((n, [, d]) => n + d, 0) * sampleFps));
  // Input seeking: each excerpt decodes from the keyframe before it, not from the start.
  const inputs = segments.flatMap(([start, dur]) => ['-ss', start.toFixed(3), '-t', dur.toFixed(3), '-i', req.videoPath]);
  const perInput = segments.map((_, i) => `[${i}:v:0]fps=${sampleFps},scale=${top.width}:${top.height}:flags=lanczos,setsar=1,format=yuv420p[s${i}]`);
  const joined = segments.length === 1 ? '[s0]null[out]' : `${segments.map((_, i) => `[s${i}]`).join('')}concat=n=${segments.length}:v=1:a=0[out]`;
  await runFfmpeg({
    ffmpegPath: req.ffmpegPath,
    args: [
      '-nostdin', '-hide_banner', '-loglevel', 'error', '-nostats', '-progress', 'pipe:1',
      ...inputs,
      '-filter_complex', [...perInput, joined].join(';'),
      '-map', '[out]', '-an', '-sn', '-dn', '-map_metadata', '-1',
      '-c:v', 'rawvideo', '-f', 'nut', '-y', samplePath,
    ],
    signal: req.signal,
    what: 'sampling the video for its preview',
    onFrame: (n) => report(0.6 * Math.min(1, n / expectedFrames)),
  });
  report(0.6);

  // 2. Encode down the ladder until one fits.
  const attempts: PreviewAttempt[] = [];
  for (let i = 0; ; ) {
    const rung = ladder[i]!;
    const size = previewSize(req.video, rung.longSide);
    const base = reported;
    const frames = Math.max(1, Math.round((expectedFrames * rung.fps) / sampleFps));
    await runFfmpeg({
      ffmpegPath: req.ffmpegPath,
      args: encodeArgs(req.format, samplePath, outPath, rung, size),
      signal: req.signal,
      what: `encoding the ${req.format} preview`,
      onFrame: (n) => report(base + (1 - base) * 0.6 * Math.min(1, n / frames)),
    });
    const { size: bytes } = await fs.stat(outPath);
    attempts.push({ rung, bytes, ...size });
    report(base + (1 - base) * 0.6);
    if (bytes <= maxBytes) {
      const measured = await measure(outPath);
      report(1);
      return {
        ok: true,
        attempts,
        preview: { path: outPath, format: req.format, contentType: PREVIEW_CONTENT_TYPES[req.format], bytes, ...measured, fps: rung.fps },
      };
    }
    if (i === ladder.length - 1) break;
    i = nextRung(ladder, i, bytes, maxBytes, req.video, req.format);
  }
  report(1);
  const smallest = attempts[attempts.length - 1]!;
  return {
    ok: false,
    code: 'preview_too_large',
    attempts,
    message:
      `The ${req.format} preview could not be made within ${formatMb(maxBytes)}: ${attempts.length} attempt(s), the smallest ` +
      `(${smallest.width}x${smallest.height}, ${smallest.rung.fps} fps) was ${formatMb(smallest.bytes)}. The video and poster are fine` +
      (req.format === 'gif' ? '; a webp preview is much smaller for the same picture.' : '.'),
  };
}

/** The first later rung predicted to fit, else the last one. */
export function nextRung(
  ladder: readonly PreviewRung[], from: number, bytes: number, maxBytes: number, video: { width: number; height: number }, format: PreviewFormat,
): number {
  const cost = (r: PreviewRung) => {
    const { width, height } = previewSize(video, r.longSide);
    return width * height * r.fps * r.factor[format];
  };
  const here = cost(ladder[from]!);
  for (let j = from + 1; j < ladder.length; j++) {
    if ((bytes * cost(ladder[j]!)) / here <= maxBytes * ESTIMATE_MARGIN) return j;
  }
  return ladder.length - 1;
}

function encodeArgs(format: PreviewFormat, input: string, output: string, rung: PreviewRung, size: { width: number; height: number }): string[] {
  const head = ['-nostdin', '-hide_banner', '-loglevel', 'error', '-nostats', '-progress', 'pipe:1', '-i', input];
  const shape = `fps=${rung.fps},scale=${size.width}:${size.height}:flags=lanczos,setsar=1`;
  const tail = ['-an', '-sn', '-dn', '-map_metadata', '-1', '-loop', '0', '-f', format, '-y', output];
  if (format === 'webp') {
    return [
      ...head,
      '-vf', `${shape},format=yuv420p`,
      '-c:v', 'libwebp_anim', '-lossless', '0', '-quality', String(rung.webpQuality), '-preset', 'picture', '-compression_level', '4',
      ...tail,
    ];
  }
  // One palette for the whole loop (the photos' colours), ordered dithering: it compresses far
  // better than error diffusion and does not crawl from frame to frame.
  return [
    ...head,
    '-filter_complex',
    `[0:v]${shape},split[a][b];[a]palettegen=max_colors=${rung.gifColours}:stats_mode=full[p];[b][p]paletteuse=dither=bayer:bayer_scale=3:diff_mode=rectangle[out]`,
    '-map', '[out]', '-c:v', 'gif',
    ...tail,
  ];
}

/** What the file really is: size, frame count and loop length, read back with libvips. */
async function measure(file: string): Promise<{ width: number; height: number; frames: number; durationMs: number }> {
  const meta = await sharp(file, { animated: true }).metadata();
  const frames = meta.pages ?? 1;
  const height = meta.pageHeight ?? meta.height ?? 0;
  const durationMs = Math.round((meta.delay ?? []).reduce((n, d) => n + d, 0));
  return { width: meta.width ?? 0, height, frames, durationMs };
}

function formatMb(bytes: number): string {
  return `${(bytes / 1_000_000).toFixed(2)} MB`;
}
