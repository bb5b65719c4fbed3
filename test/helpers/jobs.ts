import { newId } from '../../src/core/ids.js';
import { expect } from 'vitest';
import type { CreateJobResult } from '../../src/adapters/ports.js';
import type { JobRecord } from '../../src/core/job.js';

/** A schema-valid queued job record for store tests; `over` replaces any field. */
export function makeJob(over: Partial<JobRecord> = {}): JobRecord {
  const createdAt = new Date().toISOString();
  return {
    id: newId('job'),
    tenant: 'default',
    status: 'queued',
    stage: 'queued',
    progress: 0,
    createdAt,
    updatedAt: createdAt,
    engine: 'local',
    request: { images: [{ url: 'https://example.com/a.jpg' }] },
    plan: null,
    result: null,
    error: null,
    attempts: 0,
    webhookAttempts: [],
    webhookQueuedAt: null,
    ...over,
  };
}

/**
 * Concurrent creates with one idempotency key, attempt i with fingerprint `fp-${i}`: exactly
 * one created a job, every attempt names it, and the others got the winner's fingerprint.
 * Returns the winning job's id.
 */
export function expectOneIdempotentWinner(results: CreateJobResult[]): string {
  const created = results.filter((r) => r.created);
  expect(created).toHaveLength(1);
  const winner = created[0]!.job.id;
  expect(new Set(results.map((r) => r.job.id))).toEqual(new Set([winner]));
  const winnerFp = `fp-${results.findIndex((r) => r.created)}`;
  for (const r of results.filter((x) => !x.created)) expect(r.existingFingerprint).toBe(winnerFp);
  return winner;
}
