import { describe, expect, it } from 'vitest';
import { JobRequestSchema } from '../../src/core/job.js';
import { PlanSchema, type Plan } from '../../src/core/plan.js';
import { parseAnswer } from '../../src/pipeline/plan/llm-planner.js';
import { planJob } from '../../src/pipeline/plan/planner.js';
import { hashSeed, RANDOM_TRANSITIONS, randomTransitions, requestSeed, seededRandom } from '../../src/pipeline/plan/random.js';
import { understandPrompt } from '../../src/pipeline/plan/understand-prompt.js';

const imgs = (n: number) => Array.from({ length: n }, (_, i) => ({ source: `https://example.com/${i}.jpg` }));
/** The transitions between photos (the last clip's closing cut left out). */
const between = (p: Plan) => p.clips.slice(0, -1).map((c) => c.transition.type);
const noNeighboursAlike = (seq: string[]) => seq.every((t, i) => i === 0 || t !== seq[i - 1]);

describe('randomTransitions', () => {
  it('the same seed gives the same sequence; different seeds give different ones', () => {
    expect(randomTransitions(50, 42)).toEqual(randomTransitions(50, 42));
    const seqs = new Set([0, 1, 2, 42, 2 ** 32, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER].map((s) => randomTransitions(16, s).join()));
    expect(seqs.size).toBe(7); // seeds past 32 bits count too
  });

  it('never puts two alike next to each other, over many seeds and lengths', () => {
    for (let seed = 0; seed < 500; seed++) {
      const seq = randomTransitions(99, seed);
      expect(seq).toHaveLength(99);
      expect(noNeighboursAlike(seq), `seed ${seed}: ${seq.join()}`).toBe(true);
    }
  });

  it('uses every transition of the pool (and never cut) before any repeats', () => {
    const n = RANDOM_TRANSITIONS.length;
    expect(n).toBeGreaterThanOrEqual(12);
    expect(RANDOM_TRANSITIONS).not.toContain('cut');
    for (let seed = 0; seed < 200; seed++) {
      const seq = randomTransitions(3 * n, seed);
      for (let round = 0; round < 3; round++) {
        expect(new Set(seq.slice(round * n, (round + 1) * n)).size, `seed ${seed}, round ${round}`).toBe(n);
      }
      // And so no transition is used twice while another is still unused.
      const firstRepeat = seq.findIndex((t, i) => seq.indexOf(t) < i);
      expect(firstRepeat).toBe(n);
    }
  });

  it('adding a photo keeps the earlier picks', () => {
    expect(randomTransitions(20, 7).slice(0, 9)).toEqual(randomTransitions(9, 7));
  });

  it('the generator and hash are stable numbers (a seed renders the same on every machine and release)', () => {
    const r = seededRandom(1);
    const first = [r(), r(), r()];
    expect(first.every((x) => x >= 0 && x < 1)).toBe(true);
    const again = seededRandom(1);
    expect([again(), again(), again()]).toEqual(first);
    expect(hashSeed('')).toBe(hashSeed(''));
    expect(Number.isSafeInteger(hashSeed('photos'))).toBe(true);
    expect(requestSeed(['a', 'b'], 'x')).not.toBe(requestSeed(['ab'], 'x'));
    expect(requestSeed(['a'], undefined)).toBe(requestSeed(['a'], ''));
  });
});

describe('random transitions in plans', () => {
  it('options.transition.type "random" with a seed: varied, deterministic, described in the notes', () => {
    const a = planJob({ images: imgs(10), options: { transition: { type: 'random' }, seed: 1234 } });
    const b = planJob({ images: imgs(10), options: { transition: { type: 'random' }, seed: 1234 } });
    expect(PlanSchema.safeParse(a).success).toBe(true);
    expect(between(a)).toEqual(between(b));
    expect(between(a)).toEqual(randomTransitions(9, 1234));
    expect(new Set(between(a)).size).toBe(9);
    expect(a.clips.at(-1)!.transition).toEqual({ type: 'cut', durationMs: 0 });
    expect(a.notes).toContain('options.seed = 1234');
    expect(a.notes).toContain(`random transitions of 0.75 s, no two in a row alike: ${randomTransitions(9, 1234).join(', ')} (seed 1234, options.seed)`);
    const other = planJob({ images: imgs(10), options: { transition: { type: 'random' }, seed: 1235 } });
    expect(between(other)).not.toEqual(between(a));
  });

  it('without a seed: derived from the photos and prompt, so the same request plans the same transitions', () => {
    const request = { images: imgs(30), prompt: 'random transitions, 1 s per photo' };
    const first = planJob(request);
    expect(between(planJob(request))).toEqual(between(first));
    const seed = requestSeed(request.images.map((i) => i.source), request.prompt);
    expect(between(first)).toEqual(randomTransitions(29, seed));
    expect(noNeighboursAlike(between(first))).toBe(true);
    expect(first.notes.join('\n')).toContain(`(seed ${seed}, from the photos and prompt; set options.seed to keep these picks when they change)`);
    // Pinning the seed the notes show keeps the picks when the prompt changes.
    const pinned = planJob({ images: imgs(30), prompt: 'random transitions, 1 s per photo, title "Sale"', options: { seed } });
    expect(between(pinned)).toEqual(between(first));
    // Other photos: other picks.
    expect(between(planJob({ ...request, images: imgs(30).reverse() }))).not.toEqual(between(first));
  });

  it.each([
    ['random transitions', 'en'],
    ['randomized transitions please', 'en'],
    ['transitions at random', 'en'],
    ['a mix of transitions', 'en'],
    ['varied transitions', 'en'],
    ['随机转场', 'zh'],
    ['转场随机，竖屏', 'zh'],
  ])('the prompt %j asks for random transitions', (prompt, lang) => {
    const p = planJob({ images: imgs(6), prompt });
    expect(between(p)).toEqual(randomTransitions(5, requestSeed(imgs(6).map((i) => i.source), prompt)));
    expect(p.notes.join('\n')).toContain(lang === 'zh' ? '随机转场，每次 0.75 秒，相邻不重复：' : 'random transitions of 0.75 s, no two in a row alike: ');
    expect(understandPrompt(prompt).settings.transition).toBe('random');
  });

  it('"random" alone still shuffles the photos (it is not about transitions)', () => {
    const p = planJob({ images: imgs(6), prompt: 'random order' });
    expect(new Set(between(p))).toEqual(new Set(['fade']));
  });

  it('"mixed" is an alias: options and language-model answers mean random', () => {
    const opts = { images: imgs(8), options: { transition: { type: 'mixed' as const }, seed: 9 } };
    expect(between(planJob(opts))).toEqual(randomTransitions(7, 9));
    expect(parseAnswer(JSON.stringify({ choices: [{ message: { content: '{"transition":"mixed"}' } }] })).transition).toBe('random');
    expect(parseAnswer(JSON.stringify({ choices: [{ message: { content: '{"transition":"random"}' } }] })).transition).toBe('random');
  });

  it('a transition duration of 0 makes random cuts', () => {
    const p = planJob({ images: imgs(4), options: { transition: { type: 'random', duration: 0 } } });
    expect(between(p)).toEqual(['cut', 'cut', 'cut']);
  });

  it('options.seed also seeds a prompt\'s shuffle, and says when nothing uses it', () => {
    const a = planJob({ images: imgs(12), prompt: 'shuffle', options: { seed: 1 } }).clips.map((c) => c.image.index);
    const b = planJob({ images: imgs(12), prompt: 'shuffle', options: { seed: 2 } }).clips.map((c) => c.image.index);
    expect([...a].sort((x, y) => x - y)).toEqual([...Array(12).keys()]);
    expect(a).not.toEqual(b);
    expect(planJob({ images: imgs(12), prompt: 'shuffle', options: { seed: 1 } }).clips.map((c) => c.image.index)).toEqual(a);
    // Without a seed the shuffle is unchanged (seeded by the photos, as before).
    expect(planJob({ images: imgs(12), prompt: 'shuffle' }).clips.map((c) => c.image.index)).toEqual(planJob({ images: imgs(12), prompt: 'shuffle, vertical' }).clips.map((c) => c.image.index));
    expect(planJob({ images: imgs(2), options: { seed: 5 } }).notes).toContain('options.seed = 5 (unused: no random transitions or shuffled order)');
  });

  it('100 photos: a valid plan, every transition of the pool used, none twice in a row', () => {
    const p = planJob({ images: imgs(100), prompt: 'random transitions, 0.5 s per photo' });
    expect(PlanSchema.safeParse(p).success).toBe(true);
    expect(new Set(between(p))).toEqual(new Set(RANDOM_TRANSITIONS));
    expect(noNeighboursAlike(between(p))).toBe(true);
  });
});

describe('JobRequestSchema: options.seed and "random"', () => {
  const base = { images: ['https://example.com/a.jpg'] };
  it.each([0, 1, 42, 2 ** 32, Number.MAX_SAFE_INTEGER])('accepts seed %d', (seed) => {
    expect(JobRequestSchema.safeParse({ ...base, options: { seed } }).success).toBe(true);
  });
  it.each([-1, 1.5, Number.MAX_SAFE_INTEGER + 1, '42', null, 1e300])('refuses seed %j, naming options.seed', (seed) => {
    const r = JobRequestSchema.safeParse({ ...base, options: { seed } });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.path).toEqual(['options', 'seed']);
  });
  it('accepts the transition types random and mixed, and refuses unknown ones', () => {
    expect(JobRequestSchema.safeParse({ ...base, options: { transition: { type: 'random', duration: 0.5 }, seed: 3 } }).success).toBe(true);
    expect(JobRequestSchema.safeParse({ ...base, options: { transition: { type: 'mixed' } } }).success).toBe(true);
    expect(JobRequestSchema.safeParse({ ...base, options: { transition: { type: 'randomly' } } }).success).toBe(false);
  });
});
