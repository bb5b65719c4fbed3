/**
 * Motion-smoothness benchmark: the local engine's Ken Burns filter vs. a hand-written zoompan
 * command on the same eased paths (zoom in/out, pan left/right/up/down), measured by
 * test/helpers/motion-metrics.ts on a synthetic dot field; then filter-only speed of both on
 * a 3 s 1080p30 zoom. Run: `npm run bench:motion` (options: `--1080` to measure jitter at
 * 1080p instead of 720p, `--seconds N` clip length, default 3, `--no-fps`, `--only NAME`).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  MOTION_CASES,
  formatReport,
  makeDotField,
  measureRender,
  prepareEngineGraph,
  zoompanArgs,
  type DotField,
  type MotionReport,
  type RenderSpec,
} from '../test/helpers/motion-metrics.js';

const FFMPEG = process.env.FFMPEG_PATH ?? 'ffmpeg';
const argv = process.argv.slice(2);
const hd = argv.includes('--1080');
const seconds = argv.includes('--seconds') ? Number(argv[argv.indexOf('--seconds') + 1]) : 3;
const only = argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : undefined;
const FPS = 30;

async function field(dir: string, out: { width: number; height: number }): Promise<DotField> {
  // Twice the output's pixels, like a typical photo; sigma 4 source px ~ 2-2.6 output px.
  return makeDotField(path.join(dir, `dots-${out.width}.png`), { width: 2 * out.width, height: 2 * out.height, spacing: 80, sigma: 4 });
}

/** Wall and CPU (user + system) ms of one ffmpeg run; CPU time is the fairer figure on a busy machine. */
function timeFfmpeg(args: string[], cwd: string): Promise<{ wallMs: number; cpuMs: number }> {
  const timeFile = path.join(cwd, 'time.txt');
  const useTime = fs.existsSync('/usr/bin/time');
  const [cmd, cmdArgs] = useTime ? ['/usr/bin/time', ['-f', '%U %S', '-o', timeFile, FFMPEG, ...args, '-f', 'null', '-']] : [FFMPEG, [...args, '-f', 'null', '-']];
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, cmdArgs, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const wallMs = performance.now() - t0;
      if (code !== 0) return reject(new Error(`ffmpeg exited ${code}: ${stderr.slice(-2000)}`));
      const cpu = useTime ? fs.readFileSync(timeFile, 'utf8').trim().split(/\s+/).map(Number) : [NaN, NaN];
      resolve({ wallMs, cpuMs: (cpu[0]! + cpu[1]!) * 1000 });
    });
  });
}

function row(cells: string[], widths: number[]): string {
  return cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
}

async function main() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'photoreel-bench-motion-'));
  try {
    const out = hd ? { width: 1920, height: 1080 } : { width: 1280, height: 720 };
    const frames = Math.round(seconds * FPS);
    console.log(`motion smoothness: ${out.width}x${out.height} ${FPS} fps, ${frames} frames per motion, smoothstep easing`);
    const f = await field(root, out);
    const results: { name: string; ours: MotionReport; zp: MotionReport }[] = [];
    for (const c of MOTION_CASES.filter((m) => !only || m.name === only)) {
      const spec = (who: string): RenderSpec => ({ ffmpeg: FFMPEG, workDir: path.join(root, `${who}-${c.name.replace(/\s/g, '-')}`), field: f, motion: c.motion, out, fps: FPS, frames });
      const s1 = spec('ours');
      const ours = (await measureRender(s1, await prepareEngineGraph(s1))).report;
      const s2 = spec('zp');
      fs.mkdirSync(s2.workDir, { recursive: true });
      const zp = (await measureRender(s2, zoompanArgs(s2))).report;
      console.log(`${c.name}\n  ours:    ${formatReport(ours)}\n  zoompan: ${formatReport(zp)}`);
      results.push({ name: c.name, ours, zp });
    }
    const widths = [10, 24, 24, 14, 16];
    console.log(`\n${row(['motion', 'ours rms / max', 'zoompan rms / max', 'max ratio', 'monotonic o/zp'], widths)}`);
    for (const r of results) {
      console.log(
        row(
          [
            r.name,
            `${r.ours.jitterRms.toFixed(4)} / ${r.ours.jitterMax.toFixed(4)}`,
            `${r.zp.jitterRms.toFixed(3)} / ${r.zp.jitterMax.toFixed(3)}`,
            (r.ours.jitterMax / r.zp.jitterMax).toFixed(3),
            `${r.ours.monotonic ? 'yes' : 'NO'} / ${r.zp.monotonic ? 'yes' : 'NO'}`,
          ],
          widths,
        ),
      );
    }
    console.log('(jitter: second difference of measured - ideal position at the frame edges, px/frame^2)');

    if (!argv.includes('--no-fps')) {
      // Filter-only speed: no encoder, frames discarded by the null muxer.
      const hdOut = { width: 1920, height: 1080 };
      const hdField = hd ? f : await field(root, hdOut);
      const spec: RenderSpec = { ffmpeg: FFMPEG, workDir: path.join(root, 'fps-ours'), field: hdField, motion: MOTION_CASES[0]!.motion, out: hdOut, fps: FPS, frames: 90 };
      const oursArgs = await prepareEngineGraph(spec);
      const zpSpec = { ...spec, workDir: path.join(root, 'fps-zp') };
      fs.mkdirSync(zpSpec.workDir, { recursive: true });
      const zpArgs = zoompanArgs(zpSpec);
      const best = { ours: { wallMs: Infinity, cpuMs: Infinity }, zp: { wallMs: Infinity, cpuMs: Infinity } };
      const keep = (b: { wallMs: number; cpuMs: number }, t: { wallMs: number; cpuMs: number }) => {
        b.wallMs = Math.min(b.wallMs, t.wallMs);
        b.cpuMs = Math.min(b.cpuMs, t.cpuMs);
      };
      for (let i = 0; i < 3; i++) {
        keep(best.ours, await timeFfmpeg(oursArgs, spec.workDir));
        keep(best.zp, await timeFfmpeg(zpArgs, zpSpec.workDir));
      }
      const fps = (ms: number) => ((90 * 1000) / ms).toFixed(0);
      console.log(
        `\nfilter-only, 3 s 1080p30 zoom in (best of 3, ${os.cpus().length} cpus, load ${os.loadavg()[0]!.toFixed(1)}):\n` +
          `  ours:            ${fps(best.ours.wallMs)} fps wall, ${(best.ours.cpuMs / 90).toFixed(1)} ms CPU/frame\n` +
          `  zoompan command: ${fps(best.zp.wallMs)} fps wall, ${(best.zp.cpuMs / 90).toFixed(1)} ms CPU/frame\n` +
          `  ours / zoompan: wall ${(best.ours.wallMs / best.zp.wallMs).toFixed(2)}, CPU ${(best.ours.cpuMs / best.zp.cpuMs).toFixed(2)}`,
      );
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
