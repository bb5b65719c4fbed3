import { timingSafeEqual } from 'node:crypto';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { sha256 } from '../core/api-keys.js';
import { AppError } from '../core/errors.js';
import type { AppEnv } from './context.js';
import { errorJson } from './errors.js';

/**
 * GET /metrics in the Prometheus text format: jobs by status (all tenants, from the store),
 * queue depth, and this process's counters and histograms (render seconds, stage seconds,
 * webhook attempts). Open unless METRICS_TOKEN is set; then it needs that bearer token.
 * Not part of the OpenAPI document (it is for the operator's scraper, not for API clients).
 */
export function registerMetrics(app: OpenAPIHono<AppEnv>) {
  app.get('/metrics', async (c) => {
    const s = c.get('services');
    const token = s.config.METRICS_TOKEN;
    if (token) {
      const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(c.req.header('authorization') ?? '');
      if (!m || !timingSafeEqual(sha256(m[1]!), sha256(token))) {
        c.header('WWW-Authenticate', 'Bearer realm="photoreel-metrics"');
        return errorJson(c, new AppError('unauthorized', 'GET /metrics needs "Authorization: Bearer <METRICS_TOKEN>".'));
      }
    }
    const [byStatus, jobs, webhooks] = await Promise.all([s.store.countByStatus(), s.jobQueue.depth(), s.webhookQueue.depth()]);
    const queueSeries = (queue: string, d: { visible: number; inFlight: number; delayed: number }) => [
      { labels: { queue, state: 'visible' }, value: d.visible },
      { labels: { queue, state: 'in_flight' }, value: d.inFlight },
      { labels: { queue, state: 'delayed' }, value: d.delayed },
    ];
    const text = s.metrics.render([
      { name: 'photoreel_jobs', help: 'Jobs in the store by status (all tenants).', series: Object.entries(byStatus).map(([status, value]) => ({ labels: { status }, value })) },
      { name: 'photoreel_queue_messages', help: 'Queue depth by queue and state.', series: [...queueSeries('jobs', jobs), ...queueSeries('webhooks', webhooks)] },
    ]);
    return c.body(text, 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
  });
}
