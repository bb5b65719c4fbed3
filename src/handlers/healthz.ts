import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from './context.js';

const route = createRoute({
  method: 'get',
  path: '/healthz',
  tags: ['ops'],
  summary: 'Liveness and queue depth',
  responses: {
    200: {
      description: 'The service is up',
      content: {
        'application/json': {
          schema: z
            .object({
              ok: z.literal(true),
              version: z.string(),
              queue: z.object({ visible: z.number().int(), inFlight: z.number().int(), delayed: z.number().int() }),
            })
            .openapi('Health'),
        },
      },
    },
  },
});

export function registerHealthz(app: OpenAPIHono<AppEnv>, version: string) {
  app.openapi(route, async (c) => {
    const queue = await c.get('services').jobQueue.depth();
    return c.json({ ok: true as const, version, queue }, 200);
  });
}
