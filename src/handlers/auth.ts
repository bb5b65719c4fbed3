import type { MiddlewareHandler } from 'hono';
import { tenantForKey } from '../core/api-keys.js';
import { AppError } from '../core/errors.js';
import type { AppEnv } from './context.js';
import { errorJson } from './errors.js';

/** The tenant of requests when no API keys are configured (loopback or ALLOW_UNAUTHENTICATED). */
export const DEFAULT_TENANT = 'default';

/**
 * `/v1/*`: with API keys configured, `Authorization: Bearer <key>` names the tenant;
 * anything else is a 401 `unauthorized` with `WWW-Authenticate: Bearer`. Without keys,
 * every caller is the tenant "default". /healthz, /openapi.yaml and the signed /files
 * URLs are not under /v1 and stay open.
 */
export function apiKeyAuth(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const keys = c.get('services').config.apiKeys;
    if (keys.length === 0) {
      c.set('tenant', DEFAULT_TENANT);
      return next();
    }
    const header = c.req.header('authorization');
    const m = header ? /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header) : null;
    const tenant = m ? tenantForKey(keys, m[1]!) : undefined;
    if (!tenant) {
      c.header('WWW-Authenticate', header ? 'Bearer realm="photoreel", error="invalid_token"' : 'Bearer realm="photoreel"');
      // The body (if any) is never read, so the connection cannot be reused.
      if (c.req.method !== 'GET' && c.req.method !== 'HEAD') c.header('connection', 'close');
      const message = !header
        ? 'This route needs an API key: send "Authorization: Bearer <key>".'
        : !m
          ? 'The Authorization header must be "Bearer <key>".'
          : 'The API key is not valid.';
      return errorJson(c, new AppError('unauthorized', message));
    }
    c.set('tenant', tenant);
    return next();
  };
}
