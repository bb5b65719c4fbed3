import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { AppError } from '../core/errors.js';
import { JobRequestSchema } from '../core/job.js';
import { PlanSchema } from '../core/plan.js';
import type { AppEnv } from './context.js';
import { errorJson, errorResponse } from './errors.js';
import { planRequest } from './plan-request.js';

const PlanResponseSchema = z.object({ plan: PlanSchema }).openapi('PlanResponse');

const route = createRoute({
  method: 'post',
  path: '/v1/plans',
  tags: ['plans'],
  summary: 'Dry run: how an instruction would be understood, without rendering',
  description:
    'Takes the same body as `POST /v1/jobs` and answers 200 with the plan (the timeline) that job would get, ' +
    'without creating a job, fetching photos or rendering. Photo sizes are unknown until photos are fetched, so ' +
    '`clips[].image.width`/`height` are null and automatic fit is decided later. `plan.notes` says how each phrase ' +
    'of the prompt and each option was read, and what was ignored. `webhook` and `metadata` are accepted and unused.',
  request: {
    body: {
      required: true,
      content: {
        'application/json': {
          schema: JobRequestSchema,
          example: {
            images: ['https://example.com/shoe-1.jpg', 'https://example.com/shoe-2.jpg', 'https://example.com/shoe-3.jpg'],
            prompt: "vertical for TikTok, 2 s per photo, snappy, title 'Summer Sale', end with 'Shop now'",
          },
        },
      },
    },
  },
  responses: {
    200: { description: 'The plan the same POST /v1/jobs request would get', content: { 'application/json': { schema: PlanResponseSchema } } },
    400: errorResponse('Invalid body, an unknown upload or an unavailable engine; `error.field` names the field; or a video longer than MAX_JOB_DURATION_SECONDS (`job_too_long`); exactly as POST /v1/jobs'),
  },
});

export function registerCreatePlan(app: OpenAPIHono<AppEnv>) {
  app.openapi(route, async (c) => {
    const s = c.get('services');
    const request = c.req.valid('json');
    const planned = await planRequest(s, c.get('tenant'), request);
    if (planned instanceof AppError) return errorJson(c, planned) as never;
    return c.json({ plan: planned.plan }, 200);
  });
}
