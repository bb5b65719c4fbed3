import { AppError, toAppError } from '../../core/errors.js';
import { safeRequest, type NetPolicy } from '../net/safe-http.js';
import { webhookHeaders } from './sign.js';

export interface DeliveryResult {
  ok: boolean;
  status: number | null;
  /** Short reason when not ok: "HTTP 500", "timed out after 10 s", "address not allowed". Never the response body. */
  error: string | null;
  durationMs: number;
}

/**
 * One signed POST to a receiver. Goes through the same SSRF policy as image fetching;
 * redirects are not followed (a 3xx is a failed attempt); the whole attempt is cut off
 * after `timeoutMs` so a hanging receiver cannot hold a worker.
 */
export async function deliverWebhook(opts: {
  url: string;
  id: string;
  body: string;
  /** One secret, or several during a rotation (each signs). */
  secret: string | readonly string[];
  policy: NetPolicy;
  timeoutMs: number;
}): Promise<DeliveryResult> {
  const started = Date.now();
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), opts.timeoutMs);
  try {
    const res = await safeRequest(opts.url, {
      method: 'POST',
      headers: { ...webhookHeaders(opts.secret, opts.id, opts.body), 'user-agent': 'Photoreel-Webhooks/1' },
      body: opts.body,
      policy: { ...opts.policy, totalTimeoutMs: Math.min(opts.policy.totalTimeoutMs, opts.timeoutMs) },
      followRedirects: false,
      signal: abort.signal,
    });
    // Drain (and bound) the response so the socket is released; its content is never stored.
    let seen = 0;
    for await (const chunk of res.body) {
      seen += (chunk as Buffer).length;
      if (seen > 64 * 1024) {
        res.body.destroy();
        break;
      }
    }
    const ok = res.status >= 200 && res.status < 300;
    return { ok, status: res.status, error: ok ? null : `HTTP ${res.status}`, durationMs: Date.now() - started };
  } catch (err) {
    const e = abort.signal.aborted ? new AppError('fetch_timeout', `timed out after ${opts.timeoutMs / 1000} s`) : toAppError(err);
    return { ok: false, status: null, error: e.code === 'internal_error' ? 'delivery failed' : e.message, durationMs: Date.now() - started };
  } finally {
    clearTimeout(timer);
  }
}
