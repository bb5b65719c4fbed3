import fs from 'node:fs';
import path from 'node:path';
import { AppError, toAppError } from '../../core/errors.js';
import type { ImageInput } from '../../core/job.js';
import type { SourceImage } from '../engines/engine.js';
import { abortError, type NetPolicy } from '../net/safe-http.js';
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
}

/** Share of an image's progress that is the download; the rest is inspection. */
const FETCH_SHARE = 0.8;

const EXT: Record<string, string> = { jpeg: 'jpg', png: 'png', webp: 'webp', gif: 'gif', avif: 'avif', tiff: 'tif', heic: 'heic' };

const FILE_PREFIX = 'intake-';
const baseName = (i: number) => `${FILE_PREFIX}${String(i).padStart(3, '0')}`;

/** Prefixes an image's error with its position, keeping the code: `images[3]: ...`. */
function forImage(index: number, err: unknown): AppError {
  const e = toAppError(err);
  return new AppError(e.code, `images[${index}]: ${e.message}`, { retryable: e.retryable, field: `images[${index}].url`, cause: err });
}

/**
 * Fetches and validates every image, `concurrency` at a time, and returns them in request
 * order. The first failure stops the rest, deletes what was written, and rejects with that
 * image's error (`images[i]: ...`, original code).
 */
export async function intakeImages(images: ImageInput[], opts: IntakeOptions): Promise<SourceImage[]> {
  const { workDir, policy, maxBytes, maxPixels, signal } = opts;
  if (signal?.aborted) throw abortError(signal);
  const n = images.length;
  if (n === 0) return [];
  await fs.promises.mkdir(workDir, { recursive: true });

  const ac = new AbortController();
  const onOuterAbort = () => ac.abort(signal!.reason);
  signal?.addEventListener('abort', onOuterAbort, { once: true });

  const results: SourceImage[] = new Array<SourceImage>(n);
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
    const base = path.join(workDir, baseName(i));
    const download = `${base}.download`;
    await fetchImageToFile(images[i]!.url, download, {
      policy,
      maxBytes,
      signal: ac.signal,
      onBytes: (received, declared) => {
        if (declared) {
          progress[i] = FETCH_SHARE * Math.min(1, received / declared);
          report();
        }
      },
    });
    progress[i] = FETCH_SHARE;
    report();

    const info = await inspectImage(download, { maxPixels, signal: ac.signal });
    ac.signal.throwIfAborted();
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
  };

  const runner = async () => {
    while (!ac.signal.aborted) {
      const i = next++;
      if (i >= n) return;
      try {
        await runOne(i);
      } catch (err) {
        // Errors caused by our own abort (after a failure or a cancel) are not the story.
        if (!firstError && !ac.signal.aborted) firstError = forImage(i, err);
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

  if (signal?.aborted || firstError) {
    await removeIntakeFiles(workDir, n);
    if (signal?.aborted) throw abortError(signal);
    throw firstError!;
  }
  return results;
}

/** Deletes every file intake wrote for images 0..n-1 (downloads, finals, decoded copies). */
async function removeIntakeFiles(workDir: string, n: number): Promise<void> {
  const prefixes = new Set(Array.from({ length: n }, (_, i) => `${baseName(i)}.`));
  const names = await fs.promises.readdir(workDir).catch(() => [] as string[]);
  await Promise.all(
    names
      .filter((name) => name.startsWith(FILE_PREFIX) && prefixes.has(name.slice(0, name.indexOf('.') + 1)))
      .map((name) => fs.promises.rm(path.join(workDir, name), { force: true }).catch(() => undefined)),
  );
}
