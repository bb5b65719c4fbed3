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
import { JobOptionsSchema } from '../core/job.js';
import { createLocalEngine } from '../pipeline/engines/local/index.js';
import type { SourceImage } from '../pipeline/engines/engine.js';
import { intakeImages } from '../pipeline/intake/index.js';
import { inspectImage } from '../pipeline/intake/inspect-image.js';
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
      --resolution <720p|1080p>
      --fps <24|25|30|60>
      --seconds-per-image <s>
      --transition <name>      fade, cut, wipeleft, slideup, ... (see README)
      --transition-duration <s>
      --motion <kenburns|none>
      --fit <cover|contain|blur>
      --poster <file.jpg>      also write the poster frame
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
    const e = err instanceof ConfigError ? err : toAppError(err);
    process.stderr.write(`photoreel: ${e instanceof AppError ? `${e.message} (${e.code})` : e.message}\n`);
    return e instanceof AppError && e.code === 'canceled' ? 130 : 1;
  }
}

async function render(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      output: { type: 'string', short: 'o', default: 'photoreel.mp4' },
      prompt: { type: 'string', short: 'p' },
      aspect: { type: 'string' },
      resolution: { type: 'string' },
      fps: { type: 'string' },
      'seconds-per-image': { type: 'string' },
      transition: { type: 'string' },
      'transition-duration': { type: 'string' },
      motion: { type: 'string' },
      fit: { type: 'string' },
      poster: { type: 'string' },
      plan: { type: 'boolean', default: false },
      quiet: { type: 'boolean', short: 'q', default: false },
    },
  });
  if (positionals.length === 0) throw new AppError('validation_error', 'give at least one photo (file path or URL)');
  const options = parseOptions(values);
  const config = loadConfig();

  if (values.plan) {
    const plan = planJob({ images: positionals.map((p) => ({ source: p })), prompt: values.prompt, options });
    process.stdout.write(JSON.stringify(plan, null, 2) + '\n');
    return 0;
  }

  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once('SIGINT', onSigint);
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'photoreel-'));
  const bar = progressBar(values.quiet ? null : process.stderr);
  try {
    const images = await loadInputs(positionals, workDir, config, abort.signal, (f) => bar('fetching', f));
    const plan = planJob({ images: images.map((img) => ({ source: positionals[img.index]!, width: img.width, height: img.height })), prompt: values.prompt, options });
    const engine = createLocalEngine({ ffmpegPath: config.FFMPEG_PATH, ffprobePath: config.FFPROBE_PATH, x264Preset: config.X264_PRESET, x264Crf: config.X264_CRF });
    const started = Date.now();
    const out = await engine.render({ plan, images, workDir, signal: abort.signal, onProgress: (f) => bar('rendering', f) });
    bar('done', 1);
    await fs.copyFile(out.videoPath, values.output!);
    if (values.poster) await fs.copyFile(out.posterPath, values.poster);
    process.stderr.write(
      `${values.output}: ${out.width}x${out.height} ${out.fps} fps, ${(out.durationMs / 1000).toFixed(2)} s, ${(out.bytes / 1e6).toFixed(1)} MB, rendered in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
    );
    return 0;
  } finally {
    process.off('SIGINT', onSigint);
    await fs.rm(workDir, { recursive: true, force: true });
  }
}

function parseOptions(v: Record<string, string | boolean | undefined>) {
  const num = (s: unknown) => (typeof s === 'string' ? Number(s) : undefined);
  const raw = {
    aspect: v.aspect,
    resolution: v.resolution,
    fps: num(v.fps),
    secondsPerImage: num(v['seconds-per-image']),
    transition: v.transition || v['transition-duration'] ? { type: v.transition, duration: num(v['transition-duration']) } : undefined,
    motion: v.motion,
    fit: v.fit,
  };
  const clean = JSON.parse(JSON.stringify(raw));
  const parsed = JobOptionsSchema.safeParse(clean);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new AppError('validation_error', `--${String(issue.path[0] ?? '').replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}: ${issue.message}`);
  }
  return parsed.data;
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
