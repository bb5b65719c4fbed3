import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from './context.js';

const CreditsSchema = z
  .object({
    available: z.number(),
    frozen: z.number(),
    total: z.number().openapi({ description: '`available` + `frozen`.' }),
  })
  .openapi('EngineCredits');

export const EngineInfoSchema = z
  .object({
    name: z.string().openapi({ example: 'nemo' }),
    default: z.boolean().openapi({ description: 'Used by jobs that do not name an engine.' }),
    credits: CreditsSchema.nullable().optional().openapi({
      description: 'Hosted engines (nemo): the credit balance of the account; null when it could not be read just now.',
    }),
  })
  .openapi('EngineInfo');

const EngineListSchema = z.object({ engines: z.array(EngineInfoSchema) }).openapi('EngineList');

const route = createRoute({
  method: 'get',
  path: '/v1/engines',
  tags: ['engines'],
  summary: 'List the engines a job may use, and the credit balance of hosted ones',
  responses: {
    200: { description: 'The engines configured on this server', content: { 'application/json': { schema: EngineListSchema } } },
  },
});

export function registerListEngines(app: OpenAPIHono<AppEnv>) {
  app.openapi(route, async (c) => {
    const s = c.get('services');
    const signal = AbortSignal.timeout(10_000);
    const engines = await Promise.all(
      Object.entries(s.engines).map(async ([name, engine]) => {
        const info: z.infer<typeof EngineInfoSchema> = { name, default: name === s.config.ENGINE };
        if (engine.status) {
          const st = await engine.status(signal).catch(() => ({ credits: null }));
          if ('credits' in st) info.credits = st.credits ?? null;
        }
        return info;
      }),
    );
    return c.json({ engines }, 200);
  });
}
