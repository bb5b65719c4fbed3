import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { ObjectUrls } from '../ports.js';
import { assertObjectKey, encodeKeyPath, normalizePrefix } from './keys.js';

/** SigV4 presigned URLs are refused by S3 beyond 7 days. */
export const MAX_PRESIGN_SECONDS = 604_800;
const HOUR = 3600;

/**
 * Download URLs for S3 objects: presigned GETs, or plain `${publicBaseUrl}/${key}` when
 * the bucket is fronted by a public origin (CloudFront, an R2 custom domain); the
 * public form includes the key prefix, so the base URL must map to the bucket root.
 *
 * Presigned URLs are signed as of the start of the current hour (the expiry stretched by
 * the same amount), so a job polled repeatedly gets the same URL within an hour and
 * browsers / CDNs can cache it; FsSignedUrls rounds the same way. Pure signing, no
 * filesystem: runs on Workers too.
 */
export class S3ObjectUrls implements ObjectUrls {
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #expiresSeconds: number;
  readonly #publicBaseUrl: string | undefined;
  readonly #now: () => number;

  constructor(o: { client: S3Client; bucket: string; prefix?: string; expiresSeconds: number; publicBaseUrl?: string; now?: () => number }) {
    if (!Number.isFinite(o.expiresSeconds) || o.expiresSeconds < 1) throw new Error(`expiresSeconds must be at least 1 (got ${o.expiresSeconds})`);
    this.#client = o.client;
    this.#bucket = o.bucket;
    this.#prefix = normalizePrefix(o.prefix);
    this.#expiresSeconds = Math.min(Math.floor(o.expiresSeconds), MAX_PRESIGN_SECONDS);
    this.#publicBaseUrl = o.publicBaseUrl ? o.publicBaseUrl.replace(/\/+$/, '') : undefined;
    this.#now = o.now ?? Date.now;
  }

  async urlFor(key: string): Promise<string> {
    assertObjectKey(key);
    const fullKey = this.#prefix + key;
    if (this.#publicBaseUrl !== undefined) return `${this.#publicBaseUrl}/${encodeKeyPath(fullKey)}`;
    const nowSec = Math.floor(this.#now() / 1000);
    const signedAt = Math.floor(nowSec / HOUR) * HOUR;
    // Never past S3's limit: near the cap the URL may then live up to an hour less than asked.
    const expiresIn = Math.min(this.#expiresSeconds + (nowSec - signedAt), MAX_PRESIGN_SECONDS);
    return getSignedUrl(this.#client, new GetObjectCommand({ Bucket: this.#bucket, Key: fullKey }), {
      expiresIn,
      signingDate: new Date(signedAt * 1000),
    });
  }
}
