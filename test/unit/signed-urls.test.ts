import { describe, expect, it } from 'vitest';
import { FsSignedUrls } from '../../src/adapters/fs/signed-urls.js';
import { parseRange } from '../../src/handlers/files.js';

describe('signed download URLs', () => {
  let now = Date.UTC(2026, 0, 1, 0, 10);
  const urls = new FsSignedUrls('http://127.0.0.1:8080', Buffer.alloc(32, 7), 3600, () => now);

  async function parts(key: string) {
    const u = new URL(await urls.urlFor(key));
    return { path: u.pathname, expires: u.searchParams.get('expires')!, sig: u.searchParams.get('sig')! };
  }

  it('verifies its own URLs and refuses them for another key', async () => {
    const p = await parts('videos/default/job_a.mp4');
    expect(p.path).toBe('/files/videos/default/job_a.mp4');
    expect(urls.verify('videos/default/job_a.mp4', p.expires, p.sig)).toBe('ok');
    expect(urls.verify('videos/other/job_a.mp4', p.expires, p.sig)).toBe('bad_signature');
    expect(urls.verify('videos/default/job_a.mp4', String(Number(p.expires) + 3600), p.sig)).toBe('bad_signature');
    expect(urls.verify('videos/default/job_a.mp4', p.expires, undefined)).toBe('bad_signature');
  });

  it('expires after the TTL (rounded up to the hour) and is stable within the hour', async () => {
    const a = await parts('k');
    now += 60_000;
    expect((await parts('k')).sig).toBe(a.sig);
    now += 3 * 3600_000;
    expect(urls.verify('k', a.expires, a.sig)).toBe('expired');
  });
});

describe('Range parsing', () => {
  it.each([
    [undefined, 1000, undefined],
    ['bytes=0-99', 1000, { start: 0, end: 99 }],
    ['bytes=900-', 1000, { start: 900, end: 999 }],
    ['bytes=-100', 1000, { start: 900, end: 999 }],
    ['bytes=990-2000', 1000, { start: 990, end: 999 }],
    ['bytes=1000-', 1000, 'invalid'],
    ['bytes=5-2', 1000, 'invalid'],
    ['bytes=-0', 1000, 'invalid'],
    ['bytes=0-1,5-6', 1000, undefined],
    ['items=0-1', 1000, undefined],
  ] as const)('%s of %i bytes', (header, size, want) => {
    expect(parseRange(header, size)).toEqual(want);
  });
});
