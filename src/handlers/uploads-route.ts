import type { OpenAPIHono } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { AppError } from '../core/errors.js';
import type { AppEnv } from './context.js';
import { errorJson } from './errors.js';

/**
 * What createApp needs to know about POST /v1/uploads without importing its handler: the
 * real one (v1-uploads-create.ts) streams to disk and decodes with sharp, so only the Node
 * entry can load it. Runtimes without it (Workers) register the refusal below instead.
 */

export const UPLOADS_PATH = '/v1/uploads';

/** Adds POST /v1/uploads (and its OpenAPI entry, when it has one) to the app. */
export type UploadsRegistrar = (app: OpenAPIHono<AppEnv>) => void;

/** Wraps a middleware so it does not run for POST /v1/uploads (which streams and limits its own body). */
export function exceptUploads(mw: MiddlewareHandler<AppEnv>): MiddlewareHandler<AppEnv> {
  return (c, next) => (c.req.path === UPLOADS_PATH ? next() : mw(c, next));
}

/**
 * A stable 501 rather than a 404, so a client that reads `error.code` can tell "this
 * deployment cannot take uploads" from a typo. Not in the OpenAPI registry: the document
 * describes the full API, which the Node server serves.
 */
export const registerUploadsUnsupported: UploadsRegistrar = (app) => {
  app.post(UPLOADS_PATH, (c) =>
    errorJson(c, new AppError('not_supported', 'Uploads need the Node API (photoreel serve); on Workers send image URLs.')),
  );
};
