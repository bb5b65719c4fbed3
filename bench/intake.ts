/**
 * Intake benchmark: peak memory and decode time per photo while Photoreel takes in
 * 10 x 24 MP JPEGs and one 48 MP HEIC, against a plain decode of the same files.
 * Run: `npm run bench:intake` (options: `--jpegs N`, `--no-heic`, `--no-stills`).
 *
 * Each side runs in its own fresh Node process (so each peak is its own), one after the other:
 *
 * - photoreel: the files served from a loopback HTTP server and taken in by `intakeImages`
 *   exactly as a job does (SSRF-checked download, type sniffing, header-only size check,
 *   a 64 px proof decode; HEIC decoded by heic-decode in a worker, one at a time), then the
 *   local engine's still preparation for a 1080p plan of those photos (`prepareStill`, two at
 *   a time as the engine does).
 * - baseline: what a straightforward implementation does with the same files already on
 *   disk: decode each photo fully into memory (sharp `.rotate().raw().toBuffer()`; HEIC with
 *   heic-decode on the main thread), one after the other.
 *
 * Peak RSS is the kernel's high-water mark for the process (worker threads included), from
 * process.resourceUsage().maxRSS, minus nothing: it includes Node, tsx and the libraries.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { createLocalEngine } from '../src/pipeline/engines/local/index.js';
import { planStillJobs, prepareStill } from '../src/pipeline/engines/local/prepare-images.js';
import { intakeImages, type ImageTiming } from '../src/pipeline/intake/index.js';
import { planJob } from '../src/pipeline/plan/planner.js';
import { makePhoto, type Rgb } from '../test/helpers/images.js';
import { canMakeHeic, makeHeic } from '../test/helpers/intake-fixtures.js';

const SELF = fileURLToPath(import.meta.url);
const CACHE = path.join(os.tmpdir(), 'photoreel-bench-cache');
const MB = 1024 * 1024;
const TARGET_MB = 600;
const COLOURS: Rgb[] = [[200, 60, 50], [50, 150, 80], [60, 80, 190], [210, 170, 40], [140, 60, 160], [40, 160, 170], [220, 110, 40], [90, 90, 90], [170, 40, 90], [80, 130, 40]];

interface ImageResult {
  file: string;
  type: string;
  width: number;
  height: number;
  bytes: number;
  /** photoreel: download + inspect (proof decode / HEIC full decode); baseline: full decode. */
  decodeMs: number;
  fetchMs?: number;
  stillMs?: number;
}

interface PhaseResult {
  phase: string;
  startRssMb: number;
  peakRssMb: number;
  wallMs: number;
  images: ImageResult[];
  stillsMs?: number;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i === -1 ? undefined : process.argv[i + 1];
}

const peakMb = () => (process.resourceUsage().maxRSS * 1024) / MB;
const rssMb = () => process.memoryUsage().rss / MB;

// ---------------------------------------------------------------------------------------------
// Inputs

async function inputs(jpegs: number, heic: boolean): Promise<{ files: string[]; heicNote: string | null }> {
  fs.mkdirSync(CACHE, { recursive: true });
  const files: string[] = [];
  for (let i = 0; i < jpegs; i++) {
    const file = path.join(CACHE, `intake-${i}-6000x4000.jpg`);
    if (!fs.existsSync(file)) {
      process.stdout.write(`generating ${path.basename(file)}\n`);
      await makePhoto(file, { width: 6000, height: 4000, colour: COLOURS[i % COLOURS.length]!, seed: i + 11, quality: 92 });
    }
    files.push(file);
  }
  if (!heic) return { files, heicNote: 'HEIC skipped (--no-heic)' };
  const file = path.join(CACHE, 'intake-8064x6048.heic');
  if (!fs.existsSync(file)) {
    if (!(await canMakeHeic(process.env.FFMPEG_PATH ?? 'ffmpeg'))) {
      return { files, heicNote: 'HEIC skipped: this ffmpeg has no libx265 encoder to make the 48 MP test HEIC (install ffmpeg from Debian, which has it)' };
    }
    process.stdout.write('generating intake-8064x6048.heic (48 MP, 512 px HEVC tiles, as an iPhone writes it)\n');
    const jpg = path.join(CACHE, 'intake-heic-source-8064x6048.jpg');
    if (!fs.existsSync(jpg)) await makePhoto(jpg, { width: 8064, height: 6048, colour: [120, 140, 90], seed: 99, quality: 92 });
    const { data } = await sharp(jpg, { limitInputPixels: false }).raw().toBuffer({ resolveWithObject: true });
    fs.writeFileSync(file, await makeHeic({ rgb: data, width: 8064, height: 6048, tile: 512, crf: 14 }));
  }
  files.push(file);
  return { files, heicNote: null };
}

// ---------------------------------------------------------------------------------------------
// Children

async function photoreelPhase(files: string[], withStills: boolean): Promise<PhaseResult> {
  const startRssMb = rssMb();
  const server = http.createServer((req, res) => {
    const file = files[Number((req.url ?? '/').slice(1))];
    if (!file) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': fs.statSync(file).size });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const hostPort = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'photoreel-bench-intake-'));
  createLocalEngine({ ffmpegPath: 'ffmpeg', x264Preset: 'veryfast', x264Crf: 20 }); // its sharp settings (cache off), as in the service
  const timings: ImageTiming[] = [];
  const started = performance.now();
  try {
    const images = await intakeImages(files.map((_, i) => ({ url: `http://${hostPort}/${i}` })), {
      workDir,
      policy: { allowHosts: [hostPort], connectTimeoutMs: 10_000, idleTimeoutMs: 30_000, totalTimeoutMs: 300_000 },
      maxBytes: 200 * MB,
      maxPixels: 100_000_000,
      onImageDone: (t) => timings.push(t),
    });
    const intakeDone = performance.now();
    const results: ImageResult[] = timings
      .sort((a, b) => a.index - b.index)
      .map((t) => ({ file: path.basename(files[t.index]!), type: t.type, width: t.width, height: t.height, bytes: t.bytes, decodeMs: t.inspectMs, fetchMs: t.fetchMs }));
    let stillsMs: number | undefined;
    if (withStills) {
      const plan = planJob({ images: images.map((im) => ({ source: String(im.index), width: im.width, height: im.height })) });
      const jobs = planStillJobs(plan, images);
      let next = 0;
      const worker = async () => {
        while (next < jobs.length) {
          const j = jobs[next++]!;
          const t = performance.now();
          await prepareStill(j, path.join(workDir, j.file));
          results[j.clipIndex]!.stillMs = performance.now() - t;
        }
      };
      await Promise.all([worker(), worker()]);
      stillsMs = performance.now() - intakeDone;
    }
    return { phase: 'photoreel', startRssMb, peakRssMb: peakMb(), wallMs: performance.now() - started, images: results, stillsMs };
  } finally {
    server.close();
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

async function baselinePhase(files: string[]): Promise<PhaseResult> {
  const startRssMb = rssMb();
  const started = performance.now();
  const images: ImageResult[] = [];
  const heicDecode = createRequire(import.meta.url)('heic-decode') as (o: { buffer: Buffer }) => Promise<{ width: number; height: number; data: Uint8ClampedArray }>;
  for (const file of files) {
    const t = performance.now();
    const bytes = fs.statSync(file).size;
    if (file.endsWith('.heic')) {
      const out = await heicDecode({ buffer: fs.readFileSync(file) });
      images.push({ file: path.basename(file), type: 'heic', width: out.width, height: out.height, bytes, decodeMs: performance.now() - t });
    } else {
      const { info } = await sharp(file, { limitInputPixels: false }).rotate().raw().toBuffer({ resolveWithObject: true });
      images.push({ file: path.basename(file), type: 'jpeg', width: info.width, height: info.height, bytes, decodeMs: performance.now() - t });
    }
  }
  return { phase: 'baseline', startRssMb, peakRssMb: peakMb(), wallMs: performance.now() - started, images };
}

function runChild(phase: string, files: string[], extra: string[]): Promise<PhaseResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', SELF, '--child', phase, '--files', JSON.stringify(files), ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${phase} exited ${code}`));
      resolve(JSON.parse(out.trim().split('\n').pop()!) as PhaseResult);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Main

const fmtMs = (ms: number | undefined) => (ms === undefined ? '-' : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`);

async function main(): Promise<void> {
  const child = arg('--child');
  if (child) {
    const files = JSON.parse(arg('--files')!) as string[];
    const result = child === 'photoreel' ? await photoreelPhase(files, !process.argv.includes('--no-stills')) : await baselinePhase(files);
    process.stdout.write(JSON.stringify(result) + '\n');
    return;
  }

  const jpegs = Number(arg('--jpegs') ?? 10);
  const { files, heicNote } = await inputs(jpegs, !process.argv.includes('--no-heic'));
  if (heicNote) process.stdout.write(`${heicNote}\n`);
  const extra = process.argv.includes('--no-stills') ? ['--no-stills'] : [];
  process.stdout.write(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GB, node ${process.version}\n`);
  process.stdout.write(`inputs: ${files.map((f) => `${path.basename(f)} (${(fs.statSync(f).size / MB).toFixed(1)} MB)`).join(', ')}\n\n`);

  const ours = await runChild('photoreel', files, extra);
  const base = await runChild('baseline', files, extra);

  const rows = ours.images.map((im, i) => {
    const b = base.images[i]!;
    return `| ${im.file} | ${im.type} ${im.width}x${im.height} | ${fmtMs(im.fetchMs)} | ${fmtMs(im.decodeMs)} | ${fmtMs(im.stillMs)} | ${fmtMs(b.decodeMs)} |`;
  });
  const lines = [
    '| photo | type, size | photoreel download | photoreel inspect/decode | photoreel still (1080p) | baseline full decode |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
    '| | photoreel intake + stills | baseline (full decode, one at a time) |',
    '|---|---|---|',
    `| peak RSS | ${ours.peakRssMb.toFixed(0)} MB | ${base.peakRssMb.toFixed(0)} MB |`,
    `| RSS before starting (Node, tsx, libraries) | ${ours.startRssMb.toFixed(0)} MB | ${base.startRssMb.toFixed(0)} MB |`,
    `| wall time | ${fmtMs(ours.wallMs)} (stills ${fmtMs(ours.stillsMs)}) | ${fmtMs(base.wallMs)} |`,
    '',
    `target: peak RSS < ${TARGET_MB} MB -> ${ours.peakRssMb < TARGET_MB ? 'met' : 'NOT MET'}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  const resultsDir = path.join(path.dirname(SELF), 'results');
  fs.mkdirSync(resultsDir, { recursive: true });
  fs.writeFileSync(path.join(resultsDir, 'intake-latest.json'), JSON.stringify({ at: new Date().toISOString(), heicNote, photoreel: ours, baseline: base }, null, 2) + '\n');
  if (ours.peakRssMb >= TARGET_MB) process.exitCode = 1;
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
