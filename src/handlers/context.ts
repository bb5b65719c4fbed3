import type { Services } from '../pipeline/services.js';

/** What every request handler can read from the Hono context. */
export type AppEnv = {
  Variables: {
    services: Services;
    /** The caller's tenant: from its API key (handlers/auth.ts), or 'default' when no keys are configured. */
    tenant: string;
    requestId: string;
  };
};
