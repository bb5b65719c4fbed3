import fs from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError } from '../../core/errors.js';
import { abortError, safeRequest, type NetPolicy } from '../net/safe-http.js';

export interface FetchImageOptions {
  policy: NetPolicy;
  /** Largest body accepted; one byte more fails with file_too_large. */
  maxBytes: number;
  signal?: AbortSignal;
  /** Called as bytes arrive with the running total, and the size the server declared (null if none). */
  onBytes?(received: number, declared: number | null): void;
  /** What is fetched, for the Accept header and messages (music intake reuses this): default image. */
  kind?: 'image' | 'music';
}

export interface FetchImageResult {
  bytes: number;
  contentType: string | null;
}

const RETRYABLE_STATUSES = new Set([408, 425, 429, 500, 502, 503, 504]);

function tooLarge(maxBytes: number, extra = '', kind = 'image'): AppError {
  return new AppError(kind === 'music' ? 'music_too_large' : 'file_too_large', `${kind === 'music' ? 'the music file' : 'image'} is larger than the ${maxBytes}-byte limit${extra}`);
}

async function removeQuietly(path: string): Promise<void> {
  await fs.promises.rm(path, { force: true }).catch(() => undefined);
}

/**
 * GETs an image URL (following redirects, SSRF-checked at every hop) into `destPath`.
 * Enforces `maxBytes` on the bytes actually received, whatever Content-Length says.
 * On any failure the partial file is deleted.
 */
export async function fetchImageToFile(url: string, destPath: string, opts: FetchImageOptions): Promise<FetchImageResult> {
  const { maxBytes, signal } = opts;
  const kind = opts.kind ?? 'image';
  const res = await safeRequest(url, {
    method: 'GET',
    headers: kind === 'music' ? { Accept: 'audio/*', 'User-Agent': 'Photoreel/1.0 (music intake)' } : { Accept: 'image/*', 'User-Agent': 'Photoreel/1.0 (image intake)' },
    policy: opts.policy,
    followRedirects: true,
    signal,
  });

  if (res.status < 200 || res.status > 299) {
    res.body.destroy();
    const reason = (res.body as { statusMessage?: string }).statusMessage;
    throw new AppError('fetch_failed', `the server answered HTTP ${res.status}${reason ? ` ${reason}` : ''}`, {
      retryable: RETRYABLE_STATUSES.has(res.status),
    });
  }

  const declaredRaw = res.headers['content-length'];
  const declared = declaredRaw !== undefined && /^\d+$/.test(declaredRaw) ? Number(declaredRaw) : null;
  if (declared !== null && declared > maxBytes) {
    res.body.destroy();
    throw tooLarge(maxBytes, ` (Content-Length: ${declared})`, kind);
  }

  let bytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      if (bytes > maxBytes) return cb(tooLarge(maxBytes, '', kind));
      opts.onBytes?.(bytes, declared);
      cb(null, chunk);
    },
  });

  try {
    await pipeline(res.body, counter, fs.createWriteStream(destPath), signal ? { signal } : {});
  } catch (err) {
    res.body.destroy();
    await removeQuietly(destPath);
    if (err instanceof AppError) throw err;
    if (signal?.aborted) throw abortError(signal);
    const e = err as NodeJS.ErrnoException;
    if (e.syscall !== undefined && e.path !== undefined) {
      // A local file-system failure (disk full, ...), not the remote's fault.
      throw new AppError('internal_error', `could not store the downloaded ${kind}`, { retryable: true, cause: err });
    }
    const msg = e.code === 'ECONNRESET' || e.message === 'aborted' ? `the connection closed before the whole ${kind === 'music' ? 'file' : 'image'} arrived` : e.message;
    throw new AppError('fetch_failed', `download failed: ${msg}`, { retryable: true, cause: err });
  }

  return { bytes, contentType: res.headers['content-type'] ?? null };
}
