import type { OpenAPIHono } from '@hono/zod-openapi';
import { stringify } from 'yaml';
import type { AppEnv } from './context.js';

/** The OpenAPI 3.1 document generated from the route schemas; openapi.yaml is this, committed. */
export function openApiYaml(app: OpenAPIHono<AppEnv>, version: string): string {
  const doc = app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: {
      title: 'Photoreel API',
      version,
      description:
        'Photos in, HD MP4 out. POST image URLs with a plain-language instruction, get a job id at once, ' +
        'and receive a signed webhook (Standard Webhooks) when the video is ready.',
    },
    servers: [{ url: 'http://127.0.0.1:8080', description: 'embedded default' }],
  });
  // Every /v1 route takes the API key (when the server has keys configured).
  doc.components = {
    ...doc.components,
    securitySchemes: {
      ...doc.components?.securitySchemes,
      bearerAuth: {
        type: 'http',
        scheme: 'bearer',
        description: 'An API key from API_KEYS / API_KEYS_FILE: `Authorization: Bearer <key>`. Servers without keys (loopback) ignore it.',
      },
    },
  };
  for (const [p, item] of Object.entries(doc.paths ?? {})) {
    if (!p.startsWith('/v1/')) continue;
    for (const method of ['get', 'put', 'post', 'delete', 'patch'] as const) {
      const op = item?.[method];
      if (!op) continue;
      op.security = [{ bearerAuth: [] }];
      op.responses = {
        ...op.responses,
        401: { description: 'Missing or invalid API key (`unauthorized`); `WWW-Authenticate: Bearer`', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
      };
    }
  }
  return stringify(doc, { lineWidth: 0, aliasDuplicateObjects: false });
}
