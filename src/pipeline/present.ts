import type { ObjectUrls } from '../adapters/ports.js';
import { toJobView, type JobRecord, type JobView } from '../core/job.js';

/** The public view of a job, with download URLs for its result resolved. */
export async function presentJob(job: JobRecord, urls: ObjectUrls): Promise<JobView> {
  const resolved = new Map<string, string>();
  if (job.result) {
    const keys = [job.result.video.key, job.result.poster.key, ...(job.result.preview ? [job.result.preview.key] : [])];
    for (const key of keys) resolved.set(key, await urls.urlFor(key));
  }
  return toJobView(job, (key) => resolved.get(key) ?? '');
}
