import { execFile } from 'node:child_process';
import sharp from 'sharp';

/**
 * Test fixtures made on the fly with sharp (no committed binaries), and helpers to look at
 * decoded video frames.
 */

export type Rgb = [number, number, number];

export interface PhotoOptions {
  width: number;
  height: number;
  /** The photo's dominant colour. */
  colour: Rgb;
  /** Output format; default from the file extension (jpeg/png/webp). */
  format?: 'jpeg' | 'png' | 'webp';
  /** PNG/WebP: make a transparent border this many px wide (alpha 0) around the photo. */
  transparentBorder?: number;
  /** EXIF orientation tag to write (JPEG), e.g. 6 = rotate 90 degrees clockwise to display. */
  orientation?: number;
  /** Varies the texture. */
  seed?: number;
  /** JPEG quality (default 90). */
  quality?: number;
}

export interface Photo {
  path: string;
  /** Stored pixel size (before EXIF orientation). */
  width: number;
  height: number;
}

/**
 * A detailed photo-like image: the dominant colour with fine noise (real work for encoders),
 * soft diagonal bands and a few shapes, so frames of different photos are easy to tell apart
 * by mean colour and motion is visible. Fast: noise is generated natively by libvips.
 */
export async function makePhoto(path: string, o: PhotoOptions): Promise<Photo> {
  const { width, height, colour } = o;
  const seed = o.seed ?? 1;
  const noise = await sharp({ create: { width, height, channels: 3, background: '#000000', noise: { type: 'gaussian', mean: 128, sigma: 40 } } })
    .raw()
    .toBuffer();
  const shapes = [];
  for (let i = 0; i < 6; i++) {
    const cx = ((seed * 97 + i * 211) % 100) / 100;
    const cy = ((seed * 53 + i * 137) % 100) / 100;
    const r = 0.04 + (((seed + i) * 37) % 10) / 100;
    const shade = i % 2 ? 255 : 0;
    shapes.push(`<circle cx="${(cx * width).toFixed(1)}" cy="${(cy * height).toFixed(1)}" r="${(r * Math.min(width, height)).toFixed(1)}" fill="rgb(${shade},${shade},${shade})" fill-opacity="0.18"/>`);
  }
  const bands = `<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">${[0, 0.25, 0.5, 0.75, 1]
    .map((s, i) => `<stop offset="${s}" stop-color="${i % 2 ? '#ffffff' : '#000000'}" stop-opacity="0.12"/>`)
    .join('')}</linearGradient></defs><rect width="${width}" height="${height}" fill="url(#g)"/>`;
  const svg = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${bands}${shapes.join('')}</svg>`);

  // The colour plus a quarter of the noise (noise is centred on 128: mean stays at the colour).
  // (Separate pipelines: sharp would otherwise composite before the linear step.)
  const base = await sharp(noise, { raw: { width, height, channels: 3 } })
    .linear([0.25, 0.25, 0.25], colour.map((c) => c - 32) as Rgb)
    .raw()
    .toBuffer();
  const composed = await sharp(base, { raw: { width, height, channels: 3 } }).composite([{ input: svg, blend: 'over' }]).removeAlpha().raw().toBuffer();
  let img = sharp(composed, { raw: { width, height, channels: 3 } });

  const format = o.format ?? (path.endsWith('.png') ? 'png' : path.endsWith('.webp') ? 'webp' : 'jpeg');
  if (o.transparentBorder) {
    const b = o.transparentBorder;
    const mask = Buffer.from(
      `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect x="${b}" y="${b}" width="${width - 2 * b}" height="${height - 2 * b}" fill="#fff"/></svg>`,
    );
    img = sharp(await img.ensureAlpha().composite([{ input: mask, blend: 'dest-in' }]).raw().toBuffer(), { raw: { width, height, channels: 4 } });
  }
  if (format === 'png') await img.png({ compressionLevel: 1 }).toFile(path);
  else if (format === 'webp') await img.webp({ quality: 90 }).toFile(path);
  else {
    let j = img.jpeg({ quality: o.quality ?? 90 });
    if (o.orientation) j = j.withMetadata({ orientation: o.orientation });
    await j.toFile(path);
  }
  return { path, width, height };
}

/**
 * Mean colour of an image file (after EXIF orientation, alpha flattened onto `background`),
 * over a region given in fractions of the image (default: all of it).
 */
export async function meanColour(path: string, background = '#000000', region = { x: 0, y: 0, w: 1, h: 1 }): Promise<Rgb> {
  const { data, info } = await sharp(path).rotate().flatten({ background }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return regionMean({ width: info.width, height: info.height, data }, region);
}

export interface Frame {
  width: number;
  height: number;
  /** Packed RGB24. */
  data: Buffer;
}

/** Decode the frame shown at `seconds` (exact seek) as RGB. */
export function decodeFrame(video: string, seconds: number, ffmpegPath = 'ffmpeg'): Promise<Frame> {
  return new Promise((resolve, reject) => {
    execFile(
      ffmpegPath,
      // Input seeking is frame-accurate (ffmpeg decodes from the previous keyframe and drops).
      ['-nostdin', '-loglevel', 'error', '-ss', seconds.toFixed(4), '-i', video, '-frames:v', '1', '-f', 'image2pipe', '-vcodec', 'png', '-'],
      { encoding: 'buffer', maxBuffer: 256 * 1024 * 1024 },
      (err, stdout) => {
        if (err) return reject(err);
        sharp(stdout)
          .removeAlpha()
          .raw()
          .toBuffer({ resolveWithObject: true })
          .then(({ data, info }) => resolve({ width: info.width, height: info.height, data }))
          .catch(reject);
      },
    );
  });
}

/** Mean RGB over a rectangle of a frame (fractions of the frame; default: all of it). */
export function regionMean(f: Frame, r: { x: number; y: number; w: number; h: number } = { x: 0, y: 0, w: 1, h: 1 }): Rgb {
  const x0 = Math.floor(r.x * f.width);
  const y0 = Math.floor(r.y * f.height);
  const x1 = Math.min(f.width, Math.ceil((r.x + r.w) * f.width));
  const y1 = Math.min(f.height, Math.ceil((r.y + r.h) * f.height));
  const sum = [0, 0, 0];
  let n = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const i = (y * f.width + x) * 3;
      sum[0]! += f.data[i]!;
      sum[1]! += f.data[i + 1]!;
      sum[2]! += f.data[i + 2]!;
      n++;
    }
  }
  return [sum[0]! / n, sum[1]! / n, sum[2]! / n];
}

/** Fraction of pixels in a rectangle whose three channels are all >= threshold. */
export function brightFraction(f: Frame, r: { x: number; y: number; w: number; h: number }, threshold = 235): number {
  const x0 = Math.floor(r.x * f.width);
  const y0 = Math.floor(r.y * f.height);
  const x1 = Math.min(f.width, Math.ceil((r.x + r.w) * f.width));
  const y1 = Math.min(f.height, Math.ceil((r.y + r.h) * f.height));
  let bright = 0;
  let n = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const i = (y * f.width + x) * 3;
      if (f.data[i]! >= threshold && f.data[i + 1]! >= threshold && f.data[i + 2]! >= threshold) bright++;
      n++;
    }
  }
  return n ? bright / n : 0;
}

export function colourDistance(a: Rgb, b: Rgb): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
}
