import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { failure } from '../helpers/assertions.js';
import { AppError } from '../../src/core/errors.js';
import { intakeImages, type IntakeOptions } from '../../src/pipeline/intake/index.js';
import { fetchImageToFile } from '../../src/pipeline/intake/fetch-image.js';
import { heicDecodingAvailable, inspectImage, readHeifDimensions } from '../../src/pipeline/intake/inspect-image.js';
import type { NetPolicy } from '../../src/pipeline/net/safe-http.js';
import { pngBomb } from '../helpers/intake-fixtures.js';

const MB = 1024 * 1024;
const MAX_BYTES = 1 * MB;
const MAX_PIXELS = 50_000_000;

// A 40x24 HEIC (HEVC, grid of one 64x64 tile), made with libheif's heif-enc.
const HEIC_B64 =
  'AAAAHGZ0eXBoZWljAAAAAG1pZjFoZWljbWlhZgAAAa1tZXRhAAAAAAAAACFoZGxyAAAAAAAAAABwaWN0AAAAAAAAAAAAAAAAAAAAAA5waXRtAAAAAAACAAAAEGlkYXQAAAAAACgAGAAAADhpbG9jAQAAAERAAAIAAQAAAAAAAAHRAAEAAAAAAAAAKgACAAEAAAAAAAAAAQAAAAAAAAAIAAAAOGlpbmYAAAAAAAIAAAAVaW5mZQIAAAEAAQAAaHZjMQAAAAAVaW5mZQIAAAAAAgAAZ3JpZAAAAADYaXBycAAAALZpcGNvAAAAdmh2Y0MBA3AAAAAAAAAAAAAe8AD8/fj4AAAPAyAAAQAYQAEMAf//A3AAAAMAkAAAAwAAAwAeugJAIQABACpCAQEDcAAAAwCQAAADAAADAB6gIIEFluqumubgQEDAgAAAAwCAAAADAIQiAAEABkQBwXPBiQAAABRpc3BlAAAAAAAAAEAAAABAAAAAFGlzcGUAAAAAAAAAKAAAABgAAAAQcGl4aQAAAAADCAgIAAAAGmlwbWEAAAAAAAAAAgABAoECAAICA4QAAAAaaXJlZgAAAAAAAAAOZGltZwACAAEAAQAAADJtZGF0AAAAJigBrxkhXkJA712lv/93zP6G1/h9bfKZKKaXBNeImQsDgYCNkZ04';

// ---------------------------------------------------------------------------------------------
// Fixtures, made at run time

/** A PNG whose IHDR (with a valid CRC) declares width x height; no pixel data is ever allocated. */
const pngHeader = pngBomb;

let files: Record<string, Buffer>;

async function makeFixtures(): Promise<Record<string, Buffer>> {
  const noisy = (w: number, h: number) => {
    const raw = Buffer.alloc(w * h * 3);
    for (let i = 0; i < raw.length; i++) raw[i] = (i * 7919) % 251;
    return sharp(raw, { raw: { width: w, height: h, channels: 3 } });
  };
  const jpeg = await noisy(320, 200).jpeg({ quality: 90 }).toBuffer();
  const png = await sharp({ create: { width: 100, height: 80, channels: 4, background: { r: 0, g: 128, b: 255, alpha: 0.5 } } }).png().toBuffer();
  const orient6 = await noisy(300, 200).jpeg().withMetadata({ orientation: 6 }).toBuffer();
  const heic = Buffer.from(HEIC_B64, 'base64');
  // The same HEIC with every `ispe` (image size) box claiming 100000x100000.
  const hugeHeic = Buffer.from(heic);
  for (let i = hugeHeic.indexOf('ispe'); i !== -1; i = hugeHeic.indexOf('ispe', i + 4)) {
    hugeHeic.writeUInt32BE(100_000, i + 8);
    hugeHeic.writeUInt32BE(100_000, i + 12);
  }
  const big = await noisy(1600, 1200).jpeg({ quality: 95 }).toBuffer(); // > 1 MB
  expect(big.length).toBeGreaterThan(MAX_BYTES);
  return {
    'good.jpg': jpeg,
    'good.png': png,
    'orient6.jpg': orient6,
    'photo.heic': heic,
    'huge.heic': hugeHeic,
    'truncated.jpg': jpeg.subarray(0, Math.floor(jpeg.length * 0.6)),
    'huge.png': pngHeader(100_000, 100_000),
    'big.jpg': big,
    'page.html': Buffer.from('<!doctype html><html><head><title>Not an image</title></head><body><p>hello</p></body></html>\n'),
    'drawing.svg': Buffer.from('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>\n'),
  };
}

// ---------------------------------------------------------------------------------------------
// Servers on 127.0.0.1

let server: http.Server;
let port = 0;
let other: http.Server;
let otherPort = 0;
let raw: net.Server; // hand-written HTTP for framing tricks
let rawPort = 0;
const sockets = new Set<net.Socket>();
const base = () => `http://127.0.0.1:${port}`;

function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const p = new URL(req.url ?? '/', 'http://x').pathname;
  const name = p.slice(1);
  if (p === '/as-jpeg/page.html') {
    res.writeHead(200, { 'content-type': 'image/jpeg' }).end(files['page.html']);
  } else if (p === '/drawing.svg') {
    res.writeHead(200, { 'content-type': 'image/svg+xml' }).end(files['drawing.svg']);
  } else if (files[name]) {
    // Served under a misleading type on purpose: detection must use the bytes.
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': files[name]!.length }).end(files[name]);
  } else if (p === '/empty') {
    res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': 0 }).end();
  } else if (p === '/redirect') {
    res.writeHead(302, { location: '/good.jpg' }).end();
  } else if (p.startsWith('/chain/')) {
    const n = Number(p.slice('/chain/'.length));
    res.writeHead(302, { location: n === 0 ? '/good.jpg' : `/chain/${n - 1}` }).end();
  } else if (p === '/to-other') {
    res.writeHead(302, { location: `http://127.0.0.1:${otherPort}/good.jpg` }).end();
  } else if (p === '/chunked-big') {
    // No Content-Length: chunked, 1.5 MB in 64 KB chunks.
    res.writeHead(200, { 'content-type': 'image/jpeg' });
    const chunk = Buffer.alloc(64 * 1024, 0xab);
    let sent = 0;
    const pump = () => {
      while (sent < 1.5 * MB) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  } else if (p === '/declared-big') {
    // Declares more than the cap, then sends nothing: must fail at once, not at a timeout.
    res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': 5 * MB });
    res.flushHeaders();
  } else if (p === '/slow') {
    res.writeHead(200, { 'content-type': 'image/jpeg' });
    res.write(files['good.jpg']!.subarray(0, 100));
  } else {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('nope');
  }
}

function rawHandler(socket: net.Socket): void {
  socket.once('data', (d: Buffer) => {
    const p = /^GET (\S+)/.exec(d.toString('latin1'))?.[1];
    const lieHead = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: 1000\r\n\r\n');
    const big = files['big.jpg']!;
    if (p === '/lie') {
      // Content-Length says 1000 bytes; over 2 MB of a real JPEG follow at once.
      socket.end(Buffer.concat([lieHead, big, big]));
    } else if (p === '/lie-late') {
      // The same lie, the excess sent a moment after the declared 1000 bytes.
      socket.write(Buffer.concat([lieHead, big.subarray(0, 1000)]));
      setTimeout(() => socket.writable && socket.end(Buffer.concat([big.subarray(1000), big])), 100);
    } else if (p === '/close-delimited') {
      // Neither Content-Length nor chunked: the body runs until the connection closes.
      socket.end(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nConnection: close\r\n\r\n'), files['big.jpg']!]));
    } else {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
    }
  });
}

async function listen(s: net.Server): Promise<number> {
  s.on('connection', (c: net.Socket) => {
    c.on('error', () => undefined); // clients hang up on purpose in these tests
    sockets.add(c);
    c.on('close', () => sockets.delete(c));
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return (s.address() as AddressInfo).port;
}

let tmp: string;
let workDir: string;

beforeAll(async () => {
  files = await makeFixtures();
  server = http.createServer(handler);
  port = await listen(server);
  other = http.createServer(handler);
  otherPort = await listen(other);
  raw = net.createServer(rawHandler);
  rawPort = await listen(raw);
  tmp = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'photoreel-intake-'));
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all([server, other, raw].filter(Boolean).map((s) => new Promise((r) => s.close(r))));
  await fs.promises.rm(tmp, { recursive: true, force: true });
});

let n = 0;
beforeEach(async () => {
  workDir = path.join(tmp, `work-${++n}`);
  await fs.promises.mkdir(workDir, { recursive: true });
});

const policy = (over: Partial<NetPolicy> = {}): NetPolicy => ({
  allowHosts: [`127.0.0.1:${port}`, `127.0.0.1:${rawPort}`],
  connectTimeoutMs: 2000,
  idleTimeoutMs: 2000,
  totalTimeoutMs: 20_000,
  ...over,
});
const opts = (over: Partial<IntakeOptions> = {}): IntakeOptions => ({
  workDir,
  policy: policy(),
  maxBytes: MAX_BYTES,
  maxPixels: MAX_PIXELS,
  ...over,
});
const url = (p: string) => `${base()}${p}`;


async function intakeError(path_: string, over: Partial<IntakeOptions> = {}): Promise<AppError> {
  const err = await failure(intakeImages([{ url: url('/good.png') }, { url: path_.startsWith('/') ? url(path_) : path_ }], opts(over)));
  expect(err.message.startsWith('images[1]: ')).toBe(true);
  // Nothing is left behind: not the good image, not a partial download.
  expect(await fs.promises.readdir(workDir)).toEqual([]);
  return err;
}

// ---------------------------------------------------------------------------------------------

describe('intakeImages: good images', () => {
  it('fetches and inspects several images, in request order, with progress', async () => {
    const seen: number[] = [];
    const out = await intakeImages(
      [{ url: url('/good.jpg') }, { url: url('/good.png') }, { url: url('/redirect') }, { url: url('/orient6.jpg') }, { url: url('/chain/4') }],
      opts({ concurrency: 2, onProgress: (f) => seen.push(f) }),
    );
    expect(out.map((s) => [s.index, s.type, s.width, s.height])).toEqual([
      [0, 'jpeg', 320, 200],
      [1, 'png', 100, 80],
      [2, 'jpeg', 320, 200], // via a redirect
      [3, 'jpeg', 200, 300], // EXIF orientation 6: 300x200 stored, 200x300 shown
      [4, 'jpeg', 320, 200], // 5 redirects
    ]);
    for (const s of out) {
      expect(path.dirname(s.path)).toBe(workDir);
      expect(fs.statSync(s.path).size).toBeGreaterThan(0);
    }
    expect(path.basename(out[0]!.path)).toBe('intake-000.jpg');
    expect(path.basename(out[1]!.path)).toBe('intake-001.png');
    expect(fs.readFileSync(out[1]!.path).equals(files['good.png']!)).toBe(true);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.at(-1)).toBe(1);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThan(seen[i - 1]!);
  });

  it('returns [] for no images', async () => {
    expect(await intakeImages([], opts())).toEqual([]);
  });

  it.runIf(heicDecodingAvailable())('decodes HEIC off the main thread into a file sharp reads', async () => {
    const [img] = await intakeImages([{ url: url('/photo.heic') }], opts());
    expect(img).toMatchObject({ index: 0, type: 'heic', width: 40, height: 24 });
    expect(path.basename(img!.path)).toBe('intake-000.decoded.jpg');
    expect(fs.existsSync(path.join(workDir, 'intake-000.heic'))).toBe(true);
    const meta = await sharp(img!.path).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 40, 24]);
    const { data } = await sharp(img!.path).raw().toBuffer({ resolveWithObject: true });
    // heif-enc was fed a solid rgb(200, 30, 60).
    expect(Math.abs(data[0]! - 200)).toBeLessThan(12);
    expect(Math.abs(data[1]! - 30)).toBeLessThan(12);
    expect(Math.abs(data[2]! - 60)).toBeLessThan(12);
  });
});

describe('intakeImages: refused and broken images', () => {
  it('404 -> fetch_failed naming the status', async () => {
    const err = await intakeError('/missing.jpg');
    expect(err.code).toBe('fetch_failed');
    expect(err.message).toMatch(/^images\[1\]: the server answered HTTP 404/);
    expect(err.retryable).toBe(false);
  });

  it('6 redirects -> fetch_failed too many redirects', async () => {
    const err = await intakeError('/chain/5'); // 6 hops: /chain/5 .. /chain/0 -> /good.jpg
    expect(err.code).toBe('fetch_failed');
    expect(err.message).toMatch(/too many redirects/);
  });

  it('redirect from the allow-listed host to another loopback port -> url_not_allowed', async () => {
    const err = await intakeError('/to-other');
    expect(err.code).toBe('url_not_allowed');
    expect(err.message).toMatch(/^images\[1\]: URL not allowed: host 127\.0\.0\.1 is a private address/);
  });

  it.each([
    ['decimal', () => `http://2130706433:${port}/good.jpg`],
    ['octal', () => `http://0177.0.0.1:${port}/good.jpg`],
    ['IPv6 loopback', () => `http://[::1]:${port}/good.jpg`],
    ['IPv4-mapped', () => `http://[::ffff:127.0.0.1]:${port}/good.jpg`],
    ['metadata', () => 'http://169.254.169.254/latest/meta-data/'],
    ['unspecified', () => `http://0.0.0.0:${port}/good.jpg`],
  ])('%s spelling of a private address -> url_not_allowed', async (_name, u) => {
    const err = await intakeError(u());
    expect(err.code).toBe('url_not_allowed');
    expect(err.message).toMatch(/private address/);
  });

  it.each([
    ['file:///etc/passwd', 'file'],
    ['ftp://127.0.0.1/a.jpg', 'ftp'],
    ['data:image/png;base64,iVBORw0KGgo=', 'data'],
  ])('%s -> url_not_allowed naming the scheme', async (u, scheme) => {
    const err = await intakeError(u);
    expect(err.code).toBe('url_not_allowed');
    expect(err.message).toContain(`scheme "${scheme}"`);
  });

  it('chunked body over the cap -> file_too_large', async () => {
    const err = await intakeError('/chunked-big');
    expect(err.code).toBe('file_too_large');
    expect(err.message).toMatch(/larger than the 1048576-byte limit/);
  });

  it('Content-Length over the cap -> file_too_large at once', async () => {
    const started = Date.now();
    const err = await intakeError('/declared-big');
    expect(err.code).toBe('file_too_large');
    expect(err.message).toMatch(/Content-Length: 5242880/);
    expect(Date.now() - started).toBeLessThan(1500); // well before the 2 s idle timeout
  });

  it('close-delimited body (no Content-Length) over the cap -> file_too_large', async () => {
    const err = await intakeError(`http://127.0.0.1:${rawPort}/close-delimited`);
    expect(err.code).toBe('file_too_large');
  });

  it('Content-Length lie, excess in the same packets -> fetch_failed (invalid HTTP response)', async () => {
    const err = await intakeError(`http://127.0.0.1:${rawPort}/lie`);
    expect(err.code).toBe('fetch_failed');
    expect(err.message).toMatch(/invalid HTTP response/);
  });

  it('Content-Length lie, excess sent later -> only the declared 1000 bytes are read (a truncated JPEG)', async () => {
    const err = await intakeError(`http://127.0.0.1:${rawPort}/lie-late`);
    expect(err.code).toBe('image_corrupt');
    const dest = path.join(workDir, 'lie.bin');
    const got = await fetchImageToFile(`http://127.0.0.1:${rawPort}/lie-late`, dest, { policy: policy(), maxBytes: MAX_BYTES });
    expect(got.bytes).toBe(1000);
    expect(fs.statSync(dest).size).toBe(1000);
  });

  it('slow drip -> fetch_timeout, partial file removed', async () => {
    const err = await intakeError('/slow', { policy: policy({ idleTimeoutMs: 300 }) });
    expect(err.code).toBe('fetch_timeout');
    expect(err.message).toMatch(/no data .* for 300 ms/);
  });

  it('zero bytes -> image_corrupt', async () => {
    const err = await intakeError('/empty');
    expect(err.code).toBe('image_corrupt');
    expect(err.message).toMatch(/empty/);
  });

  it('HTML served as image/jpeg -> unsupported_type listing accepted types', async () => {
    const err = await intakeError('/as-jpeg/page.html');
    expect(err.code).toBe('unsupported_type');
    expect(err.message).toMatch(/^images\[1\]: unsupported image type: .*accepted types are JPG, PNG, WEBP, HEIC, GIF, AVIF, TIFF$/);
  });

  it('SVG -> unsupported_type', async () => {
    const err = await intakeError('/drawing.svg');
    expect(err.code).toBe('unsupported_type');
    expect(err.message).toContain('JPG, PNG, WEBP, HEIC');
  });

  it('truncated JPEG -> image_corrupt', async () => {
    const err = await intakeError('/truncated.jpg');
    expect(err.code).toBe('image_corrupt');
    expect(err.message).toMatch(/JPEG image could not be decoded/);
  });

  it('PNG header declaring 100000x100000 -> image_too_many_pixels, without decoding', async () => {
    const before = process.memoryUsage().rss;
    const err = await intakeError('/huge.png');
    expect(err.code).toBe('image_too_many_pixels');
    expect(err.message).toBe('images[1]: the image is 100000x100000 (10000000000 pixels), more than the limit of 50000000 pixels');
    expect(process.memoryUsage().rss - before).toBeLessThan(500 * MB);
  });

  it('HEIC declaring 100000x100000 -> image_too_many_pixels', async () => {
    const err = await intakeError('/huge.heic');
    expect(err.code).toBe('image_too_many_pixels');
    expect(err.message).toMatch(/100000x100000/);
  });

  it('keeps the code and names the failing image among several', async () => {
    const err = await failure(
      intakeImages(
        [{ url: url('/good.jpg') }, { url: url('/good.png') }, { url: url('/good.jpg') }, { url: url('/truncated.jpg') }, { url: url('/good.png') }],
        opts({ concurrency: 2 }),
      ),
    );
    expect(err.code).toBe('image_corrupt');
    expect(err.message).toMatch(/^images\[3\]: /);
    expect(err.field).toBe('images[3].url');
    expect(await fs.promises.readdir(workDir)).toEqual([]);
  });
});

describe('intakeImages: cancel', () => {
  it('abort stops downloads, removes files and rejects with an AbortError', async () => {
    const ac = new AbortController();
    const p = intakeImages([{ url: url('/good.jpg') }, { url: url('/slow') }, { url: url('/slow') }], opts({ signal: ac.signal }));
    setTimeout(() => ac.abort(), 200);
    const started = Date.now();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    expect(Date.now() - started).toBeLessThan(1500); // not the 2 s idle timeout
    expect(await fs.promises.readdir(workDir)).toEqual([]);
  });

  it('an already-aborted signal does nothing', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(intakeImages([{ url: url('/good.jpg') }], opts({ signal: ac.signal }))).rejects.toMatchObject({ name: 'AbortError' });
    expect(await fs.promises.readdir(workDir)).toEqual([]);
  });
});

describe('fetchImageToFile', () => {
  it('streams to the file, reporting bytes and the Content-Type', async () => {
    const dest = path.join(workDir, 'a.jpg');
    const counts: number[] = [];
    const got = await fetchImageToFile(url('/good.jpg'), dest, { policy: policy(), maxBytes: MAX_BYTES, onBytes: (b) => counts.push(b) });
    expect(got).toEqual({ bytes: files['good.jpg']!.length, contentType: 'application/octet-stream' });
    expect(fs.readFileSync(dest).equals(files['good.jpg']!)).toBe(true);
    expect(counts.at(-1)).toBe(files['good.jpg']!.length);
  });

  it('accepts exactly maxBytes and refuses one byte more, deleting the partial file', async () => {
    const size = files['good.jpg']!.length;
    const ok = path.join(workDir, 'ok.jpg');
    expect((await fetchImageToFile(url('/good.jpg'), ok, { policy: policy(), maxBytes: size })).bytes).toBe(size);
    const dest = path.join(workDir, 'chunked.bin');
    const err = await failure(fetchImageToFile(url('/chunked-big'), dest, { policy: policy(), maxBytes: 100_000 }));
    expect(err.code).toBe('file_too_large');
    expect(fs.existsSync(dest)).toBe(false);
  });
});

describe('inspectImage', () => {
  const write = (name: string, data: Buffer) => {
    const p = path.join(workDir, name);
    fs.writeFileSync(p, data);
    return p;
  };

  it('detects by content whatever the file is called', async () => {
    const p = write('photo.gif', files['good.png']!);
    expect(await inspectImage(p, { maxPixels: MAX_PIXELS })).toEqual({ type: 'png', width: 100, height: 80, path: p });
  });

  it('accepts webp, gif, avif and tiff', async () => {
    const img = () => sharp({ create: { width: 30, height: 20, channels: 3, background: '#808080' } });
    for (const [type, buf] of [
      ['webp', await img().webp().toBuffer()],
      ['gif', await img().gif().toBuffer()],
      ['avif', await img().avif().toBuffer()],
      ['tiff', await img().tiff().toBuffer()],
    ] as const) {
      const p = write(`x.${type}`, buf);
      expect(await inspectImage(p, { maxPixels: MAX_PIXELS })).toEqual({ type, width: 30, height: 20, path: p });
    }
  });

  it('refuses a recognised non-image type by name', async () => {
    const p = write('doc.jpg', Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(200, 0x20)]));
    const err = await failure(inspectImage(p, { maxPixels: MAX_PIXELS }));
    expect(err.code).toBe('unsupported_type');
    expect(err.message).toMatch(/unsupported image type: PDF/);
  });

  it('checks pixels against the limit before decoding (exact boundary)', async () => {
    const p = write('g.png', files['good.png']!);
    await expect(inspectImage(p, { maxPixels: 8000 })).resolves.toMatchObject({ width: 100, height: 80 });
    const err = await failure(inspectImage(p, { maxPixels: 7999 }));
    expect(err.code).toBe('image_too_many_pixels');
  });

  it('reads the primary image size from a HEIC meta box (not the tile size)', async () => {
    const p = write('x.heic', files['photo.heic']!);
    expect(await readHeifDimensions(p)).toEqual({ width: 40, height: 24, rotated: false });
    const q = write('y.heic', files['huge.heic']!);
    expect(await readHeifDimensions(q)).toEqual({ width: 100_000, height: 100_000, rotated: false });
    expect(await readHeifDimensions(write('z.jpg', files['good.jpg']!))).toBeNull();
  });

  it('refuses a damaged HEIC as image_corrupt', async () => {
    const heic = Buffer.from(files['photo.heic']!);
    const mdat = heic.indexOf('mdat');
    heic.fill(0, mdat + 4); // wipe the coded picture
    const p = write('bad.heic', heic);
    const err = await failure(inspectImage(p, { maxPixels: MAX_PIXELS }));
    expect(err.code).toBe('image_corrupt');
    expect(err.message).toMatch(/HEIC/);
  });
});
