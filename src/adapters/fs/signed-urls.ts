import { createHmac, timingSafeEqual } from 'node:crypto';
import type { ObjectUrls } from '../ports.js';

/**
 * Embedded mode's answer to S3 presigned URLs: `/files/<key>?expires=<unix>&sig=<hmac>`.
 * The signature is the capability (a browser or `curl` downloads without credentials)
 * and it covers the key and the expiry, so a URL for one tenant's video cannot be
 * turned into another's. Expiry is rounded up to the hour so a job's URL stays the
 * same across polls (and caches) for a while.
 */
export class FsSignedUrls implements ObjectUrls {
  constructor(
    private baseUrl: string,
    private readonly signingKey: Buffer,
    private readonly ttlSeconds: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The server's origin is only known once it listens (PORT=0 picks a free port). */
  setBaseUrl(url: string): void {
    this.baseUrl = url.replace(/\/+$/, '');
  }

  async urlFor(key: string): Promise<string> {
    const hour = 3600;
    const expires = Math.ceil((Math.floor(this.now() / 1000) + this.ttlSeconds) / hour) * hour;
    const path = key.split('/').map(encodeURIComponent).join('/');
    return `${this.baseUrl}/files/${path}?expires=${expires}&sig=${this.sign(key, expires)}`;
  }

  /** 'ok', or why the URL is refused. */
  verify(key: string, expires: string | undefined, sig: string | undefined): 'ok' | 'expired' | 'bad_signature' {
    const exp = Number(expires);
    if (!Number.isInteger(exp) || !sig) return 'bad_signature';
    const want = Buffer.from(this.sign(key, exp));
    const got = Buffer.from(sig);
    if (want.length !== got.length || !timingSafeEqual(want, got)) return 'bad_signature';
    if (exp * 1000 < this.now()) return 'expired';
    return 'ok';
  }

  private sign(key: string, expires: number): string {
    return createHmac('sha256', this.signingKey).update(`${key}\n${expires}`).digest('base64url');
  }
}
