/**
 * Render benchmark: Photoreel's local engine vs. a hand-written single ffmpeg command doing
 * the same edit. See bench/README.md. Run: `npm run bench` (or `npm run bench -- --quick`).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plan } from '../src/core/plan.js';
import { createLocalEngine } from '../src/pipeline/engines/local/index.js';
import { probeVideo } from '../src/pipeline/media/ffprobe.js';
import { makePhoto, type Rgb } from '../test/helpers/images.js';

const quick = process.argv.includes('--quick');
const FFMPEG = process.env.FFMPEG_PATH ?? 'ffmpeg';
const FFPROBE = process.env.FFPROBE_PATH ?? 'ffprobe';
const PRESET = 'veryfast';
const CRF = 20;

interface Workload {
  name: string;
  photos: { width: number; height: number }[];
  out: { width: number; height: number };
  fps: number;
  secondsPerPhoto: number;
  transitionSeconds: number;
}

const W1: Workload = {
  name: 'W1: 10 photos (12-24 MP JPEG) -> 30 s 1080p30, 3 s each, 0.75 s crossfades, Ken Burns',
  photos: Array.from({ length: 10 }, (_, i) => (i % 2 ? { width: 6000, height: 4000 } : { width: 4000, height: 3000 })),
  out: { width: 1920, height: 1080 },
  fps: 30,
  secondsPerPhoto: 3,
  transitionSeconds: 0.75,
};
const QUICK: Workload = {
  name: 'quick: 4 photos (3-6 MP JPEG) -> 8 s 720p30, 2 s each, 0.5 s crossfades, Ken Burns',
  photos: Array.from({ length: 4 }, (_, i) => (i % 2 ? { width: 3000, height: 2000 } : { width: 2000, height: 1500 })),
  out: { width: 1280, height: 720 },
  fps: 30,
  secondsPerPhoto: 2,
  transitionSeconds: 0.5,
};

const COLOURS: Rgb[] = [[200, 60, 50], [50, 150, 80], [60, 80, 190], [210, 170, 40], [140, 60, 160], [40, 160, 170], [220, 110, 40], [90, 90, 90], [170, 40, 90], [80, 130, 40]];

async function photosFor(w: Workload): Promise<string[]> {
  const dir = path.join(os.tmpdir(), 'photoreel-bench-cache');
  fs.mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  for (const [i, p] of w.photos.entries()) {
    const file = path.join(dir, `photo-${i}-${p.width}x${p.height}.jpg`);
    if (!fs.existsSync(file)) {
      process.stdout.write(`generating ${path.basename(file)}\n`);
      await makePhoto(file, { width: p.width, height: p.height, colour: COLOURS[i % COLOURS.length]!, seed: i + 1, quality: 92 });
    }
    files.push(file);
  }
  return files;
}

/** Alternating zoom in / zoom out, each with a little pan. */
function motionFor(i: number) {
  const a = { zoom: 1, x: 0.5, y: 0.5 };
  const b = { zoom: 1.15, x: i % 4 < 2 ? 0.55 : 0.45, y: 0.45 };
  return { type: 'kenburns' as const, from: i % 2 ? b : a, to: i % 2 ? a : b, easing: 'easeInOut' as const };
}

function planFor(w: Workload): Plan {
  const n = w.photos.length;
  const per = w.secondsPerPhoto * 1000;
  const tr = w.transitionSeconds * 1000;
  return {
    output: { ...w.out, fps: w.fps, aspect: '16:9' },
    durationMs: n * per,
    background: '#000000',
    notes: [],
    overlays: [],
    clips: w.photos.map((p, i) => ({
      image: { index: i, source: `photo-${i}`, width: p.width, height: p.height },
      startMs: i * per,
      durationMs: per + (i < n - 1 ? tr : 0),
      fit: 'cover' as const,
      motion: motionFor(i),
      transition: i < n - 1 ? { type: 'fade' as const, durationMs: tr } : { type: 'cut' as const, durationMs: 0 },
    })),
  };
}

/**
 * The baseline: what a user would write by hand. Every photo is a looped image input, scaled
 * to cover 2x the frame (the usual trick to soften zoompan's pixel stepping), zoompan'ed one
 * output frame per input frame, then an xfade chain, libx264 veryfast CRF 20, +faststart.
 */
function baselineArgs(w: Workload, files: string[], out: string): string[] {
  const n = files.length;
  const { width: W, height: H } = w.out;
  const clipS = (i: number) => w.secondsPerPhoto + (i < n - 1 ? w.transitionSeconds : 0);
  const args = ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y'];
  files.forEach((f, i) => args.push('-loop', '1', '-framerate', String(w.fps), '-t', clipS(i).toFixed(3), '-i', f));
  const parts: string[] = [];
  files.forEach((_, i) => {
    const frames = Math.round(clipS(i) * w.fps);
    const m = motionFor(i);
    const z = `(${m.from.zoom}+(${m.to.zoom - m.from.zoom})*on/${frames - 1})`;
    const cx = `(${m.from.x}+(${m.to.x - m.from.x})*on/${frames - 1})`;
    const cy = `(${m.from.y}+(${m.to.y - m.from.y})*on/${frames - 1})`;
    parts.push(
      `[${i}:v]scale=${2 * W}:${2 * H}:force_original_aspect_ratio=increase,crop=${2 * W}:${2 * H},` +
        `zoompan=z='${z}':x='iw*${cx}-iw/zoom/2':y='ih*${cy}-ih/zoom/2':d=1:s=${W}x${H}:fps=${w.fps},setsar=1,format=yuv420p[v${i}]`,
    );
  });
  let acc = 'v0';
  for (let i = 1; i < n; i++) {
    const offset = i * w.secondsPerPhoto;
    parts.push(`[${acc}][v${i}]xfade=transition=fade:duration=${w.transitionSeconds}:offset=${offset}[x${i}]`);
    acc = `x${i}`;
  }
  args.push('-filter_complex', parts.join(';'), '-map', `[${acc}]`, '-c:v', 'libx264', '-preset', PRESET, '-crf', String(CRF), '-pix_fmt', 'yuv420p', '-r', String(w.fps), '-movflags', '+faststart', out);
  return args;
}

/** RSS (bytes) of a process and all its descendants, from /proc. */
function treeRss(root: number): number {
  const children = new Map<number, number[]>();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(d));
      children.set(ppid, list);
    } catch {
      // exited meanwhile
    }
  }
  let sum = 0;
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop()!;
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) sum += Number(m[1]) * 1024;
    } catch {
      // exited meanwhile
    }
    stack.push(...(children.get(pid) ?? []));
  }
  return sum;
}

/** Samples every 100 ms: peak RSS of the whole tree, and of the root's descendants alone. */
function sampler(root: number) {
  let peak = 0;
  let peakChildren = 0;
  const sample = () => {
    const all = treeRss(root);
    peak = Math.max(peak, all);
    peakChildren = Math.max(peakChildren, all - selfRss(root));
  };
  sample();
  const t = setInterval(sample, 100);
  return {
    stop: () => {
      clearInterval(t);
      return { peak, peakChildren };
    },
  };
}

function selfRss(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

interface Result {
  wallMs: number;
  realtime: number;
  peakRssBytes: number;
  /** Ours: the ffmpeg children alone (the rest is node + sharp). */
  peakFfmpegRssBytes: number;
  bytes: number;
  durationMs: number;
}

async function runOurs(w: Workload, files: string[]): Promise<Result> {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'photoreel-bench-ours-'));
  const plan = planFor(w);
  const engine = createLocalEngine({ ffmpegPath: FFMPEG, ffprobePath: FFPROBE, x264Preset: PRESET, x264Crf: CRF });
  const s = sampler(process.pid);
  const t0 = performance.now();
  const out = await engine.render({
    plan,
    images: files.map((f, i) => ({ index: i, path: f, type: 'jpeg', width: w.photos[i]!.width, height: w.photos[i]!.height })),
    workDir,
    signal: new AbortController().signal,
    onProgress: () => {},
  });
  const wallMs = performance.now() - t0;
  const peak = s.stop();
  const probe = await probeVideo(out.videoPath, FFPROBE);
  fs.rmSync(workDir, { recursive: true, force: true });
  return { wallMs, realtime: plan.durationMs / wallMs, peakRssBytes: peak.peak, peakFfmpegRssBytes: peak.peakChildren, bytes: probe.bytes, durationMs: probe.durationMs };
}

async function runBaseline(w: Workload, files: string[]): Promise<Result> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'photoreel-bench-base-'));
  const out = path.join(dir, 'baseline.mp4');
  const t0 = performance.now();
  const child = spawn(FFMPEG, baselineArgs(w, files, out), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const s = sampler(child.pid!);
  const code = await new Promise<number | null>((r) => child.on('close', r));
  const wallMs = performance.now() - t0;
  const peak = s.stop();
  if (code !== 0) throw new Error(`baseline ffmpeg failed (${code}): ${stderr.slice(-2000)}`);
  const probe = await probeVideo(out, FFPROBE);
  fs.rmSync(dir, { recursive: true, force: true });
  return { wallMs, realtime: (w.photos.length * w.secondsPerPhoto * 1000) / wallMs, peakRssBytes: peak.peak, peakFfmpegRssBytes: peak.peak, bytes: probe.bytes, durationMs: probe.durationMs };
}

function table(ours: Result, base: Result): string {
  const mb = (b: number) => `${(b / 1048576).toFixed(0)} MB`;
  const rows: [string, string, string, string][] = [
    ['', 'photoreel local', 'hand-written ffmpeg', 'ours / baseline'],
    ['wall time', `${(ours.wallMs / 1000).toFixed(1)} s`, `${(base.wallMs / 1000).toFixed(1)} s`, (ours.wallMs / base.wallMs).toFixed(2)],
    ['realtime factor', `${ours.realtime.toFixed(2)}x`, `${base.realtime.toFixed(2)}x`, (ours.realtime / base.realtime).toFixed(2)],
    ['peak RSS (process tree)', mb(ours.peakRssBytes), mb(base.peakRssBytes), (ours.peakRssBytes / base.peakRssBytes).toFixed(2)],
    ['  of which ffmpeg', mb(ours.peakFfmpegRssBytes), mb(base.peakFfmpegRssBytes), (ours.peakFfmpegRssBytes / base.peakFfmpegRssBytes).toFixed(2)],
    ['output size', mb(ours.bytes), mb(base.bytes), (ours.bytes / base.bytes).toFixed(2)],
    ['output duration', `${(ours.durationMs / 1000).toFixed(3)} s`, `${(base.durationMs / 1000).toFixed(3)} s`, ''],
  ];
  const width = [0, 1, 2, 3].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(width[c]!)).join('  ')).join('\n');
}

async function main() {
  const w = quick ? QUICK : W1;
  console.log(w.name);
  console.log(`machine: ${os.cpus().length} cpus (${os.cpus()[0]?.model ?? '?'}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GB, node ${process.version}`);
  const files = await photosFor(w);
  console.log('running photoreel local engine...');
  const ours = await runOurs(w, files);
  console.log('running hand-written ffmpeg baseline...');
  const base = await runBaseline(w, files);
  console.log(`\n${table(ours, base)}\n`);
  const result = {
    date: new Date().toISOString(),
    workload: w.name,
    quick,
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, memGB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
    encoder: { preset: PRESET, crf: CRF },
    ours,
    baseline: base,
    ratios: {
      wallTime: ours.wallMs / base.wallMs,
      realtime: ours.realtime / base.realtime,
      peakRss: ours.peakRssBytes / base.peakRssBytes,
      peakFfmpegRss: ours.peakFfmpegRssBytes / base.peakFfmpegRssBytes,
      bytes: ours.bytes / base.bytes,
    },
  };
  const resultsDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');
  fs.mkdirSync(resultsDir, { recursive: true });
  fs.writeFileSync(path.join(resultsDir, quick ? 'latest-quick.json' : 'latest.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log(`results written to bench/results/${quick ? 'latest-quick.json' : 'latest.json'}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
