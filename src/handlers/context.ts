import type { Services } from '../pipeline/services.js';

/** What every request handler can read from the Hono context. */
export type AppEnv = {
  Variables: {
    services: Services;
    /** The caller's tenant. One tenant ('default') until API keys arrive. */
    tenant: string;
    requestId: string;
  };
};
