/**
 * The local engine's H.264 encoder settings (libx264), beside the preset and CRF the operator
 * picks (config X264_PRESET, X264_CRF, X264_PARAMS; the CRF's default and why it is 20.5 are in
 * config.ts). The bench's encode floor uses them too.
 */

/**
 * x264 options beyond the preset. 8x8dct keeps the stream High profile even with presets that
 * turn it off (ultrafast). scenecut=0: x264 took frames inside our fades for scene cuts and
 * coded them as I-frames (W1: 8 of ~85 KB each, 9 % of the file), where a fade is what inter
 * prediction does best; the real cuts are known from the plan and forced to keyframes instead
 * (keyFrames).
 */
export const X264_FIXED_PARAMS = '8x8dct=1:scenecut=0';

/**
 * Motion search for the fast presets, unless the operator sets their own (X264_PARAMS in the
 * config). Our frames move smoothly and predictably (Ken Burns, fades; no sensor noise or
 * handheld shake), where a diamond search with one sub-pixel refinement loses little against
 * veryfast's hexagon with two, and x264 is most of a render's CPU. Measured on the bench's first
 * 383 lossless frames (2 threads, CRF 20; W1 one run each, W2 best of 2), CPU s / size / SSIM
 * against those frames:
 *   W1 (16:9)  veryfast 12.0 / 3.10 MB / 0.9709   with this 8.8 / 3.21 MB / 0.9711
 *   W2 (9:16)  veryfast 13.2 / 4.82 MB / 0.9616   with this 8.9 / 4.95 MB / 0.9606
 * No intra 4x4/8x8 search in P and B frames (partitions=none; keyframes keep it): what little
 * of our frames is coded intra there is smooth. On 270 lossless frames of W1 (3 runs each,
 * interleaved, CRF 20.5): x264 CPU 5.5-5.7 -> 4.4-5.3 s, size 1.77 -> 1.67 MB, SSIM 0.97329 ->
 * 0.97313.
 * The slower presets are chosen for their search and keep it.
 */
export const FAST_PRESET_TUNING = 'me=dia:subme=1:partitions=none';

/** The -x264-params string: ours, then the operator's or the preset's tuning (later options win). */
export function x264Params(preset: string, tuning?: string): string {
  const extra = tuning ?? (preset === 'veryfast' || preset === 'superfast' ? FAST_PRESET_TUNING : '');
  return extra ? `${X264_FIXED_PARAMS}:${extra}` : X264_FIXED_PARAMS;
}
