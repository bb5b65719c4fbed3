import { AppError } from '../core/errors.js';
import { imageSource, type EngineName, type JobRequest } from '../core/job.js';
import type { Plan } from '../core/plan.js';
import type { Services } from '../pipeline/services.js';
import { checkMusicUpload, checkUploadsExist } from '../pipeline/uploads/store.js';
import { jobTooLong } from './limits.js';

/**
 * The checks and planning POST /v1/jobs and POST /v1/plans share, so a dry run that
 * passes means the job would be accepted with exactly this plan: the uploads exist for
 * this tenant, the engine is available, and the planned video is within the length limit.
 * The plan is made before photos are fetched (sizes unknown); the consumer refines it.
 */
export async function planRequest(s: Services, tenant: string, request: JobRequest): Promise<{ plan: Plan; engine: EngineName } | AppError> {
  const unknownUpload = await checkUploadsExist(s.storage, tenant, request.images);
  if (unknownUpload) return unknownUpload;
  const badMusic = await checkMusicUpload(s.storage, tenant, request.music);
  if (badMusic) return badMusic;
  const engine = request.engine ?? s.config.ENGINE;
  if (!s.engines[engine]) {
    const available = Object.keys(s.engines).map((n) => `"${n}"`).join(', ');
    return new AppError('validation_error', `engine: "${engine}" is not available on this server (available: ${available}).`, { field: 'engine' });
  }
  if (request.music && engine !== 'local') {
    // The hosted agent picks its own soundtrack, if any: refusing beats a video silently without the music paid for.
    return new AppError('validation_error', `music: the "${engine}" engine cannot use the request's music; use the "local" engine or leave "music" out.`, { field: 'music' });
  }
  const plan = await s.planner.plan({ images: request.images.map((i) => ({ source: imageSource(i) })), prompt: request.prompt, options: request.options, music: request.music });
  return jobTooLong(s.config.MAX_JOB_DURATION_SECONDS, plan) ?? { plan, engine };
}
