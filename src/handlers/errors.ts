import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ZodError } from 'zod';
import { AppError, toAppError, type ErrorCode } from '../core/errors.js';
import { MAX_IMAGES } from '../core/job.js';
import type { AppEnv } from './context.js';

export const ErrorResponseSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'validation_error' }),
      message: z.string().openapi({ example: 'images: must contain at least 1 item' }),
      field: z.string().optional().openapi({ description: 'The request field at fault (400s).', example: 'images' }),
      retryable: z.boolean().optional(),
    }),
  })
  .openapi('Error');

export const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: ErrorResponseSchema } } });

/** The JSON body of an error response. Never a stack trace; internal errors say only that. */
export function errorJson(c: Context<AppEnv>, err: AppError) {
  const body: { code: ErrorCode; message: string; field?: string; retryable?: boolean } = { code: err.code, message: err.message };
  if (err.field) body.field = err.field;
  if (err.status >= 500 || err.status === 429) body.retryable = err.retryable;
  return c.json({ error: body }, err.status as 400);
}

/** zod issues -> one validation_error naming the first offending field, e.g. `images[2].url`. */
export function validationError(error: ZodError, target: string): AppError {
  const issue = pickIssue(error);
  const field = formatPath(issue?.path ?? []);
  const where = field || (target === 'json' ? 'body' : target);
  if (where === 'images' && issue?.code === 'too_big') {
    // Its own code (as on the job, from intake), so clients can split the batch without parsing text.
    return new AppError('too_many_images', `images: a job takes at most ${MAX_IMAGES} photos; split the batch into several jobs.`, { field: where });
  }
  return new AppError('validation_error', `${where}: ${issue?.message ?? 'invalid'}`, { field: where });
}

function pickIssue(error: ZodError) {
  // Unions report one issue per branch; the deepest path is the most specific.
  const issues = error.issues.flatMap((i) => (i.code === 'invalid_union' && 'errors' in i ? (i.errors as typeof error.issues[]).flat().map((e) => ({ ...e, path: [...i.path, ...e.path] })) : [i]));
  return issues.sort((a, b) => b.path.length - a.path.length)[0];
}

function formatPath(path: PropertyKey[]): string {
  return path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '');
}

/** Last-resort handler: maps everything to the JSON error shape and logs what is unexpected. */
export function onError(err: unknown, c: Context<AppEnv>) {
  if (err instanceof HTTPException) {
    if (err.status === 400 && /json/i.test(err.message)) return errorJson(c, new AppError('invalid_json', 'The request body is not valid JSON.'));
    if (err.status === 413) return errorJson(c, new AppError('payload_too_large', 'The request body is too large.'));
    return c.json({ error: { code: 'http_error', message: err.message || 'Request failed.' } }, err.status);
  }
  const e = toAppError(err);
  if (e.code === 'internal_error') {
    c.get('services')?.logger.error({ err: err instanceof Error ? { message: err.message, stack: err.stack } : String(err), requestId: c.get('requestId') }, 'unhandled error');
  }
  return errorJson(c, e);
}
