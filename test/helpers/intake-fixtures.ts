import { spawn } from 'node:child_process';
import zlib from 'node:zlib';
import sharp from 'sharp';

/**
 * Image fixtures for the intake tests and bench, made at run time (no committed binaries):
 * hand-made PNGs (16-bit with alpha, decompression-bomb headers), JPEGs carrying every EXIF
 * orientation, CMYK JPEGs, animated WEBP/GIF, and HEIC files (HEVC via ffmpeg's libx265, put
 * into a HEIF container written here, optionally as a grid of tiles and with an `irot`).
 */

export type Rgb = [number, number, number];

/** The four quadrants of the orientation pattern, as displayed: top-left, top-right, bottom-left, bottom-right. */
export const QUADRANTS: Record<'tl' | 'tr' | 'bl' | 'br', Rgb> = {
  tl: [220, 30, 30], // red
  tr: [30, 200, 60], // green
  bl: [30, 60, 220], // blue
  br: [235, 235, 235], // near white
};

/** Packed RGB of the pattern as it must be displayed: four solid quadrants. */
export function quadrantPixels(width: number, height: number): Buffer {
  const buf = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const q = y < height / 2 ? (x < width / 2 ? QUADRANTS.tl : QUADRANTS.tr) : x < width / 2 ? QUADRANTS.bl : QUADRANTS.br;
      const i = (y * width + x) * 3;
      buf[i] = q[0];
      buf[i + 1] = q[1];
      buf[i + 2] = q[2];
    }
  }
  return buf;
}

/**
 * Stored pixels for EXIF orientation `o` such that a viewer applying the tag shows `display`
 * (EXIF 2.32, tag 0x0112). Written out by hand, not with sharp, so the test does not check
 * sharp against itself. Returns the stored buffer and its size.
 */
export function storeForOrientation(display: Buffer, w: number, h: number, o: number): { data: Buffer; width: number; height: number } {
  const swap = o >= 5;
  const sw = swap ? h : w;
  const sh = swap ? w : h;
  const data = Buffer.alloc(display.length);
  // For each stored pixel (sx, sy), where it lands when displayed.
  for (let sy = 0; sy < sh; sy++) {
    for (let sx = 0; sx < sw; sx++) {
      let dx: number;
      let dy: number;
      switch (o) {
        case 1: [dx, dy] = [sx, sy]; break; // as stored
        case 2: [dx, dy] = [w - 1 - sx, sy]; break; // mirrored left-right
        case 3: [dx, dy] = [w - 1 - sx, h - 1 - sy]; break; // rotated 180
        case 4: [dx, dy] = [sx, h - 1 - sy]; break; // mirrored top-bottom
        case 5: [dx, dy] = [sy, sx]; break; // transposed
        case 6: [dx, dy] = [w - 1 - sy, sx]; break; // display = stored rotated 90 clockwise
        case 7: [dx, dy] = [w - 1 - sy, h - 1 - sx]; break; // transverse
        case 8: [dx, dy] = [sy, h - 1 - sx]; break; // display = stored rotated 90 counter-clockwise
        default: throw new Error(`orientation ${o}`);
      }
      display.copy(data, (sy * sw + sx) * 3, (dy * w + dx) * 3, (dy * w + dx) * 3 + 3);
    }
  }
  return { data, width: sw, height: sh };
}

/** A JPEG whose EXIF orientation `o` makes it display as the quadrant pattern at w x h. */
export async function orientedJpeg(o: number, w = 320, h = 180): Promise<Buffer> {
  const s = storeForOrientation(quadrantPixels(w, h), w, h, o);
  return sharp(s.data, { raw: { width: s.width, height: s.height, channels: 3 } }).jpeg({ quality: 95 }).withMetadata({ orientation: o }).toBuffer();
}

/** A CMYK JPEG of a solid sRGB colour (optionally with sharp's built-in CMYK ICC profile embedded). */
export async function cmykJpeg(colour: Rgb, opts: { icc?: boolean; width?: number; height?: number } = {}): Promise<Buffer> {
  let img = sharp({ create: { width: opts.width ?? 320, height: opts.height ?? 180, channels: 3, background: { r: colour[0], g: colour[1], b: colour[2] } } }).toColourspace('cmyk');
  if (opts.icc) img = img.withIccProfile('cmyk');
  return img.jpeg({ quality: 95 }).toBuffer();
}

/** Animated WEBP or GIF, one solid colour per frame. */
export async function animated(format: 'webp' | 'gif', colours: Rgb[], w = 320, h = 180): Promise<Buffer> {
  const frames = await Promise.all(colours.map((c) => sharp({ create: { width: w, height: h, channels: 3, background: { r: c[0], g: c[1], b: c[2] } } }).png().toBuffer()));
  const img = sharp(frames, { join: { animated: true } });
  const delay = colours.map(() => 100);
  return format === 'webp' ? img.webp({ loop: 0, delay, quality: 95 }).toBuffer() : img.gif({ loop: 0, delay }).toBuffer();
}

// ---------------------------------------------------------------------------------------------
// PNG by hand

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

export function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

const PNG_SIGNATURE = Buffer.from('89504e470d0a1a0a', 'hex');

/** A PNG whose IHDR (valid CRC) declares width x height, with a token IDAT: no pixels are ever allocated. */
export function pngBomb(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([PNG_SIGNATURE, pngChunk('IHDR', ihdr), pngChunk('IDAT', zlib.deflateSync(Buffer.alloc(64))), pngChunk('IEND', Buffer.alloc(0))]);
}

/** A 16-bit RGBA PNG; `pixel(x, y)` gives [r, g, b, a] in 0..65535. */
export function png16(width: number, height: number, pixel: (x: number, y: number) => [number, number, number, number]): Buffer {
  const row = 1 + width * 8;
  const raw = Buffer.alloc(row * height);
  for (let y = 0; y < height; y++) {
    raw[y * row] = 0; // filter: none
    for (let x = 0; x < width; x++) {
      const p = pixel(x, y);
      for (let c = 0; c < 4; c++) raw.writeUInt16BE(p[c]!, y * row + 1 + x * 8 + c * 2);
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 16; // bit depth
  ihdr[9] = 6; // RGBA
  return Buffer.concat([PNG_SIGNATURE, pngChunk('IHDR', ihdr), pngChunk('IDAT', zlib.deflateSync(raw)), pngChunk('IEND', Buffer.alloc(0))]);
}

/**
 * The 16-bit alpha test image: an opaque orange centre (the middle half in each direction)
 * in a fully transparent frame whose hidden colour is magenta, so a renderer that drops the
 * alpha instead of compositing shows magenta, and one that mis-scales 16-bit alpha shows a
 * dark or tinted fringe.
 */
export const PNG16_CENTRE: Rgb = [255, 140, 0];
export function png16Alpha(width = 320, height = 180): Buffer {
  const s = (v: number) => v * 257;
  return png16(width, height, (x, y) => {
    const inside = x >= width / 4 && x < (3 * width) / 4 && y >= height / 4 && y < (3 * height) / 4;
    return inside ? [s(PNG16_CENTRE[0]), s(PNG16_CENTRE[1]), s(PNG16_CENTRE[2]), 65535] : [65535, 0, 65535, 0];
  });
}

// ---------------------------------------------------------------------------------------------
// Other file types given as images

export const PDF_BYTES = Buffer.from(
  '%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n',
);

/** The start of an MP4 (ftyp + an empty mdat): what file-type reads to call it video/mp4. */
export function mp4Bytes(): Buffer {
  const ftyp = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypisom'), Buffer.from([0, 0, 2, 0]), Buffer.from('isomiso2')]);
  const mdat = Buffer.concat([Buffer.from([0, 0, 0, 8]), Buffer.from('mdat')]);
  return Buffer.concat([ftyp, mdat]);
}

// A 40x24 HEIC (HEVC, grid of one 64x64 tile) made with libheif's heif-enc (for machines without libx265).
const TINY_HEIC_B64 =
  'AAAAHGZ0eXBoZWljAAAAAG1pZjFoZWljbWlhZgAAAa1tZXRhAAAAAAAAACFoZGxyAAAAAAAAAABwaWN0AAAAAAAAAAAAAAAAAAAAAA5waXRtAAAAAAACAAAAEGlkYXQAAAAAACgAGAAAADhpbG9jAQAAAERAAAIAAQAAAAAAAAHRAAEAAAAAAAAAKgACAAEAAAAAAAAAAQAAAAAAAAAIAAAAOGlpbmYAAAAAAAIAAAAVaW5mZQIAAAEAAQAAaHZjMQAAAAAVaW5mZQIAAAAAAgAAZ3JpZAAAAADYaXBycAAAALZpcGNvAAAAdmh2Y0MBA3AAAAAAAAAAAAAe8AD8/fj4AAAPAyAAAQAYQAEMAf//A3AAAAMAkAAAAwAAAwAeugJAIQABACpCAQEDcAAAAwCQAAADAAADAB6gIIEFluqumubgQEDAgAAAAwCAAAADAIQiAAEABkQBwXPBiQAAABRpc3BlAAAAAAAAAEAAAABAAAAAFGlzcGUAAAAAAAAAKAAAABgAAAAQcGl4aQAAAAADCAgIAAAAGmlwbWEAAAAAAAAAAgABAoECAAICA4QAAAAaaXJlZgAAAAAAAAAOZGltZwACAAEAAQAAADJtZGF0AAAAJigBrxkhXkJA712lv/93zP6G1/h9bfKZKKaXBNeImQsDgYCNkZ04';
export const tinyHeic = () => Buffer.from(TINY_HEIC_B64, 'base64');

/** A copy of a HEIF file with every `ispe` (image size) box claiming width x height. */
export function heicClaiming(heif: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(heif);
  for (let i = out.indexOf('ispe'); i !== -1; i = out.indexOf('ispe', i + 4)) {
    out.writeUInt32BE(width, i + 8);
    out.writeUInt32BE(height, i + 12);
  }
  return out;
}

export const SVG_BYTES = Buffer.from('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="320" height="180"><rect width="320" height="180" fill="red"/></svg>\n');

// ---------------------------------------------------------------------------------------------
// HEIC: HEVC tiles from ffmpeg (libx265), in a HEIF container written here

function box(type: string, ...payload: Buffer[]): Buffer {
  const body = Buffer.concat(payload);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(8 + body.length);
  head.write(type, 4, 'latin1');
  return Buffer.concat([head, body]);
}
function fullBox(type: string, version: number, flags: number, ...payload: Buffer[]): Buffer {
  const vf = Buffer.alloc(4);
  vf.writeUInt32BE(((version & 0xff) << 24) | (flags & 0xffffff));
  return box(type, vf, ...payload);
}
const u8 = (...v: number[]) => Buffer.from(v);
function u16(...v: number[]): Buffer {
  const b = Buffer.alloc(2 * v.length);
  v.forEach((x, i) => b.writeUInt16BE(x, 2 * i));
  return b;
}
function u32(...v: number[]): Buffer {
  const b = Buffer.alloc(4 * v.length);
  v.forEach((x, i) => b.writeUInt32BE(x, 4 * i));
  return b;
}

/** Splits an Annex B stream into NAL units (start codes removed). */
function splitAnnexB(stream: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = -1;
  for (let i = 0; i + 2 < stream.length; i++) {
    if (stream[i] === 0 && stream[i + 1] === 0 && stream[i + 2] === 1) {
      if (start >= 0) out.push(trimZeros(stream.subarray(start, i)));
      start = i + 3;
      i += 2;
    }
  }
  if (start >= 0) out.push(trimZeros(stream.subarray(start)));
  return out.filter((n) => n.length > 0);
}
function trimZeros(b: Buffer): Buffer {
  let e = b.length;
  while (e > 0 && b[e - 1] === 0) e--;
  return b.subarray(0, e);
}
const nalType = (n: Buffer) => (n[0]! >> 1) & 0x3f;

/** Removes emulation-prevention bytes (00 00 03 -> 00 00). */
function rbsp(nal: Buffer): Buffer {
  const out: number[] = [];
  for (let i = 0; i < nal.length; i++) {
    if (i >= 2 && nal[i] === 3 && nal[i - 1] === 0 && nal[i - 2] === 0) continue;
    out.push(nal[i]!);
  }
  return Buffer.from(out);
}

function hvcC(vps: Buffer, sps: Buffer, pps: Buffer): Buffer {
  // profile_tier_level's general part: the 12 bytes after the SPS's first payload byte.
  const ptl = rbsp(sps).subarray(3, 15);
  const arrays = [vps, sps, pps].map((n) => Buffer.concat([u8(0x80 | nalType(n)), u16(1, n.length), n]));
  return box(
    'hvcC',
    u8(1),
    ptl,
    u16(0xf000), // min_spatial_segmentation_idc 0
    u8(0xfc), // parallelismType 0
    u8(0xfc | 1), // chroma 4:2:0
    u8(0xf8), // luma 8 bit
    u8(0xf8), // chroma 8 bit
    u16(0), // avgFrameRate
    u8((1 << 3) | (1 << 2) | 3), // 1 temporal layer, nested, 4-byte NAL lengths
    u8(arrays.length),
    ...arrays,
  );
}

function runFfmpeg(args: string[], input: Buffer, ffmpegPath: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const p = spawn(ffmpegPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`ffmpeg exited ${code}: ${err.slice(-500)}`))));
    p.stdin.on('error', () => undefined);
    p.stdin.end(input);
  });
}

/** True when ffmpeg can encode HEVC here (what makeHeic needs). */
export async function canMakeHeic(ffmpegPath = 'ffmpeg'): Promise<boolean> {
  try {
    const out = await runFfmpeg(['-hide_banner', '-encoders'], Buffer.alloc(0), ffmpegPath);
    return /libx265/.test(out.toString());
  } catch {
    return false;
  }
}

export interface HeicOptions {
  /** Packed RGB, width x height (the stored orientation, before irot). */
  rgb: Buffer;
  width: number;
  height: number;
  /** Tile size; the image becomes a `grid` of tiles when it is larger (iPhones use 512). */
  tile?: number;
  /** `irot`: display = stored rotated this many quarter turns counter-clockwise. */
  irot?: 0 | 1 | 2 | 3;
  /** An ICC profile for the pixels (a `colr` box of type `prof`, as iPhones write Display P3). */
  icc?: Buffer;
  /** x265 quality (CRF); default 24. */
  crf?: number;
  ffmpegPath?: string;
}

/**
 * Encodes RGB pixels as a HEIC (HEVC Main, 4:2:0, BT.601 limited range declared in `colr`),
 * one tile per HEVC picture, as iPhones do for large photos.
 */
export async function makeHeic(o: HeicOptions): Promise<Buffer> {
  const tile = o.tile ?? 512;
  const single = o.width <= tile && o.height <= tile;
  const tw = single ? o.width : tile;
  const th = single ? o.height : tile;
  const cols = Math.ceil(o.width / tw);
  const rows = Math.ceil(o.height / th);
  const padW = cols * tw;
  const padH = rows * th;
  // Pad to whole tiles (the grid's output size crops the padding off again).
  let rgb = o.rgb;
  if (padW !== o.width || padH !== o.height) {
    rgb = await sharp(o.rgb, { raw: { width: o.width, height: o.height, channels: 3 } })
      .extend({ right: padW - o.width, bottom: padH - o.height, extendWith: 'copy' })
      .raw()
      .toBuffer();
  }
  const stream = await runFfmpeg(
    [
      '-hide_banner', '-loglevel', 'error',
      '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${padW}x${padH}`, '-i', 'pipe:0',
      '-vf', `${single ? '' : `untile=${cols}x${rows},`}scale=out_color_matrix=bt601:out_range=tv,format=yuv420p`,
      '-c:v', 'libx265', '-preset', 'ultrafast', '-crf', String(o.crf ?? 24),
      '-x265-params', 'keyint=1:min-keyint=1:bframes=0:repeat-headers=0:info=0:log-level=error',
      '-f', 'hevc', 'pipe:1',
    ],
    rgb,
    o.ffmpegPath ?? 'ffmpeg',
  );
  const nals = splitAnnexB(stream);
  const vps = nals.find((n) => nalType(n) === 32);
  const sps = nals.find((n) => nalType(n) === 33);
  const pps = nals.find((n) => nalType(n) === 34);
  if (!vps || !sps || !pps) throw new Error('no VPS/SPS/PPS in the HEVC stream');
  // One VCL NAL (type < 32) per picture: x265 writes one slice per frame.
  const pictures = nals.filter((n) => nalType(n) < 32).map((n) => Buffer.concat([u32(n.length), n]));
  if (pictures.length !== cols * rows) throw new Error(`expected ${cols * rows} pictures, got ${pictures.length}`);

  const colr = box('colr', Buffer.from('nclx'), u16(1, 13, 6), u8(0)); // BT.709 primaries, sRGB transfer, BT.601 matrix, limited range
  const tileIds = pictures.map((_, i) => i + 1);
  const gridId = single ? 1 : pictures.length + 1;
  const props: Buffer[] = [hvcC(vps, sps, pps), fullBox('ispe', 0, 0, u32(tw, th)), colr];
  const GRID_ISPE = props.push(fullBox('ispe', 0, 0, u32(o.width, o.height)));
  let IROT = 0;
  if (o.irot) IROT = props.push(box('irot', u8(o.irot)));
  const PROF = o.icc ? props.push(box('colr', Buffer.from('prof'), o.icc)) : 0;

  const gridData = single
    ? Buffer.alloc(0)
    : Buffer.concat([u8(0, 1, rows - 1, cols - 1), u32(o.width, o.height)]); // flags bit 0: 32-bit sizes
  const datas = single ? [pictures[0]!] : [...pictures, gridData];
  const ids = single ? [1] : [...tileIds, gridId];

  const infe = (id: number, type: string, hidden: boolean) => fullBox('infe', 2, hidden ? 1 : 0, u16(id, 0), Buffer.from(type), u8(0));
  const iinf = fullBox('iinf', 0, 0, u16(ids.length), ...(single ? [infe(1, 'hvc1', false)] : [...tileIds.map((id) => infe(id, 'hvc1', true)), infe(gridId, 'grid', false)]));
  const iref = single ? Buffer.alloc(0) : fullBox('iref', 0, 0, box('dimg', u16(gridId, tileIds.length, ...tileIds)));
  // ipma (version 0, 1-byte entries): hvcC (essential) + tile ispe + colr for every coded picture.
  const assoc = (id: number, list: number[]) => Buffer.concat([u16(id), u8(list.length, ...list)]);
  const coded = [0x80 | 1, 2, 3];
  const primaryProps = single ? [...coded] : [GRID_ISPE, 3];
  if (PROF) primaryProps.push(PROF);
  if (IROT) primaryProps.push(0x80 | IROT);
  const entries = single ? [assoc(1, primaryProps)] : [...tileIds.map((id) => assoc(id, coded)), assoc(gridId, primaryProps)];
  const ipma = fullBox('ipma', 0, 0, u32(entries.length), ...entries);
  const iprp = box('iprp', box('ipco', ...props), ipma);

  const ftyp = box('ftyp', Buffer.from('heic'), u32(0), Buffer.from('mif1heic'));
  const buildMeta = (mdatStart: number) => {
    let off = mdatStart + 8;
    const locs = ids.map((id, i) => {
      const len = datas[i]!.length;
      const entry = Buffer.concat([u16(id, 0, 1), u32(off, len)]);
      off += len;
      return entry;
    });
    const iloc = fullBox('iloc', 0, 0, u8(0x44, 0x00), u16(ids.length), ...locs);
    const hdlr = fullBox('hdlr', 0, 0, u32(0), Buffer.from('pict'), u32(0, 0, 0), u8(0));
    return fullBox('meta', 0, 0, hdlr, fullBox('pitm', 0, 0, u16(gridId)), iloc, iinf, ...(single ? [] : [iref]), iprp);
  };
  const metaSize = buildMeta(0).length;
  const meta = buildMeta(ftyp.length + metaSize);
  return Buffer.concat([ftyp, meta, box('mdat', ...datas)]);
}
