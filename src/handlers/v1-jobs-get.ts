import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { AppError } from '../core/errors.js';
import { JobSchema } from '../core/job.js';
import { presentJob } from '../pipeline/present.js';
import type { AppEnv } from './context.js';
import { errorJson, errorResponse } from './errors.js';

export const JobIdParams = z.object({
  id: z.string().min(1).max(100).openapi({ param: { name: 'id', in: 'path' }, example: 'job_01jdx5v6m8q3c2r1t0e9w8y7x6' }),
});

export const jobNotFound = (id: string) => new AppError('not_found', `No job with id "${id}".`);

const route = createRoute({
  method: 'get',
  path: '/v1/jobs/{id}',
  tags: ['jobs'],
  summary: 'Get a job: status, stage, progress, plan, result or error',
  request: { params: JobIdParams },
  responses: {
    200: { description: 'The job', content: { 'application/json': { schema: JobSchema } } },
    404: errorResponse('No such job (for this tenant)'),
  },
});

export function registerGetJob(app: OpenAPIHono<AppEnv>) {
  app.openapi(route, async (c) => {
    const s = c.get('services');
    const { id } = c.req.valid('param');
    const job = await s.store.get(c.get('tenant'), id);
    if (!job) return errorJson(c, jobNotFound(id)) as never;
    return c.json(await presentJob(job, s.urls), 200);
  });
}
