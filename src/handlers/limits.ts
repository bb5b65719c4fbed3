import { AppError } from '../core/errors.js';

/**
 * Per-tenant token buckets in memory (one process; each API process limits on its own).
 * A bucket holds up to `perMinute` tokens (the burst) and refills at perMinute/60 a second;
 * each submission takes one.
 */
export class TokenBuckets {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  /** Take a token for `key`; when none is left, how many seconds until one is. */
  take(key: string, perMinute: number, now = Date.now()): { ok: true } | { ok: false; retryAfterSeconds: number } {
    if (perMinute <= 0) return { ok: true };
    const ratePerMs = perMinute / 60_000;
    const b = this.#buckets.get(key) ?? { tokens: perMinute, at: now };
    b.tokens = Math.min(perMinute, b.tokens + (now - b.at) * ratePerMs);
    b.at = now;
    this.#buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - b.tokens) / ratePerMs / 1000)) };
  }
}

/** MAX_JOB_DURATION_SECONDS, checked on the plan at submission (and by the dry run, which must agree). */
export function jobTooLong(maxSeconds: number, plan: { durationMs: number }): AppError | undefined {
  if (plan.durationMs <= maxSeconds * 1000) return undefined;
  return new AppError(
    'job_too_long',
    `The video would last ${(plan.durationMs / 1000).toFixed(1)} s; jobs are limited to ${maxSeconds} s (fewer photos or less time per photo).`,
  );
}
