import type { TransitionType } from '../../core/plan.js';

/**
 * The planner's seeded randomness: `random` transitions and (with `options.seed`) the
 * `shuffle` order. Pure JavaScript (no node:crypto: the planner also runs on Workers) and
 * stable across versions of Node, so a seed picks the same transitions on every machine.
 */

/**
 * What `random` transitions pick from: every named transition that reads well between two
 * product photos. Left out: `cut` (no transition at all), `fadeblack` / `fadewhite` (a dip
 * to a colour reads as a chapter break, not variety) and `pixelize` (it degrades the photo);
 * each can still be asked for by name.
 */
export const RANDOM_TRANSITIONS: readonly TransitionType[] = [
  'fade', 'dissolve',
  'wipeleft', 'wiperight', 'wipeup', 'wipedown',
  'slideleft', 'slideright', 'slideup', 'slidedown',
  'smoothleft', 'smoothright',
  'circleopen', 'circleclose', 'radial', 'zoomin',
];

/** Largest `options.seed` (JSON numbers are exact integers up to here). */
export const MAX_SEED = Number.MAX_SAFE_INTEGER;

/**
 * `count` transitions from `seed`: the pool in a shuffled order, then the pool reshuffled,
 * and so on. So every transition of the pool is used before any repeats, no two neighbours
 * are alike (a new round never starts with the one the last round ended on), and the picks
 * for n photos are the first picks for n + 1 (adding a photo changes nothing before it).
 */
export function randomTransitions(count: number, seed: number, pool: readonly TransitionType[] = RANDOM_TRANSITIONS): TransitionType[] {
  const rand = seededRandom(seed);
  const out: TransitionType[] = [];
  while (out.length < count && pool.length > 0) {
    const round = shuffle([...pool], rand);
    if (out.length > 0 && round.length > 1 && round[0] === out[out.length - 1]) {
      const j = 1 + Math.floor(rand() * (round.length - 1));
      [round[0], round[j]] = [round[j]!, round[0]!];
    }
    out.push(...round.slice(0, count - out.length));
  }
  return out;
}

/** Fisher-Yates in place with `rand`; returns the array. */
export function shuffle<T>(items: T[], rand: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/**
 * A generator of floats in [0, 1) from any seed 0..MAX_SEED (all 53 bits count: seeds that
 * differ only in their high bits give different streams). sfc32, seeded with the seed's two
 * 32-bit halves and warmed up.
 */
export function seededRandom(seed: number): () => number {
  const s = Number.isSafeInteger(seed) && seed >= 0 ? seed : 0;
  let a = s >>> 0;
  let b = Math.floor(s / 2 ** 32) >>> 0;
  let c = 0x9e3779b9;
  let d = 1;
  const next = () => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 15; i++) next();
  return next;
}

/** A 53-bit hash of text (cyrb53): the seed a request gets when it sets none. */
export function hashSeed(text: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/** The seed of a request without `options.seed`: its photos (in order) and its prompt, as written. */
export function requestSeed(sources: readonly string[], prompt: string | undefined): number {
  return hashSeed(JSON.stringify([sources, prompt ?? '']));
}
