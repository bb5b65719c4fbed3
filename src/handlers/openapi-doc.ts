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
  return stringify(doc, { lineWidth: 0, aliasDuplicateObjects: false });
}
