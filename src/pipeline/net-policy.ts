import type { Config } from '../config.js';
import type { NetPolicy } from './net/safe-http.js';

/** The outbound network policy (SSRF rules, timeouts) for both image fetches and webhooks. */
export function netPolicy(c: Config): NetPolicy {
  return {
    allowHosts: c.FETCH_ALLOW_HOSTS,
    connectTimeoutMs: c.FETCH_CONNECT_TIMEOUT_MS,
    idleTimeoutMs: c.FETCH_IDLE_TIMEOUT_MS,
    totalTimeoutMs: c.FETCH_TOTAL_TIMEOUT_MS,
    maxRedirects: 5,
  };
}
