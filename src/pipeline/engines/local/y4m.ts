/**
 * Stills as single-frame YUV4MPEG2 files, already in the video's colour: BT.709 limited-range
 * Y'CbCr, 4:2:0 with centred chroma (what motion.ts assumes: chroma coordinates simply halve).
 *
 * Why not JPEG: ffmpeg had to decode it (a frame plus the decoder's pool) and convert JPEG's
 * full-range BT.601 to BT.709 (zscale: another frame), both held until the graph ends, and
 * every still was quantised twice (JPEG, then the encode). A Y4M frame is read as is: the
 * demuxer's packet is the frame. Measured on W1 (bench/, 10 photos, 1080p, same CRF): ffmpeg
 * peak 405 -> 385 MB, and the MP4 8.10 -> 7.61 MB (no JPEG noise left to encode).
 * The cost is scratch disk: 1.5 bytes per pixel (5.6 MB for a 1080p Ken Burns still).
 */

/** BT.709 luma weights (ITU-R BT.709-6, item 3.2). */
const KR = 0.2126;
const KB = 0.0722;
const KG = 1 - KR - KB;

/**
 * Packed 8-bit sRGB (3 channels, `width` x `height`) -> a Y4M file's bytes. sRGB and BT.709
 * share primaries and white point; their transfer curves differ, but video players decode
 * BT.709 with a display gamma that matches sRGB photos closely, so the values are kept (as
 * every photo-to-video tool and ffmpeg's own conversion do).
 */
export function rgbToY4m(rgb: Uint8Array, width: number, height: number): Buffer {
  if (rgb.length !== width * height * 3) throw new Error(`rgbToY4m: ${rgb.length} bytes for ${width}x${height}x3`);
  const header = Buffer.from(`YUV4MPEG2 W${width} H${height} F25:1 Ip A1:1 C420jpeg XYSCSS=420JPEG XCOLORRANGE=LIMITED\nFRAME\n`, 'latin1');
  const cw = (width + 1) >> 1;
  const ch = (height + 1) >> 1;
  const out = Buffer.allocUnsafe(header.length + width * height + 2 * cw * ch);
  header.copy(out, 0);
  const yOff = header.length;
  const uOff = yOff + width * height;
  const vOff = uOff + cw * ch;
  // Y' in 0..255 units -> limited range: 16 + 219/255 * Y'; Cb, Cr: 128 + 224/255 * scaled differences.
  const ky = 219 / 255;
  const kb = 224 / 255 / (2 * (1 - KB));
  const kr = 224 / 255 / (2 * (1 - KR));
  for (let y = 0; y < height; y++) {
    let i = y * width * 3;
    let o = yOff + y * width;
    for (let x = 0; x < width; x++, i += 3) {
      out[o++] = Math.round(16 + ky * (KR * rgb[i]! + KG * rgb[i + 1]! + KB * rgb[i + 2]!));
    }
  }
  // Chroma from the mean of each 2x2 block (edge blocks: the pixels there are): centred siting.
  for (let cy = 0; cy < ch; cy++) {
    const y0 = 2 * cy;
    const y1 = Math.min(height - 1, y0 + 1);
    for (let cx = 0; cx < cw; cx++) {
      const x0 = 2 * cx;
      const x1 = Math.min(width - 1, x0 + 1);
      const a = (y0 * width + x0) * 3;
      const b = (y0 * width + x1) * 3;
      const c = (y1 * width + x0) * 3;
      const d = (y1 * width + x1) * 3;
      const r = (rgb[a]! + rgb[b]! + rgb[c]! + rgb[d]!) / 4;
      const g = (rgb[a + 1]! + rgb[b + 1]! + rgb[c + 1]! + rgb[d + 1]!) / 4;
      const bl = (rgb[a + 2]! + rgb[b + 2]! + rgb[c + 2]! + rgb[d + 2]!) / 4;
      const luma = KR * r + KG * g + KB * bl;
      const k = cy * cw + cx;
      out[uOff + k] = Math.round(128 + kb * (bl - luma));
      out[vOff + k] = Math.round(128 + kr * (r - luma));
    }
  }
  return out;
}
