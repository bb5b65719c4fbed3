/**
 * The command line: `photoreel render photos... -o out.mp4` runs the same pipeline
 * in-process (intake -> plan -> local engine), and `photoreel serve` starts the service.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config.js';
import { AppError, toAppError } from '../core/errors.js';
import { JobOptionsSchema, MUSIC_DEFAULTS, MusicInputSchema, type MusicInput, type PreviewFormat } from '../core/job.js';
import { createLocalEngine } from '../pipeline/engines/local/index.js';
import type { SourceImage, SourceMusic } from '../pipeline/engines/engine.js';
import { intakeImages } from '../pipeline/intake/index.js';
import { inspectImage } from '../pipeline/intake/inspect-image.js';
import { inspectMusic, intakeMusic } from '../pipeline/intake/music.js';
import { backdropsFor } from '../pipeline/intake/plain-backdrop.js';
import { makePreview } from '../pipeline/media/preview.js';
import { netPolicy } from '../pipeline/net-policy.js';
import { planJob } from '../pipeline/plan/planner.js';
import { main as serve } from './node.js';
import { main as worker } from './worker.js';

const USAGE = `Usage:
  photoreel render <photo|url>... [-o out.mp4] [--prompt "..."] [options]
  photoreel serve                     start the API + consumer (same as npm start)
  photoreel worker                    start a queue consumer only (scale-out: QUEUE=sqs STORAGE=s3)

Render options:
  -o, --output <file>          where to write the MP4 (default: photoreel.mp4)
  -p, --prompt <text>          plain-language instruction, e.g. "vertical, 2 s per photo, title 'Sale'"
      --aspect <16:9|9:16|1:1|4:5>
      --resolution <720p|1080p|2160p>
                               default 1080p; 2160p is 4K UHD (opt-in: about 4x the work)
      --fps <24|25|30|60>
      --seconds-per-image <s>
      --transition <name>      fade, cut, random, wipeleft, slideup, ... (see README); random: a
                               different one each time, no two in a row alike
      --transition-duration <s>
      --seed <n>               seed of random transitions and a prompt's "shuffle" (default: from
                               the photos and prompt, so the same command renders the same video)
      --motion <kenburns|none>
      --fit <cover|contain|blur>
      --music <file|url>       background music (MP3, WAV, M4A, AAC): looped or trimmed to the
                               video, faded, loudness-normalised, mixed in as an AAC track
      --music-volume <0-2>     gain after loudness normalisation (default ${MUSIC_DEFAULTS.volume})
      --music-fade-in <s>      fade-in seconds (default ${MUSIC_DEFAULTS.fadeInMs / 1000})
      --music-fade-out <s>     fade-out seconds, ending with the video (default ${MUSIC_DEFAULTS.fadeOutMs / 1000})
      --loudness <LUFS>        loudness target at volume 1, -30 to -5 (default ${MUSIC_DEFAULTS.loudnessLufs})
      --end-card               the call to action (quoted in --prompt) on its own card after the
                               last photo, instead of over it
      --poster <file.jpg>      also write the poster frame
      --preview <file.webp|file.gif>
                               also write a looping animated preview (at most 2 MB; the
                               format follows the file's extension)
      --plan                   print the plan (timeline) as JSON and exit without rendering
  -q, --quiet                  no progress output
  -h, --help
`;

export async function runCli(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'serve' || command === 'worker') {
    await (command === 'serve' ? serve() : worker());
    return await new Promise<number>(() => {}); // runs until a signal ends the process
  }
  const wantsHelp = command === undefined || ['help', '-h', '--help'].includes(command) || rest.includes('-h') || rest.includes('--help');
  if (command !== 'render' || wantsHelp) {
    (wantsHelp ? process.stdout : process.stderr).write(USAGE);
    return wantsHelp ? 0 : 2;
  }
  try {
    return await render(rest);
  } catch (err) {
    // node:util parseArgs: an unknown flag, or a flag without its value ("--music" at the end).
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')) {
      process.stderr.write(`photoreel: ${(err as Error).message}\nRun "photoreel --help" for the options.\n`);
      return 2;
    }
    const e = err instanceof ConfigError ? err : toAppError(err);
    process.stderr.write(`photoreel: ${e instanceof AppError ? `${e.message} (${e.code})` : e.message}\n`);
    return e instanceof AppError && e.code === 'canceled' ? 130 : 1;
  }
}

const RENDER_OPTIONS = {
  output: { type: 'string', short: 'o', default: 'photoreel.mp4' },
  prompt: { type: 'string', short: 'p' },
  aspect: { type: 'string' },
  resolution: { type: 'string' },
  fps: { type: 'string' },
  'seconds-per-image': { type: 'string' },
  transition: { type: 'string' },
  'transition-duration': { type: 'string' },
  seed: { type: 'string' },
  motion: { type: 'string' },
  fit: { type: 'string' },
  music: { type: 'string' },
  'music-volume': { type: 'string' },
  'music-fade-in': { type: 'string' },
  'music-fade-out': { type: 'string' },
  loudness: { type: 'string' },
  poster: { type: 'string' },
  preview: { type: 'string' },
  'end-card': { type: 'boolean' },
  plan: { type: 'boolean', default: false },
  quiet: { type: 'boolean', short: 'q', default: false },
} as const;

/** `--loudness -16`: parseArgs would take "-16" for a flag; a negative number after a flag that takes a value is that value. */
function joinNegativeValues(args: string[], takesValue: (flag: string) => boolean): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const next = args[i + 1];
    if (/^--[a-z][a-z-]*$/.test(a) && takesValue(a.slice(2)) && next !== undefined && /^-\d/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

async function render(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: joinNegativeValues(args, (flag) => (RENDER_OPTIONS as Record<string, { type: string }>)[flag]?.type === 'string'),
    allowPositionals: true,
    options: RENDER_OPTIONS,
  });
  if (positionals.length === 0) throw new AppError('validation_error', 'give at least one photo (file path or URL)');
  const options = parseOptions(values);
  const musicInput = parseMusic(values);
  const previewFormat = previewFormatOf(values.preview);
  const config = loadConfig();

  if (values.plan) {
    const plan = planJob({ images: positionals.map((p) => ({ source: p })), prompt: values.prompt, options, music: musicInput });
    process.stdout.write(JSON.stringify(plan, null, 2) + '\n');
    return 0;
  }

  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once('SIGINT', onSigint);
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'photoreel-'));
  const bar = progressBar(values.quiet ? null : process.stderr);
  try {
    // Music first (as the service does): a bad music file fails before the photos are read.
    const music = musicInput ? await loadMusic(musicInput, workDir, config, abort.signal) : undefined;
    const images = await loadInputs(positionals, workDir, config, abort.signal, (f) => bar('fetching', f));
    // As the service does: with an automatic fit, packshots on a plain backdrop stay whole.
    const backdrops = await backdropsFor(images, options?.fit);
    const plan = planJob({
      images: images.map((img, k) => ({ source: positionals[img.index]!, width: img.width, height: img.height, ...(backdrops[k] ? { backdrop: backdrops[k]! } : {}) })),
      prompt: values.prompt,
      options,
      music: musicInput,
    });
    const engine = createLocalEngine({ ffmpegPath: config.FFMPEG_PATH, ffprobePath: config.FFPROBE_PATH, x264Preset: config.X264_PRESET, x264Crf: config.X264_CRF, x264Tuning: config.X264_PARAMS });
    const started = Date.now();
    const out = await engine.render({ plan, images, workDir, signal: abort.signal, onProgress: (f) => bar('rendering', f), music });
    bar('done', 1);
    await fs.copyFile(out.videoPath, values.output!);
    if (values.poster) await fs.copyFile(out.posterPath, values.poster);
    let previewNote = '';
    if (values.preview && previewFormat) {
      const made = await makePreview({ videoPath: out.videoPath, video: out, format: previewFormat, workDir, ffmpegPath: config.FFMPEG_PATH, signal: abort.signal });
      if (!made.ok) throw new AppError('render_failed', `${made.message} (${made.code})`);
      await fs.copyFile(made.preview.path, values.preview);
      previewNote = `; preview ${values.preview}: ${made.preview.width}x${made.preview.height}, ${(made.preview.bytes / 1e3).toFixed(0)} kB`;
    }
    const audio = plan.audio?.source !== undefined ? `, music at ${Math.round(plan.audio.volume * 100)}% (AAC)` : '';
    process.stderr.write(
      `${values.output}: ${out.width}x${out.height} ${out.fps} fps, ${(out.durationMs / 1000).toFixed(2)} s${audio}, ${(out.bytes / 1e6).toFixed(1)} MB, rendered in ${((Date.now() - started) / 1000).toFixed(1)} s${previewNote}\n`,
    );
    return 0;
  } finally {
    process.off('SIGINT', onSigint);
    await fs.rm(workDir, { recursive: true, force: true });
  }
}

type Flags = Record<string, string | boolean | undefined>;

/** `--preview out.webp` / `out.gif`: the format is the file's extension. */
function previewFormatOf(file: unknown): PreviewFormat | undefined {
  if (typeof file !== 'string') return undefined;
  const ext = path.extname(file).slice(1).toLowerCase();
  if (ext === 'webp' || ext === 'gif') return ext;
  throw new AppError('validation_error', `--preview: the file must end in .webp or .gif (got "${file}")`);
}

function parseOptions(v: Flags) {
  const num = (s: unknown) => (typeof s === 'string' ? Number(s) : undefined);
  const raw = {
    aspect: v.aspect,
    resolution: v.resolution,
    fps: num(v.fps),
    secondsPerImage: num(v['seconds-per-image']),
    transition: v.transition || v['transition-duration'] ? { type: v.transition, duration: num(v['transition-duration']) } : undefined,
    seed: typeof v.seed === 'string' ? seedFlag(v.seed) : undefined,
    motion: v.motion,
    fit: v.fit,
    endCard: v['end-card'] === true ? true : undefined,
  };
  const clean = JSON.parse(JSON.stringify(raw));
  const parsed = JobOptionsSchema.safeParse(clean);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new AppError('validation_error', `--${String(issue.path[0] ?? '').replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}: ${issue.message}`);
  }
  return parsed.data;
}

function seedFlag(raw: string): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n)) throw new AppError('validation_error', `--seed: must be a whole number from 0 to ${Number.MAX_SAFE_INTEGER} (got "${raw}")`);
  return n;
}

/** A number flag within [min, max], or undefined when not given. */
function numberFlag(v: Flags, name: string, min: number, max: number, unit = ''): number | undefined {
  const raw = v[name];
  if (typeof raw !== 'string') return undefined;
  const n = raw.trim() === '' ? NaN : Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) throw new AppError('validation_error', `--${name}: must be a number from ${min} to ${max}${unit} (got "${raw}")`);
  return n;
}

const MUSIC_FLAGS = ['music-volume', 'music-fade-in', 'music-fade-out', 'loudness'] as const;

/**
 * `--music` and its settings -> the request's `music` (the same fields and limits as the API).
 * A local file keeps its path as the music's name (`plan.audio.source`), as photos do.
 */
function parseMusic(v: Flags): MusicInput | undefined {
  const file = v.music;
  if (typeof file !== 'string' || file === '') {
    const orphan = MUSIC_FLAGS.find((f) => v[f] !== undefined);
    if (file === '') throw new AppError('validation_error', '--music: give a file path or an http(s) URL');
    if (orphan) throw new AppError('validation_error', `--${orphan} needs --music <file-or-url>`);
    return undefined;
  }
  const ms = (s: number | undefined) => (s === undefined ? undefined : Math.round(s * 1000));
  const settings = {
    volume: numberFlag(v, 'music-volume', 0, 2),
    fadeInMs: ms(numberFlag(v, 'music-fade-in', 0, 60, ' s')),
    fadeOutMs: ms(numberFlag(v, 'music-fade-out', 0, 60, ' s')),
    loudnessLufs: numberFlag(v, 'loudness', -30, -5, ' LUFS'),
  };
  const isUrl = /^https?:\/\//i.test(file);
  // The API's schema checks the settings (a local file stands in as a placeholder URL).
  const parsed = MusicInputSchema.safeParse(JSON.parse(JSON.stringify({ url: isUrl ? file : 'https://local.invalid/music', ...settings })));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[0] ?? 'url');
    const flag = { url: 'music', volume: 'music-volume', fadeInMs: 'music-fade-in', fadeOutMs: 'music-fade-out', loudnessLufs: 'loudness' }[key] ?? 'music';
    throw new AppError('validation_error', `--${flag}: ${issue.message}`);
  }
  return { ...parsed.data, url: file };
}

/** The music, checked like the service checks it: URLs through the safe fetcher, local files by content, probe and a proof decode. */
async function loadMusic(music: MusicInput, workDir: string, config: ReturnType<typeof loadConfig>, signal: AbortSignal): Promise<SourceMusic> {
  const tools = { ffmpegPath: config.FFMPEG_PATH, ffprobePath: config.FFPROBE_PATH, signal };
  const p = music.url!;
  if (/^https?:\/\//i.test(p)) {
    return intakeMusic(music, { workDir, policy: netPolicy(config), maxBytes: config.MAX_MUSIC_BYTES, ...tools });
  }
  let stat;
  try {
    stat = await fs.stat(p);
  } catch {
    throw new AppError('validation_error', `music: no such file: ${p}`);
  }
  if (!stat.isFile()) throw new AppError('validation_error', `music: not a file: ${p}`);
  // Linked (else copied) into the work folder under a plain name: ffmpeg would read "a:b.mp3" as a protocol.
  const staged = path.join(workDir, 'music.input');
  await fs.symlink(path.resolve(p), staged).catch(() => fs.copyFile(p, staged));
  try {
    const info = await inspectMusic(staged, tools);
    const final = path.join(workDir, `music.${info.type}`);
    await fs.rename(staged, final);
    return { path: final, type: info.type, durationMs: info.durationMs };
  } catch (err) {
    const e = toAppError(err);
    if (signal.aborted || e.code === 'canceled' || e.code === 'internal_error') throw err;
    throw new AppError(e.code, `music (${p}): ${e.message}`);
  }
}

/** Local paths are inspected in place; http(s) URLs go through the service's safe fetcher. */
async function loadInputs(inputs: string[], workDir: string, config: ReturnType<typeof loadConfig>, signal: AbortSignal, onProgress: (f: number) => void): Promise<SourceImage[]> {
  const urls = inputs.map((p, index) => ({ p, index })).filter(({ p }) => /^https?:\/\//i.test(p));
  const fetched = urls.length
    ? await intakeImages(urls.map(({ p }) => ({ url: p })), { workDir, policy: netPolicy(config), maxBytes: config.MAX_IMAGE_BYTES, maxPixels: config.MAX_IMAGE_PIXELS, signal, onProgress })
    : [];
  const out: SourceImage[] = [];
  let u = 0;
  for (const [index, p] of inputs.entries()) {
    if (/^https?:\/\//i.test(p)) {
      out.push({ ...fetched[u++]!, index });
      continue;
    }
    try {
      await fs.access(p);
    } catch {
      throw new AppError('validation_error', `images[${index}]: no such file: ${p}`);
    }
    try {
      const info = await inspectImage(path.resolve(p), { maxPixels: config.MAX_IMAGE_PIXELS, decodedBase: path.join(workDir, `local-${index}`) });
      out.push({ index, ...info, path: info.path ?? path.resolve(p) });
    } catch (err) {
      const e = toAppError(err);
      throw new AppError(e.code, `images[${index}] (${p}): ${e.message}`);
    }
  }
  return out;
}

function progressBar(stream: NodeJS.WriteStream | null) {
  let lastDrawn = '';
  return (stage: string, fraction: number) => {
    if (!stream) return;
    const pct = Math.floor(fraction * 100);
    if (!stream.isTTY) {
      const line = `${stage} ${Math.floor(pct / 10) * 10}%`;
      if (line !== lastDrawn) stream.write(line + '\n');
      lastDrawn = line;
      return;
    }
    const width = 30;
    const filled = Math.round((fraction * width));
    const line = `\r${stage.padEnd(9)} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(pct).padStart(3)}%`;
    if (line !== lastDrawn) stream.write(line + (stage === 'done' ? '\n' : ''));
    lastDrawn = line;
  };
}
