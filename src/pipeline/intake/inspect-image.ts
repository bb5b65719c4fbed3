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
 * HEIC (HEVC-coded HEIF), which our sharp build cannot decode, is decoded by libheif compiled
 * to WebAssembly (libheif-js, shipped with heic-decode) in a worker thread, one at a time, and
 * written out as an sRGB JPEG (PNG with alpha) that sharp reads; the result's `path` then
 * points at that file. Its pixel count is checked from the `ispe` box before decoding.
 * Other formats need no normalising: the local engine's sharp pipeline applies EXIF
 * orientation, converts CMYK and ICC-tagged images to sRGB, composites alpha (8 or 16 bit)
 * onto the plan's background and reads only the first frame of animated WEBP/GIF
 * (test/integration/intake-formats.test.ts checks each on rendered frames).
 */

export interface InspectOptions {
  maxPixels: number;
  signal?: AbortSignal;
  /**
   * Where a decoded copy (HEIC) goes: this path plus `.decoded.jpg` / `.decoded.png`.
   * Default: beside the input. (The CLI points it into its scratch folder, so a user's photo
   * folder never gets files written into it.)
   */
  decodedBase?: string;
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
    const out = await withHeicSlot(() => decodeHeic(path, opts.decodedBase ?? path, signal), signal);
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

/** libheif compiled to WebAssembly, as shipped by heic-decode (its dependency libheif-js). */
function libheifPath(): string | null {
  try {
    return createRequire(localRequire.resolve('heic-decode')).resolve('libheif-js/wasm-bundle');
  } catch {
    return null;
  }
}

/**
 * Plain JS (the worker does not go through our TypeScript loader). Decodes the primary image
 * with libheif (transformations such as irot/imir applied, the colour matrix and range from
 * nclx/VUI honoured) to interleaved 8-bit RGB(A), and writes it straight from the WebAssembly
 * heap into an uncompressed TIFF, strip by strip, with the file's ICC profile embedded (iPhone
 * photos are Display P3). No second full-size copy of the pixels is ever made: a 48 MP photo
 * costs the decoder's heap (~350 MB) and nothing more.
 */
const HEIC_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');

function readIcc(lib, handle) {
  // Raw C API on the handle's pointer (embind keeps it in $$.ptr); any surprise means "no profile".
  try {
    const ptr = handle.$$ && handle.$$.ptr;
    if (!ptr || !lib._heif_image_handle_get_raw_color_profile_size) return null;
    const size = lib._heif_image_handle_get_raw_color_profile_size(ptr);
    if (!size || size > 4 * 1024 * 1024) return null;
    const out = lib._malloc(size);
    const err = lib._malloc(16);
    try {
      lib._heif_image_handle_get_raw_color_profile(err, ptr, out);
      if (lib.HEAPU32[err >> 2] !== 0) return null;
      return Buffer.from(lib.HEAPU8.subarray(out, out + size));
    } finally {
      lib._free(out);
      lib._free(err);
    }
  } catch (e) {
    return null;
  }
}

function writeTiff(file, ch, spp, icc) {
  const { width, height, stride, data } = ch;
  const rowBytes = width * spp;
  const rps = Math.max(1, Math.floor((1 << 20) / rowBytes));
  const strips = Math.ceil(height / rps);
  const tags = [
    [256, 4, 1, width], [257, 4, 1, height], [258, 3, spp, null], [259, 3, 1, 1], [262, 3, 1, 2],
    [273, 4, strips, null], [277, 3, 1, spp], [278, 4, 1, rps], [279, 4, strips, null], [284, 3, 1, 1],
  ];
  if (spp === 4) tags.push([338, 3, 1, 2]);
  if (icc) tags.push([34675, 7, icc.length, null]);
  const ifdSize = 2 + tags.length * 12 + 4;
  let extra = 8 + ifdSize;
  const bpsAt = extra; extra += spp * 2;
  const offsAt = extra; extra += strips * 4;
  const countsAt = extra; extra += strips * 4;
  const iccAt = extra; if (icc) extra += icc.length + (icc.length & 1);
  const pixelsAt = extra;
  const head = Buffer.alloc(pixelsAt);
  head.write('II', 0, 'latin1'); head.writeUInt16LE(42, 2); head.writeUInt32LE(8, 4);
  head.writeUInt16LE(tags.length, 8);
  tags.forEach(([tag, type, count, value], i) => {
    const o = 10 + i * 12;
    head.writeUInt16LE(tag, o); head.writeUInt16LE(type, o + 2); head.writeUInt32LE(count, o + 4);
    // Values that fit in 4 bytes sit in the entry itself (a single strip's offset and size too).
    if (tag === 258) head.writeUInt32LE(bpsAt, o + 8);
    else if (tag === 273) head.writeUInt32LE(strips === 1 ? pixelsAt : offsAt, o + 8);
    else if (tag === 279) head.writeUInt32LE(strips === 1 ? height * rowBytes : countsAt, o + 8);
    else if (tag === 34675) head.writeUInt32LE(iccAt, o + 8);
    else if (type === 3) head.writeUInt16LE(value, o + 8);
    else head.writeUInt32LE(value, o + 8);
  });
  for (let c = 0; c < spp; c++) head.writeUInt16LE(8, bpsAt + c * 2);
  for (let k = 0; k < strips; k++) {
    const rows = Math.min(rps, height - k * rps);
    head.writeUInt32LE(pixelsAt + k * rps * rowBytes, offsAt + k * 4);
    head.writeUInt32LE(rows * rowBytes, countsAt + k * 4);
  }
  if (icc) icc.copy(head, iccAt);
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, head);
    const buf = Buffer.alloc(rps * rowBytes);
    for (let y = 0; y < height; y += rps) {
      const rows = Math.min(rps, height - y);
      if (stride === rowBytes) {
        fs.writeSync(fd, data.subarray(y * stride, (y + rows) * stride));
      } else {
        for (let r = 0; r < rows; r++) buf.set(data.subarray((y + r) * stride, (y + r) * stride + rowBytes), r * rowBytes);
        fs.writeSync(fd, buf, 0, rows * rowBytes);
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

(async () => {
  const lib = require(workerData.libheifPath);
  if (lib.ready) await lib.ready;
  const ctx = lib.heif_context_alloc();
  try {
    const err = lib.heif_context_read_from_memory(ctx, fs.readFileSync(workerData.file));
    if (!err || (err.code && err.code !== lib.heif_error_code.heif_error_Ok)) throw new Error('unreadable HEIF: ' + (err && err.message));
    const handle = lib.heif_js_context_get_primary_image_handle(ctx);
    if (!handle || handle.code) throw new Error('no primary image: ' + (handle && handle.message));
    const alpha = !!lib.heif_image_handle_has_alpha_channel(handle);
    const icc = readIcc(lib, handle);
    const img = await lib.heif_js_decode_image2(handle, lib.heif_colorspace.heif_colorspace_RGB,
      alpha ? lib.heif_chroma.heif_chroma_interleaved_RGBA : lib.heif_chroma.heif_chroma_interleaved_RGB);
    if (!img || img.code || !img.channels) throw new Error('decoding failed: ' + (img && img.message));
    const ch = img.channels.find((c) => c.id == lib.heif_channel.heif_channel_interleaved);
    if (!ch) throw new Error('no interleaved channel');
    writeTiff(workerData.out, ch, alpha ? 4 : 3, icc);
    parentPort.postMessage({ ok: true, width: ch.width, height: ch.height, alpha, icc: !!icc });
  } finally {
    lib.heif_context_free(ctx);
  }
})().catch((err) => parentPort.postMessage({ ok: false, error: String((err && err.message) || err) }));
`;

type WorkerReply = { ok: true; width: number; height: number; alpha: boolean; icc: boolean } | { ok: false; error: string };

/**
 * HEIC decodes run one at a time per process: even written straight to disk, a 48 MP photo
 * needs ~350 MB of decoder heap in its worker, so three at once, as intake's download
 * concurrency would allow, could use over a gigabyte. Downloads and other formats still go
 * ahead in parallel.
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
  return libheifPath() !== null;
}

/**
 * Decodes a HEIC in a worker into a TIFF beside it, then (here, with libvips streaming strip
 * by strip) into a JPEG q95 4:4:4 in sRGB (a PNG when it has alpha) that engines read.
 */
async function decodeHeic(path: string, base: string, signal?: AbortSignal): Promise<{ width: number; height: number; path: string }> {
  const lib = libheifPath();
  if (!lib) throw unsupported('HEIC', ' (HEIC decoding is not available on this server)');
  const tiff = `${base}.decoded.tif`;
  const cleanup = () => fs.promises.rm(tiff, { force: true }).catch(() => undefined);

  const reply = await new Promise<WorkerReply>((resolve, reject) => {
    // stdout/stderr piped and dropped: the decoder prints to the console, which is our log stream.
    const worker = new Worker(HEIC_WORKER, { eval: true, workerData: { libheifPath: lib, file: path, out: tiff }, stdout: true, stderr: true });
    worker.stdout.resume();
    worker.stderr.resume();
    let done = false;
    const finish = (fn: () => void, waitForExit = false) => {
      if (done) return;
      done = true;
      signal?.removeEventListener('abort', onAbort);
      // After a result, wait until the worker is gone: its decoder heap is freed with it.
      const exited = worker.terminate().catch(() => undefined);
      if (waitForExit) void exited.then(fn);
      else fn();
    };
    const onAbort = () => finish(() => reject(signal!.reason instanceof Error ? signal!.reason : new DOMException('aborted', 'AbortError')));
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.once('message', (m: WorkerReply) => finish(() => resolve(m), true));
    worker.once('error', (err) => finish(() => resolve({ ok: false, error: err.message })));
    worker.once('exit', (code) => finish(() => resolve({ ok: false, error: `decoder exited (${code})` })));
  }).catch(async (err) => {
    await cleanup();
    throw err;
  });
  if (!reply.ok) {
    await cleanup();
    throw new AppError('image_corrupt', 'the HEIC image could not be decoded (damaged or unsupported coding)', { cause: new Error(reply.error) });
  }

  const out = reply.alpha ? `${base}.decoded.png` : `${base}.decoded.jpg`;
  try {
    signal?.throwIfAborted();
    // Converted to sRGB through the embedded profile (sharp's default), metadata dropped.
    const img = sharp(tiff, { limitInputPixels: false, sequentialRead: true });
    if (reply.alpha) await img.png({ compressionLevel: 3 }).toFile(out);
    // optimiseCoding off: Huffman optimisation buffers every DCT coefficient of the image (~300 MB at 48 MP).
    else await img.jpeg({ quality: 95, chromaSubsampling: '4:4:4', optimiseCoding: false }).toFile(out);
  } catch (err) {
    await fs.promises.rm(out, { force: true }).catch(() => undefined);
    throw err;
  } finally {
    await cleanup();
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
