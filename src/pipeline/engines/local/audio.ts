import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../../core/errors.js';
import type { Audio } from '../../../core/plan.js';
import type { SourceMusic } from '../engine.js';
import { abortError } from './prepare-images.js';
import { runFfmpeg } from './run-ffmpeg.js';

/**
 * Mixes the request's music into the composed (silent) video: one measuring pass and one
 * muxing pass, the video stream copied untouched.
 *
 * The chain, on exactly the video's length in samples: loop (`-stream_loop -1`) or trim
 * (`atrim` counts samples, so loop seams and timestamps cannot shift the end), fade in and
 * out, then a linear gain to the loudness target, then `volume`, then a limiter only if the
 * peaks would pass -1 dBTP. The gain is measured (EBU R128, loudnorm's analysis) on the faded
 * signal itself, so fades count in the integrated loudness. loudnorm does not normalise here:
 * when a linear gain would break its true-peak or range limits it falls back to its dynamic
 * mode, an AGC that would lift the fades back up. `volume` comes after normalisation because
 * before it normalisation would undo it: 0.5 plays about 6 dB under the target.
 */

export const SAMPLE_RATE = 48_000;
const BITRATE = '192k';
/** Peak ceiling after all gains; the limiter is only added when the measured peak says it is needed. */
const TRUE_PEAK_LIMIT_DB = -1;
/** The limiter's sample-peak ceiling, a little under the true-peak one (inter-sample peaks, AAC overshoot). */
const LIMITER_CEILING_DB = -1.5;
/** A near-silent track is not amplified into its noise floor. */
const MAX_GAIN_DB = 30;
const MEASURE_TIMEOUT_MS = 10 * 60_000;
/** Below this the track is silence (R128's absolute gate is -70 LUFS). */
const SILENCE_LUFS = -70;

export interface MusicLoudness {
  /** Integrated loudness of the looped/trimmed, faded music, LUFS; null for silence. */
  integratedLufs: number | null;
  /** True peak, dBTP. */
  truePeakDb: number;
}

export interface MusicChainInput {
  /** Output length in samples at SAMPLE_RATE (the video's frames at its fps). */
  samples: number;
  fadeInMs: number;
  fadeOutMs: number;
}

/** Samples at SAMPLE_RATE that last exactly `frames` video frames (every supported fps divides 48 kHz). */
export function samplesForFrames(frames: number, fps: number): number {
  return Math.round((frames * SAMPLE_RATE) / fps);
}

/** Looped input -> exactly `samples` of 48 kHz stereo, faded. Shared by both passes so they hear the same signal. */
export function baseChain(c: MusicChainInput): string[] {
  const n = c.samples;
  const fadeIn = Math.min(n, Math.round((c.fadeInMs * SAMPLE_RATE) / 1000));
  const fadeOut = Math.min(n, Math.round((c.fadeOutMs * SAMPLE_RATE) / 1000));
  const f = [
    `aresample=${SAMPLE_RATE}`,
    `aformat=sample_fmts=fltp:sample_rates=${SAMPLE_RATE}:channel_layouts=stereo`,
    `atrim=end_sample=${n}`,
    // afade positions by timestamp: restart them from 0 on the trimmed, sample-counted stream.
    'asetpts=N/SR/TB',
  ];
  if (fadeIn > 0) f.push(`afade=t=in:start_sample=0:nb_samples=${fadeIn}`);
  if (fadeOut > 0) f.push(`afade=t=out:start_sample=${n - fadeOut}:nb_samples=${fadeOut}`);
  return f;
}

export interface GainPlan {
  /** Normalisation gain plus volume, dB (null: silence, volume 0). */
  gainDb: number | null;
  limit: boolean;
}

/** How far to move the measured music: to the target, then by `volume`; limit only if the peak would pass the ceiling. */
export function planGain(m: MusicLoudness, audio: Pick<Audio, 'volume' | 'loudnessLufs'>): GainPlan {
  if (audio.volume <= 0) return { gainDb: null, limit: false };
  const volumeDb = 20 * Math.log10(audio.volume);
  const normDb = m.integratedLufs === null ? 0 : Math.min(MAX_GAIN_DB, (audio.loudnessLufs ?? -14) - m.integratedLufs);
  const gainDb = normDb + volumeDb;
  return { gainDb, limit: m.truePeakDb + gainDb > TRUE_PEAK_LIMIT_DB };
}

/** The muxing pass's chain: the base chain, the gain, the limiter if needed, and a hard length guard. */
export function mixChain(c: MusicChainInput, g: GainPlan): string {
  const f = baseChain(c);
  f.push(g.gainDb === null ? 'volume=0' : `volume=${g.gainDb.toFixed(2)}dB`);
  if (g.limit) {
    const ceiling = 10 ** (LIMITER_CEILING_DB / 20);
    // level=0: no make-up gain (alimiter's default would push the whole track to the ceiling); latency=1: no delay.
    f.push(`alimiter=limit=${ceiling.toFixed(4)}:level=0:latency=1:attack=5:release=50`);
  }
  // Whatever a filter did to the length, the track ends on the video's last frame.
  f.push(`apad=whole_len=${c.samples}`, `atrim=end_sample=${c.samples}`);
  return f.join(',');
}

/** loudnorm's analysis (its JSON block on stderr) -> integrated loudness and true peak. */
export function parseLoudnorm(stderr: string): MusicLoudness {
  const start = stderr.lastIndexOf('{');
  const end = stderr.lastIndexOf('}');
  if (start < 0 || end < start) throw new Error('loudnorm printed no measurement');
  const j = JSON.parse(stderr.slice(start, end + 1)) as { input_i?: string; input_tp?: string };
  const i = Number(j.input_i);
  const tp = Number(j.input_tp);
  return {
    integratedLufs: Number.isFinite(i) && i > SILENCE_LUFS ? i : null,
    truePeakDb: Number.isFinite(tp) ? tp : -99,
  };
}

export interface MixMusicOptions {
  ffmpegPath: string;
  workDir: string;
  /** The composed video in workDir; replaced by the version with music. */
  videoFile: string;
  music: SourceMusic;
  audio: Audio;
  totalFrames: number;
  fps: number;
  signal: AbortSignal;
  /** 0..1 of the mix (measuring is the first half). */
  onProgress?(fraction: number): void;
  onSpawn?(pid: number): void;
}

export interface MixReport extends MusicLoudness {
  gainDb: number | null;
  limited: boolean;
}

export async function mixMusic(o: MixMusicOptions): Promise<MixReport> {
  const chain: MusicChainInput = { samples: samplesForFrames(o.totalFrames, o.fps), fadeInMs: o.audio.fadeInMs, fadeOutMs: o.audio.fadeOutMs };
  const musicFile = path.relative(o.workDir, o.music.path);

  const measured = await measure(o, musicFile, chain);
  o.onProgress?.(0.5);
  const gain = planGain(measured, o.audio);

  const out = `${path.parse(o.videoFile).name}.music.mp4`;
  await runFfmpeg({
    ffmpegPath: o.ffmpegPath,
    args: [
      '-nostdin', '-hide_banner', '-loglevel', 'error', '-nostats', '-progress', 'pipe:1',
      '-i', o.videoFile,
      '-stream_loop', '-1', '-i', musicFile,
      '-filter_complex', `[1:a:0]${mixChain(chain, gain)}[a]`,
      '-map', '0:v:0', '-map', '[a]',
      '-c:v', 'copy',
      '-c:a', 'aac', '-profile:a', 'aac_low', '-b:a', BITRATE, '-ar', String(SAMPLE_RATE), '-ac', '2',
      '-movflags', '+faststart',
      '-y', out,
    ],
    cwd: o.workDir,
    signal: o.signal,
    what: 'mixing in the music',
    onFrame: (n) => o.onProgress?.(0.5 + 0.5 * Math.min(1, n / o.totalFrames)),
    onSpawn: o.onSpawn,
  });
  await fs.rename(path.join(o.workDir, out), path.join(o.workDir, o.videoFile));
  o.onProgress?.(1);
  return { ...measured, gainDb: gain.gainDb, limited: gain.limit };
}

function measure(o: MixMusicOptions, musicFile: string, chain: MusicChainInput): Promise<MusicLoudness> {
  const graph = `[0:a:0]${baseChain(chain).join(',')},loudnorm=print_format=json[a]`;
  const args = ['-nostdin', '-hide_banner', '-nostats', '-loglevel', 'info', '-stream_loop', '-1', '-i', musicFile, '-filter_complex', graph, '-map', '[a]', '-f', 'null', '-'];
  return new Promise((resolve, reject) => {
    // The timeout is a backstop: intake proved the file yields samples, so the looped input always reaches the end.
    execFile(o.ffmpegPath, args, { cwd: o.workDir, maxBuffer: 4 * 1024 * 1024, signal: o.signal, timeout: MEASURE_TIMEOUT_MS }, (err, _stdout, stderr) => {
      if (o.signal.aborted) return reject(abortError());
      const tail = String(stderr).trim().split('\n').slice(-15).join('\n');
      if (err) return reject(new AppError('render_failed', 'The video encoder failed while measuring the music.', { retryable: true, cause: new Error(`ffmpeg: ${tail}`) }));
      try {
        resolve(parseLoudnorm(String(stderr)));
      } catch (e) {
        reject(new AppError('render_failed', 'The music could not be measured.', { retryable: true, cause: new Error(`${(e as Error).message}: ${tail}`) }));
      }
    });
  });
}
