/**
 * One error type for the whole service. `code` is the stable machine-readable
 * identifier clients branch on; `message` is for humans; `retryable` tells a
 * client (and our own consumer) whether trying the same thing again can help.
 */
export const ERROR_CODES = {
  // request problems (HTTP 4xx)
  validation_error: 400,
  invalid_json: 400,
  not_found: 404,
  idempotency_conflict: 409,
  job_not_cancelable: 409,
  range_not_satisfiable: 416,
  payload_too_large: 413,
  unauthorized: 401,
  rate_limited: 429,
  too_many_queued_jobs: 429,
  job_too_long: 400,
  webhook_not_configured: 409,
  /** The route exists, but this deployment cannot serve it (uploads on the Workers API). */
  not_supported: 501,
  // job problems (on the job record and in webhooks)
  too_many_images: 400,
  url_not_allowed: 422,
  fetch_failed: 422,
  fetch_timeout: 422,
  file_too_large: 413,
  unsupported_type: 415,
  image_corrupt: 422,
  image_too_many_pixels: 422,
  job_too_large: 422,
  // music (the request's `music`); network failures fetching it use the fetch_* / url_not_allowed codes
  unsupported_music_type: 415,
  music_too_large: 413,
  music_unreadable: 422,
  music_too_long: 422,
  render_failed: 500,
  // engines (nemo)
  engine_unavailable: 503,
  engine_failed: 502,
  insufficient_credits: 402,
  plan_export_blocked: 402,
  canceled: 409,
  processing_failed: 500,
  internal_error: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  retryable: boolean;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  /** The request field at fault, for 400s (`images[2].url`). */
  readonly field?: string;

  constructor(code: ErrorCode, message: string, opts: { retryable?: boolean; field?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AppError';
    this.code = code;
    this.retryable = opts.retryable ?? false;
    this.field = opts.field;
  }

  get status(): number {
    return ERROR_CODES[this.code];
  }

  toBody(): ErrorBody {
    return { code: this.code, message: this.message, retryable: this.retryable };
  }
}

/** Anything thrown becomes an AppError; unknown errors never leak their text or stack. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof Error && err.name === 'AbortError') return new AppError('canceled', 'The job was canceled.');
  return new AppError('internal_error', 'An internal error occurred.', { retryable: true, cause: err });
}
