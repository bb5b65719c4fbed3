/**
 * Framing check for the render bench: how far one frame's picture is displaced from the
 * reference's, measured at five patches (left, right, top, bottom, centre) by normalised
 * cross-correlation over whole-pixel shifts plus a parabolic sub-pixel fit. Displacements that
 * differ between left and right (top and bottom) mean a scale error.
 */

export interface PatchShift {
  at: string;
  /** Picture displacement of the frame relative to the reference, px (+: right / down). */
  dx: number;
  dy: number;
  /** Peak normalised correlation (1 = identical up to shift, gain and offset). */
  ncc: number;
}

export interface FrameShift {
  patches: PatchShift[];
  /** Mean displacement over the patches. */
  dx: number;
  dy: number;
  /** Relative scale error estimated from left/right and top/bottom displacements (+: picture too big). */
  scaleX: number;
  scaleY: number;
  /** PSNR of the luma plane against the reference, dB. */
  psnrY: number;
}

const R = 5;

function ncc(a: Uint8Array, b: Uint8Array, W: number, cx: number, cy: number, P: number, dx: number, dy: number): number {
  // a's patch at (cx, cy) against b's patch at (cx + dx, cy + dy)
  let sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
  const n = P * P;
  for (let y = 0; y < P; y++) {
    const ra = (cy + y) * W + cx;
    const rb = (cy + y + dy) * W + cx + dx;
    for (let x = 0; x < P; x++) {
      const va = a[ra + x]!;
      const vb = b[rb + x]!;
      sa += va;
      sb += vb;
      saa += va * va;
      sbb += vb * vb;
      sab += va * vb;
    }
  }
  const cov = sab - (sa * sb) / n;
  const den = Math.sqrt((saa - (sa * sa) / n) * (sbb - (sb * sb) / n));
  return den > 0 ? cov / den : 0;
}

/** Sub-pixel vertex of a parabola through (-1, l), (0, c), (1, r). */
function vertex(l: number, c: number, r: number): number {
  const d = l - 2 * c + r;
  return d < 0 ? Math.max(-0.5, Math.min(0.5, (l - r) / (2 * d))) : 0;
}

/** `frame` and `ref`: luma planes, W x H. */
export function frameShift(frame: Uint8Array, ref: Uint8Array, W: number, H: number): FrameShift {
  const P = Math.max(32, Math.min(192, Math.floor(Math.min(W, H) / 6)));
  const places: [string, number, number][] = [
    ['left', 0.12, 0.5],
    ['right', 0.88, 0.5],
    ['top', 0.5, 0.12],
    ['bottom', 0.5, 0.88],
    ['centre', 0.5, 0.5],
  ];
  const patches: PatchShift[] = places.map(([at, fx, fy]) => {
    const cx = Math.round(fx * W - P / 2);
    const cy = Math.round(fy * H - P / 2);
    const x0 = Math.max(R, Math.min(W - P - R - 1, cx));
    const y0 = Math.max(R, Math.min(H - P - R - 1, cy));
    const grid = new Float64Array((2 * R + 1) * (2 * R + 1));
    let best = -Infinity, bx = 0, by = 0;
    for (let dy = -R; dy <= R; dy++) {
      for (let dx = -R; dx <= R; dx++) {
        const v = ncc(frame, ref, W, x0, y0, P, dx, dy);
        grid[(dy + R) * (2 * R + 1) + dx + R] = v;
        if (v > best) [best, bx, by] = [v, dx, dy];
      }
    }
    const g = (dx: number, dy: number) => grid[(dy + R) * (2 * R + 1) + dx + R] ?? best;
    const sx = Math.abs(bx) < R ? vertex(g(bx - 1, by), best, g(bx + 1, by)) : 0;
    const sy = Math.abs(by) < R ? vertex(g(bx, by - 1), best, g(bx, by + 1)) : 0;
    // frame(p) ~ ref(p + d): the frame's picture sits at -d relative to the reference.
    return { at, dx: -(bx + sx), dy: -(by + sy), ncc: best };
  });
  const get = (at: string) => patches.find((p) => p.at === at)!;
  let se = 0;
  for (let i = 0; i < W * H; i++) {
    const d = frame[i]! - ref[i]!;
    se += d * d;
  }
  const mse = se / (W * H);
  return {
    patches,
    dx: patches.reduce((s, p) => s + p.dx, 0) / patches.length,
    dy: patches.reduce((s, p) => s + p.dy, 0) / patches.length,
    scaleX: (get('right').dx - get('left').dx) / (0.76 * W),
    scaleY: (get('bottom').dy - get('top').dy) / (0.76 * H),
    psnrY: mse > 0 ? 10 * Math.log10((255 * 255) / mse) : Infinity,
  };
}
