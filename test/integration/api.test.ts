import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildOpenApiYaml } from '../../src/entry/openapi-source.js';
import { api, startService } from '../helpers/servers.js';

// The HTTP surface with the consumer off: jobs stay queued, so every answer is about the API itself.
let svc: Awaited<ReturnType<typeof startService>>;
let base: string;
const img = (n: number) => `https://images.example.com/${n}.jpg`;

beforeAll(async () => {
  svc = await startService({}, { consumer: false });
  base = svc.url;
});
afterAll(async () => svc?.stop());

describe('POST /v1/jobs', () => {
  it('queues a job and answers 202 with the job and its plan', async () => {
    const res = await api(base, 'POST', '/v1/jobs', {
      images: [{ url: img(1) }, img(2)],
      prompt: 'turn my photos into a smooth HD video with transitions',
      webhook: { url: 'https://hooks.example.com/x' },
      metadata: { sku: 'SHOE-42', tags: ['a'] },
    });
    expect(res.status).toBe(202);
    const job = res.json;
    expect(job.id).toMatch(/^job_[0-9a-z]{26}$/);
    expect(res.headers.get('location')).toBe(`/v1/jobs/${job.id}`);
    expect(job).toMatchObject({ status: 'queued', stage: 'queued', progress: 0, result: null, error: null, metadata: { sku: 'SHOE-42', tags: ['a'] } });
    expect(job.images).toEqual([{ url: img(1) }, { url: img(2) }]);
    expect(job.plan.output).toEqual({ width: 1920, height: 1080, fps: 30, aspect: '16:9' });
    expect(job.plan.durationMs).toBe(6000);
    expect(job.plan.clips[0].image).toEqual({ index: 0, source: img(1), width: null, height: null });
    expect(Date.parse(job.createdAt)).toBeGreaterThan(Date.now() - 60_000);
    expect((await svc.composition.services.jobQueue.depth()).visible).toBeGreaterThanOrEqual(1);
  });

  const bad: [string, unknown, string, string][] = [
    ['no images', { prompt: 'x' }, 'images', 'validation_error'],
    ['empty images', { images: [] }, 'images', 'validation_error'],
    ['101 images', { images: Array.from({ length: 101 }, (_, i) => img(i)) }, 'images', 'too_many_images'],
    ['a non-URL image', { images: [img(1), { url: 'not a url' }] }, 'images[1].url', 'validation_error'],
    ['an ftp image', { images: ['ftp://example.com/a.jpg'] }, 'images[0]', 'validation_error'],
    ['a too-long prompt', { images: [img(1)], prompt: 'x'.repeat(2001) }, 'prompt', 'validation_error'],
    ['fps 29', { images: [img(1)], options: { fps: 29 } }, 'options.fps', 'validation_error'],
    ['an unknown aspect', { images: [img(1)], options: { aspect: '3:2' } }, 'options.aspect', 'validation_error'],
    ['an unknown option', { images: [img(1)], options: { colour: 'red' } }, 'options', 'validation_error'],
    ['an unknown transition', { images: [img(1)], options: { transition: { type: 'spin' } } }, 'options.transition.type', 'validation_error'],
    ['metadata over 4 KB', { images: [img(1)], metadata: { x: 'y'.repeat(5000) } }, 'metadata', 'validation_error'],
    ['a webhook without URL', { images: [img(1)], webhook: {} }, 'webhook.url', 'validation_error'],
  ];
  it.each(bad)('rejects %s with 400 naming the field', async (_name, body, field, code) => {
    const res = await api(base, 'POST', '/v1/jobs', body);
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe(code);
    expect(res.json.error.field).toBe(field);
    expect(res.json.error.message).toContain(field);
    expect(res.text).not.toMatch(/at .*\.ts:\d+/); // never a stack trace
  });

  it('rejects malformed JSON with invalid_json', async () => {
    const res = await api(base, 'POST', '/v1/jobs', '{"images": [', {});
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe('invalid_json');
  });

  it('rejects a body over 1 MB with payload_too_large', async () => {
    const res = await api(base, 'POST', '/v1/jobs', JSON.stringify({ images: [img(1)], prompt: 'x'.repeat(1_100_000) }));
    expect(res.status).toBe(413);
    expect(res.json.error.code).toBe('payload_too_large');
  });

  it('returns the first job for a repeated Idempotency-Key and never queues a second render', async () => {
    const body = { images: [img(7)], prompt: 'idempotent' };
    const depthBefore = (await svc.composition.services.jobQueue.depth()).visible;
    const first = await api(base, 'POST', '/v1/jobs', body, { 'idempotency-key': 'order-1001' });
    const again = await Promise.all([1, 2, 3].map(() => api(base, 'POST', '/v1/jobs', body, { 'idempotency-key': 'order-1001' })));
    expect(first.status).toBe(202);
    for (const r of again) {
      expect(r.status).toBe(200);
      expect(r.json.id).toBe(first.json.id);
    }
    expect((await svc.composition.services.jobQueue.depth()).visible).toBe(depthBefore + 1);
    const conflict = await api(base, 'POST', '/v1/jobs', { ...body, prompt: 'different' }, { 'idempotency-key': 'order-1001' });
    expect(conflict.status).toBe(409);
    expect(conflict.json.error.code).toBe('idempotency_conflict');
  });
});

describe('GET /v1/jobs/{id} and GET /v1/jobs', () => {
  it('gets a job by id and 404s an unknown one', async () => {
    const created = await api(base, 'POST', '/v1/jobs', { images: [img(1)], metadata: { n: 1 } });
    const got = await api(base, 'GET', `/v1/jobs/${created.json.id}`);
    expect(got.status).toBe(200);
    expect(got.json).toEqual(created.json);
    const missing = await api(base, 'GET', '/v1/jobs/job_00000000000000000000000000');
    expect(missing.status).toBe(404);
    expect(missing.json.error).toEqual({ code: 'not_found', message: 'No job with id "job_00000000000000000000000000".' });
  });

  it('lists newest first with cursor pagination and a status filter', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await api(base, 'POST', '/v1/jobs', { images: [img(i)], metadata: { page: i } })).json.id);
    await api(base, 'POST', `/v1/jobs/${ids[1]}/cancel`);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await api(base, 'GET', `/v1/jobs?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      expect(res.json.data.length).toBeLessThanOrEqual(2);
      seen.push(...res.json.data.map((j: any) => j.id));
      cursor = res.json.nextCursor;
      pages++;
    } while (cursor && pages < 50);
    // Newest first, no repeats, and our five in reverse creation order.
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.filter((id) => ids.includes(id))).toEqual([...ids].reverse());
    expect([...seen].sort().reverse()).toEqual(seen);

    const canceled = await api(base, 'GET', '/v1/jobs?status=canceled&limit=100');
    expect(canceled.json.data.map((j: any) => j.id)).toContain(ids[1]);
    expect(canceled.json.data.every((j: any) => j.status === 'canceled')).toBe(true);

    const badStatus = await api(base, 'GET', '/v1/jobs?status=done');
    expect(badStatus.status).toBe(400);
    expect(badStatus.json.error.field).toBe('status');
    const badLimit = await api(base, 'GET', '/v1/jobs?limit=1000');
    expect(badLimit.json.error.field).toBe('limit');
  });
});

describe('POST /v1/jobs/{id}/cancel', () => {
  it('cancels a queued job, is idempotent, and 404s unknown ids', async () => {
    const { json: job } = await api(base, 'POST', '/v1/jobs', { images: [img(1)] });
    const res = await api(base, 'POST', `/v1/jobs/${job.id}/cancel`);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ id: job.id, status: 'canceled', error: { code: 'canceled' } });
    const again = await api(base, 'POST', `/v1/jobs/${job.id}/cancel`);
    expect(again.status).toBe(200);
    expect(again.json.status).toBe('canceled');
    expect((await api(base, 'POST', '/v1/jobs/job_nope/cancel')).status).toBe(404);
  });

  it('refuses to cancel a finished job with 409', async () => {
    const { json: job } = await api(base, 'POST', '/v1/jobs', { images: [img(1)] });
    await svc.composition.services.store.update(job.id, (j) => ({ ...j, status: 'failed' }));
    const res = await api(base, 'POST', `/v1/jobs/${job.id}/cancel`);
    expect(res.status).toBe(409);
    expect(res.json.error.code).toBe('job_not_cancelable');
  });
});

describe('service routes', () => {
  it('GET /healthz reports ok, version and queue depth', async () => {
    const res = await api(base, 'GET', '/healthz');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ ok: true, version: expect.any(String), queue: { visible: expect.any(Number) } });
  });

  it('GET /openapi.yaml serves the generated document, identical to the committed openapi.yaml', async () => {
    const res = await api(base, 'GET', '/openapi.yaml');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('yaml');
    expect(res.text).toContain('openapi: 3.1.0');
    for (const p of ['/v1/jobs:', '/v1/jobs/{id}:', '/v1/jobs/{id}/cancel:', '/healthz:', '/files/{key}:']) expect(res.text).toContain(p);
    const committed = fs.readFileSync(new URL('../../openapi.yaml', import.meta.url), 'utf8');
    // When this fails: run `npm run openapi:write` and commit openapi.yaml.
    expect(buildOpenApiYaml()).toBe(committed);
    expect(res.text).toBe(committed);
  });

  it('unknown routes answer 404 in the error shape', async () => {
    const res = await api(base, 'GET', '/v2/nothing');
    expect(res.status).toBe(404);
    expect(res.json.error.code).toBe('not_found');
  });

  it('refuses file downloads without a valid signature', async () => {
    const res = await api(base, 'GET', '/files/videos/default/job_x.mp4');
    expect(res.status).toBe(403);
    const forged = await api(base, 'GET', '/files/videos/default/job_x.mp4?expires=9999999999&sig=AAAA');
    expect(forged.status).toBe(403);
    expect(forged.json.error.code).toBe('forbidden');
  });
});
