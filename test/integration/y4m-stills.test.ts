import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { rgbToY4m } from '../../src/pipeline/engines/local/y4m.js';

/** A still's planes, read back from the file's own layout. */
function planes(buf: Buffer, w: number, h: number) {
  const start = buf.indexOf('FRAME\n') + 6;
  const cw = Math.ceil(w / 2);
  const ch = Math.ceil(h / 2);
  return { y: buf.subarray(start, start + w * h), u: buf.subarray(start + w * h, start + w * h + cw * ch), v: buf.subarray(start + w * h + cw * ch), cw, ch };
}

const flat = (w: number, h: number, rgb: [number, number, number]) => Uint8Array.from({ length: w * h * 3 }, (_, i) => rgb[i % 3]!);

describe('stills as Y4M in BT.709 limited range (y4m.ts)', () => {
  it('gives the BT.709 table values for the primaries, black and white', () => {
    // ITU-R BT.709 8-bit limited range: [Y, Cb, Cr].
    const table: [[number, number, number], [number, number, number]][] = [
      [[255, 255, 255], [235, 128, 128]],
      [[0, 0, 0], [16, 128, 128]],
      [[255, 0, 0], [63, 102, 240]],
      [[0, 255, 0], [173, 42, 26]],
      [[0, 0, 255], [32, 240, 118]],
    ];
    for (const [rgb, yuv] of table) {
      const p = planes(rgbToY4m(flat(4, 2, rgb), 4, 2), 4, 2);
      expect([...p.y]).toEqual(Array(8).fill(yuv[0]));
      expect([...p.u]).toEqual(Array(2).fill(yuv[1]));
      expect([...p.v]).toEqual(Array(2).fill(yuv[2]));
    }
  });

  it('writes a header ffmpeg reads as yuv420p of the right size, odd sizes included, and is the frame ffmpeg decodes', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'photoreel-y4m-'));
    try {
      const w = 37;
      const h = 21;
      // Left part orange, right part teal, split at an odd column: chroma blocks straddle it.
      const rgb = new Uint8Array(w * h * 3);
      for (let i = 0; i < w * h; i++) rgb.set(i % w < 19 ? [230, 120, 30] : [20, 150, 160], i * 3);
      const file = path.join(dir, 's.y4m');
      const bytes = rgbToY4m(rgb, w, h);
      fs.writeFileSync(file, bytes);
      const probe = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_streams', '-of', 'json', file], { encoding: 'utf8' })).streams[0];
      expect([probe.width, probe.height, probe.pix_fmt]).toEqual([w, h, 'yuv420p']);
      // ffmpeg's own decode of the file is our planes, byte for byte.
      const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-'], { maxBuffer: 1 << 20 });
      const p = planes(bytes, w, h);
      expect(raw.equals(Buffer.concat([p.y, p.u, p.v]))).toBe(true);
      // And back to RGB with BT.709 limited range: the colours come back within 2 levels
      // away from the boundary (chroma there is the blocks' mean).
      const back = execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-vf', 'scale=in_color_matrix=bt709:in_range=tv:flags=neighbor+accurate_rnd+full_chroma_int', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: 1 << 20 });
      for (const [x, want] of [[4, [230, 120, 30]], [30, [20, 150, 160]]] as const) {
        const at = (10 * w + x) * 3;
        for (let c = 0; c < 3; c++) expect(Math.abs(back[at + c]! - want[c]!)).toBeLessThanOrEqual(2);
      }
      // Chroma is centred: the block over columns 18-19 is the mean of both colours.
      const k = 5 * p.cw + 9;
      expect(p.u[k]! - p.u[5 * p.cw + 2]!).not.toBe(0);
      expect(Math.abs(p.u[k]! - (p.u[5 * p.cw + 2]! + p.u[5 * p.cw + 15]!) / 2)).toBeLessThanOrEqual(1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a buffer that is not width x height x 3', () => {
    expect(() => rgbToY4m(new Uint8Array(10), 2, 2)).toThrow(/12|2x2/);
  });
});
