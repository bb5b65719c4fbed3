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
  return resolutionNotSupported(engine, request, plan) ?? jobTooLong(s.config.MAX_JOB_DURATION_SECONDS, plan) ?? { plan, engine };
}

/** Tallest frame (short side) each engine renders; engines not listed have no limit of their own. */
export const ENGINE_MAX_SHORT_SIDE: Partial<Record<EngineName, number>> = { nemo: 1080 };

/**
 * 2160p (4K) is rendered by the local engine only: the hosted agent exports at most 1080p and
 * has no resolution setting, so a 4K job on it is refused up front rather than delivered at
 * 1080p. The field is `options.resolution` when it asked, else `prompt` ("4K", "UHD", ...).
 */
function resolutionNotSupported(engine: EngineName, request: JobRequest, plan: Plan): AppError | undefined {
  const max = ENGINE_MAX_SHORT_SIDE[engine];
  const short = Math.min(plan.output.width, plan.output.height);
  if (max === undefined || short <= max) return undefined;
  const asked = `${short}p${short === 2160 ? ' (4K)' : ''}`;
  const fix = `use the "local" engine or ask for at most ${max}p`;
  return request.options?.resolution
    ? new AppError('validation_error', `options.resolution: the "${engine}" engine renders at most ${max}p, not ${asked}; ${fix}.`, { field: 'options.resolution' })
    : new AppError('validation_error', `prompt: it asks for ${asked}, but the "${engine}" engine renders at most ${max}p; ${fix} (options.resolution overrides the prompt).`, { field: 'prompt' });
}
