import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import type { SourceImage } from '../engine.js';

/** Image types the Nemo backend accepts as they are (its list: jpg, png, gif, webp, plus video/audio types). */
export const NEMO_IMAGE_TYPES: Record<string, { ext: string; mime: string }> = {
  jpeg: { ext: 'jpg', mime: 'image/jpeg' },
  png: { ext: 'png', mime: 'image/png' },
  gif: { ext: 'gif', mime: 'image/gif' },
  webp: { ext: 'webp', mime: 'image/webp' },
};

export const NEMO_ACCEPTED_LIST = 'mp4, mov, avi, webm, mkv, jpg, png, gif, webp, mp3, wav, m4a, aac';

export interface PreparedUpload {
  path: string;
  name: string;
  mime: string;
  /** Converted or downscaled by us. */
  converted: boolean;
}

/**
 * Makes a photo uploadable: types the backend refuses (HEIC, AVIF, TIFF, ...) become JPEG, and a
 * file over `maxBytes` is downscaled (JPEG, shrinking until it fits).
 */
export async function prepareUpload(img: SourceImage, workDir: string, maxBytes: number): Promise<PreparedUpload> {
  const accepted = NEMO_IMAGE_TYPES[img.type];
  const size = (await fs.stat(img.path)).size;
  if (accepted && size <= maxBytes) {
    return { path: img.path, name: `photo-${img.index}.${accepted.ext}`, mime: accepted.mime, converted: false };
  }
  return { ...(await toJpeg(img, workDir, maxBytes)), converted: true };
}

/** JPEG under `maxBytes`: full size first, then shrinking by the square root of the overshoot. */
export async function toJpeg(img: SourceImage, workDir: string, maxBytes: number): Promise<Omit<PreparedUpload, 'converted'>> {
  const out = path.join(workDir, `nemo-upload-${img.index}.jpg`);
  let width = img.width;
  for (let i = 0; i < 8; i++) {
    const buf = await sharp(img.path, { limitInputPixels: false })
      .rotate()
      .resize({ width: Math.max(16, Math.floor(width)), withoutEnlargement: true })
      .flatten({ background: '#ffffff' })
      .jpeg({ quality: i === 0 ? 90 : 85, mozjpeg: false })
      .toBuffer();
    if (buf.length <= maxBytes || width <= 16) {
      await fs.writeFile(out, buf);
      return { path: out, name: `photo-${img.index}.jpg`, mime: 'image/jpeg' };
    }
    width = width * Math.sqrt(maxBytes / buf.length) * 0.9;
  }
  throw new Error('could not make the photo small enough');
}
