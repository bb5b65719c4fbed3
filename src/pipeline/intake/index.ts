import fs from 'node:fs';
import path from 'node:path';
import type { ObjectStorage } from '../../adapters/ports.js';
import { AppError, toAppError } from '../../core/errors.js';
import { MAX_IMAGES, type ImageInput, type PhotoWarning } from '../../core/job.js';
import type { SourceImage } from '../engines/engine.js';
import { abortError, type NetPolicy } from '../net/safe-http.js';
import { copyUploadToFile } from '../uploads/store.js';
import { fetchImageToFile } from './fetch-image.js';
import { inspectImage } from './inspect-image.js';

export { fetchImageToFile } from './fetch-image.js';
export { inspectImage, heicDecodingAvailable } from './inspect-image.js';

export interface IntakeOptions {
  /** Folder the images are written to (created if missing). Files are named `intake-<index>.<ext>`. */
  workDir: string;
  policy: NetPolicy;
  maxBytes: number;
  maxPixels: number;
  /** Aborting stops every download and decode, deletes what intake wrote, and rejects with an AbortError. */
  signal?: AbortSignal;
  /** Fraction 0..1 of the intake done (never decreases); called often, callers throttle. */
  onProgress?(fraction: number): void;
  /** Images fetched at once (default 3). */
  concurrency?: number;
  /** Where `{ upload }` images are read from: the storage and the job's tenant. */
  uploads?: { storage: ObjectStorage; tenant: string };
  /**
   * `options.skipBadImages`: an image that fails is left out (reported through `onWarning`)
   * instead of failing the intake; the intake fails only when no image is left.
   */
  skipBadImages?: boolean;
  /** Called once per image left out under `skipBadImages`. */
  onWarning?(warning: PhotoWarning): void;
  /** Called as each image is ready, with how long its download and its inspection (decode) took (logs, bench). */
  onImageDone?(done: ImageTiming): void;
}

export interface ImageTiming {
  index: number;
  type: string;
  width: number;
  height: number;
  bytes: number;
  fetchMs: number;
  inspectMs: number;
}

/** Share of an image's progress that is the download; the rest is inspection. */
const FETCH_SHARE = 0.8;

const EXT: Record<string, string> = { jpeg: 'jpg', png: 'png', webp: 'webp', gif: 'gif', avif: 'avif', tiff: 'tif', heic: 'heic' };

const FILE_PREFIX = 'intake-';
const baseName = (i: number) => `${FILE_PREFIX}${String(i).padStart(3, '0')}`;

/** Prefixes an image's error with its position, keeping the code: `images[3]: ...`. */
function forImage(index: number, img: ImageInput | undefined, err: unknown): AppError {
  const e = toAppError(err);
  const field = `images[${index}].${img && 'upload' in img ? 'upload' : 'url'}`;
  return new AppError(e.code, `images[${index}]: ${e.message}`, { retryable: e.retryable, field, cause: err });
}

/**
 * Fetches (or reads from uploads) and validates every image, `concurrency` at a time, and
 * returns them in request order, each with its request index.
 *
 * Without `skipBadImages` the first failure stops the rest, deletes what was written, and
 * rejects with that image's error (`images[i]: ...`, original code). With it, failed images
 * are reported through `onWarning` and left out; if none is left, the intake rejects with
 * the code of the last failed image (in request order) and a message saying all failed.
 */
export async function intakeImages(images: ImageInput[], opts: IntakeOptions): Promise<SourceImage[]> {
  const { workDir, policy, maxBytes, maxPixels, signal } = opts;
  if (signal?.aborted) throw abortError(signal);
  const n = images.length;
  if (n === 0) return [];
  if (n > MAX_IMAGES) throw new AppError('too_many_images', `${n} images given; a job takes at most ${MAX_IMAGES}`, { field: 'images' });
  await fs.promises.mkdir(workDir, { recursive: true });

  const ac = new AbortController();
  const onOuterAbort = () => ac.abort(signal!.reason);
  signal?.addEventListener('abort', onOuterAbort, { once: true });

  const results: (SourceImage | undefined)[] = new Array<SourceImage | undefined>(n);
  const failures: (AppError | undefined)[] = new Array<AppError | undefined>(n);
  const progress = new Array<number>(n).fill(0);
  let lastReported = 0;
  const report = () => {
    if (!opts.onProgress) return;
    const f = Math.min(1, progress.reduce((a, b) => a + b, 0) / n);
    if (f > lastReported) {
      lastReported = f;
      opts.onProgress(f);
    }
  };

  let firstError: AppError | null = null;
  let next = 0;

  const runOne = async (i: number) => {
    const img = images[i]!;
    const base = path.join(workDir, baseName(i));
    const download = `${base}.download`;
    const onBytes = (received: number, declared: number | null) => {
      if (declared) {
        progress[i] = FETCH_SHARE * Math.min(1, received / declared);
        report();
      }
    };
    const t0 = performance.now();
    let bytes: number;
    if ('upload' in img) {
      if (!opts.uploads) throw new AppError('fetch_failed', `upload "${img.upload}" cannot be read here (no upload storage)`);
      bytes = await copyUploadToFile(opts.uploads.storage, opts.uploads.tenant, img.upload, download, { maxBytes, signal: ac.signal, onBytes });
    } else {
      bytes = (await fetchImageToFile(img.url, download, { policy, maxBytes, signal: ac.signal, onBytes })).bytes;
    }
    progress[i] = FETCH_SHARE;
    report();

    const t1 = performance.now();
    const info = await inspectImage(download, { maxPixels, signal: ac.signal });
    ac.signal.throwIfAborted();
    const t2 = performance.now();
    const original = `${base}.${EXT[info.type] ?? 'bin'}`;
    await fs.promises.rename(download, original);
    let finalPath = original;
    if (info.path !== download) {
      // Decoded copy (HEIC): engines get that; the original stays beside it.
      finalPath = `${base}.decoded${path.extname(info.path)}`;
      await fs.promises.rename(info.path, finalPath);
    }
    results[i] = { index: i, path: finalPath, type: info.type, width: info.width, height: info.height };
    progress[i] = 1;
    report();
    opts.onImageDone?.({ index: i, type: info.type, width: info.width, height: info.height, bytes, fetchMs: t1 - t0, inspectMs: t2 - t1 });
  };

  const runner = async () => {
    while (!ac.signal.aborted) {
      const i = next++;
      if (i >= n) return;
      try {
        await runOne(i);
      } catch (err) {
        // Errors caused by our own abort (after a failure or a cancel) are not the story.
        if (ac.signal.aborted) return;
        const e = forImage(i, images[i], err);
        if (opts.skipBadImages) {
          failures[i] = e;
          await removeIntakeFiles(workDir, [i]);
          progress[i] = 1;
          report();
          opts.onWarning?.({ code: e.code, message: e.message, index: i });
          continue;
        }
        if (!firstError) firstError = e;
        ac.abort();
        return;
      }
    }
  };

  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 3, n)) }, runner));
  } finally {
    signal?.removeEventListener('abort', onOuterAbort);
  }

  const all = Array.from({ length: n }, (_, i) => i);
  if (signal?.aborted || firstError) {
    await removeIntakeFiles(workDir, all);
    if (signal?.aborted) throw abortError(signal);
    throw firstError!;
  }
  const kept = results.filter((r): r is SourceImage => r !== undefined);
  if (kept.length === 0) {
    await removeIntakeFiles(workDir, all);
    const last = [...failures].reverse().find((f) => f !== undefined)!;
    const count = n === 1 ? 'the only image' : `all ${n} images`;
    throw new AppError(last.code, `${count} failed (skipBadImages); the last: ${last.message}`, { retryable: last.retryable, field: last.field, cause: last });
  }
  return kept;
}

/** Deletes every file intake wrote for the given images (downloads, finals, decoded copies). */
async function removeIntakeFiles(workDir: string, indexes: number[]): Promise<void> {
  const prefixes = new Set(indexes.map((i) => `${baseName(i)}.`));
  const names = await fs.promises.readdir(workDir).catch(() => [] as string[]);
  await Promise.all(
    names
      .filter((name) => name.startsWith(FILE_PREFIX) && prefixes.has(name.slice(0, name.indexOf('.') + 1)))
      .map((name) => fs.promises.rm(path.join(workDir, name), { force: true }).catch(() => undefined)),
  );
}
