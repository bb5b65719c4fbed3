import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ObjectStorage } from '../../adapters/ports.js';
import { AppError } from '../../core/errors.js';
import { UPLOAD_ID_PATTERN, type ImageInput } from '../../core/job.js';

/**
 * Uploaded photos in object storage: the bytes under `uploads/{tenant}/{id}` and a small
 * JSON record beside them (`uploads/{tenant}/{id}.json`) written last, so an upload exists
 * once its record does. The tenant is part of the key: one tenant can never name another's
 * upload, and asking for it looks exactly like asking for an id that does not exist.
 */

export interface UploadRecord {
  id: string;
  tenant: string;
  bytes: number;
  /** Detected by content: jpeg | png | webp | gif | avif | tiff | heic, or music: mp3 | wav | m4a | aac. */
  type: string;
  contentType: string;
  /** Pixel size after orientation (EXIF / irot); null for music. */
  width: number | null;
  height: number | null;
  /** Music only: its length as probed. */
  durationMs?: number;
  /** The client's file name (multipart), for people reading the record; never used as a path. */
  filename: string | null;
  createdAt: string;
}

export const MIME_BY_TYPE: Record<string, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
  avif: 'image/avif',
  tiff: 'image/tiff',
  heic: 'image/heic',
  mp3: 'audio/mpeg',
  wav: 'audio/wav',
  m4a: 'audio/mp4',
  aac: 'audio/aac',
};

/** Upload types that are music (the rest are photos). */
export const MUSIC_UPLOAD_TYPES: readonly string[] = ['mp3', 'wav', 'm4a', 'aac'];

const TENANT_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

function assertIds(tenant: string, id: string): void {
  if (!TENANT_PATTERN.test(tenant)) throw new Error(`invalid tenant for an upload key: ${JSON.stringify(tenant)}`);
  if (!UPLOAD_ID_PATTERN.test(id)) throw new Error(`invalid upload id: ${JSON.stringify(id)}`);
}

export function uploadKey(tenant: string, id: string): string {
  assertIds(tenant, id);
  return `uploads/${tenant}/${id}`;
}

export function uploadRecordKey(tenant: string, id: string): string {
  return `${uploadKey(tenant, id)}.json`;
}

/** Stores the uploaded file, then its record (the record makes the upload visible). */
export async function saveUpload(storage: ObjectStorage, record: UploadRecord, filePath: string): Promise<void> {
  await storage.putFile(uploadKey(record.tenant, record.id), filePath, record.contentType);
  const tmp = path.join(os.tmpdir(), `photoreel-upload-record-${randomBytes(6).toString('hex')}.json`);
  try {
    await fs.writeFile(tmp, JSON.stringify(record));
    await storage.putFile(uploadRecordKey(record.tenant, record.id), tmp, 'application/json');
  } catch (err) {
    await storage.delete(uploadKey(record.tenant, record.id)).catch(() => undefined);
    throw err;
  } finally {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
  }
}

/** The tenant's upload, or undefined if there is none by that id (for this tenant). */
export async function getUpload(storage: ObjectStorage, tenant: string, id: string): Promise<UploadRecord | undefined> {
  if (!UPLOAD_ID_PATTERN.test(id) || !TENANT_PATTERN.test(tenant)) return undefined;
  let stream;
  try {
    stream = await storage.read(uploadRecordKey(tenant, id));
  } catch (err) {
    if (err instanceof AppError && err.code === 'not_found') return undefined;
    throw err;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > 64 * 1024) {
      stream.destroy();
      throw new Error(`upload record ${id} is unexpectedly large`);
    }
    chunks.push(chunk as Buffer);
  }
  const rec = JSON.parse(Buffer.concat(chunks).toString('utf8')) as UploadRecord;
  return rec.id === id && rec.tenant === tenant ? rec : undefined;
}

/**
 * For POST /v1/jobs: the first `{ upload }` image the tenant does not own (unknown id or
 * another tenant's), as an AppError naming `images[i].upload`; null when all are fine.
 */
export async function checkUploadsExist(storage: ObjectStorage, tenant: string, images: readonly ImageInput[]): Promise<AppError | null> {
  for (const [i, img] of images.entries()) {
    if (!('upload' in img)) continue;
    if (!(await getUpload(storage, tenant, img.upload))) {
      const field = `images[${i}].upload`;
      return new AppError('validation_error', `${field}: no upload "${img.upload}" (send the file to POST /v1/uploads first; uploads belong to the tenant that sent them)`, { field });
    }
  }
  return null;
}

/**
 * For POST /v1/jobs: the request's `music.upload` must be this tenant's upload, and music (a
 * photo there is a mistake worth a 400, not a failed job); null when fine or not an upload.
 */
export async function checkMusicUpload(storage: ObjectStorage, tenant: string, music: { upload?: string } | undefined): Promise<AppError | null> {
  if (music?.upload === undefined) return null;
  const field = 'music.upload';
  const rec = await getUpload(storage, tenant, music.upload);
  if (!rec) return new AppError('validation_error', `${field}: no upload "${music.upload}" (send the file to POST /v1/uploads first; uploads belong to the tenant that sent them)`, { field });
  if (!MUSIC_UPLOAD_TYPES.includes(rec.type)) return new AppError('validation_error', `${field}: upload "${music.upload}" is a ${rec.type.toUpperCase()} photo, not music`, { field });
  return null;
}

/**
 * Copies the tenant's upload into a local file for intake (streamed; capped at `maxBytes`
 * like a download). An upload that no longer exists is a `fetch_failed`.
 */
export async function copyUploadToFile(
  storage: ObjectStorage,
  tenant: string,
  id: string,
  dest: string,
  opts: { maxBytes: number; signal?: AbortSignal; onBytes?(received: number, total: number | null): void },
): Promise<number> {
  const gone = () => new AppError('fetch_failed', `upload "${id}" does not exist (any more)`);
  const rec = await getUpload(storage, tenant, id);
  if (!rec) throw gone();
  let source: Readable;
  try {
    source = await storage.read(uploadKey(tenant, id));
  } catch (err) {
    if (err instanceof AppError && err.code === 'not_found') throw gone();
    throw err;
  }
  let bytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      if (bytes > opts.maxBytes) return cb(new AppError('file_too_large', `the upload is larger than the ${opts.maxBytes}-byte limit`));
      opts.onBytes?.(bytes, rec.bytes);
      cb(null, chunk);
    },
  });
  try {
    await pipeline(source, counter, createWriteStream(dest), opts.signal ? { signal: opts.signal } : {});
  } catch (err) {
    await fs.rm(dest, { force: true }).catch(() => undefined);
    if (err instanceof AppError) throw err;
    if (opts.signal?.aborted) throw err;
    throw new AppError('internal_error', `could not read upload "${id}" from storage`, { retryable: true, cause: err });
  }
  return bytes;
}
