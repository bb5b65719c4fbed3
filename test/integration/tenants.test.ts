import fs from 'node:fs';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePhoto } from '../helpers/images.js';
import { api, isFinal, startService, tempDir, webhookReceiver } from '../helpers/servers.js';

/**
 * Tenants and keys across every route: authentication, isolation (another tenant's ids
 * answer 404, never 403), per-tenant webhook secrets, limits, the webhook log, metrics.
 */

const KEYS = { a1: 'key-alpha-0001', a2: 'key-alpha-0002', b: 'key-bravo-0001' };
const API_KEYS = `tenantA:${KEYS.a1},tenantA:${KEYS.a2},tenantB:${KEYS.b}`;
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const img = (n: number) => `https://images.example.com/${n}.jpg`;

let photos: string;
beforeAll(async () => {
  photos = await tempDir('photoreel-tenants-photos-');
});
afterAll(async () => fs.promises.rm(photos, { recursive: true, force: true }));

async function upload(base: string, key: string, file: string) {
  const res = await fetch(`${base}/v1/uploads`, { method: 'POST', body: new Uint8Array(fs.readFileSync(file)), headers: { 'content-type': 'image/jpeg', ...bearer(key) } });
  return { status: res.status, json: (await res.json()) as any };
}

async function waitFor<T>(what: string, get: () => Promise<T>, until: (v: T) => boolean, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await get();
    if (until(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)?.slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('API keys and isolation (consumer off)', () => {
  let svc: Awaited<ReturnType<typeof startService>>;
  let base: string;
  const as = (key: string) => (method: string, p: string, body?: unknown, headers: Record<string, string> = {}) => api(base, method, p, body, { ...bearer(key), ...headers });
  const A = as(KEYS.a1);
  const A2 = as(KEYS.a2);
  const B = as(KEYS.b);

  beforeAll(async () => {
    svc = await startService({ API_KEYS, MAX_JOB_DURATION_SECONDS: '20' }, { consumer: false });
    base = svc.url;
  });
  afterAll(async () => svc?.stop());

  const v1Routes: [string, string, unknown?][] = [
    ['GET', '/v1/jobs'],
    ['POST', '/v1/jobs', { images: [img(1)] }],
    ['GET', '/v1/jobs/job_00000000000000000000000000'],
    ['POST', '/v1/jobs/job_00000000000000000000000000/cancel'],
    ['GET', '/v1/jobs/job_00000000000000000000000000/webhooks'],
    ['POST', '/v1/jobs/job_00000000000000000000000000/webhooks/msg_x/redeliver'],
    ['POST', '/v1/plans', { images: [img(1)] }],
    ['GET', '/v1/engines'],
    ['POST', '/v1/uploads', 'not a photo'],
  ];

  it.each(v1Routes)('%s %s needs a key: 401 unauthorized with WWW-Authenticate: Bearer', async (method, p, body) => {
    const none = await api(base, method, p, body);
    expect(none.status).toBe(401);
    expect(none.json.error.code).toBe('unauthorized');
    expect(none.json.error.message).toContain('Authorization: Bearer <key>');
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer realm="photoreel"$/);
    const wrong = await api(base, method, p, body, bearer('key-alpha-0003'));
    expect(wrong.status).toBe(401);
    expect(wrong.json.error).toEqual({ code: 'unauthorized', message: 'The API key is not valid.' });
    expect(wrong.headers.get('www-authenticate')).toContain('error="invalid_token"');
    const basic = await api(base, method, p, body, { authorization: `Basic ${Buffer.from(`tenantA:${KEYS.a1}`).toString('base64')}` });
    expect(basic.status).toBe(401);
    expect(basic.json.error.message).toMatch(/must be "Bearer <key>"/);
  });

  it('leaves /healthz, /openapi.yaml and /metrics open, and accepts a lower-case scheme', async () => {
    expect((await api(base, 'GET', '/healthz')).status).toBe(200);
    const doc = await api(base, 'GET', '/openapi.yaml');
    expect(doc.status).toBe(200);
    expect(doc.text).toContain('bearerAuth:');
    expect(doc.text).toContain('scheme: bearer');
    expect((await api(base, 'GET', '/metrics')).status).toBe(200);
    expect((await api(base, 'GET', '/v1/engines', undefined, { authorization: `bearer ${KEYS.b}` })).status).toBe(200);
  });

  it('two keys of one tenant see the same jobs', async () => {
    const created = await A('POST', '/v1/jobs', { images: [img(1)] });
    expect(created.status).toBe(202);
    const got = await A2('GET', `/v1/jobs/${created.json.id}`);
    expect(got.status).toBe(200);
    expect(got.json.id).toBe(created.json.id);
  });

  it("another tenant's job is 404 (not 403) on get, cancel, webhooks and redeliver, and never listed", async () => {
    const a = (await A('POST', '/v1/jobs', { images: [img(2)], webhook: { url: 'https://hooks.example.com/a' }, metadata: { owner: 'A' } })).json;
    const b = (await B('POST', '/v1/jobs', { images: [img(3)], metadata: { owner: 'B' } })).json;
    const notFound = { code: 'not_found', message: `No job with id "${a.id}".` };
    for (const [method, p] of [['GET', `/v1/jobs/${a.id}`], ['POST', `/v1/jobs/${a.id}/cancel`], ['GET', `/v1/jobs/${a.id}/webhooks`], ['POST', `/v1/jobs/${a.id}/webhooks/msg_x/redeliver`]] as const) {
      const res = await B(method, p);
      expect(res.status, `${method} ${p}`).toBe(404);
      expect(res.json.error).toEqual(notFound);
    }
    // The cancel attempt changed nothing.
    expect((await A('GET', `/v1/jobs/${a.id}`)).json.status).toBe('queued');
    // Exactly the answer for an id that does not exist at all.
    const none = await B('GET', '/v1/jobs/job_00000000000000000000000000');
    expect(none.status).toBe(404);

    const listB = (await B('GET', '/v1/jobs?limit=100')).json.data.map((j: any) => j.id);
    const listA = (await A('GET', '/v1/jobs?limit=100')).json.data.map((j: any) => j.id);
    expect(listB).toContain(b.id);
    expect(listB).not.toContain(a.id);
    expect(listA).toContain(a.id);
    expect(listA).not.toContain(b.id);
    expect((await B('GET', '/v1/jobs?status=queued&limit=100')).json.data.every((j: any) => j.metadata?.owner !== 'A')).toBe(true);
  });

  it("cannot use another tenant's upload in a job or a plan", async () => {
    const file = path.join(photos, 'a.jpg');
    await makePhoto(file, { width: 120, height: 90, colour: [200, 40, 40] });
    const up = await upload(base, KEYS.a1, file);
    expect(up.status).toBe(201);
    const mine = await A('POST', '/v1/jobs', { images: [{ upload: up.json.id }] });
    expect(mine.status).toBe(202);
    for (const p of ['/v1/jobs', '/v1/plans']) {
      const theirs = await B('POST', p, { images: [img(1), { upload: up.json.id }] });
      expect(theirs.status, p).toBe(400);
      expect(theirs.json.error.field).toBe('images[1].upload');
      expect(theirs.json.error.message).toContain(`no upload "${up.json.id}"`);
    }
    // Stored under the tenant's prefix.
    expect(await svc.composition.services.storage.list(`uploads/tenantA/${up.json.id}`)).not.toHaveLength(0);
    expect(await svc.composition.services.storage.list(`uploads/tenantB/`)).toHaveLength(0);
  });

  it("cannot download another tenant's video through a URL for a guessed key", async () => {
    const s = svc.composition.services;
    const a = (await A('POST', '/v1/jobs', { images: [img(4)] })).json;
    const b = (await B('POST', '/v1/jobs', { images: [img(5)] })).json;
    // Stand-ins for rendered results, stored where the renderer puts them.
    const file = path.join(photos, 'fake.mp4');
    fs.writeFileSync(file, 'not really a video');
    for (const j of [a, b]) {
      const tenant = j === a ? 'tenantA' : 'tenantB';
      const keys = { video: `videos/${tenant}/${j.id}.mp4`, poster: `posters/${tenant}/${j.id}.jpg` };
      await s.storage.putFile(keys.video, file, 'video/mp4');
      await s.storage.putFile(keys.poster, file, 'image/jpeg');
      await s.store.update(j.id, (r) => ({ ...r, status: 'succeeded', stage: 'done', progress: 1, result: { video: { key: keys.video, bytes: 18, width: 1920, height: 1080, fps: 30, durationMs: 3000, codec: 'h264' }, poster: { key: keys.poster } } }));
    }
    const bUrl = new URL((await B('GET', `/v1/jobs/${b.id}`)).json.result.video.url);
    expect((await fetch(bUrl)).status).toBe(200);
    const guessed = `/files/videos/tenantA/${a.id}.mp4`;
    // No signature, B's signature on A's key, and B's API key: all refused.
    const plain = await api(base, 'GET', guessed, undefined, bearer(KEYS.b));
    expect(plain.status).toBe(403);
    const swapped = await api(base, 'GET', `${guessed}${bUrl.search}`);
    expect(swapped.status).toBe(403);
    expect(swapped.json.error.code).toBe('forbidden');
    // A's own URL works.
    const aUrl = (await A('GET', `/v1/jobs/${a.id}`)).json.result.video.url;
    const ok = await fetch(aUrl);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('not really a video');
  });

  it('refuses a video longer than MAX_JOB_DURATION_SECONDS at submission and in the dry run', async () => {
    const long = { images: Array.from({ length: 10 }, (_, i) => img(i)), options: { secondsPerImage: 3 } };
    for (const p of ['/v1/jobs', '/v1/plans']) {
      const res = await A('POST', p, long);
      expect(res.status, p).toBe(400);
      expect(res.json.error.code).toBe('job_too_long');
      expect(res.json.error.message).toMatch(/limited to 20 s/);
    }
    const ok = await A('POST', '/v1/jobs', { images: Array.from({ length: 5 }, (_, i) => img(i)), options: { secondsPerImage: 3 } });
    expect(ok.status).toBe(202);
  });

  it('redeliver answers 409 for a job without a webhook and 404 for an unknown event', async () => {
    const j = (await A('POST', '/v1/jobs', { images: [img(6)] })).json;
    const res = await A('POST', `/v1/jobs/${j.id}/webhooks/msg_x/redeliver`);
    expect(res.status).toBe(409);
    expect(res.json.error.code).toBe('webhook_not_configured');
    const w = (await A('POST', '/v1/jobs', { images: [img(6)], webhook: { url: 'https://hooks.example.com/a' } })).json;
    expect((await A('POST', `/v1/jobs/${w.id}/webhooks/msg_nope/redeliver`)).status).toBe(404);
    const log = await A('GET', `/v1/jobs/${w.id}/webhooks`);
    expect(log.status).toBe(200);
    expect(log.json).toEqual({ url: 'https://hooks.example.com/a', data: [] });
  });
});

describe('per-tenant limits (consumer off)', () => {
  let svc: Awaited<ReturnType<typeof startService>>;
  beforeAll(async () => {
    svc = await startService({ API_KEYS, RATE_LIMIT_JOBS_PER_MINUTE: '4', MAX_QUEUED_JOBS_PER_TENANT: '2', METRICS_TOKEN: 'metrics-token-1' }, { consumer: false });
  });
  afterAll(async () => svc?.stop());

  it('caps queued jobs per tenant (too_many_queued_jobs), then rate-limits submissions (rate_limited, Retry-After)', async () => {
    const A = (p: string, body?: unknown) => api(svc.url, 'POST', p, body, bearer(KEYS.a1));
    const first = await A('/v1/jobs', { images: [img(1)] });
    expect(first.status).toBe(202);
    expect((await A('/v1/jobs', { images: [img(2)] })).status).toBe(202);
    const capped = await A('/v1/jobs', { images: [img(3)] });
    expect(capped.status).toBe(429);
    expect(capped.json.error).toMatchObject({ code: 'too_many_queued_jobs', retryable: true });
    expect(capped.json.error.message).toContain('2 queued or running jobs');
    // Another tenant is not affected.
    expect((await api(svc.url, 'POST', '/v1/jobs', { images: [img(1)] }, bearer(KEYS.b))).status).toBe(202);
    // A finished job frees its place.
    expect((await A(`/v1/jobs/${first.json.id}/cancel`)).status).toBe(200);
    expect((await A('/v1/jobs', { images: [img(4)] })).status).toBe(202);
    // Four submissions (the capped one counts) have emptied A's bucket of 4 a minute.
    const limited = await A('/v1/jobs', { images: [img(5)] });
    expect(limited.status).toBe(429);
    expect(limited.json.error).toMatchObject({ code: 'rate_limited', retryable: true });
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(15);
    // B's bucket is its own: its second job is accepted, its third meets the cap.
    expect((await api(svc.url, 'POST', '/v1/jobs', { images: [img(2)] }, bearer(KEYS.b))).status).toBe(202);
    const bCapped = await api(svc.url, 'POST', '/v1/jobs', { images: [img(3)] }, bearer(KEYS.b));
    expect(bCapped.status).toBe(429);
    expect(bCapped.json.error.code).toBe('too_many_queued_jobs');
  });

  it('guards /metrics with METRICS_TOKEN when set', async () => {
    const none = await api(svc.url, 'GET', '/metrics');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toContain('Bearer');
    expect((await api(svc.url, 'GET', '/metrics', undefined, bearer(KEYS.a1))).status).toBe(401);
    const ok = await api(svc.url, 'GET', '/metrics', undefined, bearer('metrics-token-1'));
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toContain('text/plain; version=0.0.4');
    expect(ok.text).toMatch(/^photoreel_jobs\{status="queued"\} 4$/m);
    expect(ok.text).toMatch(/^photoreel_queue_messages\{queue="jobs",state="visible"\} 5$/m);
    expect(ok.text).toMatch(/^photoreel_jobs\{status="canceled"\} 1$/m);
  });
});

describe('running jobs: pixel limit, per-tenant webhook secrets, the webhook log, metrics', () => {
  const SECRET_DEFAULT = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  const SECRET_A_NEW = 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD';
  const SECRET_A_OLD = 'whsec_3w9VgRxMuXhkp4XyNCI4g8XPVMsN8Zua';
  let svc: Awaited<ReturnType<typeof startService>>;
  let hooks: Awaited<ReturnType<typeof webhookReceiver>>;
  beforeAll(async () => {
    hooks = await webhookReceiver();
    svc = await startService({
      API_KEYS,
      WEBHOOK_SECRET: SECRET_DEFAULT,
      WEBHOOK_SECRETS: `tenantA:${SECRET_A_NEW}|${SECRET_A_OLD}`,
      FETCH_ALLOW_HOSTS: hooks.hostPort,
      MAX_JOB_PIXELS: '10000',
    });
  });
  afterAll(async () => {
    await svc?.stop();
    await hooks?.close();
  });

  it('fails a job over MAX_JOB_PIXELS, renders one under it, signs per tenant, logs and redelivers webhooks, counts it all', async () => {
    const big = path.join(photos, 'big.jpg');
    const small = path.join(photos, 'small.jpg');
    await makePhoto(big, { width: 200, height: 150, colour: [30, 90, 200] }); // 30000 px
    await makePhoto(small, { width: 96, height: 72, colour: [200, 160, 30] }); // 6912 px
    const upA = (await upload(svc.url, KEYS.a1, big)).json;
    const upB = (await upload(svc.url, KEYS.b, small)).json;
    const jobA = (await api(svc.url, 'POST', '/v1/jobs', { images: [{ upload: upA.id }], webhook: { url: hooks.url } }, bearer(KEYS.a1))).json;
    const jobB = (await api(svc.url, 'POST', '/v1/jobs', { images: [{ upload: upB.id }], options: { secondsPerImage: 1, resolution: '720p', fps: 24, motion: 'none' }, webhook: { url: hooks.url } }, bearer(KEYS.b))).json;

    const get = (id: string, key: string) => async () => (await api(svc.url, 'GET', `/v1/jobs/${id}`, undefined, bearer(key))).json;
    const a = await waitFor('job A final', get(jobA.id, KEYS.a1), isFinal);
    expect(a.status).toBe('failed');
    expect(a.error.code).toBe('job_too_large');
    expect(a.error.message).toContain('30000 pixels');
    const b = await waitFor('job B final', get(jobB.id, KEYS.b), isFinal, 120_000);
    expect(b.status).toBe('succeeded');

    const received = await hooks.waitFor(2);
    const hookA = received.find((h) => JSON.parse(h.body).data.id === jobA.id)!;
    const hookB = received.find((h) => JSON.parse(h.body).data.id === jobB.id)!;
    // A's event carries one signature per secret: a receiver holding the new or the old one verifies.
    expect(hookA.headers['webhook-signature']!.split(' ')).toHaveLength(2);
    expect(new Webhook(SECRET_A_NEW).verify(hookA.body, hookA.headers)).toMatchObject({ type: 'job.failed' });
    expect(new Webhook(SECRET_A_OLD).verify(hookA.body, hookA.headers)).toMatchObject({ type: 'job.failed' });
    expect(() => new Webhook(SECRET_DEFAULT).verify(hookA.body, hookA.headers)).toThrow();
    // B has no secret of its own: WEBHOOK_SECRET signs, and A's secrets do not verify it.
    expect(new Webhook(SECRET_DEFAULT).verify(hookB.body, hookB.headers)).toMatchObject({ type: 'job.succeeded' });
    expect(() => new Webhook(SECRET_A_NEW).verify(hookB.body, hookB.headers)).toThrow();

    // The delivery log, and a manual redelivery with the same webhook-id.
    const eventId = hookA.headers['webhook-id']!;
    const log = await waitFor('A log', async () => (await api(svc.url, 'GET', `/v1/jobs/${jobA.id}/webhooks`, undefined, bearer(KEYS.a1))).json, (l) => l.data?.length === 1);
    expect(log.url).toBe(hooks.url);
    expect(log.data[0]).toMatchObject({ eventId, type: 'job.failed', attempt: 1, ok: true, status: 200, error: null, nextAttemptAt: null });
    expect((await api(svc.url, 'POST', `/v1/jobs/${jobA.id}/webhooks/${eventId}/redeliver`, undefined, bearer(KEYS.b))).status).toBe(404);
    const again = await api(svc.url, 'POST', `/v1/jobs/${jobA.id}/webhooks/${eventId}/redeliver`, undefined, bearer(KEYS.a2));
    expect(again.status).toBe(202);
    expect(again.json).toEqual({ deliveryId: eventId, type: 'job.failed', queued: true });
    const all = await hooks.waitFor(3);
    expect(all[2]!.headers['webhook-id']).toBe(eventId);
    expect(JSON.parse(all[2]!.body).data.id).toBe(jobA.id);
    expect(new Webhook(SECRET_A_OLD).verify(all[2]!.body, all[2]!.headers)).toMatchObject({ type: 'job.failed' });
    const log2 = await waitFor('A log 2', async () => (await api(svc.url, 'GET', `/v1/jobs/${jobA.id}/webhooks`, undefined, bearer(KEYS.a1))).json, (l) => l.data?.length === 2);
    expect(log2.data.map((x: any) => [x.eventId, x.ok])).toEqual([[eventId, true], [eventId, true]]);

    // Metrics: jobs by status, queue depth, stage and render histograms, webhook outcomes.
    const m = (await api(svc.url, 'GET', '/metrics')).text;
    expect(m).toMatch(/^photoreel_jobs\{status="failed"\} 1$/m);
    expect(m).toMatch(/^photoreel_jobs\{status="succeeded"\} 1$/m);
    expect(m).toMatch(/^photoreel_queue_messages\{queue="jobs",state="visible"\} 0$/m);
    expect(m).toMatch(/^photoreel_queue_messages\{queue="webhooks",state="in_flight"\} \d+$/m);
    expect(m).toMatch(/^photoreel_webhook_attempts_total\{outcome="delivered"\} 3$/m);
    expect(m).toMatch(/^photoreel_render_seconds_count\{engine="local"\} 1$/m);
    expect(m).toMatch(/^photoreel_stage_seconds_count\{stage="fetching"\} 2$/m);
    expect(m).toMatch(/^photoreel_stage_seconds_count\{stage="publishing"\} 1$/m);
  }, 180_000);
});
