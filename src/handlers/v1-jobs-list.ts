import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { JOB_STATUSES, JobSchema } from '../core/job.js';
import { presentJob } from '../pipeline/present.js';
import type { AppEnv } from './context.js';
import { errorResponse } from './errors.js';

const route = createRoute({
  method: 'get',
  path: '/v1/jobs',
  tags: ['jobs'],
  summary: 'List jobs, newest first',
  description: 'Cursor pagination: pass `nextCursor` from one page as `cursor` to get the next; it is null on the last page.',
  request: {
    query: z.object({
      status: z.enum(JOB_STATUSES).optional(),
      limit: z.coerce.number().int().min(1).max(100).default(20),
      cursor: z.string().max(100).optional(),
    }),
  },
  responses: {
    200: {
      description: 'A page of jobs',
      content: { 'application/json': { schema: z.object({ data: z.array(JobSchema), nextCursor: z.string().nullable() }).openapi('JobList') } },
    },
    400: errorResponse('Invalid query'),
  },
});

export function registerListJobs(app: OpenAPIHono<AppEnv>) {
  app.openapi(route, async (c) => {
    const s = c.get('services');
    const { status, limit, cursor } = c.req.valid('query');
    const page = await s.store.list({ tenant: c.get('tenant'), status, limit, cursor });
    return c.json({ data: await Promise.all(page.jobs.map((j) => presentJob(j, s.urls))), nextCursor: page.nextCursor }, 200);
  });
}
