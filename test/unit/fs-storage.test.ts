import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsStorage } from '../../src/adapters/fs/storage.js';
import { AppError } from '../../src/core/errors.js';

let dir: string;
let root: string;
let storage: FsStorage;

async function bytesOf(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function localFile(name: string, content: string | Buffer): string {
  const p = join(dir, 'src', name);
  mkdirSync(join(dir, 'src'), { recursive: true });
  writeFileSync(p, content);
  return p;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'photoreel-fs-'));
  root = join(dir, 'objects');
  storage = new FsStorage(root);
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('putFile / head / read', () => {
  it('stores a copy under the key, reports size and type, and reads it back whole', async () => {
    const src = localFile('v.mp4', 'hello video');
    const info = await storage.putFile('videos/default/job_x.mp4', src, 'video/mp4');
    expect(info).toEqual({ bytes: 11, contentType: 'video/mp4' });
    expect(readFileSync(join(root, 'videos/default/job_x.mp4'), 'utf8')).toBe('hello video');
    expect(readFileSync(src, 'utf8')).toBe('hello video'); // source left in place
    expect(await storage.head('videos/default/job_x.mp4')).toEqual({ bytes: 11, contentType: 'video/mp4' });
    expect((await bytesOf(await storage.read('videos/default/job_x.mp4'))).toString()).toBe('hello video');
  });

  it('reads inclusive byte ranges, clamping an end past the object', async () => {
    const src = localFile('d.bin', '0123456789');
    await storage.putFile('k/data.bin', src, 'application/octet-stream');
    expect((await bytesOf(await storage.read('k/data.bin', { start: 0, end: 0 }))).toString()).toBe('0');
    expect((await bytesOf(await storage.read('k/data.bin', { start: 2, end: 5 }))).toString()).toBe('2345');
    expect((await bytesOf(await storage.read('k/data.bin', { start: 7, end: 100 }))).toString()).toBe('789');
    expect((await bytesOf(await storage.read('k/data.bin', { start: 9, end: 9 }))).toString()).toBe('9');
  });

  it('refuses unsatisfiable ranges and missing objects with AppErrors', async () => {
    await storage.putFile('k/data.bin', localFile('d.bin', 'abc'), 'application/octet-stream');
    await expect(storage.read('k/data.bin', { start: 3, end: 5 })).rejects.toMatchObject({ code: 'range_not_satisfiable' });
    await expect(storage.read('k/data.bin', { start: 2, end: 1 })).rejects.toMatchObject({ code: 'range_not_satisfiable' });
    await expect(storage.read('k/data.bin', { start: -1, end: 1 })).rejects.toBeInstanceOf(AppError);
    await expect(storage.read('k/missing.bin')).rejects.toMatchObject({ code: 'not_found' });
    await expect(storage.read('k')).rejects.toMatchObject({ code: 'not_found' }); // a folder is not an object
    expect(await storage.head('k/missing.bin')).toBeUndefined();
    expect(await storage.head('k')).toBeUndefined();
  });

  it('prefers the stored content type, falling back to the extension', async () => {
    await storage.putFile('a/thing.mp4', localFile('t', 'x'), 'application/x-custom');
    expect((await storage.head('a/thing.mp4'))?.contentType).toBe('application/x-custom');
    // Files placed without a sidecar get their type from the extension.
    mkdirSync(join(root, 'raw'), { recursive: true });
    const cases: Record<string, string> = {
      'v.mp4': 'video/mp4',
      'p.jpg': 'image/jpeg',
      'p.JPEG': 'image/jpeg',
      'p.png': 'image/png',
      'p.webp': 'image/webp',
      'd.json': 'application/json',
      'x.bin': 'application/octet-stream',
    };
    for (const [name, type] of Object.entries(cases)) {
      writeFileSync(join(root, 'raw', name), 'abc');
      expect(await storage.head(`raw/${name}`)).toEqual({ bytes: 3, contentType: type });
    }
  });

  it('an empty object reads as empty', async () => {
    await storage.putFile('e/empty.json', localFile('e', ''), 'application/json');
    expect(await storage.head('e/empty.json')).toEqual({ bytes: 0, contentType: 'application/json' });
    expect((await bytesOf(await storage.read('e/empty.json'))).length).toBe(0);
  });
});

describe('keys', () => {
  const bad = ['../escape.mp4', 'videos/../../escape.mp4', 'a/..', '/etc/passwd', 'a\\b.mp4', '..\\x', 'a\0b', '', 'a//b', './a', 'a/./b', 'x/a..b', 'v.mp4.meta.json'];

  it.each(bad)('refuses %j on every operation', async (key) => {
    const src = localFile('ok', 'x');
    await expect(storage.putFile(key, src, 'text/plain')).rejects.toThrow(/invalid storage key/);
    await expect(storage.head(key)).rejects.toThrow(/invalid storage key/);
    await expect(storage.read(key)).rejects.toThrow(/invalid storage key/);
    await expect(storage.delete(key)).rejects.toThrow(/invalid storage key/);
    // Nothing was written outside (or inside) the root.
    expect(readdirSync(dir).sort()).toEqual(['src']);
  });

  it('refuses traversal in list prefixes', async () => {
    await expect(storage.list('../')).rejects.toThrow(/invalid storage key/);
    await expect(storage.list('/etc/')).rejects.toThrow(/invalid storage key/);
    await expect(storage.list('a/../../')).rejects.toThrow(/invalid storage key/);
  });
});

describe('atomic replace', () => {
  it('readers see the old or the new object whole; an open reader keeps the old bytes; no temp files remain', async () => {
    const oldBytes = Buffer.alloc(4 * 1024 * 1024, 'a');
    const newBytes = Buffer.alloc(3 * 1024 * 1024, 'b');
    await storage.putFile('videos/t/job.mp4', localFile('old', oldBytes), 'video/mp4');
    const reading = await storage.read('videos/t/job.mp4');
    await storage.putFile('videos/t/job.mp4', localFile('new', newBytes), 'video/quicktime');
    const seenByOldReader = await bytesOf(reading);
    expect(seenByOldReader.equals(oldBytes)).toBe(true);
    const fresh = await bytesOf(await storage.read('videos/t/job.mp4'));
    expect(fresh.equals(newBytes)).toBe(true);
    expect(await storage.head('videos/t/job.mp4')).toEqual({ bytes: newBytes.length, contentType: 'video/quicktime' });
    expect(readdirSync(join(root, 'videos/t')).sort()).toEqual(['job.mp4', 'job.mp4.meta.json']);
  });

  it('a failed put leaves the previous object and no temp files', async () => {
    await storage.putFile('a/b.png', localFile('one', 'first'), 'image/png');
    await expect(storage.putFile('a/b.png', join(dir, 'src', 'does-not-exist'), 'image/png')).rejects.toThrow();
    expect((await bytesOf(await storage.read('a/b.png'))).toString()).toBe('first');
    expect(readdirSync(join(root, 'a')).sort()).toEqual(['b.png', 'b.png.meta.json']);
  });

  it('concurrent puts of one key end with one complete version', async () => {
    const versions = Array.from({ length: 8 }, (_, i) => Buffer.alloc(256 * 1024, String(i)));
    await Promise.all(versions.map((v, i) => storage.putFile('c/x.bin', localFile(`v${i}`, v), 'application/octet-stream')));
    const final = await bytesOf(await storage.read('c/x.bin'));
    expect(versions.some((v) => v.equals(final))).toBe(true);
    expect(readdirSync(join(root, 'c')).sort()).toEqual(['x.bin', 'x.bin.meta.json']);
  });
});

describe('delete / list', () => {
  it('lists keys under a prefix (folder or partial name), sorted, without sidecars', async () => {
    const src = localFile('f', 'x');
    const keys = ['videos/default/job_2.mp4', 'videos/default/job_1.mp4', 'videos/acme/job_3.mp4', 'posters/default/job_1.jpg', 'videos/default/sub/deep.json'];
    for (const k of keys) await storage.putFile(k, src, 'application/octet-stream');
    expect(await storage.list('videos/default/')).toEqual(['videos/default/job_1.mp4', 'videos/default/job_2.mp4', 'videos/default/sub/deep.json']);
    expect(await storage.list('videos/')).toEqual(['videos/acme/job_3.mp4', 'videos/default/job_1.mp4', 'videos/default/job_2.mp4', 'videos/default/sub/deep.json']);
    expect(await storage.list('videos/default/job_')).toEqual(['videos/default/job_1.mp4', 'videos/default/job_2.mp4']);
    expect(await storage.list('vid')).toHaveLength(4);
    expect(await storage.list('')).toEqual([...keys].sort());
    expect(await storage.list('nothing/here/')).toEqual([]);
    expect(await storage.list('videos/default/job_1.mp4/')).toEqual([]);
  });

  it('delete removes the object and its metadata; deleting a missing key is fine', async () => {
    await storage.putFile('d/x.mp4', localFile('f', 'x'), 'video/mp4');
    await storage.delete('d/x.mp4');
    expect(await storage.head('d/x.mp4')).toBeUndefined();
    expect(await storage.list('d/')).toEqual([]);
    expect(readdirSync(join(root, 'd'))).toEqual([]);
    await storage.delete('d/x.mp4');
    await storage.delete('never/was.mp4');
  });

  it('an empty or missing root lists nothing', async () => {
    expect(await storage.list('')).toEqual([]);
    expect(await new FsStorage(join(dir, 'nope')).list('a/')).toEqual([]);
  });
});

describe('sweepIncomplete', () => {
  it('removes the temporary files of interrupted writes and nothing else', async () => {
    await storage.putFile('videos/t/a.mp4', localFile('a.mp4', 'AAAA'), 'video/mp4');
    // What a process killed between copy and rename leaves behind.
    writeFileSync(join(root, 'videos/t/b.mp4.tmp-0123456789ab'), 'partial');
    writeFileSync(join(root, 'videos/t/b.mp4.meta.json.tmp-ba9876543210'), '{}');
    expect(await storage.sweepIncomplete()).toBe(2);
    expect(readdirSync(join(root, 'videos/t')).sort()).toEqual(['a.mp4', 'a.mp4.meta.json']);
    expect(await storage.list('videos/')).toEqual(['videos/t/a.mp4']);
    expect(await new FsStorage(join(dir, 'nope')).sweepIncomplete()).toBe(0);
  });
});
