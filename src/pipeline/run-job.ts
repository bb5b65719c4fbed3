import fs from 'node:fs/promises';
import path from 'node:path';
import type { QueueMessage } from '../adapters/ports.js';
import { AppError, toAppError } from '../core/errors.js';
import { imageSource, isFinal, type JobRecord, type JobStage, type JobWarning, type PreviewFormat } from '../core/job.js';
import { intakeImages } from './intake/index.js';
import { intakeMusic } from './intake/music.js';
import { backdropsFor } from './intake/plain-backdrop.js';
import { makePreview, type PreviewFile } from './media/preview.js';
import { netPolicy } from './net-policy.js';
import type { Services } from './services.js';
import { queueWebhook } from './webhooks/notify.js';

/** Why a running job's AbortController fired. */
export type StopReason = 'canceled' | 'shutdown' | 'lost';

/** Progress bands of the stages, so `progress` only ever moves forward. */
const BAND = { fetching: [0, 0.2], rendering: [0.2, 0.95], publishing: [0.95, 1] } as const;
const PROGRESS_WRITE_MS = 500;
const CANCEL_POLL_MS = 300;

export const videoKey = (job: JobRecord) => `videos/${job.tenant}/${job.id}.mp4`;
export const posterKey = (job: JobRecord) => `posters/${job.tenant}/${job.id}.jpg`;
export const previewKey = (job: JobRecord, format: PreviewFormat) => `previews/${job.tenant}/${job.id}.${format}`;
/** With `options.preview`, the render gets this share of the rendering band and the preview the rest. */
const RENDER_SHARE_WITH_PREVIEW = 0.9;

/**
 * Drive one job from its queue message to a final state. Every step is safe to repeat:
 * a message redelivered after a crash starts the job again from the top and publishes
 * to the same keys, so a job never ends with two videos. The message is deleted only
 * after the final state (and its webhook) is recorded; until then a heartbeat keeps it
 * hidden from other consumers.
 */
export async function runJob(s: Services, msg: QueueMessage, jobId: string, shutdown: AbortSignal): Promise<void> {
  const log = s.logger.child({ jobId, receiveCount: msg.receiveCount });
  const existing = await s.store.getById(jobId);
  if (!existing) {
    log.warn('message for an unknown job; dropping it');
    return s.jobQueue.delete(msg.receiptHandle);
  }
  if (isFinal(existing.status)) return finishMessage(s, existing, msg);

  const started = await s.store.update(jobId, (j) =>
    isFinal(j.status) ? null : { ...j, status: 'running', stage: 'fetching', progress: 0, attempts: j.attempts + 1, error: null, warnings: [] },
  );
  if (!started || isFinal(started.status)) return finishMessage(s, started ?? existing, msg);
  log.info({ attempt: started.attempts }, 'job started');

  const stop = new AbortController();
  const stopWith = (reason: StopReason) => !stop.signal.aborted && stop.abort(reason);
  const onShutdown = () => stopWith('shutdown');
  shutdown.addEventListener('abort', onShutdown);
  if (shutdown.aborted) onShutdown();

  const visibility = s.config.QUEUE_VISIBILITY_SECONDS;
  const heartbeat = setInterval(() => {
    s.jobQueue.extendVisibility(msg.receiptHandle, visibility).catch((err) => {
      log.warn({ err: String(err) }, 'lost the queue message; stopping this attempt');
      stopWith('lost');
    });
  }, (visibility * 1000) / 3);
  const cancelWatch = setInterval(() => {
    s.store.getById(jobId).then((j) => j?.status === 'canceled' && stopWith('canceled'), () => {});
  }, CANCEL_POLL_MS);

  const workDir = path.join(s.config.dataDir, 'work', jobId);
  const progress = progressWriter(s, jobId);
  try {
    await fs.rm(workDir, { recursive: true, force: true });
    await fs.mkdir(workDir, { recursive: true });
    const job = started;

    const engine = s.engines[job.engine];
    if (!engine) throw new AppError('processing_failed', `Engine "${job.engine}" is not available on this worker.`);

    // Per-stage wall time: a metric, and one field of the "job finished" line (where a slow job's time went).
    const stageMs: Record<string, number> = { queuedMs: Math.max(0, Date.now() - Date.parse(job.createdAt)) };
    const stageTimer = (stage: string) => {
      const t = performance.now();
      return () => {
        const ms = performance.now() - t;
        stageMs[`${stage}Ms`] = Math.round(ms);
        s.metrics?.observe('photoreel_stage_seconds', { stage }, ms / 1000);
      };
    };
    const fetched = stageTimer('fetching');
    // Before the photos: bad music fails the job without downloading them all first.
    const music = job.request.music
      ? await intakeMusic(job.request.music, {
          workDir, policy: netPolicy(s.config), maxBytes: s.config.MAX_MUSIC_BYTES, ffmpegPath: s.config.FFMPEG_PATH, ffprobePath: s.config.FFPROBE_PATH,
          signal: stop.signal, uploads: { storage: s.storage, tenant: job.tenant },
        })
      : undefined;
    const warnings: JobWarning[] = [];
    let images;
    try {
      images = await intakeImages(job.request.images, {
        workDir,
        policy: netPolicy(s.config),
        maxBytes: s.config.MAX_IMAGE_BYTES,
        maxPixels: s.config.MAX_IMAGE_PIXELS,
        signal: stop.signal,
        onProgress: (f) => progress('fetching', f),
        uploads: { storage: s.storage, tenant: job.tenant },
        skipBadImages: job.request.options?.skipBadImages === true,
        onWarning: (w) => warnings.push(w),
      });
    } finally {
      // Kept on the job whether or not any image is left (then the job fails, with these as the detail).
      if (warnings.length > 0) {
        warnings.sort((a, b) => (a.index ?? Number.MAX_SAFE_INTEGER) - (b.index ?? Number.MAX_SAFE_INTEGER));
        await s.store.update(jobId, (j) => (isFinal(j.status) ? null : { ...j, warnings }));
      }
    }

    fetched();
    const planTimer = stageTimer('planning');
    const totalPixels = images.reduce((n, img) => n + img.width * img.height, 0);
    if (totalPixels > s.config.MAX_JOB_PIXELS) {
      throw new AppError('job_too_large', `The photos have ${totalPixels} pixels in all; a job is limited to ${s.config.MAX_JOB_PIXELS} (MAX_JOB_PIXELS): send fewer or smaller photos.`);
    }

    const backdrops = await backdropsFor(images, job.request.options?.fit);
    const planned = await s.planner.plan({
      images: images.map((img, k) => ({ source: imageSource(job.request.images[img.index]!), width: img.width, height: img.height, ...(backdrops[k] ? { backdrop: backdrops[k]! } : {}) })),
      prompt: job.request.prompt,
      options: job.request.options,
      music: job.request.music,
    }, stop.signal);
    // The planner numbers the photos it was given; with skipped photos, point back at the request's positions.
    const plan = { ...planned, clips: planned.clips.map((c) => ({ ...c, image: { ...c.image, index: images[c.image.index]?.index ?? c.image.index } })) };
    await s.store.update(jobId, (j) => (isFinal(j.status) ? null : { ...j, plan, stage: 'rendering', progress: BAND.rendering[0] }));
    planTimer();
    const renderStarted = performance.now();
    const previewFormat = job.request.options?.preview;
    const renderShare = previewFormat ? RENDER_SHARE_WITH_PREVIEW : 1;

    const rendered = await engine.render({
      plan,
      images: images.map((img) => {
        const src = job.request.images[img.index];
        return src && 'url' in src ? { ...img, sourceUrl: src.url } : img;
      }),
      workDir,
      signal: stop.signal,
      onProgress: (f) => progress('rendering', f * renderShare),
      prompt: job.request.prompt,
      music,
      // Engine resume state lives on the job record (internal: never presented).
      checkpoint: {
        load: async () => (await s.store.getById(jobId))?.engineState ?? null,
        save: async (state) => {
          await s.store.update(jobId, (j) => (isFinal(j.status) ? null : { ...j, engineState: state }));
        },
      },
    });
    const renderSeconds = (performance.now() - renderStarted) / 1000;
    stageMs.renderingMs = Math.round(renderSeconds * 1000);
    s.metrics?.observe('photoreel_stage_seconds', { stage: 'rendering' }, renderSeconds);
    s.metrics?.observe('photoreel_render_seconds', { engine: job.engine }, renderSeconds);
    stop.signal.throwIfAborted();

    // The animated preview, from the finished MP4 (whatever engine made it). A preview that
    // cannot be made costs the job a warning, never its video.
    let preview: PreviewFile | undefined;
    const previewWarnings: JobWarning[] = [];
    if (previewFormat) {
      const previewed = stageTimer('preview');
      try {
        const made = await makePreview({
          videoPath: rendered.videoPath,
          video: rendered,
          format: previewFormat,
          workDir,
          ffmpegPath: s.config.FFMPEG_PATH,
          signal: stop.signal,
          onProgress: (f) => progress('rendering', renderShare + (1 - renderShare) * f),
        });
        const attempts = made.attempts.map((a) => ({ width: a.width, height: a.height, fps: a.rung.fps, bytes: a.bytes }));
        if (made.ok) {
          preview = made.preview;
          log.info({ format: previewFormat, bytes: preview.bytes, attempts }, 'preview made');
        } else {
          log.warn({ format: previewFormat, attempts }, 'preview too large; publishing the video without it');
          previewWarnings.push({ code: made.code, message: made.message });
        }
      } catch (err) {
        if (stop.signal.aborted) throw err;
        log.warn({ err: describe(err) }, 'preview failed; publishing the video without it');
        previewWarnings.push({ code: 'preview_failed', message: `The ${previewFormat} preview could not be made; the video is fine.` });
      }
      previewed();
      stop.signal.throwIfAborted();
    }

    const published = stageTimer('publishing');
    await progress('publishing', 0, true);
    const vKey = videoKey(job);
    const pKey = posterKey(job);
    const prevKey = previewFormat ? previewKey(job, previewFormat) : undefined;
    await s.storage.putFile(vKey, rendered.videoPath, 'video/mp4');
    await s.storage.putFile(pKey, rendered.posterPath, 'image/jpeg');
    if (prevKey) {
      // Same key on every attempt; an attempt without a preview removes an earlier attempt's.
      if (preview) await s.storage.putFile(prevKey, preview.path, preview.contentType);
      else await s.storage.delete(prevKey);
    }

    const done = await s.store.update(jobId, (j) =>
      isFinal(j.status)
        ? null
        : {
            ...j,
            status: 'succeeded',
            stage: 'done',
            progress: 1,
            engineState: null,
            ...(previewWarnings.length > 0 ? { warnings: [...(j.warnings ?? []), ...previewWarnings] } : {}),
            result: {
              video: { key: vKey, bytes: rendered.bytes, width: rendered.width, height: rendered.height, fps: rendered.fps, durationMs: rendered.durationMs, codec: rendered.codec },
              poster: { key: pKey },
              ...(prevKey && preview
                ? {
                    preview: {
                      key: prevKey, format: preview.format, bytes: preview.bytes, width: preview.width, height: preview.height,
                      frames: preview.frames, fps: preview.fps, durationMs: preview.durationMs,
                    },
                  }
                : {}),
            },
          },
    );
    if (done?.status !== 'succeeded') {
      // Canceled while publishing: the cancel wins and its objects go.
      await Promise.all([s.storage.delete(vKey), s.storage.delete(pKey), ...(prevKey ? [s.storage.delete(prevKey)] : [])]);
    }
    published();
    log.info({ status: done?.status, bytes: rendered.bytes, durationMs: rendered.durationMs, ...(preview ? { previewBytes: preview.bytes } : {}), stages: stageMs }, 'job finished');
    if (done) await finishMessage(s, done, msg);
  } catch (err) {
    const reason = stop.signal.aborted ? (stop.signal.reason as StopReason) : undefined;
    await handleFailure(s, msg, jobId, err, reason, log);
  } finally {
    clearInterval(heartbeat);
    clearInterval(cancelWatch);
    shutdown.removeEventListener('abort', onShutdown);
    await fs.rm(workDir, { recursive: true, force: true }).catch(() => {});
  }
}

async function handleFailure(s: Services, msg: QueueMessage, jobId: string, err: unknown, reason: StopReason | undefined, log: Services['logger']) {
  if (reason === 'canceled') {
    // The cancel handler already set the final state and queued the webhook.
    log.info('render stopped: job canceled');
    return s.jobQueue.delete(msg.receiptHandle);
  }
  if (reason === 'lost') return; // another consumer owns the message now
  if (reason === 'shutdown') {
    await s.store.update(jobId, (j) => (isFinal(j.status) ? null : { ...j, status: 'queued', stage: 'queued', progress: 0 }));
    log.info('render released for another worker (shutdown)');
    return s.jobQueue.release(msg.receiptHandle, 0);
  }

  const e = toAppError(err);
  if (e.retryable && msg.receiveCount < s.config.QUEUE_MAX_RECEIVES) {
    const delay = Math.min(300, 5 * 2 ** (msg.receiveCount - 1));
    log.warn({ code: e.code, err: describe(err), retryInSeconds: delay }, 'job attempt failed; will retry');
    await s.store.update(jobId, (j) => (isFinal(j.status) ? null : { ...j, status: 'queued', stage: 'queued', progress: 0 }));
    return s.jobQueue.release(msg.receiptHandle, delay);
  }
  log.warn({ code: e.code, err: describe(err) }, 'job failed');
  const failed = await failJob(s, jobId, e);
  if (failed) await finishMessage(s, failed, msg);
}

/** Mark a job failed (unless it already reached a final state) and return the record. */
export async function failJob(s: Services, jobId: string, e: AppError): Promise<JobRecord | undefined> {
  return s.store.update(jobId, (j) =>
    isFinal(j.status) ? null : { ...j, status: 'failed', stage: j.stage, error: { code: e.code, message: e.message, retryable: false } },
  );
}

/** The job is final: make sure its webhook is queued, then let go of the message. */
async function finishMessage(s: Services, job: JobRecord, msg: QueueMessage): Promise<void> {
  await queueWebhook(s, job);
  await s.jobQueue.delete(msg.receiptHandle);
}

/** Writes stage + progress to the job, at most every PROGRESS_WRITE_MS, never backwards. */
function progressWriter(s: Services, jobId: string) {
  let lastWrite = 0;
  let last = -1;
  let lastStage: JobStage | undefined;
  return async (stage: keyof typeof BAND, fraction: number, force = false): Promise<void> => {
    const [lo, hi] = BAND[stage];
    const value = Math.round((lo + (hi - lo) * Math.min(1, Math.max(0, fraction))) * 1000) / 1000;
    const now = Date.now();
    if (!force && stage === lastStage && (now - lastWrite < PROGRESS_WRITE_MS || value - last < 0.005)) return;
    lastWrite = now;
    last = value;
    lastStage = stage;
    await s.store
      .update(jobId, (j) => (j.status !== 'running' ? null : { ...j, stage, progress: Math.max(j.progress, value) }))
      .catch(() => {});
  };
}

/** The error for the log: its message, plus its cause's when that says something more. */
function describe(err: unknown): string {
  if (!(err instanceof AppError)) return err instanceof Error ? err.message : String(err);
  const cause = err.cause === undefined ? '' : String((err.cause as Error)?.message ?? err.cause);
  return cause && !err.message.includes(cause) ? `${err.message} (${cause})` : err.message;
}
