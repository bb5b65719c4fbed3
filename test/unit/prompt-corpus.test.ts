import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { JobOptions } from '../../src/core/job.js';
import { PlanSchema, type Plan } from '../../src/core/plan.js';
import { escapePango } from '../../src/pipeline/engines/local/overlays.js';
import { planJob } from '../../src/pipeline/plan/planner.js';

/**
 * The prompt corpus (test/fixtures/prompt-corpus.json): each prompt with the plan fields it
 * must produce. Every entry, whatever it expects, must also give a valid plan quickly, with
 * overlays that are plain, bounded text.
 */

interface Expect {
  aspect?: string;
  width?: number;
  height?: number;
  fps?: number;
  durationMs?: number;
  secondsPerImage?: number;
  transition?: string;
  transitions?: string[];
  transitionMs?: number;
  motion?: string;
  fit?: string;
  background?: string;
  order?: number[];
  orderIsPermutation?: boolean;
  title?: string | null;
  titleMs?: number;
  titleLength?: number;
  captions?: string[];
  cta?: string;
  audio?: { volume: number; fadeInMs: number; fadeOutMs: number } | null;
  lang?: 'en' | 'zh';
  notesInclude?: string[];
  notesExclude?: string[];
}

interface Entry {
  name: string;
  prompt: string;
  images: number;
  options?: JobOptions;
  repeatTo?: number;
  suffix?: string;
  expect: Expect;
}

const corpus = JSON.parse(fs.readFileSync(new URL('../fixtures/prompt-corpus.json', import.meta.url), 'utf8')) as Entry[];

const imgs = (n: number) => Array.from({ length: n }, (_, i) => ({ source: `https://example.com/${i}.jpg` }));

function promptOf(e: Entry): string {
  if (!e.repeatTo) return e.prompt;
  let s = '';
  while (s.length < e.repeatTo) s += e.prompt;
  return s.slice(0, e.repeatTo) + (e.suffix ?? '');
}

/** What camera motion the clips show, in the vocabulary's terms. */
export function motionOf(plan: Plan): string {
  const kinds = plan.clips.map((c) => {
    const m = c.motion;
    if (m.type === 'none') return 'none';
    if (m.from.x !== m.to.x) return m.to.x < m.from.x ? 'panleft' : 'panright';
    if (m.from.y !== m.to.y) return m.to.y < m.from.y ? 'panup' : 'pandown';
    return m.to.zoom > m.from.zoom ? 'zoomin' : 'zoomout';
  });
  const [a, b] = kinds;
  if (kinds.every((k) => k === a)) return a!;
  if (a === 'zoomin' && b === 'zoomout') return 'kenburns';
  if (a === 'panright' && b === 'panleft') return 'pan';
  return kinds.join(',');
}


describe('prompt corpus', () => {
  it('has at least 80 prompts, covering every category the issue names', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(80);
    for (const prefix of ['brief:', 'zh:', 'mixed:', 'typo:', 'conflict:', 'hostile:', 'length:', 'transition:', 'motion:', 'quotes:', 'audio:', 'order:', 'fit:']) {
      expect(corpus.some((e) => e.name.startsWith(prefix)), prefix).toBe(true);
    }
  });

  it.each(corpus.map((e) => [e.name, e] as const))('%s', (_name, e) => {
    const prompt = promptOf(e);
    const plan = planJob({ images: imgs(e.images), prompt, options: e.options });
    const x = e.expect;

    // Always: a valid plan with plain bounded overlay text. (Planning speed is measured by
    // bench/planner.ts, not asserted here: a timed assertion flakes on a busy machine.)
    expect(PlanSchema.safeParse(plan).success).toBe(true);
    for (const o of plan.overlays) {
      expect(o.text.length).toBeGreaterThan(0);
      expect(Array.from(o.text).length).toBeLessThanOrEqual(200);
      // eslint-disable-next-line no-control-regex
      expect(o.text).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\ue000-\uf8ff]/);
      expect(escapePango(o.text)).not.toMatch(/<|>/); // what the renderer draws is never markup
    }
    for (const n of plan.notes) expect(n).not.toMatch(/[\ue000-\uf8ff]/); // no internal quote markers leak
    const c0 = plan.clips[0]!;

    if (x.aspect !== undefined) expect(plan.output.aspect).toBe(x.aspect);
    if (x.width !== undefined) expect(plan.output.width).toBe(x.width);
    if (x.height !== undefined) expect(plan.output.height).toBe(x.height);
    if (x.fps !== undefined) expect(plan.output.fps).toBe(x.fps);
    if (x.durationMs !== undefined) expect(plan.durationMs).toBe(x.durationMs);
    if (x.secondsPerImage !== undefined) expect(plan.clips[1]?.startMs ?? plan.durationMs).toBe(x.secondsPerImage * 1000);
    if (x.transition !== undefined) expect(c0.transition.type).toBe(x.transition);
    if (x.transitions !== undefined) expect(plan.clips.slice(0, x.transitions.length).map((c) => c.transition.type)).toEqual(x.transitions);
    if (x.transitionMs !== undefined) expect(c0.transition.durationMs).toBe(x.transitionMs);
    if (x.motion !== undefined) expect(motionOf(plan)).toBe(x.motion);
    if (x.fit !== undefined) expect(plan.clips.every((c) => c.fit === x.fit)).toBe(true);
    if (x.background !== undefined) expect(plan.background).toBe(x.background);
    if (x.order !== undefined) expect(plan.clips.map((c) => c.image.index)).toEqual(x.order);
    if (x.orderIsPermutation) {
      const order = plan.clips.map((c) => c.image.index);
      expect([...order].sort()).toEqual(imgs(e.images).map((_, i) => i));
      expect(planJob({ images: imgs(e.images), prompt }).clips.map((c) => c.image.index)).toEqual(order);
    }
    const title = plan.overlays.find((o) => o.type === 'title');
    if (x.title !== undefined) expect(title?.text ?? null).toBe(x.title);
    if (x.titleMs !== undefined) expect(title?.durationMs).toBe(x.titleMs);
    if (x.titleLength !== undefined) expect(Array.from(title?.text ?? '').length).toBe(x.titleLength);
    if (x.captions !== undefined) expect(plan.overlays.filter((o) => o.type === 'caption').map((o) => o.text)).toEqual(x.captions);
    if (x.cta !== undefined) {
      const cta = plan.overlays.find((o) => o.type === 'cta');
      expect(cta?.text).toBe(x.cta);
      expect(cta!.startMs + cta!.durationMs).toBe(plan.durationMs);
    }
    if (x.audio !== undefined) expect(plan.audio ?? null).toEqual(x.audio);

    const notes = plan.notes.join('\n');
    if (x.lang === 'zh') expect(notes).toContain('张照片 ×');
    if (x.lang === 'en') expect(plan.notes.filter((n) => /photos? x /.test(n))).toHaveLength(1);
    for (const s of x.notesInclude ?? []) expect(notes).toContain(s);
    for (const s of x.notesExclude ?? []) expect(notes).not.toContain(s);
  });
});
