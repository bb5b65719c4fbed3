import fs from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/core/errors.js';
import { createLogger } from '../../src/core/logger.js';
import type { RenderCheckpoint, SourceImage } from '../../src/pipeline/engines/engine.js';
import { createNemoEngine, type NemoEngineOptions } from '../../src/pipeline/engines/nemo/index.js';
import { probeVideo } from '../../src/pipeline/media/ffprobe.js';
import type { Plan } from '../../src/core/plan.js';
import { startNemoFake, type NemoFake, type NemoFakeSwitches } from '../fakes/nemo-server.js';
import { makePhoto } from '../helpers/images.js';
import { tempDir } from '../helpers/servers.js';

/**
 * The nemo engine against the fake Nemo backend (real HTTP on loopback), one test per switch
 * of the fake. Logs are captured and scanned for tokens and raw backend text.
 */

let photoDir: string;
let images: SourceImage[];
const fakes: NemoFake[] = [];
let logs = '';

beforeAll(async () => {
  photoDir = await tempDir('nemo-photos-');
  await makePhoto(path.join(photoDir, 'a.jpg'), { width: 1600, height: 900, colour: [200, 40, 40] });
  await makePhoto(path.join(photoDir, 'b.png'), { width: 1200, height: 1200, colour: [40, 200, 40] });
  // A TIFF: not on the backend's list, must arrive as JPEG.
  await sharp({ create: { width: 800, height: 600, channels: 3, background: '#3050d0' } }).tiff().toFile(path.join(photoDir, 'c.tiff'));
  images = [
    { index: 0, path: path.join(photoDir, 'a.jpg'), type: 'jpeg', width: 1600, height: 900 },
    { index: 1, path: path.join(photoDir, 'b.png'), type: 'png', width: 1200, height: 1200 },
    { index: 2, path: path.join(photoDir, 'c.tiff'), type: 'tiff', width: 800, height: 600 },
  ];
});

afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.close()));
  // Tokens and raw backend text never reach the logs.
  expect(logs).not.toMatch(/nmv_usr_/);
  expect(logs).not.toMatch(/RAW-BACKEND/);
  expect(logs).not.toMatch(/Bearer/);
  logs = '';
});

afterAll(async () => {
  await fs.rm(photoDir, { recursive: true, force: true });
});

async function fake(sw: NemoFakeSwitches = {}) {
  const f = await startNemoFake(sw);
  fakes.push(f);
  return f;
}

function memoryCheckpoint(initial: Record<string, unknown> | null = null): RenderCheckpoint & { state: Record<string, unknown> | null; saves: Record<string, unknown>[] } {
  const cp = {
    state: initial,
    saves: [] as Record<string, unknown>[],
    async load() {
      return cp.state ? structuredClone(cp.state) : null;
    },
    async save(s: Record<string, unknown>) {
      cp.state = structuredClone(s);
      cp.saves.push(structuredClone(s));
    },
  };
  return cp;
}

/** A plan as the planner makes it (built here so these tests do not depend on the planner's rules). */
function planFor(imgs: SourceImage[]): Plan {
  return {
    output: { width: 1920, height: 1080, fps: 30, aspect: '16:9' },
    durationMs: imgs.length * 2000,
    clips: imgs.map((img, i) => ({
      image: { index: img.index, source: `photo-${img.index}`, width: img.width, height: img.height },
      startMs: i * 2000,
      durationMs: 2000,
      fit: 'cover' as const,
      motion: { type: 'none' as const },
      transition: { type: 'cut' as const, durationMs: 0 },
    })),
    overlays: [],
    background: '#000000',
    notes: [],
  };
}

async function render(f: NemoFake, o: { opts?: Partial<NemoEngineOptions>; checkpoint?: RenderCheckpoint; signal?: AbortSignal; imgs?: SourceImage[]; prompt?: string } = {}) {
  const sink = new PassThrough();
  sink.on('data', (c: Buffer) => (logs += c.toString('utf8')));
  const logger = createLogger('debug', sink);
  const engine = createNemoEngine({
    baseUrl: f.origin,
    platform: 'unknown',
    pollIntervalMs: 20,
    retryBaseMs: 10,
    rateLimitWaitMs: 300,
    logger,
    ...o.opts,
  });
  const imgs = o.imgs ?? images;
  const plan = planFor(imgs);
  const workDir = await tempDir('nemo-work-');
  const progress: number[] = [];
  const out = await engine.render({ plan, images: imgs, workDir, signal: o.signal ?? new AbortController().signal, onProgress: (p) => progress.push(p), checkpoint: o.checkpoint, prompt: o.prompt });
  return { out, progress, workDir, engine };
}

async function expectVideo(out: Awaited<ReturnType<typeof render>>['out']) {
  const probe = await probeVideo(out.videoPath);
  expect(probe.codec).toBe('h264');
  expect(probe.pixFmt).toBe('yuv420p');
  expect(probe.moovBeforeMdat).toBe(true);
  expect(out).toMatchObject({ width: probe.width, height: probe.height, durationMs: probe.durationMs, bytes: probe.bytes, codec: 'h264' });
  expect([out.width, out.height]).toEqual([1280, 720]);
  expect(Math.abs(out.durationMs - 2000)).toBeLessThan(100);
  const poster = await sharp(out.posterPath).metadata();
  expect(poster.format).toBe('jpeg');
}

async function renderError(f: NemoFake, o: Parameters<typeof render>[1] = {}): Promise<AppError> {
  const err = await render(f, o).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

describe('nemo engine: happy path', () => {
  it('token, session, uploads (TIFF converted to JPEG), message, state, export, polls, download: a real MP4', async () => {
    const f = await fake({ pollsNeeded: 3 });
    const { out, progress } = await render(f, { prompt: "make it pop, title 'Summer'" });
    await expectVideo(out);
    expect(f.counts).toMatchObject({ token: 1, session: 1, upload: 3, uploadUrl: 0, runSse: 1, state: 1, exportCreate: 1, exportStatus: 3 });
    for (let i = 1; i < progress.length; i++) expect(progress[i]).toBeGreaterThanOrEqual(progress[i - 1]!);
    expect(progress.at(-1)).toBe(1);

    // Attribution on every request, a bearer token on all but the token request.
    for (const r of f.requests) {
      expect(r.headers['x-skill-source']).toBe('image-to-video-hd');
      expect(r.headers['x-skill-version']).toMatch(/^\d+\.\d+\.\d+/);
      expect(r.headers['x-skill-platform']).toBe('unknown');
      if (r.endpoint !== 'token') expect(r.headers.authorization).toMatch(/^Bearer nmv_usr_/);
    }
    const tokenReq = f.requests.find((r) => r.endpoint === 'token')!;
    expect(tokenReq.headers['x-client-id']).toMatch(/^[0-9a-f-]{36}$/);

    // The uploaded names: the TIFF went as JPEG.
    expect([...f.sessions.values()][0]!.files.map((x) => x.filename)).toEqual(['photo-0.jpg', 'photo-1.png', 'photo-2.jpg']);
    // The instruction: the prompt, then the plan's shape.
    const sse = f.requests.find((r) => r.endpoint === 'runSse')!.body as any;
    expect(sse).toMatchObject({ app_name: 'nemo_agent', user_id: 'me', session_id: expect.any(String) });
    expect(sse.new_message.parts[0].text).toMatch(/^make it pop, title 'Summer'/);
    expect(sse.new_message.parts[0].text).toMatch(/16:9 aspect ratio, 1080p \(1920x1080\), about 6 seconds/);
    expect(f.requests.find((r) => r.endpoint === 'runSse')!.headers.accept).toBe('text/event-stream');
    // Export: camelCase sessionId, the draft passed back unchanged (opaque keys kept).
    const exp = f.requests.find((r) => r.endpoint === 'exportCreate')!.body as any;
    expect(exp.id).toMatch(/^render_\d+/);
    expect(exp.sessionId).toBe(sse.session_id);
    expect(exp.output).toEqual({ format: 'mp4', quality: 'high' });
    expect(exp.draft.x_opaque).toEqual({ keep: true });
    expect(exp.draft.t[0].sg[0].fx).toEqual({ transition: 'fade', opaque: { k: [1, 2, 3] } });
  });

  it('uses the default instruction without a prompt, and X-Skill-Platform from configuration', async () => {
    const f = await fake();
    await render(f, { opts: { platform: 'cursor' } });
    const sse = f.requests.find((r) => r.endpoint === 'runSse')!.body as any;
    expect(sse.new_message.parts[0].text).toMatch(/^turn my photos into a smooth HD video with transitions/);
    expect(f.requests.every((r) => r.headers['x-skill-platform'] === 'cursor')).toBe(true);
  });

  it('public photo URLs are uploaded in URL mode; loopback/allow-listed ones as files', async () => {
    const f = await fake();
    const imgs = [
      { ...images[0]!, sourceUrl: 'https://photos.example.com/shoe-1.jpg' },
      { ...images[1]!, sourceUrl: `http://127.0.0.1:9/b.png` },
    ];
    await render(f, { imgs });
    expect(f.counts.uploadUrl).toBe(1);
    expect(f.counts.upload).toBe(1);
    expect(f.requests.find((r) => r.endpoint === 'uploadUrl')!.body).toEqual({ urls: ['https://photos.example.com/shoe-1.jpg'], source_type: 'url' });
  });

  it('with NEMO_TOKEN it never asks for an anonymous token', async () => {
    const f = await fake();
    // Register a token with the fake first (as an operator would have one).
    const res = await fetch(`${f.origin}/api/auth/anonymous-token`, { method: 'POST', headers: { 'X-Client-Id': 'operator' } });
    const token = ((await res.json()) as any).data.token as string;
    await render(f, { opts: { token } });
    expect(f.counts.token).toBe(1); // only ours above
    expect(f.requests.filter((r) => r.endpoint !== 'token').every((r) => r.headers.authorization === `Bearer ${token}`)).toBe(true);
  });

  it('caches the anonymous token across jobs', async () => {
    const f = await fake();
    const { engine } = await render(f);
    const plan = planFor([images[0]!]);
    await engine.render({ plan, images: [images[0]!], workDir: await tempDir('nemo-work-'), signal: new AbortController().signal, onProgress: () => {} });
    expect(f.counts.token).toBe(1);
    expect(f.counts.session).toBe(2);
  });

  it('renews the anonymous token before it expires', async () => {
    const f = await fake();
    // Tokens live 7 days; renewing when less than 8 days are left renews before every use.
    await render(f, { imgs: [images[0]!], opts: { renewBeforeMs: 8 * 86400_000 } });
    expect(f.counts.token).toBeGreaterThan(3);
  });

  it('an AVIF photo (not on the backend\'s list) is uploaded as JPEG', async () => {
    const f = await fake();
    const avif = path.join(photoDir, 'd.avif');
    await sharp({ create: { width: 640, height: 480, channels: 3, background: '#d0a030' } }).avif().toFile(avif);
    await render(f, { imgs: [{ index: 0, path: avif, type: 'avif', width: 640, height: 480, sourceUrl: 'https://photos.example.com/d.avif' }] });
    expect(f.counts.uploadUrl).toBe(0);
    expect([...f.sessions.values()][0]!.files.map((x) => x.filename)).toEqual(['photo-0.jpg']);
  });

  it('downscales a photo over the upload limit', async () => {
    const f = await fake();
    await render(f, { imgs: [images[0]!], opts: { maxUploadBytes: 60_000 } });
    expect([...f.sessions.values()][0]!.files[0]!.filename).toBe('photo-0.jpg');
    expect(f.counts.upload).toBe(1);
  });

  it('on 4002 it downscales and retries the upload (bounded)', async () => {
    const f = await fake({ uploadLimitBytes: 150_000 });
    const big = path.join(photoDir, 'big.png');
    await makePhoto(big, { width: 1600, height: 1600, colour: [120, 120, 40], format: 'png' });
    const { out } = await render(f, { imgs: [{ index: 0, path: big, type: 'png', width: 1600, height: 1600 }] });
    await expectVideo(out);
    expect(f.counts.upload).toBeGreaterThanOrEqual(2);
    expect(f.counts.upload).toBeLessThanOrEqual(4);
    expect([...f.sessions.values()][0]!.files.map((x) => x.filename)).toEqual(['photo-0.jpg']);
  });

  it('4002 for every size: file_too_large after a bounded number of downscales', async () => {
    const f = await fake({ uploadLimitBytes: 10 });
    const err = await renderError(f, { imgs: [images[0]!] });
    expect(err.code).toBe('file_too_large');
    expect(f.counts.upload).toBe(4);
  });
});

describe('nemo engine: the protocol error table', () => {
  it('1001 once: gets a new token (new client id) and retries', async () => {
    const f = await fake({ token1001Once: true });
    await expectVideo((await render(f)).out);
    expect(f.counts.token).toBe(2);
    expect(f.counts.session).toBe(2); // the refused call, then its retry
    const ids = f.requests.filter((r) => r.endpoint === 'token').map((r) => r.headers['x-client-id']);
    expect(ids[0]).not.toBe(ids[1]);
  });

  it('1001 with a fixed NEMO_TOKEN fails without retrying forever', async () => {
    const f = await fake();
    const err = await renderError(f, { opts: { token: 'nmv_usr_not_a_real_one' } });
    expect(err.code).toBe('engine_unavailable');
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/NEMO_TOKEN/);
    expect(err.message).not.toMatch(/nmv_usr_/);
  });

  for (const shape of ['envelope', 'detail'] as const) {
    it(`1002 once (${shape}): new session, re-upload, replay`, async () => {
      const f = await fake({ session1002Once: shape });
      await expectVideo((await render(f)).out);
      expect(f.counts).toMatchObject({ session: 2, upload: 6, runSse: 2, exportCreate: 1 });
      const exp = f.requests.find((r) => r.endpoint === 'exportCreate')!.body as any;
      expect(exp.sessionId).toBe([...f.sessions.keys()][1]);
    });
  }

  it('429 once with Retry-After: waits that long, then retries', async () => {
    const f = await fake({ rateLimitOnce: { retryAfterSeconds: 1 } });
    const t0 = Date.now();
    await expectVideo((await render(f, { opts: { rateLimitWaitMs: 5 } })).out);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    expect(f.counts.upload).toBe(4);
  });

  it('429 once without Retry-After: waits the configured default (30 s in production)', async () => {
    const f = await fake({ rateLimitOnce: {} });
    const t0 = Date.now();
    await render(f, { opts: { rateLimitWaitMs: 400 } });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(380);
    expect(f.counts.upload).toBe(4);
  });

  it('2001: out of credits -> insufficient_credits, not retryable, says credits', async () => {
    const f = await fake({ outOfCredits: true });
    const err = await renderError(f);
    expect(err.code).toBe('insufficient_credits');
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/out of credits/);
    expect(f.counts.runSse).toBe(1);
  });

  it('402 on export: plan_export_blocked, not retryable, says plan, not credits', async () => {
    const f = await fake({ export402: true });
    const err = await renderError(f);
    expect(err.code).toBe('plan_export_blocked');
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/plan/);
    expect(err.message).toMatch(/not a credit problem/);
    expect(f.counts.exportCreate).toBe(1);
  });

  it('5xx on status polls: retried with backoff (bounded)', async () => {
    const f = await fake({ status503Times: 2 });
    await expectVideo((await render(f)).out);
    expect(f.counts.exportStatus).toBe(3);
  });

  it('5xx that never ends: engine_unavailable, retryable, after a bounded number of tries', async () => {
    const f = await fake({ status503Times: 100 });
    const err = await renderError(f);
    expect(err.code).toBe('engine_unavailable');
    expect(err.retryable).toBe(true);
    expect(f.counts.exportStatus).toBe(4); // 1 + 3 retries
  });

  it('an unreachable backend: engine_unavailable, retryable', async () => {
    const f = await fake();
    const origin = f.origin;
    await f.close();
    fakes.splice(fakes.indexOf(f), 1);
    const err = await renderError({ ...f, origin } as NemoFake);
    expect(err.code).toBe('engine_unavailable');
    expect(err.retryable).toBe(true);
  });
});

describe('nemo engine: the message stream', () => {
  it('a stream of heartbeats only: keeps waiting, then reads the state and exports', async () => {
    const f = await fake({ heartbeatsOnly: true });
    await expectVideo((await render(f)).out);
    expect(f.counts).toMatchObject({ runSse: 1, state: 1, exportCreate: 1 });
    expect(logs).toMatch(/"heartbeats":10/);
  });

  it('no text (the 30 % case): summarises the draft from the state and exports', async () => {
    const f = await fake({ noText: true });
    await expectVideo((await render(f)).out);
    expect(f.counts).toMatchObject({ runSse: 1, state: 1, exportCreate: 1 });
    expect(logs).toMatch(/Timeline \(2 tracks\): 1\. Video: 3 segments \(0-6s\) 2\. Text: 1 segment/);
  });

  it('a trailing "I encountered a temporary issue" after a good answer is noise', async () => {
    const f = await fake({ trailingTemporaryIssue: true });
    await expectVideo((await render(f)).out);
    expect(f.counts.runSse).toBe(1);
    expect(logs).toMatch(/"texts":1,"noise":1/);
  });

  it('the older simple event shape', async () => {
    const f = await fake({ simpleEvents: true });
    await expectVideo((await render(f)).out);
    expect(logs).toMatch(/"texts":1,"noise":0,"toolCalls":1/);
  });

  it('malformed SSE lines are skipped', async () => {
    const f = await fake({ malformedLines: true });
    await expectVideo((await render(f)).out);
    expect(f.counts.runSse).toBe(1);
    expect(logs).toMatch(/"malformed":[1-9]/);
  });

  it('a connection dropped mid-stream: checks the state, sends the instruction again', async () => {
    const f = await fake({ dropMidStreamOnce: true });
    await expectVideo((await render(f)).out);
    expect(f.counts).toMatchObject({ session: 1, runSse: 2, exportCreate: 1 });
    expect(logs).toMatch(/"dropped":true/);
  });

  it('the 15-minute cap (shortened here) ends a stream that never closes', async () => {
    const f = await fake({ heartbeatsOnly: true, sseEventDelayMs: 200 });
    const t0 = Date.now();
    // The edit lands only after the heartbeats, so at the cap nothing is applied: retryable failure.
    const err = await renderError(f, { opts: { streamTimeoutMs: 300 } });
    expect(err.code).toBe('engine_failed');
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/did not finish/);
    expect(Date.now() - t0).toBeLessThan(1500);
  });
});

describe('nemo engine: export polling', () => {
  it('status shape A (newest)', async () => {
    const f = await fake({ renderShape: 'A', pollsNeeded: 2 });
    await expectVideo((await render(f)).out);
    expect(f.counts.exportStatus).toBe(2);
  });

  it('status shape B (older, top-level taskId/output.url)', async () => {
    const f = await fake({ renderShape: 'B', pollsNeeded: 2 });
    await expectVideo((await render(f)).out);
    expect(f.counts.exportStatus).toBe(2);
  });

  it('a render needing several polls, at the configured interval', async () => {
    const f = await fake({ pollsNeeded: 6 });
    const t0 = Date.now();
    const { progress } = await render(f, { opts: { pollIntervalMs: 50 } });
    expect(f.counts.exportStatus).toBe(6);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(5 * 50);
    // Render progress moved the job's progress in between.
    expect(new Set(progress.filter((p) => p > 0.6 && p < 0.9)).size).toBeGreaterThan(2);
  });

  it('a render that fails: engine_failed, not retryable, without the backend text', async () => {
    for (const shape of ['A', 'B'] as const) {
      const f = await fake({ renderFails: true, renderShape: shape, pollsNeeded: 2 });
      const err = await renderError(f);
      expect(err.code).toBe('engine_failed');
      expect(err.retryable).toBe(false);
      expect(err.message).not.toMatch(/RAW-BACKEND/);
    }
  });

  it('an export answered "duplicate id" for our own id polls that render instead of exporting twice', async () => {
    const f = await fake({ exportDuplicateOnce: true });
    await expectVideo((await render(f)).out);
    expect(f.counts.exportCreate).toBe(1);
    expect(f.renders.size).toBe(1);
  });

  it('internal /mnt/userdata paths in the draft are replaced with the cdn_url before export', async () => {
    const f = await fake({ internalPaths: true });
    await expectVideo((await render(f)).out);
    const exp = f.requests.find((r) => r.endpoint === 'exportCreate')!.body as any;
    expect(exp.draft.t[0].sg[0].src).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/cdn\/.*photo-0\.jpg$/);
  });
});

describe('nemo engine: resume', () => {
  // Each render() is a new engine, as after a restart; the client id file (kept in DATA_DIR by
  // compose) gives it the same account back, so the recorded session is still ours.
  const restartable = async () => ({ clientIdFile: path.join(await tempDir('nemo-client-'), 'nemo-client-id') });

  it('a second attempt after a crash mid-export polls the same render: no second session, upload, message or export', async () => {
    const f = await fake({ pollsNeeded: 1000 });
    const opts = await restartable();
    const cp = memoryCheckpoint();
    const ac = new AbortController();
    f.waitFor('exportStatus', 2).then(() => ac.abort(new DOMException('crash', 'AbortError')), () => {});
    await expect(render(f, { checkpoint: cp, signal: ac.signal, opts })).rejects.toThrow();
    expect(cp.state).toMatchObject({ v: 1, sessionId: expect.any(String), messageDone: true, renderId: expect.stringMatching(/^render_/) });
    expect(JSON.stringify(cp.saves)).not.toMatch(/nmv_usr_|token/i);
    const before = { ...f.counts };

    f.set({ pollsNeeded: 1 });
    for (const r of f.renders.values()) r.polls = 5;
    await expectVideo((await render(f, { checkpoint: cp, opts })).out);
    expect(f.counts.session).toBe(before.session);
    expect(f.counts.upload).toBe(before.upload);
    expect(f.counts.runSse).toBe(before.runSse);
    expect(f.counts.exportCreate).toBe(1);
    expect(f.counts.exportStatus).toBeGreaterThan(before.exportStatus);
  });

  it('a second attempt after a crash before the export reuses the session and its applied edit', async () => {
    const f = await fake();
    const opts = await restartable();
    const cp = memoryCheckpoint();
    const ac = new AbortController();
    f.waitFor('state').then(() => ac.abort(new DOMException('crash', 'AbortError')), () => {});
    // noText makes the engine read the state inside the turn; the crash lands right there.
    f.set({ noText: true });
    await expect(render(f, { checkpoint: cp, signal: ac.signal, opts })).rejects.toThrow();
    expect(cp.state).toMatchObject({ sessionId: expect.any(String), messageSent: true });
    expect(cp.state!.messageDone).toBeUndefined();
    await expectVideo((await render(f, { checkpoint: cp, opts })).out);
    expect(f.counts.session).toBe(1);
    expect(f.counts.upload).toBe(3);
    expect(f.counts.runSse).toBe(1);
    expect(f.counts.exportCreate).toBe(1);
  });

  it('a recorded render the backend no longer knows is exported again with a fresh id', async () => {
    const f = await fake();
    const opts = await restartable();
    const first = memoryCheckpoint();
    await render(f, { checkpoint: first, opts });
    const sessionId = first.saves.at(-1)!.sessionId;
    const cp = memoryCheckpoint({ v: 1, sessionId, uploads: first.saves.at(-1)!.uploads, messageDone: true, renderId: 'render_0_gone' });
    await expectVideo((await render(f, { checkpoint: cp, opts })).out);
    expect(f.counts.session).toBe(1);
    expect(f.counts.runSse).toBe(1);
    expect(f.counts.exportCreate).toBe(2);
    expect(cp.state!.renderId).not.toBe('render_0_gone');
  });
});
