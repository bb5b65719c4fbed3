import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Readable } from 'node:stream';
import { AppError } from '../../core/errors.js';
import type { ObjectInfo, ObjectStorage } from '../ports.js';
import { isInvalidRange, isNotFound } from './client.js';
import { assertObjectKey, normalizePrefix } from './keys.js';

/** Big enough that a typical MP4 needs few parts, small enough that 2 in flight stay cheap in memory. */
const PART_SIZE = 8 * 1024 * 1024;
const QUEUE_SIZE = 2;

/**
 * Objects in an S3 bucket, optionally below a key prefix. No sweepIncomplete: a PutObject
 * or a completed multipart upload appears atomically, and lib-storage aborts the
 * multipart upload when a part fails (a bucket lifecycle rule for incomplete multipart
 * uploads covers processes that die mid-upload).
 *
 * This module is also loaded by the API on Cloudflare Workers, which has no filesystem:
 * node:fs is imported only inside putFile (which only the consumer calls), and the
 * top level sticks to the SDK and node:stream (both available with nodejs_compat).
 */
export class S3Storage implements ObjectStorage {
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;

  constructor(o: { client: S3Client; bucket: string; prefix?: string }) {
    this.#client = o.client;
    this.#bucket = o.bucket;
    this.#prefix = normalizePrefix(o.prefix);
  }

  #key(key: string): string {
    assertObjectKey(key);
    return this.#prefix + key;
  }

  async putFile(key: string, filePath: string, contentType: string): Promise<ObjectInfo> {
    const fullKey = this.#key(key);
    const fs = await import('node:fs');
    const { size } = await fs.promises.stat(filePath);
    const body = fs.createReadStream(filePath);
    try {
      const upload = new Upload({
        client: this.#client,
        params: { Bucket: this.#bucket, Key: fullKey, Body: body, ContentType: contentType },
        partSize: PART_SIZE,
        queueSize: QUEUE_SIZE,
        leavePartsOnError: false,
      });
      await upload.done();
    } finally {
      body.destroy();
    }
    return { bytes: size, contentType };
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const out = await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#key(key) }));
      return { bytes: out.ContentLength ?? 0, contentType: out.ContentType || 'application/octet-stream' };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /**
   * The object's bytes, or an inclusive byte range (`end` past the end is clamped, as
   * S3 does). Throws AppError not_found / range_not_satisfiable like FsStorage, since
   * callers (uploads, downloads) branch on those codes.
   */
  async read(key: string, range?: { start: number; end: number }): Promise<Readable> {
    const fullKey = this.#key(key);
    if (range) {
      const { start, end } = range;
      if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start) {
        throw new AppError('range_not_satisfiable', `range ${start}-${end} is not satisfiable`);
      }
    }
    let body: unknown;
    try {
      const out = await this.#client.send(
        new GetObjectCommand({ Bucket: this.#bucket, Key: fullKey, ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }),
      );
      body = out.Body;
    } catch (err) {
      if (isNotFound(err)) throw new AppError('not_found', `no object ${key}`);
      if (isInvalidRange(err)) throw new AppError('range_not_satisfiable', `range ${range?.start}-${range?.end} is not satisfiable for ${key}`);
      throw err;
    }
    if (body instanceof Readable) return body;
    // Workers (and other fetch-based runtimes) hand back a web stream.
    if (body && typeof (body as ReadableStream).getReader === 'function') {
      return Readable.fromWeb(body as Parameters<typeof Readable.fromWeb>[0]);
    }
    if (body === undefined) return Readable.from([]);
    throw new Error(`unexpected S3 body type for ${key}`);
  }

  /** S3 deletes are idempotent already: a missing key is a success. */
  async delete(key: string): Promise<void> {
    await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#key(key) }));
  }

  /** Keys starting with `prefix` (a plain string prefix, not only a folder), sorted. */
  async list(prefix: string): Promise<string[]> {
    if (prefix !== '') assertObjectKey(prefix, true);
    const out: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.#client.send(
        new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: this.#prefix + prefix, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) if (o.Key) out.push(o.Key.slice(this.#prefix.length));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  }
}
