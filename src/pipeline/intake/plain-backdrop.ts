import sharp from 'sharp';
import type { Fit } from '../../core/plan.js';

/**
 * Is the photo shot on a plain light backdrop (the usual e-commerce product photo on white)?
 * Then its colour, as #rrggbb; otherwise null. The planner uses it to show such photos whole on
 * that colour when their shape does not match the frame (a 4:3 packshot in a 9:16 video),
 * rather than cropping the product or setting it over a blurred, darkened copy of itself.
 *
 * How: a 64x64 thumbnail (JPEG shrink-on-load keeps this cheap even at 24 MP; transparency
 * counts as white, as everywhere else), then its outer ring of 2 px: light (luma >= 225) and
 * even (97 % of the ring within 12 levels of its mean on every channel).
 */
/**
 * The backdrop of each photo, for the planner: only an automatic fit looks at them (with an
 * explicit `fit` none is read). A photo that cannot be read has none.
 */
export async function backdropsFor(images: { path: string }[], fit: Fit | undefined): Promise<(string | null)[]> {
  if (fit) return images.map(() => null);
  return Promise.all(images.map((img) => plainBackdrop(img.path).catch(() => null)));
}

export async function plainBackdrop(path: string): Promise<string | null> {
  const N = 64;
  const RING = 2;
  const { data } = await sharp(path, { failOn: 'none', limitInputPixels: false })
    .rotate()
    .flatten({ background: '#ffffff' })
    .resize(N, N, { fit: 'fill' })
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  const ring: [number, number, number][] = [];
  for (let y = 0; y < N; y++) {
    for (let x = 0; x < N; x++) {
      if (x >= RING && x < N - RING && y >= RING && y < N - RING) continue;
      const i = (y * N + x) * 3;
      ring.push([data[i]!, data[i + 1]!, data[i + 2]!]);
    }
  }
  const mean = [0, 1, 2].map((c) => ring.reduce((s, p) => s + p[c]!, 0) / ring.length) as [number, number, number];
  const luma = 0.2126 * mean[0] + 0.7152 * mean[1] + 0.0722 * mean[2];
  if (luma < 225) return null;
  const even = ring.filter((p) => p.every((v, c) => Math.abs(v - mean[c]!) <= 12)).length / ring.length;
  if (even < 0.97) return null;
  return `#${mean.map((v) => Math.round(v).toString(16).padStart(2, '0')).join('')}`;
}
