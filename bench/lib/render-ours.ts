/**
 * Child entry for the render bench: one local-engine render in a fresh Node process, like a
 * worker running one job, so the bench measures the engine's own memory (this process, its
 * preparing child, ffmpeg) and not the bench's (frame analysis, earlier workloads).
 *
 *   node --import tsx bench/lib/render-ours.ts request.json   -> prints a JSON line
 */
import fs from 'node:fs';
import { createLocalEngine } from '../../src/pipeline/engines/local/index.js';
import type { RenderRequest } from '../../src/pipeline/engines/engine.js';

export interface OursRequest {
  plan: RenderRequest['plan'];
  images: RenderRequest['images'];
  workDir: string;
  ffmpegPath: string;
  ffprobePath: string;
  preset: string;
  crf: number;
}

export interface OursResult {
  videoPath: string;
  /** engine.render alone (Node's start is not part of a job). */
  renderMs: number;
}

const req = JSON.parse(fs.readFileSync(process.argv[2]!, 'utf8')) as OursRequest;
const engine = createLocalEngine({ ffmpegPath: req.ffmpegPath, ffprobePath: req.ffprobePath, x264Preset: req.preset, x264Crf: req.crf });
const t0 = performance.now();
const out = await engine.render({ plan: req.plan, images: req.images, workDir: req.workDir, signal: new AbortController().signal, onProgress: () => {} });
const result: OursResult = { videoPath: out.videoPath, renderMs: performance.now() - t0 };
process.stdout.write(`${JSON.stringify(result)}\n`);
