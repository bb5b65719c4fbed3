import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError } from '../../../core/errors.js';
import { checkAddress } from '../../net/address-policy.js';
import { probeVideo } from '../../media/ffprobe.js';
import { posterArgs, posterTime } from '../../media/poster.js';
import { runFfmpeg } from '../local/run-ffmpeg.js';
import type { Engine, EngineStatus, RenderOutput, RenderRequest } from '../engine.js';
import { NemoBusinessError, NemoClient, NemoRenderError, NemoSessionLost, nemoSleep, type NemoClientOptions, type NemoLogger, type RenderStatus, type UploadedFile } from './client.js';
import { guiIntent, isExportable, replaceInternalPaths, summariseDraft } from './draft.js';
import { NEMO_ACCEPTED_LIST, NEMO_IMAGE_TYPES, prepareUpload, toJpeg } from './prepare.js';
import { meaningfulTexts, readTurn, type TurnResult } from './sse.js';

export { NemoClient } from './client.js';

/**
 * The `nemo` engine: drives the hosted Nemo agent through its HTTP API (client.ts). Per job:
 * a session, the photos uploaded (URL mode for public URLs, multipart otherwise), the
 * instruction sent to /run_sse, the draft read from the session state, an export with a fresh
 * render id, polling until it completes, the MP4 downloaded into the job's work folder.
 *
 * Every id that costs credits to re-create (session, uploads, "message done", render id) is
 * saved through `req.checkpoint` as soon as it exists, so a redelivered job resumes (polls the
 * same render, or exports the same session's draft) instead of paying twice. Tokens are never
 * in the checkpoint.
 */

export const DEFAULT_INSTRUCTION = 'turn my photos into a smooth HD video with transitions';

export interface NemoEngineOptions extends Omit<NemoClientOptions, 'logger'> {
  ffmpegPath?: string;
  ffprobePath?: string;
  logger?: NemoLogger;
  pollIntervalMs?: number;
  /** Longest wait for a render to complete in one attempt (default 10 min). */
  renderTimeoutMs?: number;
  /** Longest a /run_sse stream stays open (default 15 min). */
  streamTimeoutMs?: number;
  /** Backend upload limit (default 200 MB): bigger photos are downscaled first. */
  maxUploadBytes?: number;
  /** `host:port` pairs of the SSRF allow-list: photos from those are not public, so they are uploaded as files. */
  privateHosts?: string[];
}

interface NemoState {
  v: 1;
  sessionId?: string;
  uploads?: UploadedFile[];
  /** The instruction went out (it may have been applied even if we never saw the answer). */
  messageSent?: boolean;
  messageDone?: boolean;
  renderId?: string;
}

export function createNemoEngine(opts: NemoEngineOptions): Engine & { client: NemoClient } {
  const client = new NemoClient({ ...opts, logger: opts.logger });
  return {
    name: 'nemo',
    client,
    render: (req) => render(client, opts, req),
    async status(signal?: AbortSignal): Promise<EngineStatus> {
      try {
        return { credits: await client.credits(signal) };
      } catch (err) {
        opts.logger?.warn({ code: err instanceof AppError ? err.code : 'error' }, 'nemo: could not read the credit balance');
        return { credits: null };
      }
    },
  };
}

function loadState(raw: Record<string, unknown> | null): NemoState {
  if (!raw || raw.v !== 1) return { v: 1 };
  const st: NemoState = { v: 1 };
  if (typeof raw.sessionId === 'string') st.sessionId = raw.sessionId;
  if (Array.isArray(raw.uploads)) st.uploads = raw.uploads.filter((u): u is UploadedFile => !!u && typeof (u as UploadedFile).cdnUrl === 'string');
  if (raw.messageSent === true) st.messageSent = true;
  if (raw.messageDone === true) st.messageDone = true;
  if (typeof raw.renderId === 'string') st.renderId = raw.renderId;
  return st;
}

/** The hosted agent exports at most 1080p (no resolution setting): 4K jobs are refused at submission (handlers/plan-request.ts). */
export const NEMO_MAX_SHORT_SIDE = 1080;

async function render(client: NemoClient, o: NemoEngineOptions, req: RenderRequest): Promise<RenderOutput> {
  const { signal, workDir } = req;
  signal.throwIfAborted();
  // Submission refuses these; a plan re-read differently at render time (a language-model planner) must not pay for a 1080p video.
  const short = Math.min(req.plan.output.width, req.plan.output.height);
  if (short > NEMO_MAX_SHORT_SIDE) {
    throw new AppError('validation_error', `resolution: the "nemo" engine renders at most ${NEMO_MAX_SHORT_SIDE}p, not ${short}p; use the "local" engine or ask for at most ${NEMO_MAX_SHORT_SIDE}p.`, { field: 'options.resolution' });
  }
  const log = o.logger;
  let last = 0;
  const progress = (f: number) => {
    last = Math.min(1, Math.max(last, f));
    req.onProgress(last);
  };
  progress(0);

  let st = loadState((await req.checkpoint?.load()) ?? null);
  const save = async (patch: Partial<NemoState>) => {
    st = { ...st, ...patch };
    await req.checkpoint?.save({ ...st });
  };

  let status: RenderStatus | null = null;
  if (st.renderId) {
    try {
      status = await client.exportStatus(st.renderId, signal);
      log?.info({ renderId: st.renderId, status: status.status }, 'nemo: resuming an export started by an earlier attempt');
      if (status.status === 'failed') status = null; // export is free: export the draft again
    } catch (err) {
      if (!(err instanceof NemoRenderError && err.notFound)) throw err;
      status = null;
    }
    if (!status) await save({ renderId: undefined });
  }

  if (!status) {
    for (let sessionRetry = 0; ; sessionRetry++) {
      try {
        status = await prepareAndExport(client, o, req, () => st, save, progress);
        break;
      } catch (err) {
        if (!(err instanceof NemoSessionLost)) throw err;
        if (sessionRetry >= 1) throw new AppError('engine_unavailable', 'The Nemo video service lost our editing session twice; the job will be retried.', { retryable: true });
        log?.warn({ sessionId: st.sessionId }, 'nemo: session not found (1002); starting a new one');
        st = { v: 1 };
        await save({});
      }
    }
  }

  let done: RenderStatus;
  try {
    done = await waitForRender(client, o, st.renderId!, status, signal, (f) => progress(0.6 + 0.3 * f));
  } catch (err) {
    // Canceled by the user (not a shutdown, which resumes later): stop the backend's render too.
    if (signal.aborted && signal.reason === 'canceled') {
      client.cancelExport(st.renderId!).catch(() => {});
    }
    throw err;
  }
  const raw = path.join(workDir, 'nemo-download.mp4');
  const res = await client.download(st.renderId!, done.outputUrl, signal);
  await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>), fs.createWriteStream(raw), { signal });
  progress(0.95);
  const out = await finishVideo(o, raw, workDir, signal);
  progress(1);
  log?.info({ renderId: st.renderId, width: out.width, height: out.height, durationMs: out.durationMs, bytes: out.bytes }, 'nemo: video downloaded');
  return out;
}

/** Session, uploads, message, draft, export: each step skipped when the checkpoint says it is done. */
async function prepareAndExport(
  client: NemoClient,
  o: NemoEngineOptions,
  req: RenderRequest,
  state: () => NemoState,
  save: (patch: Partial<NemoState>) => Promise<void>,
  progress: (f: number) => void,
): Promise<RenderStatus> {
  const { signal } = req;
  const log = o.logger;
  if (!state().sessionId) {
    const s = await client.createSession(signal);
    await save({ sessionId: s.sessionId, uploads: undefined, messageSent: undefined, messageDone: undefined, renderId: undefined });
    log?.info({ sessionId: s.sessionId }, 'nemo: session created');
  }
  progress(0.05);
  const sessionId = state().sessionId!;

  if (!state().uploads) {
    const uploads = await uploadAll(client, o, req, sessionId, (f) => progress(0.05 + 0.15 * f));
    await save({ uploads });
  }
  progress(0.2);

  let draft: unknown = null;
  if (!state().messageDone && state().messageSent) {
    // An earlier attempt sent the instruction and died before it saw the end: if the edit
    // landed, do not pay for it again.
    draft = (await client.state(sessionId, signal)).draft;
    if (isExportable(draft)) {
      log?.info({ sessionId }, 'nemo: the instruction of an earlier attempt was applied; not sending it again');
      await save({ messageDone: true });
    } else {
      draft = null;
    }
  }
  if (!state().messageDone) {
    await save({ messageSent: true });
    draft = await converse(client, o, req, sessionId, (f) => progress(0.2 + 0.4 * f));
    await save({ messageDone: true });
  }
  progress(0.6);
  draft ??= (await client.state(sessionId, signal)).draft;
  if (!isExportable(draft)) {
    throw new AppError('engine_failed', 'The Nemo agent did not produce a timeline from these photos and this instruction; try rephrasing the prompt.', { retryable: false });
  }
  draft = replaceInternalPaths(draft, state().uploads ?? []);

  for (let dup = 0; ; dup++) {
    const renderId = `render_${Date.now()}_${randomBytes(4).toString('hex')}`;
    // Saved before the request: a crash after it must find (and poll) this render, not start another.
    await save({ renderId });
    try {
      const s = await client.startExport(renderId, sessionId, draft, signal);
      log?.info({ sessionId, renderId }, 'nemo: export started');
      return s;
    } catch (err) {
      if (err instanceof NemoRenderError && err.duplicateId) {
        // Our ids are random: a duplicate almost surely means our own earlier try (timed out on
        // our side) got through. Poll that one rather than paying for a second export.
        const existing = await client.exportStatus(renderId, signal).catch(() => null);
        if (existing) return existing;
        if (dup < 2) continue;
      }
      if (err instanceof NemoRenderError) {
        await save({ renderId: undefined });
        throw new AppError('engine_failed', 'The Nemo video service refused to export the video.', { retryable: true });
      }
      throw err;
    }
  }
}

/** URL mode for public http(s) photos of an accepted type; multipart (converted / downscaled as needed) otherwise. */
async function uploadAll(client: NemoClient, o: NemoEngineOptions, req: RenderRequest, sessionId: string, progress: (f: number) => void): Promise<UploadedFile[]> {
  const maxBytes = o.maxUploadBytes ?? 200 * 1024 * 1024;
  const images = [...req.images].sort((a, b) => a.index - b.index);
  const result: UploadedFile[] = [];
  let urlMode = 0;
  for (const [i, img] of images.entries()) {
    req.signal.throwIfAborted();
    let files: UploadedFile[] = [];
    if (img.sourceUrl && NEMO_IMAGE_TYPES[img.type] && isPublicUrl(img.sourceUrl, o.privateHosts ?? []) && fs.statSync(img.path).size <= maxBytes) {
      try {
        files = await client.uploadUrls(sessionId, [img.sourceUrl], req.signal);
        urlMode++;
      } catch (err) {
        if (!(err instanceof NemoBusinessError)) throw err;
        files = []; // the backend could not take the URL: send the bytes instead
      }
    }
    if (files.length === 0) files = await uploadFile(client, img, req.workDir, maxBytes, sessionId, req.signal);
    if (files.length === 0) throw new AppError('engine_failed', `images[${img.index}]: the Nemo video service did not accept the photo.`, { retryable: true });
    result.push(...files);
    progress((i + 1) / images.length);
  }
  o.logger?.info({ sessionId, files: result.length, urlMode }, 'nemo: photos uploaded');
  return result;
}

async function uploadFile(client: NemoClient, img: RenderRequest['images'][number], workDir: string, maxBytes: number, sessionId: string, signal: AbortSignal): Promise<UploadedFile[]> {
  let file = await prepareUpload(img, workDir, maxBytes);
  for (let attempt = 0; ; attempt++) {
    try {
      return await client.uploadFile(sessionId, file, signal);
    } catch (err) {
      // 4001 once (convert), 4002 up to three times (each a quarter of the bytes).
      if (!(err instanceof NemoBusinessError) || (err.code === 4001 ? file.converted : attempt >= 3)) {
        if (err instanceof NemoBusinessError && err.code === 4001) {
          throw new AppError('unsupported_type', `images[${img.index}]: the Nemo video service does not accept this file type (it accepts ${NEMO_ACCEPTED_LIST}).`);
        }
        if (err instanceof NemoBusinessError && err.code === 4002) {
          throw new AppError('file_too_large', `images[${img.index}]: the photo is too large for the Nemo video service even after downscaling.`);
        }
        throw err;
      }
      // 4001: convert to JPEG; 4002: downscale to a quarter of the size; then retry.
      const size = fs.statSync(file.path).size;
      const limit = err.code === 4002 ? Math.max(64 * 1024, Math.floor(Math.min(size, maxBytes) / 4)) : maxBytes;
      file = { ...(await toJpeg(img, workDir, limit)), converted: true };
    }
  }
}

/** Public: http(s), no credentials, not on the SSRF allow-list (those are our test/private hosts), not a private IP literal. */
export function isPublicUrl(raw: string, privateHosts: string[]): boolean {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return false;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return false;
  if (u.username || u.password) return false;
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.local') || host.endsWith('.internal')) return false;
  const port = u.port || (u.protocol === 'https:' ? '443' : '80');
  if (privateHosts.some((h) => h.toLowerCase() === `${u.hostname.toLowerCase()}:${port}`)) return false;
  if (/^[\d.]+$/.test(host) || host.includes(':')) return checkAddress(host).allowed;
  return true;
}

export function instructionFor(req: RenderRequest): string {
  const { plan } = req;
  const base = req.prompt?.trim() || DEFAULT_INSTRUCTION;
  const short = Math.min(plan.output.width, plan.output.height);
  const label = short >= 1080 ? '1080p' : short >= 720 ? '720p' : `${short}p`;
  const seconds = Math.round(plan.durationMs / 100) / 10;
  return `${base}\n\nUse the ${req.images.length} uploaded photo${req.images.length === 1 ? '' : 's'} in order. Output: ${plan.output.aspect} aspect ratio, ${label} (${plan.output.width}x${plan.output.height}), about ${seconds} seconds, ${plan.output.fps} fps, MP4.`;
}

/**
 * Sends the instruction and reads the turn. A dropped or errored stream is checked against the
 * session state (the edit may have landed) and otherwise sent again, bounded. Returns the draft
 * when it already fetched it.
 */
async function converse(client: NemoClient, o: NemoEngineOptions, req: RenderRequest, sessionId: string, progress: (f: number) => void): Promise<unknown> {
  const log = o.logger;
  const capMs = o.streamTimeoutMs ?? 15 * 60_000;
  const text = instructionFor(req);
  for (let attempt = 0; ; attempt++) {
    const res = await client.runSse(sessionId, text, capMs + 60_000, req.signal);
    let events = 0;
    const turn: TurnResult = res.body
      ? await readTurn(res.body, req.signal, capMs, () => progress(1 - 1 / (1 + ++events / 20)))
      : { texts: [], toolCalls: 0, heartbeats: 0, malformed: 0, errored: false, dropped: false, timedOut: false };
    const texts = meaningfulTexts(turn);
    log?.info(
      { sessionId, texts: texts.length, noise: turn.texts.length - texts.length, toolCalls: turn.toolCalls, heartbeats: turn.heartbeats, malformed: turn.malformed, errored: turn.errored, dropped: turn.dropped, timedOut: turn.timedOut, intent: guiIntent(texts) },
      'nemo: agent turn ended',
    );
    if (texts.length > 0 && !turn.dropped && !turn.errored && !turn.timedOut) return null;

    // No text (about 30 % of edits), or the turn broke: the session state tells what happened.
    const { draft } = await client.state(sessionId, req.signal);
    if (isExportable(draft)) {
      log?.info({ sessionId, summary: summariseDraft(draft) }, 'nemo: no usable answer text; the draft was applied');
      return draft;
    }
    if (turn.timedOut) throw new AppError('engine_failed', 'The Nemo agent did not finish within 15 minutes.', { retryable: true });
    if ((turn.dropped || turn.errored) && attempt < 2) {
      const wait = client.backoffDelay(attempt);
      log?.warn({ sessionId, retryInMs: wait }, 'nemo: the agent turn broke off with nothing applied; sending the instruction again');
      await nemoSleep(wait, req.signal);
      continue;
    }
    if (turn.dropped || turn.errored) throw new AppError('engine_unavailable', 'The Nemo agent kept failing mid-answer; the job will be retried.', { retryable: true });
    return draft;
  }
}

async function waitForRender(client: NemoClient, o: NemoEngineOptions, renderId: string, first: RenderStatus | null, signal: AbortSignal, progress: (f: number) => void): Promise<RenderStatus> {
  const interval = o.pollIntervalMs ?? 30_000;
  const deadline = Date.now() + (o.renderTimeoutMs ?? 600_000);
  let s = first;
  for (let polls = 0; ; polls++) {
    if (s) {
      progress(s.progress);
      if (s.status === 'completed' || s.status === 'succeeded' || s.status === 'done') return s;
      if (s.status === 'failed' || s.status === 'error' || s.status === 'canceled') {
        o.logger?.warn({ renderId, polls }, 'nemo: render failed');
        throw new AppError('engine_failed', 'The Nemo video service failed to render the video.', { retryable: false });
      }
    }
    if (Date.now() > deadline) {
      throw new AppError('engine_unavailable', 'The Nemo video service has not finished rendering yet; the job will be retried and pick up the same render.', { retryable: true });
    }
    await nemoSleep(s ? interval : 0, signal);
    s = await client.exportStatus(renderId, signal);
  }
}

/** Probe the download; re-encode (not H.264 / yuv420p) or remux (moov after mdat) when needed; cut a poster. */
async function finishVideo(o: NemoEngineOptions, downloaded: string, workDir: string, signal: AbortSignal): Promise<RenderOutput> {
  const ffmpegPath = o.ffmpegPath ?? 'ffmpeg';
  let probe;
  try {
    probe = await probeVideo(downloaded, o.ffprobePath);
  } catch (err) {
    throw new AppError('engine_failed', 'The Nemo video service delivered a file that is not a playable video.', { retryable: true, cause: err });
  }
  let videoPath = downloaded;
  const needsEncode = probe.codec !== 'h264' || probe.pixFmt !== 'yuv420p';
  if (needsEncode || !probe.moovBeforeMdat) {
    videoPath = path.join(workDir, 'video.mp4');
    const codec = needsEncode ? ['-c:v', 'libx264', '-profile:v', 'high', '-pix_fmt', 'yuv420p', '-crf', '20', '-preset', 'veryfast', '-c:a', 'aac'] : ['-c', 'copy'];
    await runFfmpeg({ ffmpegPath, args: ['-nostdin', '-hide_banner', '-loglevel', 'error', '-i', downloaded, ...codec, '-movflags', '+faststart', '-y', videoPath], signal, what: 'finishing the downloaded video' });
    probe = await probeVideo(videoPath, o.ffprobePath);
  }
  const posterPath = path.join(workDir, 'poster.jpg');
  await runFfmpeg({ ffmpegPath, args: posterArgs(videoPath, posterTime(probe.durationMs), posterPath), signal, what: 'extracting the poster frame' });
  return { videoPath, posterPath, width: probe.width, height: probe.height, fps: Math.round(probe.fps * 1000) / 1000, durationMs: probe.durationMs, codec: 'h264', bytes: probe.bytes };
}
