import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileTypeFromFile } from 'file-type';
import type { ObjectStorage } from '../../adapters/ports.js';
import { AppError, toAppError } from '../../core/errors.js';
import type { MusicInput } from '../../core/job.js';
import type { SourceMusic } from '../engines/engine.js';
import { abortError, type NetPolicy } from '../net/safe-http.js';
import { copyUploadToFile } from '../uploads/store.js';
import { fetchImageToFile } from './fetch-image.js';

/**
 * The request's music, through the same SSRF-safe download (or upload copy) as photos, then
 * checked by content, cheapest first: the type from the bytes (never the extension or
 * Content-Type), ffprobe (an audio stream, a usable length), and a short proof decode.
 */

/** file-type's `ext` -> our type name. Plain MP4 (brand isom/mp42) is how many tools write M4A. */
const ACCEPTED: Record<string, string> = { mp3: 'mp3', wav: 'wav', m4a: 'm4a', mp4: 'm4a', aac: 'aac' };
export const ACCEPTED_MUSIC_TEXT = 'MP3, WAV, M4A (MP4 audio), AAC (ADTS)';

/** Shorter than this there is nothing to loop (and ffprobe's estimate for a truncated file lands here). */
export const MIN_MUSIC_MS = 200;
/** Longer files are refused before anything decodes them: a soundtrack, not an album. */
export const MAX_MUSIC_MS = 30 * 60 * 1000;
/** Seconds decoded to prove the stream is real audio, not just a plausible header. */
const PROOF_DECODE_SECONDS = 5;

export interface MusicIntakeOptions {
  workDir: string;
  policy: NetPolicy;
  /** MAX_MUSIC_BYTES: one byte more fails with music_too_large. */
  maxBytes: number;
  ffmpegPath?: string;
  ffprobePath?: string;
  signal?: AbortSignal;
  /** Where `{ upload }` music is read from. */
  uploads?: { storage: ObjectStorage; tenant: string };
}

export interface MusicInfo {
  type: string;
  durationMs: number;
}

/** Fetches (or copies from uploads) and checks the music; errors say `music: ...` and name the field. */
export async function intakeMusic(music: MusicInput, opts: MusicIntakeOptions): Promise<SourceMusic> {
  const { signal } = opts;
  if (signal?.aborted) throw abortError(signal);
  await fs.promises.mkdir(opts.workDir, { recursive: true });
  const download = path.join(opts.workDir, 'music.download');
  const field = music.upload !== undefined ? 'music.upload' : 'music.url';
  try {
    if (music.upload !== undefined) {
      if (!opts.uploads) throw new AppError('fetch_failed', `upload "${music.upload}" cannot be read here (no upload storage)`);
      await copyUploadToFile(opts.uploads.storage, opts.uploads.tenant, music.upload, download, { maxBytes: opts.maxBytes, signal }).catch((err) => {
        throw err instanceof AppError && err.code === 'file_too_large' ? new AppError('music_too_large', `the music file is larger than the ${opts.maxBytes}-byte limit`) : err;
      });
    } else {
      await fetchImageToFile(music.url!, download, { policy: opts.policy, maxBytes: opts.maxBytes, signal, kind: 'music' });
    }
    const info = await inspectMusic(download, opts);
    const final = path.join(opts.workDir, `music.${info.type}`);
    await fs.promises.rename(download, final);
    return { path: final, type: info.type, durationMs: info.durationMs };
  } catch (err) {
    await fs.promises.rm(download, { force: true }).catch(() => undefined);
    if (signal?.aborted) throw abortError(signal);
    const e = toAppError(err);
    if (e.code === 'canceled' || e.code === 'internal_error') throw err;
    throw new AppError(e.code, `music: ${e.message}`, { retryable: e.retryable, field, cause: err });
  }
}

/** The music type of a file by its content, or null when it is not one we accept (POST /v1/uploads routes on this). */
export async function musicTypeOf(file: string): Promise<string | null> {
  const ft = await fileTypeFromFile(file).catch(() => undefined);
  return (ft && ACCEPTED[ft.ext]) ?? null;
}

/** Type by content, then ffprobe, then a proof decode. Also used by POST /v1/uploads. */
export async function inspectMusic(file: string, opts: { ffmpegPath?: string; ffprobePath?: string; signal?: AbortSignal }): Promise<MusicInfo> {
  const stat = await fs.promises.stat(file);
  if (stat.size === 0) throw new AppError('music_unreadable', 'the music file is empty (0 bytes)');
  const ft = await fileTypeFromFile(file);
  if (!ft) throw new AppError('unsupported_music_type', `unsupported music type: the content is not a recognised audio format; accepted types are ${ACCEPTED_MUSIC_TEXT}`);
  const type = ACCEPTED[ft.ext];
  if (!type) throw new AppError('unsupported_music_type', `unsupported music type: ${ft.ext.toUpperCase()} (${ft.mime}); accepted types are ${ACCEPTED_MUSIC_TEXT}`);
  opts.signal?.throwIfAborted();

  let probe: { streams?: { codec_type?: string; duration?: string }[]; format?: { duration?: string } };
  try {
    probe = JSON.parse((await run(opts.ffprobePath ?? 'ffprobe', ['-v', 'error', '-print_format', 'json', '-show_streams', '-show_format', file], opts.signal)).toString('utf8'));
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    throw new AppError('music_unreadable', `the ${type.toUpperCase()} file could not be read (damaged or truncated)`, { cause: err });
  }
  const audio = probe.streams?.find((st) => st.codec_type === 'audio');
  if (!audio) throw new AppError('music_unreadable', `the ${type.toUpperCase()} file has no audio stream`);
  const seconds = Number(audio.duration ?? probe.format?.duration ?? NaN);
  const durationMs = Number.isFinite(seconds) ? Math.round(seconds * 1000) : 0;
  if (durationMs < MIN_MUSIC_MS) throw new AppError('music_unreadable', `the ${type.toUpperCase()} file holds ${durationMs} ms of audio; at least ${MIN_MUSIC_MS} ms is needed (damaged or truncated?)`);
  if (durationMs > MAX_MUSIC_MS) throw new AppError('music_too_long', `the music is ${Math.round(durationMs / 1000)} s long; at most ${MAX_MUSIC_MS / 60_000} minutes is accepted`);

  // Real samples must come out, not just a header: the engine loops this file, and looping
  // something that decodes to nothing would never reach the video's length.
  let samples: number;
  try {
    const pcm = await run(opts.ffmpegPath ?? 'ffmpeg', ['-nostdin', '-v', 'error', '-xerror', '-t', String(PROOF_DECODE_SECONDS), '-i', file, '-map', '0:a:0', '-ac', '1', '-ar', String(PROOF_RATE), '-f', 's16le', '-'], opts.signal);
    samples = pcm.length / 2;
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    throw new AppError('music_unreadable', `the ${type.toUpperCase()} audio could not be decoded (damaged or truncated)`, { cause: err });
  }
  if (samples < (MIN_MUSIC_MS / 1000) * PROOF_RATE) throw new AppError('music_unreadable', `the ${type.toUpperCase()} file decodes to less than ${MIN_MUSIC_MS} ms of audio (damaged or truncated)`);
  return { type, durationMs };
}

/** Proof-decode sample rate: enough to count samples, small enough to hold in memory. */
const PROOF_RATE = 8000;

function run(bin: string, args: string[], signal: AbortSignal | undefined): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { encoding: 'buffer', maxBuffer: 16 * 1024 * 1024, timeout: 120_000, signal }, (err, stdout, stderr) => {
      if (err) {
        if (signal?.aborted) reject(abortError(signal));
        else reject(new Error(`${path.basename(bin)} failed: ${stderr.toString('utf8').trim().split('\n').slice(-3).join(' | ') || err.message}`, { cause: err }));
      } else resolve(stdout);
    });
  });
}
