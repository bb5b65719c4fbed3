import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/core/errors.js';
import type { SourceImage } from '../../src/pipeline/engines/engine.js';
import { createLocalEngine } from '../../src/pipeline/engines/local/index.js';
import { createNemoEngine } from '../../src/pipeline/engines/nemo/index.js';
import { probeVideo } from '../../src/pipeline/media/ffprobe.js';
import { planJob } from '../../src/pipeline/plan/planner.js';
import { startNemoFake, type NemoFake } from '../fakes/nemo-server.js';
import { makePhoto } from '../helpers/images.js';
import { api, startService, tempDir } from '../helpers/servers.js';

/**
 * 2160p (4K UHD): a real render through the local engine (kept cheap: 2 small photos, 2 s at
 * 24 fps), and the refusal of 4K on the `nemo` engine at submission.
 */

const FFMPEG = process.env.FFMPEG_PATH ?? 'ffmpeg';
const FFPROBE = process.env.FFPROBE_PATH ?? 'ffprobe';
const run = promisify(execFile);

let dir: string;
let images: SourceImage[];

beforeAll(async () => {
  dir = await tempDir('photoreel-uhd-');
  images = [];
  for (const [i, colour] of ([[200, 60, 40], [40, 90, 200]] as const).entries()) {
    const p = await makePhoto(path.join(dir, `p${i}.jpg`), { width: 960, height: 540, colour: [...colour], seed: i + 1 });
    const m = await sharp(p.path).metadata();
    images.push({ index: i, path: p.path, type: 'jpeg', width: m.width!, height: m.height! });
  }
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('2160p through the local engine', () => {
  it('renders H.264 High (level 5.1), 3840x2160, yuv420p, the planned length to within a frame', async () => {
    const plan = planJob({
      images: images.map((img) => ({ source: path.basename(img.path), width: img.width, height: img.height })),
      options: { resolution: '2160p', fps: 24, secondsPerImage: 1, transition: { type: 'fade', duration: 0.5 } },
    });
    expect(plan.output).toEqual({ width: 3840, height: 2160, fps: 24, aspect: '16:9' });
    expect(plan.durationMs).toBe(2000);

    const workDir = path.join(dir, 'work');
    const engine = createLocalEngine({ ffmpegPath: FFMPEG, ffprobePath: FFPROBE, x264Preset: 'superfast', x264Crf: 23 });
    const out = await engine.render({ plan, images, workDir, signal: new AbortController().signal, onProgress: () => {} });
    expect([out.width, out.height, out.codec]).toEqual([3840, 2160, 'h264']);

    const probe = await probeVideo(out.videoPath, FFPROBE);
    expect([probe.codec, probe.profile, probe.pixFmt, probe.width, probe.height]).toEqual(['h264', 'High', 'yuv420p', 3840, 2160]);
    expect(probe.fps).toBe(24);
    expect(Math.abs(probe.durationMs - 2000)).toBeLessThanOrEqual(1000 / 24);
    expect(probe.frames).toBe(48);
    expect(probe.hasAudio).toBe(false);
    expect(probe.moovBeforeMdat).toBe(true);
    // The level players check: 5.1 covers 3840x2160 up to 30 fps (x264 picks it from the frame size and rate).
    const { stdout } = await run(FFPROBE, ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=level', '-of', 'csv=p=0', out.videoPath]);
    expect(Number(stdout.trim())).toBe(51);
  }, 300_000);
});

describe('2160p on the nemo engine', () => {
  let fake: NemoFake;
  let svc: Awaited<ReturnType<typeof startService>>;
  beforeAll(async () => {
    fake = await startNemoFake();
    svc = await startService({ NEMO_BASE_URL: fake.origin }, { consumer: false });
  });
  afterAll(async () => {
    await svc?.stop();
    await fake?.close();
  });
  const body = (extra: Record<string, unknown>) => ({ images: ['https://example.com/a.jpg', 'https://example.com/b.jpg'], engine: 'nemo', ...extra });

  it('is refused at submission: 400 validation_error naming options.resolution, or the prompt that asked', async () => {
    for (const route of ['/v1/jobs', '/v1/plans']) {
      const byOption = await api(svc.url, 'POST', route, body({ options: { resolution: '2160p' } }));
      expect(byOption.status, route).toBe(400);
      expect(byOption.json.error).toMatchObject({ code: 'validation_error', field: 'options.resolution' });
      expect(byOption.json.error.message).toBe('options.resolution: the "nemo" engine renders at most 1080p, not 2160p (4K); use the "local" engine or ask for at most 1080p.');

      const byPrompt = await api(svc.url, 'POST', route, body({ prompt: 'a 4K video, vertical' }));
      expect(byPrompt.status, route).toBe(400);
      expect(byPrompt.json.error).toMatchObject({ code: 'validation_error', field: 'prompt' });
      expect(byPrompt.json.error.message).toMatch(/^prompt: it asks for 2160p \(4K\), but the "nemo" engine renders at most 1080p/);
    }
  });

  it('1080p on nemo, and 2160p on local, are accepted', async () => {
    const overridden = await api(svc.url, 'POST', '/v1/jobs', body({ prompt: '4K', options: { resolution: '1080p' } }));
    expect(overridden.status).toBe(202);
    expect(overridden.json.plan.output).toMatchObject({ width: 1920, height: 1080 });
    const local = await api(svc.url, 'POST', '/v1/jobs', body({ engine: 'local', options: { resolution: '2160p', aspect: '9:16' } }));
    expect(local.status).toBe(202);
    expect(local.json.plan.output).toMatchObject({ width: 2160, height: 3840 });
    expect(local.json.options.resolution).toBe('2160p');
  });

  it('the engine itself refuses a 4K plan before calling the backend', async () => {
    const engine = createNemoEngine({ baseUrl: fake.origin, platform: 'unknown' });
    const plan = planJob({ images: [{ source: 'a.jpg' }], options: { resolution: '2160p' } });
    const before = { ...fake.counts };
    const err = await engine.render({ plan, images: images.slice(0, 1), workDir: path.join(dir, 'nemo'), signal: new AbortController().signal, onProgress: () => {} }).catch((e) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'validation_error', retryable: false });
    expect(fake.counts).toEqual(before);
  });
});
