import { newId } from '../../src/core/ids.js';
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
