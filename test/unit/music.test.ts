import { describe, expect, it } from 'vitest';
import { JobRequestSchema } from '../../src/core/job.js';
import { PlanSchema } from '../../src/core/plan.js';
import { planRequest } from '../../src/handlers/plan-request.js';
import { baseChain, mixChain, parseLoudnorm, planGain, samplesForFrames } from '../../src/pipeline/engines/local/audio.js';
import { planJob, rulesPlanner } from '../../src/pipeline/plan/planner.js';
import type { Services } from '../../src/pipeline/services.js';

const imgs = (n: number) => Array.from({ length: n }, (_, i) => ({ source: `https://example.com/${i}.jpg` }));
const URL = 'https://example.com/track.mp3';

describe('plan.audio with the request\'s music', () => {
  it('defaults: volume 1, 1 s in, 1.5 s out, -14 LUFS', () => {
    const plan = planJob({ images: imgs(3), music: { url: URL } });
    expect(plan.audio).toEqual({ source: URL, volume: 1, fadeInMs: 1000, fadeOutMs: 1500, loudnessLufs: -14 });
    expect(PlanSchema.safeParse(plan).success).toBe(true);
  });

  it('the prompt fills in what the request leaves out; explicit fields win', () => {
    const plan = planJob({ images: imgs(3), prompt: 'music at 35%, music fades in and out over 2 s', music: { url: URL, fadeOutMs: 500 } });
    expect(plan.audio).toEqual({ source: URL, volume: 0.35, fadeInMs: 2000, fadeOutMs: 500, loudnessLufs: -14 });
    const explicit = planJob({ images: imgs(3), prompt: 'loud music', music: { url: URL, volume: 0.5, loudnessLufs: -18 } });
    expect(explicit.audio).toMatchObject({ volume: 0.5, loudnessLufs: -18 });
  });

  it('"no music" in the prompt does not drop the request\'s music, and says so', () => {
    const plan = planJob({ images: imgs(2), prompt: 'no music', music: { upload: 'upl_01jdx5v6m8q3c2r1t0e9w8y7x6' } });
    expect(plan.audio?.source).toBe('upload:upl_01jdx5v6m8q3c2r1t0e9w8y7x6');
    expect(plan.notes.join('\n')).toMatch(/"no music" in the prompt ignored/);
  });

  it('"add some music" is answered when music is given, and points at the field when not', () => {
    const withMusic = planJob({ images: imgs(2), prompt: 'add some music', music: { url: URL } });
    expect(withMusic.notes.join('\n')).toMatch(/the request's "music" plays/);
    expect(withMusic.notes.join('\n')).not.toMatch(/no music source/);
    const without = planJob({ images: imgs(2), prompt: 'add some music' });
    expect(without.notes.join('\n')).toMatch(/no music source/);
    expect(without.audio).toBeUndefined();
  });

  it('fades longer than the video are shortened in proportion', () => {
    const plan = planJob({ images: imgs(1), options: { secondsPerImage: 1 }, music: { url: URL, fadeInMs: 3000, fadeOutMs: 1000 } });
    expect(plan.audio).toMatchObject({ fadeInMs: 750, fadeOutMs: 250 });
  });

  it('without music the shape is unchanged (volume and fades only)', () => {
    expect(planJob({ images: imgs(2), prompt: 'quiet music' }).audio).toEqual({ volume: 0.3, fadeInMs: 0, fadeOutMs: 0 });
  });

  it('the request schema takes url or upload, not both, and bounds the settings', () => {
    expect(JobRequestSchema.safeParse({ images: [URL], music: { url: URL, volume: 2, loudnessLufs: -5 } }).success).toBe(true);
    expect(JobRequestSchema.safeParse({ images: [URL], music: {} }).success).toBe(false);
    expect(JobRequestSchema.safeParse({ images: [URL], music: { url: URL, volume: 2.1 } }).success).toBe(false);
    expect(JobRequestSchema.safeParse({ images: [URL], music: { url: URL, fadeInMs: 1.5 } }).success).toBe(false);
  });
});

describe('engines and music', () => {
  const services = (engine: 'local' | 'nemo') =>
    ({ config: { ENGINE: engine, MAX_JOB_DURATION_SECONDS: 600 }, engines: { local: {}, nemo: {} }, planner: rulesPlanner, storage: {} }) as unknown as Services;

  it('nemo refuses music with a 400 naming the field (it cannot play our track)', async () => {
    const r = await planRequest(services('nemo'), 'default', JobRequestSchema.parse({ images: [URL], music: { url: URL } }));
    expect(r).toMatchObject({ code: 'validation_error', field: 'music' });
    const explicit = await planRequest(services('local'), 'default', JobRequestSchema.parse({ images: [URL], music: { url: URL }, engine: 'nemo' }));
    expect(explicit).toMatchObject({ code: 'validation_error', field: 'music' });
    const local = await planRequest(services('local'), 'default', JobRequestSchema.parse({ images: [URL], music: { url: URL } }));
    expect(local).toMatchObject({ engine: 'local' });
  });
});

describe('the mix', () => {
  it('lasts exactly the video in samples at every fps', () => {
    for (const fps of [24, 25, 30, 60]) expect(samplesForFrames(fps * 4, fps)).toBe(4 * 48_000);
    expect(samplesForFrames(121, 30)).toBe(121 * 1600);
  });

  it('fades by sample count, ending on the last sample', () => {
    const chain = baseChain({ samples: 192_000, fadeInMs: 1000, fadeOutMs: 1500 }).join(',');
    expect(chain).toContain('atrim=end_sample=192000');
    expect(chain).toContain('afade=t=in:start_sample=0:nb_samples=48000');
    expect(chain).toContain('afade=t=out:start_sample=120000:nb_samples=72000');
    expect(baseChain({ samples: 1000, fadeInMs: 0, fadeOutMs: 0 }).join(',')).not.toContain('afade');
  });

  it('gains to the target, then by volume; limits only when the peak would pass -1 dBTP', () => {
    expect(planGain({ integratedLufs: -23, truePeakDb: -20 }, { volume: 1, loudnessLufs: -14 })).toEqual({ gainDb: 9, limit: false });
    const half = planGain({ integratedLufs: -23, truePeakDb: -20 }, { volume: 0.5, loudnessLufs: -14 });
    expect(half.gainDb).toBeCloseTo(9 - 6.02, 2);
    expect(planGain({ integratedLufs: -10, truePeakDb: -0.5 }, { volume: 2, loudnessLufs: -14 })).toMatchObject({ limit: true });
    // Silence is not amplified; volume 0 mutes.
    expect(planGain({ integratedLufs: null, truePeakDb: -99 }, { volume: 1, loudnessLufs: -14 })).toEqual({ gainDb: 0, limit: false });
    expect(planGain({ integratedLufs: -20, truePeakDb: -10 }, { volume: 0, loudnessLufs: -14 })).toEqual({ gainDb: null, limit: false });
    const limited = mixChain({ samples: 96_000, fadeInMs: 0, fadeOutMs: 0 }, { gainDb: 4, limit: true });
    expect(limited).toMatch(/volume=4\.00dB,alimiter=.*level=0:latency=1.*,apad=whole_len=96000,atrim=end_sample=96000$/);
  });

  it('reads loudnorm\'s measurement', () => {
    const stderr = '[Parsed_loudnorm_5 @ 0x1] \n{\n\t"input_i" : "-23.79",\n\t"input_tp" : "-21.51",\n\t"input_lra" : "0.60"\n}\n';
    expect(parseLoudnorm(stderr)).toEqual({ integratedLufs: -23.79, truePeakDb: -21.51 });
    expect(parseLoudnorm('{ "input_i" : "-inf", "input_tp" : "-inf" }')).toEqual({ integratedLufs: null, truePeakDb: -99 });
  });
});
