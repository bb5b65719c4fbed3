import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { AppError } from '../../../core/errors.js';
import { probeVideo } from '../../media/ffprobe.js';
import { posterArgs, posterTime } from '../../media/poster.js';
import type { Engine, RenderOutput, RenderRequest } from '../engine.js';
import { mixMusic } from './audio.js';
import { buildFfmpegArgs, buildFilterGraph, cutFrames, planSegments, segmentOf } from './filtergraph.js';
import { renderOverlays } from './overlays.js';
import { prepareStillsInChild } from './prepare-in-child.js';
import { planStillJobs, prepareStills, throwIfAborted } from './prepare-images.js';
import { runFfmpeg } from './run-ffmpeg.js';
import { frameTimeline } from './timeline.js';

/**
 * The `local` engine: sharp prepares one still per clip (prepare-images.ts; for big photos in a
 * child process, prepare-in-child.ts, so the service does not keep the decode memory), text overlays
 * become PNGs (overlays.ts), and one ffmpeg run composes motion, transitions and text and
 * encodes H.264 (High, yuv420p, BT.709, +faststart): see filtergraph.ts for the graph and
 * motion.ts for how the Ken Burns motion stays smooth. Plans with more clips than
 * `maxClipsPerRun` render as several such runs joined by stream copy (bounded memory).
 * With music, audio.ts mixes it in afterwards (video copied); without, the MP4 has no audio track.
 */

export interface LocalEngineOptions {
  ffmpegPath: string;
  ffprobePath?: string;
  x264Preset: string;
  x264Crf: number;
  /** x264 options after the preset (config X264_PARAMS); default: the preset's tuning (x264-settings.ts: x264Params). */
  x264Tuning?: string;
  logger?: { debug(obj: object, msg?: string): void };
  /** Stills prepared at once (default 2: this targets 2-core machines). */
  prepareConcurrency?: number;
  /**
   * Most clips one ffmpeg run composes; longer plans render in segments joined by stream copy
   * (memory: ffmpeg holds ~70-90 MB per 1080p clip until its graph ends). Default by frame size.
   */
  maxClipsPerRun?: number;
  /**
   * Where stills are prepared: in a child process (`true`), in this one (`false`), or by size
   * (default: a child once the photos hold CHILD_MIN_PIXELS; see prepare-in-child.ts).
   */
  prepareInChild?: boolean;
  /** Test hook: the ffmpeg pid of each encode, once spawned. */
  onFfmpegSpawn?(pid: number): void;
}

/** Share of the progress bar given to photo preparation; the encode gets the rest but the last 2 % (and the music mix's share). */
const PREP_SHARE = 0.15;
const ENCODE_END = 0.98;
const MUSIC_SHARE = 0.06;

/**
 * Photos holding this many pixels in all are prepared in a child process: decoding them would
 * grow the service by ~10 MB per megapixel for good (measured on W1: 150 -> 360 MB); smaller
 * jobs are not worth the child's start (~0.3-0.5 s).
 */
export const CHILD_MIN_PIXELS = 24e6;

/**
 * 2 clips per run at 1080p (5 at 720p, 2 at 4K). ffmpeg holds every clip's chain until its
 * graph ends: x264 and ffmpeg themselves ~230 MB at 1080p, plus ~70-90 MB per 1080p Ken Burns
 * clip (the still, its resampled twin, their planes and frame pools; see motion.ts). Measured
 * on W1 (bench/, 10 clips, JPEG stills then): ffmpeg peaked at 419 MB with 2 per run, 565 MB
 * with 4, for the same CPU time (39.6 vs 39.7 s): a run's start and end cost little next to its
 * clips. (Y4M stills, y4m.ts, took ~10 MB off each clip: 2 per run peaked at ~385 MB; stills
 * at the density of a zoom's middle, motion.ts MAX_UPSCALE, took it to ~361 MiB, bench W1-W3.)
 */
export function defaultMaxClipsPerRun(pixels: number): number {
  return Math.max(2, Math.round((2 * 1920 * 1080) / pixels));
}

export function createLocalEngine(opts: LocalEngineOptions): Engine {
  // Every still is read once: libvips' operation cache would only hold memory.
  sharp.cache(false);
  return {
    name: 'local',
    render: (req) => render(opts, req),
  };
}

async function render(opts: LocalEngineOptions, req: RenderRequest): Promise<RenderOutput> {
  const { plan, workDir, signal } = req;
  throwIfAborted(signal);
  const log = opts.logger;
  const started = Date.now();
  let last = 0;
  const progress = (f: number) => {
    const v = Math.min(1, Math.max(last, f));
    last = v;
    req.onProgress(v);
  };
  progress(0);

  let jobs;
  try {
    jobs = planStillJobs(plan, req.images);
  } catch (err) {
    throw new AppError('render_failed', 'The timeline refers to a photo that is not available.', { cause: err });
  }

  await fs.mkdir(workDir, { recursive: true });
  let graphClips;
  try {
    const pixels = jobs.reduce((n, j) => n + j.source.width * j.source.height, 0);
    const inChild = opts.prepareInChild ?? pixels >= CHILD_MIN_PIXELS;
    graphClips = await (inChild ? prepareStillsInChild : prepareStills)(jobs, {
      workDir,
      signal,
      concurrency: opts.prepareConcurrency ?? 2,
      onStillDone: (done, total) => progress((PREP_SHARE * done) / total),
    });
  } catch (err) {
    if (err instanceof Error && err.name === 'AbortError') throw err;
    throw new AppError('render_failed', 'A photo could not be prepared for the video.', { retryable: false, cause: err });
  }
  const prepared = Date.now();
  throwIfAborted(signal);

  let overlays;
  try {
    overlays = await renderOverlays(plan, workDir);
  } catch (err) {
    throw new AppError('render_failed', 'The text overlays could not be drawn.', { retryable: true, cause: err });
  }
  throwIfAborted(signal);

  const tl = frameTimeline(plan);
  const total = tl.totalFrames;
  const segments = planSegments(tl, opts.maxClipsPerRun ?? defaultMaxClipsPerRun(plan.output.width * plan.output.height));
  const videoPath = path.join(workDir, 'video.mp4');
  const threads = Math.max(1, os.availableParallelism());
  let doneFrames = 0;
  const segFiles: string[] = [];
  const music = req.music && plan.audio?.source !== undefined ? { file: req.music, audio: plan.audio } : undefined;
  const encodeEnd = music ? ENCODE_END - MUSIC_SHARE : ENCODE_END;
  for (const [k, seg] of segments.entries()) {
    const graph = buildFilterGraph(plan, graphClips, overlays, seg);
    const script = `graph${k}.txt`;
    await fs.writeFile(path.join(workDir, script), graph.script);
    const single = segments.length === 1;
    const outFile = single ? 'video.mp4' : `seg${k}.mp4`;
    segFiles.push(outFile);
    const args = buildFfmpegArgs({
      scriptPath: script,
      outPath: outFile,
      fps: plan.output.fps,
      totalFrames: graph.frames,
      preset: opts.x264Preset,
      // CRF 0 is lossless, which x264 can only do outside the High profile we promise.
      crf: Math.max(1, opts.x264Crf),
      threads,
      faststart: single,
      keyFrames: cutFrames(tl, seg),
      x264Tuning: opts.x264Tuning,
    });
    log?.debug({ segment: k, segments: segments.length, frames: graph.frames, graphBytes: graph.script.length, prepareMs: prepared - started }, 'local engine: encoding');
    const base = doneFrames;
    await runFfmpeg({
      ffmpegPath: opts.ffmpegPath,
      args,
      cwd: workDir,
      signal,
      what: 'encoding the video',
      onFrame: (n) => progress(PREP_SHARE + (encodeEnd - PREP_SHARE) * Math.min(1, (base + n) / total)),
      onSpawn: opts.onFfmpegSpawn,
    });
    doneFrames += graph.frames;
  }
  // Poster: a frame of the segment that holds it, taken while the segments are joined and the
  // music mixed, rather than from the finished video afterwards (on W1 the poster run took
  // ~0.25 s and the join ~0.23 s, one after the other).
  const posterAt = segmentOf(segments, Math.ceil(posterTime(plan.durationMs) * plan.output.fps - 1e-9));
  const posterPath = path.join(workDir, 'poster.jpg');
  const poster = runFfmpeg({
    ffmpegPath: opts.ffmpegPath,
    // Half a frame early: -ss takes the first frame at or after the time, and a time rounded to
    // milliseconds could land past the frame's own (8/30 s -> 0.267 s gave frame 9).
    args: posterArgs(segFiles[posterAt.index]!, Math.max(0, posterAt.offset - 0.5) / plan.output.fps, 'poster.jpg'),
    cwd: workDir,
    signal,
    what: 'extracting the poster frame',
  });
  const finish = async () => {
    if (segments.length > 1) {
      // Same encoder settings in every segment, so the H.264 streams join by stream copy.
      await fs.writeFile(path.join(workDir, 'segments.txt'), segFiles.map((f) => `file '${f}'\n`).join(''));
      await runFfmpeg({
        ffmpegPath: opts.ffmpegPath,
        args: ['-nostdin', '-hide_banner', '-loglevel', 'error', '-f', 'concat', '-safe', '0', '-i', 'segments.txt', '-map', '0:v', '-c', 'copy', '-movflags', '+faststart', '-y', 'video.mp4'],
        cwd: workDir,
        signal,
        what: 'joining the video segments',
      });
    }
    if (music) {
      const mix = await mixMusic({
        ffmpegPath: opts.ffmpegPath,
        workDir,
        videoFile: 'video.mp4',
        music: music.file,
        audio: music.audio,
        totalFrames: total,
        fps: plan.output.fps,
        signal,
        onProgress: (f) => progress(encodeEnd + MUSIC_SHARE * f),
        onSpawn: opts.onFfmpegSpawn,
      });
      log?.debug({ ...mix }, 'local engine: music mixed');
    }
  };
  // Both run to the end before either's error is thrown: nothing is left writing into workDir.
  const [joined, posterDone] = await Promise.allSettled([finish(), poster]);
  if (joined.status === 'rejected') throw joined.reason;
  if (posterDone.status === 'rejected') throw posterDone.reason;
  const encoded = Date.now();

  let probe;
  try {
    probe = await probeVideo(videoPath, opts.ffprobePath ?? 'ffprobe');
  } catch (err) {
    throw new AppError('render_failed', 'The rendered video could not be read back.', { retryable: true, cause: err });
  }
  if (probe.codec !== 'h264') throw new AppError('render_failed', 'The rendered video has an unexpected format.', { retryable: true, cause: new Error(`codec ${probe.codec}`) });
  if (probe.hasAudio !== (music !== undefined)) throw new AppError('render_failed', 'The rendered video has an unexpected audio track.', { retryable: true, cause: new Error(`hasAudio ${probe.hasAudio}`) });
  log?.debug({ prepareMs: prepared - started, encodeMs: encoded - prepared, totalMs: Date.now() - started, bytes: probe.bytes }, 'local engine: done');
  progress(1);
  return {
    videoPath,
    posterPath,
    width: probe.width,
    height: probe.height,
    fps: probe.fps,
    durationMs: probe.durationMs,
    codec: 'h264',
    bytes: probe.bytes,
  };
}
