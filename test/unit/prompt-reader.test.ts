import { describe, expect, it } from 'vitest';
import { PlanSchema } from '../../src/core/plan.js';
import { normaliseNumbers, parseDuration } from '../../src/pipeline/plan/numbers.js';
import { planJob } from '../../src/pipeline/plan/planner.js';
import { cleanPrompt, correctTypos, detectLanguage, editDistance, maskQuotes } from '../../src/pipeline/plan/text.js';
import { understandPrompt } from '../../src/pipeline/plan/understand-prompt.js';
import { RULES } from '../../src/pipeline/plan/vocabulary.js';

const imgs = (n: number) => Array.from({ length: n }, (_, i) => ({ source: `https://example.com/${i}.jpg` }));
const fill = (unit: string, length: number) => unit.repeat(Math.ceil(length / unit.length)).slice(0, length);

describe('numbers', () => {
  it.each([
    ['thirty-second video', '30-second video'],
    ['two and a half seconds', '2.5 seconds'],
    ['forty five seconds', '45 seconds'],
    ['half a minute', '30 seconds'],
    ['a minute and a half', '90 seconds'],
    ['a minute long', '1 minute long'],
    ['a couple of seconds', '2 seconds'],
    ['two to three seconds', '2 to 3 seconds'],
    ['sixty fps, thirty percent', '60 fps, 30 percent'],
    ['one photo, a second video, ten photos', 'one photo, a second video, ten photos'],
    ['半分钟', '30秒'],
    ['一分半', '90秒'],
    ['两秒一张', '2秒一张'],
    ['三十秒', '30秒'],
    ['每秒六十帧', '每秒60帧'],
    ['百分之三十', '30%'],
    ['十分流畅', '十分流畅'],
  ])('%s -> %s', (from, to) => {
    expect(normaliseNumbers(from)).toBe(to);
  });

  it.each([
    ['2 s', 2], ['2.5 seconds', 2.5], ['30-second', 30], ['2-3 s', 2.5], ['0-10s', 10], ['1 min 30 s', 90],
    ['1.5 minutes', 90], ['2 mins', 120], ['2秒', 2], ['1分30秒', 90], ['3分钟', 180], ['2到4秒', 3],
  ] as const)('duration %s = %d s', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });
});

describe('text hygiene', () => {
  it('removes control, bidi and zero-width characters, applies NFKC, collapses spaces', () => {
    expect(cleanPrompt('a\u0000b\u202ec\u200bd\t\t e\r\n\r\nf １０８０ｐ：').text).toBe('a bcd e\nf 1080p:');
  });

  it('reads quotes of every kind, and apostrophes are not quotes', () => {
    const { masked, quotes } = maskQuotes(`don't "A" “B” 「C」 『D』 'E' ‘F’ «G» 《H》 it's 'Mom's Bakery'`);
    expect(quotes.map((q) => q.text)).toEqual(['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', "Mom's Bakery"]);
    expect(masked.startsWith("don't ")).toBe(true);
    expect(masked).toContain("it's");
  });

  it('leaves unclosed quotes as text and never spans lines', () => {
    expect(maskQuotes('title "Sale').quotes).toEqual([]);
    expect(maskQuotes('title "Sale\nnow"').quotes).toEqual([]);
  });

  it('cannot be fooled by private-use characters posing as quote markers', () => {
    const r = understandPrompt('\ue000\ue001 title \ue002');
    expect(r.settings.title).toBeUndefined();
  });

  it('detects the main language', () => {
    expect(detectLanguage('vertical for TikTok')).toBe('en');
    expect(detectLanguage('做一个竖屏视频')).toBe('zh');
    expect(detectLanguage('竖屏 TikTok video, 2 s per photo')).toBe('en');
    expect(detectLanguage('做一个竖屏视频，要 smooth 一点')).toBe('zh');
  });
});

describe('typos', () => {
  it('measures edits with transpositions', () => {
    expect(editDistance('sqaure', 'square', 2)).toBe(1);
    expect(editDistance('verticle', 'vertical', 2)).toBe(2);
    expect(editDistance('timeline', 'vertical', 1)).toBe(2);
  });

  it.each([
    ['verticle', 'vertical'], ['trasitions', 'transitions'], ['tranistions', 'transitions'], ['sqaure', 'square'], ['potrait', 'portrait'],
    ['landscpe', 'landscape'], ['horizantal', 'horizontal'], ['crosfade', 'crossfade'], ['disolve', 'dissolve'], ['secnods', 'seconds'],
    ['tittle', 'title'], ['musci', 'music'], ['volumn', 'volume'], ['backround', 'background'], ['revers', 'reverse'],
  ])('%s is read as %s', (typo, word) => {
    expect(correctTypos(typo).text).toBe(word);
  });

  it('leaves ordinary words alone', () => {
    const words = 'timeline stores store status translation transaction reserved captain smoothie secondly minutely little tiles ' +
      'short shorts stories reels feels music title still static second minute portal statue vertex crossfire cropper';
    expect(correctTypos(words).corrections).toEqual([]);
  });
});

describe('hostile input stays linear', () => {
  const inputs = [
    fill('1', 4000), fill(' 1', 4000), fill('1-', 4000), fill('1 - ', 4000), fill('music ', 4000), fill('music 1', 4000),
    fill('每张', 4000), fill('每张1', 4000), fill('fade in ', 4000), fill('a', 4000) + '!', fill('\ue000 (', 4000), fill('"\'“「', 4000),
    fill('each photo ', 4000), fill('1 s per ', 4000), fill('zoom in ', 4000), fill('background music 1', 4000), fill('音乐1', 4000),
    fill('. 1', 4000), fill('1.1.', 4000), fill('(1 s) ', 4000), fill('pan ', 4000), fill('no ', 4000), fill('x1920x', 4000),
  ];
  it('every rule over 4000 pathological characters', () => {
    // Warm the regexes first so compilation is not counted.
    for (const r of RULES) {
      r.re.lastIndex = 0;
      while (r.re.exec('warm up 1 s 2 fps music 30% 每张2秒')) if (r.re.lastIndex === 0) break;
    }
    for (const input of inputs) {
      for (const r of RULES) {
        const started = performance.now();
        r.re.lastIndex = 0;
        for (let m = r.re.exec(input); m; m = r.re.exec(input)) if (m[0].length === 0) r.re.lastIndex++;
        const ms = performance.now() - started;
        expect(ms, `${r.re.source.slice(0, 60)} on ${JSON.stringify(input.slice(0, 12))}`).toBeLessThan(40);
      }
    }
  });

  it('whole plans for 2000-character hostile prompts are quick and bounded', () => {
    planJob({ images: imgs(3), prompt: 'warm up' });
    for (const input of inputs) {
      const prompt = input.slice(0, 2000);
      const started = performance.now();
      const plan = planJob({ images: imgs(10), prompt });
      expect(performance.now() - started).toBeLessThan(100);
      expect(PlanSchema.safeParse(plan).success).toBe(true);
      expect(plan.notes.length).toBeLessThan(70);
      expect(plan.notes.every((n) => n.length < 400)).toBe(true);
    }
  });

  it('reads at most 4000 characters of an over-long prompt (the CLI has no 2000 limit)', () => {
    const plan = planJob({ images: imgs(1), prompt: 'x '.repeat(5000) + ' vertical' });
    expect(plan.output.aspect).toBe('16:9');
    expect(plan.notes.join('\n')).toContain('only the first 4000 characters');
  });
});

describe('plans from prompts', () => {
  it('is deterministic', () => {
    const input = { images: imgs(7), prompt: "shuffle, random transitions, captions 'a' 'b', pan, 竖屏" };
    expect(planJob(input)).toEqual(planJob(input));
  });

  it('pans move the view across the photo inside valid views', () => {
    const plan = planJob({ images: imgs(2), prompt: 'pan left' });
    for (const c of plan.clips) {
      expect(c.motion).toMatchObject({ type: 'kenburns', from: { zoom: 1.15, y: 0.5 }, to: { zoom: 1.15, y: 0.5 } });
      if (c.motion.type === 'kenburns') expect(c.motion.to.x).toBeLessThan(c.motion.from.x);
    }
    expect(PlanSchema.safeParse(plan).success).toBe(true);
  });

  it('zoom in / zoom out go the same way on every photo', () => {
    const zin = planJob({ images: imgs(3), prompt: 'zoom in' }).clips.map((c) => (c.motion.type === 'kenburns' ? c.motion.to.zoom > c.motion.from.zoom : null));
    const zout = planJob({ images: imgs(3), prompt: 'zoom out' }).clips.map((c) => (c.motion.type === 'kenburns' ? c.motion.to.zoom > c.motion.from.zoom : null));
    expect(zin).toEqual([true, true, true]);
    expect(zout).toEqual([false, false, false]);
  });

  it('several captions go one per photo; extra ones are dropped with a note', () => {
    const plan = planJob({ images: imgs(2), prompt: "2 s per photo, captions 'A', 'B', 'C'" });
    expect(plan.overlays).toEqual([
      { type: 'caption', text: 'A', startMs: 0, durationMs: 2000 },
      { type: 'caption', text: 'B', startMs: 2000, durationMs: 2000 },
    ]);
    expect(plan.notes.join('\n')).toContain('1 caption dropped');
  });

  it('captions follow their photos when the order changes', () => {
    const plan = planJob({ images: imgs(3), prompt: "reverse order, captions 'first', 'second', 'third'" });
    expect(plan.overlays.map((o) => [o.text, o.startMs])).toEqual([['third', 0], ['second', 3000], ['first', 6000]]);
  });

  it('one caption spans the video; the call to action ends it; both fit a short video', () => {
    const plan = planJob({ images: imgs(1), prompt: "1 s per photo, caption 'Free shipping', call to action 'Buy now' for 5 seconds, title 'Hi'" });
    expect(plan.overlays).toEqual([
      { type: 'caption', text: 'Free shipping', startMs: 0, durationMs: 1000 },
      { type: 'cta', text: 'Buy now', startMs: 0, durationMs: 1000 },
      { type: 'title', text: 'Hi', startMs: 0, durationMs: 1000 },
    ].sort((a, b) => ['title', 'caption', 'cta'].indexOf(a.type) - ['title', 'caption', 'cta'].indexOf(b.type)));
  });

  it('music fades longer than the video are scaled to fit', () => {
    const plan = planJob({ images: imgs(1), prompt: '2 s per photo, music fades in over 3 seconds, fade out the music over 3 seconds' });
    expect(plan.audio).toEqual({ volume: 1, fadeInMs: 1000, fadeOutMs: 1000 });
  });

  it('a negated phrase is noted and not applied', () => {
    const plan = planJob({ images: imgs(1), prompt: 'not vertical, and not too fast' });
    expect(plan.output.aspect).toBe('16:9');
    expect(plan.clips[0]!.durationMs).toBe(3000);
    expect(plan.notes).toContain('"vertical" ignored: negated');
    expect(plan.notes).toContain('"fast" ignored: negated');
  });

  it('notes say what options overrode, in the prompt\'s language', () => {
    const en = planJob({ images: imgs(1), prompt: 'vertical, 720p', options: { aspect: '1:1' } });
    expect(en.notes.slice(0, 3)).toEqual(['"vertical" ignored: options.aspect wins', '"720p" -> 720p', 'options.aspect = "1:1"']);
    const zh = planJob({ images: imgs(1), prompt: '竖屏，标清', options: { aspect: '1:1' } });
    expect(zh.notes.slice(0, 3)).toEqual(['“竖屏” 已忽略：以请求参数 options.aspect 为准', '“标清” → 720p', '请求参数 options.aspect = "1:1"']);
  });

  it('4K opts in to 2160p; 8K gets the highest, 1440p the closest, with a note', () => {
    const plan = planJob({ images: imgs(1), prompt: 'export in 4K' });
    expect(plan.output).toMatchObject({ width: 3840, height: 2160 });
    expect(plan.notes[1]).toBe('"4k" -> 2160p (4K UHD)');
    expect(planJob({ images: imgs(1), prompt: '8K' }).notes[0]).toBe('"8k" -> 2160p (4K UHD): 8K output is not offered, so the highest supported resolution is used');
    expect(planJob({ images: imgs(1), prompt: '1440p' }).notes[0]).toBe('"1440p" -> 1080p: 1440P output is not offered, so the closest supported resolution is used (say 4K for 2160p)');
    expect(planJob({ images: imgs(1), prompt: '4K', options: { resolution: '720p' } }).output).toMatchObject({ width: 1280, height: 720 });
  });

  it('a repeated prompt gives a bounded list of notes', () => {
    const plan = planJob({ images: imgs(3), prompt: fill('vertical, 9:16, 1 s per photo, slow, ', 2000) });
    expect(plan.notes.length).toBeLessThan(20);
    expect(plan.notes[0]).toMatch(/^"vertical" -> 9:16 vertical \(x\d+\)$/);
  });

  it('100 photos with mixed transitions make a valid plan', () => {
    const plan = planJob({ images: imgs(100), prompt: 'random transitions, 0.5 s per photo' });
    expect(PlanSchema.safeParse(plan).success).toBe(true);
    expect(new Set(plan.clips.map((c) => c.transition.type)).size).toBeGreaterThan(5);
    expect(plan.clips.at(-1)!.transition).toEqual({ type: 'cut', durationMs: 0 });
  });
});
