import { describe, expect, it } from 'vitest';
import { PlanSchema } from '../../src/core/plan.js';
import { planJob } from '../../src/pipeline/plan/planner.js';

const imgs = (n: number, w?: number, h?: number) =>
  Array.from({ length: n }, (_, i) => ({ source: `https://example.com/${i}.jpg`, width: w, height: h }));

describe('planner defaults', () => {
  const plan = planJob({ images: imgs(10, 4000, 3000) });

  it('is a valid plan', () => {
    expect(PlanSchema.safeParse(plan).success).toBe(true);
  });

  it('renders 1080p 16:9 at 30 fps', () => {
    expect(plan.output).toEqual({ width: 1920, height: 1080, fps: 30, aspect: '16:9' });
  });

  it('gives each photo 3 s, so 10 photos make 30 s', () => {
    expect(plan.durationMs).toBe(30_000);
    expect(plan.clips.map((c) => c.startMs)).toEqual([0, 3000, 6000, 9000, 12000, 15000, 18000, 21000, 24000, 27000]);
  });

  it('overlaps consecutive clips by exactly the 0.75 s crossfade', () => {
    for (let i = 0; i < plan.clips.length - 1; i++) {
      const c = plan.clips[i]!;
      const next = plan.clips[i + 1]!;
      expect(c.transition).toEqual({ type: 'fade', durationMs: 750 });
      expect(c.startMs + c.durationMs - c.transition.durationMs).toBe(next.startMs);
    }
    const last = plan.clips.at(-1)!;
    expect(last.transition).toEqual({ type: 'cut', durationMs: 0 });
    expect(last.startMs + last.durationMs).toBe(plan.durationMs);
  });

  it('uses gentle Ken Burns, alternating direction', () => {
    const [a, b] = plan.clips;
    expect(a!.motion).toMatchObject({ type: 'kenburns', from: { zoom: 1 }, to: { zoom: 1.08 } });
    expect(b!.motion).toMatchObject({ type: 'kenburns', from: { zoom: 1.08 }, to: { zoom: 1 } });
  });

  it('fills the frame with photos of the same shape and blurs the fill behind others', () => {
    const p = planJob({ images: [{ source: 'a', width: 1920, height: 1080 }, { source: 'b', width: 3000, height: 4000 }, { source: 'c' }] });
    expect(p.clips.map((c) => c.fit)).toEqual(['cover', 'blur', 'blur']);
    expect(p.clips[2]!.image).toMatchObject({ width: null, height: null });
  });
});

describe('options and prompt', () => {
  it('explicit options win over the prompt', () => {
    const p = planJob({ images: imgs(3), prompt: 'vertical for TikTok, 720p, hard cuts', options: { aspect: '1:1', transition: { type: 'crossfade', duration: 0.5 } } });
    expect(p.output).toMatchObject({ aspect: '1:1', width: 720, height: 720 });
    expect(p.clips[0]!.transition).toEqual({ type: 'fade', durationMs: 500 });
  });

  it('reads aspect, seconds per photo and a quoted title', () => {
    const p = planJob({ images: imgs(4), prompt: "vertical for TikTok, 2 s per photo, title 'Summer Sale'" });
    expect(p.output).toMatchObject({ width: 1080, height: 1920, aspect: '9:16' });
    expect(p.durationMs).toBe(8000);
    expect(p.overlays).toEqual([{ type: 'title', text: 'Summer Sale', startMs: 0, durationMs: 3000 }]);
  });

  it('the later of two conflicting phrases wins', () => {
    expect(planJob({ images: imgs(1), prompt: 'square, no wait, make it landscape' }).output.aspect).toBe('16:9');
    expect(planJob({ images: imgs(1), prompt: 'landscape... actually vertical' }).output.aspect).toBe('9:16');
  });

  it('a total length spreads over the photos', () => {
    const p = planJob({ images: imgs(6), prompt: 'a 30-second video' });
    expect(p.durationMs).toBe(30_000);
    expect(planJob({ images: imgs(3), prompt: '半分钟' }).durationMs).toBe(30_000);
  });

  it('"no zoom" turns motion off and is not read as "zoom"', () => {
    const p = planJob({ images: imgs(2), prompt: 'no zoom please' });
    expect(p.clips.every((c) => c.motion.type === 'none')).toBe(true);
  });

  it('hard cuts have no overlap', () => {
    const p = planJob({ images: imgs(3), prompt: 'snappy with hard cuts' });
    expect(p.clips.map((c) => c.durationMs)).toEqual([3000, 3000, 3000]);
    expect(p.clips[0]!.transition).toEqual({ type: 'cut', durationMs: 0 });
  });

  it('caps a transition at half of each photo time', () => {
    const p = planJob({ images: imgs(3), options: { secondsPerImage: 1, transition: { duration: 2 } } });
    expect(p.clips[0]!.transition.durationMs).toBe(500);
    expect(p.notes.some((n) => n.includes('shortened'))).toBe(true);
  });

  it('understands the original brief example and notes it', () => {
    const p = planJob({ images: imgs(3), prompt: 'turn my photos into a smooth HD video with transitions' });
    expect(p.clips[0]!.transition.type).toBe('fade');
    expect(p.notes[0]).toContain('smooth');
  });

  it('2160p (4K) is opt-in: the short side is 2160 and the long side follows the aspect', () => {
    const sizes = (['16:9', '9:16', '1:1', '4:5'] as const).map((aspect) => planJob({ images: imgs(1), options: { resolution: '2160p', aspect } }).output);
    expect(sizes.map((o) => `${o.width}x${o.height}`)).toEqual(['3840x2160', '2160x3840', '2160x2160', '2160x2700']);
    // The same rule as 720p and 1080p: 4:5 is the short side x 5/4.
    expect(planJob({ images: imgs(1), options: { resolution: '1080p', aspect: '4:5' } }).output).toMatchObject({ width: 1080, height: 1350 });
    expect(planJob({ images: imgs(1), options: { resolution: '2160p' } }).notes).toContain('options.resolution = "2160p"');
    // Never a default, whatever else the request says.
    for (const prompt of [undefined, 'the best quality, HD, high resolution', 'vertical, 60 fps, cinematic']) {
      expect(Math.min(planJob({ images: imgs(2), prompt }).output.width, planJob({ images: imgs(2), prompt }).output.height)).toBe(1080);
    }
  });

  it('strips control characters before reading a title (and collapses the space they leave)', () => {
    const p = planJob({ images: imgs(1), prompt: 'title "Sale\u0007 now"' });
    expect(p.overlays[0]!.text).toBe('Sale now');
  });
});
