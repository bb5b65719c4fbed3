import fs from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { fileTypeFromFile } from 'file-type';
import sharp, { type Metadata } from 'sharp';
import { AppError } from '../../core/errors.js';

/**
 * Content-based checks on a downloaded image, cheapest first:
 *  1. sniff the type from the bytes (never the extension or Content-Type);
 *  2. read the dimensions from the header and refuse oversized images before any decoding;
 *  3. prove the image decodes (a tiny thumbnail; truncated data fails).
 * HEIC (HEVC-coded HEIF), which our sharp build cannot decode, is decoded by heic-decode
 * (libheif compiled to WebAssembly) in a worker thread and written out as a JPEG/PNG that
 * sharp reads; the result's `path` then points at that file.
 */

export interface InspectOptions {
  maxPixels: number;
  signal?: AbortSignal;
}

export interface InspectResult {
  /** Detected by content: jpeg | png | webp | gif | avif | tiff | heic. */
  type: string;
  /** Pixel size after EXIF orientation. */
  width: number;
  height: number;
  /** A file sharp can read: the input itself, or for HEIC the decoded copy beside it. */
  path: string;
}

/** file-type's `ext` -> our type name. */
const ACCEPTED: Record<string, string> = {
  jpg: 'jpeg',
  png: 'png',
  apng: 'png', // animated PNG: a PNG whose first frame every PNG reader shows
  webp: 'webp',
  gif: 'gif',
  avif: 'avif',
  tif: 'tiff',
  heic: 'heic',
};
export const ACCEPTED_TYPES_TEXT = 'JPG, PNG, WEBP, HEIC, GIF, AVIF, TIFF';

const THUMB_PX = 64;

function unsupported(what: string, extra = ''): AppError {
  return new AppError('unsupported_type', `unsupported image type: ${what}${extra}; accepted types are ${ACCEPTED_TYPES_TEXT}`);
}

export async function inspectImage(path: string, opts: InspectOptions): Promise<InspectResult> {
  const { maxPixels, signal } = opts;
  const stat = await fs.promises.stat(path);
  if (stat.size === 0) throw new AppError('image_corrupt', 'the image is empty (0 bytes)');

  const ft = await fileTypeFromFile(path);
  if (!ft) throw unsupported('the content is not a recognised image format');
  let type = ACCEPTED[ft.ext];
  if (!type) throw unsupported(`${ft.ext.toUpperCase()} (${ft.mime})`);
  signal?.throwIfAborted();

  // Header only: sharp's metadata() does not decode pixels.
  let meta: Metadata | null = null;
  try {
    meta = await sharp(path, { limitInputPixels: false }).metadata();
  } catch (err) {
    if (type !== 'heic') throw new AppError('image_corrupt', `the ${type.toUpperCase()} header could not be read`, { cause: err });
  }
  // Some HEIF files are AV1-coded under a generic brand: sharp decodes those itself.
  if (type === 'heic' && meta?.compression === 'av1') type = 'avif';

  let width: number;
  let height: number;
  let rotated: boolean;
  if (meta?.width && meta.height) {
    width = meta.width;
    height = meta.height;
    rotated = (meta.orientation ?? 1) >= 5;
  } else if (type === 'heic') {
    const dims = await readHeifDimensions(path);
    if (!dims) throw new AppError('image_corrupt', 'the HEIC header could not be read (no image size found)');
    ({ width, height, rotated } = dims);
  } else {
    throw new AppError('image_corrupt', `the ${type.toUpperCase()} header has no dimensions`);
  }
  if (width * height > maxPixels) {
    throw new AppError(
      'image_too_many_pixels',
      `the image is ${width}x${height} (${width * height} pixels), more than the limit of ${maxPixels} pixels`,
    );
  }
  if (rotated) [width, height] = [height, width];
  signal?.throwIfAborted();

  if (type === 'heic') {
    const out = await withHeicSlot(() => decodeHeic(path, signal), signal);
    return { type, width: out.width, height: out.height, path: out.path };
  }

  try {
    await sharp(path, { failOn: 'error', limitInputPixels: maxPixels, sequentialRead: true })
      .resize(THUMB_PX, THUMB_PX, { fit: 'inside' })
      .raw()
      .toBuffer();
  } catch (err) {
    throw new AppError('image_corrupt', `the ${type.toUpperCase()} image could not be decoded (damaged or truncated)`, { cause: err });
  }
  return { type, width, height, path };
}

// ---------------------------------------------------------------------------------------------
// HEIC decoding in a worker thread

const localRequire = createRequire(import.meta.url);

function heicDecodePath(): string | null {
  try {
    return localRequire.resolve('heic-decode');
  } catch {
    return null;
  }
}

/** Plain JS (the worker does not go through our TypeScript loader). */
const HEIC_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
(async () => {
  const decode = require(workerData.modulePath);
  const buffer = fs.readFileSync(workerData.file);
  const { width, height, data } = await decode({ buffer });
  let opaque = true;
  for (let i = 3; i < data.length; i += 4) if (data[i] !== 255) { opaque = false; break; }
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  parentPort.postMessage({ ok: true, width, height, opaque, bytes }, [data.buffer]);
})().catch((err) => parentPort.postMessage({ ok: false, error: String((err && err.message) || err) }));
`;

type WorkerReply =
  | { ok: true; width: number; height: number; opaque: boolean; bytes: Uint8Array }
  | { ok: false; error: string };

/**
 * HEIC decodes run one at a time per process: a 48 MP photo needs ~450 MB in its worker
 * (the WebAssembly heap holds the decoded planes and an RGBA copy, and the RGBA result is
 * handed over), so three at once, as intake's download concurrency would allow, could use
 * well over a gigabyte. Downloads and other formats still go ahead in parallel.
 */
const HEIC_DECODES_AT_ONCE = 1;
let heicRunning = 0;
const heicQueue: (() => void)[] = [];

async function withHeicSlot<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  if (heicRunning >= HEIC_DECODES_AT_ONCE) {
    await new Promise<void>((resolve, reject) => {
      const go = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        const i = heicQueue.indexOf(go);
        if (i !== -1) heicQueue.splice(i, 1);
        reject(signal!.reason instanceof Error ? signal!.reason : new DOMException('aborted', 'AbortError'));
      };
      heicQueue.push(go);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
  heicRunning++;
  try {
    signal?.throwIfAborted();
    return await fn();
  } finally {
    heicRunning--;
    heicQueue.shift()?.();
  }
}

/** True when HEIC (HEVC) photos can be decoded here. */
export function heicDecodingAvailable(): boolean {
  return heicDecodePath() !== null;
}

async function decodeHeic(path: string, signal?: AbortSignal): Promise<{ width: number; height: number; path: string }> {
  const modulePath = heicDecodePath();
  if (!modulePath) throw unsupported('HEIC', ' (HEIC decoding is not available on this server)');

  const reply = await new Promise<WorkerReply>((resolve, reject) => {
    // stdout/stderr piped and dropped: the decoder prints to the console, which is our log stream.
    const worker = new Worker(HEIC_WORKER, { eval: true, workerData: { modulePath, file: path }, stdout: true, stderr: true });
    worker.stdout.resume();
    worker.stderr.resume();
    let done = false;
    const finish = (fn: () => void) => {
      if (done) return;
      done = true;
      signal?.removeEventListener('abort', onAbort);
      void worker.terminate();
      fn();
    };
    const onAbort = () => finish(() => reject(signal!.reason instanceof Error ? signal!.reason : new DOMException('aborted', 'AbortError')));
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.once('message', (m: WorkerReply) => finish(() => resolve(m)));
    worker.once('error', (err) => finish(() => resolve({ ok: false, error: err.message })));
    worker.once('exit', (code) => finish(() => resolve({ ok: false, error: `decoder exited (${code})` })));
  });
  if (!reply.ok) throw new AppError('image_corrupt', 'the HEIC image could not be decoded (damaged or unsupported coding)', { cause: new Error(reply.error) });

  const raw = Buffer.from(reply.bytes.buffer, reply.bytes.byteOffset, reply.bytes.byteLength);
  const img = sharp(raw, { raw: { width: reply.width, height: reply.height, channels: 4 } });
  const out = reply.opaque ? `${path}.decoded.jpg` : `${path}.decoded.png`;
  try {
    if (reply.opaque) await img.removeAlpha().jpeg({ quality: 95, chromaSubsampling: '4:4:4' }).toFile(out);
    else await img.png({ compressionLevel: 3 }).toFile(out);
  } catch (err) {
    await fs.promises.rm(out, { force: true }).catch(() => undefined);
    throw err;
  }
  return { width: reply.width, height: reply.height, path: out };
}

// ---------------------------------------------------------------------------------------------
// Minimal ISOBMFF reader: the primary item's `ispe` (size) and `irot` (rotation) from `meta`.

interface Box {
  type: string;
  /** Offset of the payload within the buffer, and its end. */
  start: number;
  end: number;
}

function* boxes(buf: Buffer, start: number, end: number): Generator<Box> {
  let p = start;
  while (p + 8 <= end) {
    let size = buf.readUInt32BE(p);
    const type = buf.toString('latin1', p + 4, p + 8);
    let header = 8;
    if (size === 1) {
      if (p + 16 > end) return;
      size = Number(buf.readBigUInt64BE(p + 8));
      header = 16;
    } else if (size === 0) {
      size = end - p;
    }
    if (size < header || p + size > end) return;
    yield { type, start: p + header, end: p + size };
    p += size;
  }
}

const child = (buf: Buffer, parent: Box, type: string, skip = 0) => {
  for (const b of boxes(buf, parent.start + skip, parent.end)) if (b.type === type) return b;
  return undefined;
};

const MAX_META_BYTES = 16 * 1024 * 1024;

/** Reads the primary image's size from a HEIF file's `meta` box (null if not found). Exported for tests. */
export async function readHeifDimensions(path: string): Promise<{ width: number; height: number; rotated: boolean } | null> {
  const fh = await fs.promises.open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const head = Buffer.alloc(16);
    let pos = 0;
    while (pos + 8 <= size) {
      await fh.read(head, 0, 16, pos);
      let boxSize = head.readUInt32BE(0);
      const type = head.toString('latin1', 4, 8);
      if (boxSize === 1) boxSize = Number(head.readBigUInt64BE(8));
      else if (boxSize === 0) boxSize = size - pos;
      if (boxSize < 8) return null;
      if (type === 'meta') {
        if (boxSize > MAX_META_BYTES) return null;
        const buf = Buffer.alloc(boxSize);
        await fh.read(buf, 0, boxSize, pos);
        const [meta] = [...boxes(buf, 0, buf.length)];
        return meta ? parseMeta(buf, meta) : null;
      }
      pos += boxSize;
    }
    return null;
  } finally {
    await fh.close();
  }
}

function parseMeta(buf: Buffer, meta: Box): { width: number; height: number; rotated: boolean } | null {
  // `meta` is a FullBox: 4 bytes of version/flags before its children.
  const iprp = child(buf, meta, 'iprp', 4);
  const ipco = iprp && child(buf, iprp, 'ipco');
  if (!ipco) return null;
  const props = [...boxes(buf, ipco.start, ipco.end)];

  let primary: number | null = null;
  const pitm = child(buf, meta, 'pitm', 4);
  if (pitm && pitm.end - pitm.start >= 6) {
    primary = buf[pitm.start] === 0 ? buf.readUInt16BE(pitm.start + 4) : buf.readUInt32BE(pitm.start + 4);
  }

  // Property indexes (1-based into ipco) associated with the primary item.
  let assoc: number[] | null = null;
  const ipma = iprp && child(buf, iprp, 'ipma');
  if (ipma && primary !== null) {
    const version = buf[ipma.start]!;
    const flags = buf.readUIntBE(ipma.start + 1, 3);
    let p = ipma.start + 4;
    const count = buf.readUInt32BE(p);
    p += 4;
    for (let i = 0; i < count && p < ipma.end; i++) {
      const id = version < 1 ? buf.readUInt16BE(p) : buf.readUInt32BE(p);
      p += version < 1 ? 2 : 4;
      const n = buf[p]!;
      p += 1;
      const list: number[] = [];
      for (let j = 0; j < n; j++) {
        if (flags & 1) {
          list.push(buf.readUInt16BE(p) & 0x7fff);
          p += 2;
        } else {
          list.push(buf[p]! & 0x7f);
          p += 1;
        }
      }
      if (id === primary) assoc = list;
    }
  }

  const ispeOf = (b: Box) => (b.end - b.start >= 12 ? { width: buf.readUInt32BE(b.start + 4), height: buf.readUInt32BE(b.start + 8) } : null);
  if (assoc) {
    let dims: { width: number; height: number } | null = null;
    let rotated = false;
    for (const idx of assoc) {
      const b = props[idx - 1];
      if (b?.type === 'ispe') dims = ispeOf(b);
      if (b?.type === 'irot' && b.end > b.start) rotated = (buf[b.start]! & 3) % 2 === 1;
    }
    if (dims) return { ...dims, rotated };
  }
  // No usable association: the largest ispe bounds every image in the file.
  let best: { width: number; height: number } | null = null;
  for (const b of props) {
    const d = b.type === 'ispe' ? ispeOf(b) : null;
    if (d && (!best || d.width * d.height > best.width * best.height)) best = d;
  }
  return best ? { ...best, rotated: false } : null;
}
