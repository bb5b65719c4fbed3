import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PlanSchema } from '../../src/core/plan.js';
import { api, listen, startService } from '../helpers/servers.js';

/** POST /v1/plans: the dry run, on the real service (consumer off: nothing would render anyway). */
let svc: Awaited<ReturnType<typeof startService>>;
let base: string;
const img = (n: number) => `https://images.example.com/${n}.jpg`;

beforeAll(async () => {
  svc = await startService({}, { consumer: false });
  base = svc.url;
});
afterAll(async () => svc?.stop());

describe('POST /v1/plans', () => {
  it('answers 200 with the plan, without creating a job, queueing or fetching anything', async () => {
    const depthBefore = (await svc.composition.services.jobQueue.depth()).visible;
    const jobsBefore = (await api(base, 'GET', '/v1/jobs?limit=100')).json.data?.length ?? 0;
    const res = await api(base, 'POST', '/v1/plans', {
      images: [{ url: img(1) }, img(2), img(3)],
      prompt: "vertical for TikTok, 2 s per photo, title 'Summer Sale', end with 'Shop now'",
      webhook: { url: 'https://hooks.example.com/x' },
      metadata: { sku: 'SHOE-42' },
    });
    expect(res.status).toBe(200);
    expect(Object.keys(res.json)).toEqual(['plan']);
    const plan = res.json.plan;
    expect(PlanSchema.safeParse(plan).success).toBe(true);
    expect(plan.output).toEqual({ width: 1080, height: 1920, fps: 30, aspect: '9:16' });
    expect(plan.durationMs).toBe(6000);
    expect(plan.clips.map((c: any) => c.image)).toEqual([1, 2, 3].map((n, i) => ({ index: i, source: img(n), width: null, height: null })));
    expect(plan.overlays.map((o: any) => [o.type, o.text])).toEqual([['title', 'Summer Sale'], ['cta', 'Shop now']]);
    expect(plan.notes.join('\n')).toContain('decided once photos are fetched');

    expect((await svc.composition.services.jobQueue.depth()).visible).toBe(depthBefore);
    expect((await api(base, 'GET', '/v1/jobs?limit=100')).json.data?.length ?? 0).toBe(jobsBefore);
  });

  it('gives the same plan POST /v1/jobs puts on the job', async () => {
    const body = { images: [img(4), img(5)], prompt: 'square, slow zoom in, 1 s crossfades', options: { fps: 24 as const } };
    const dry = await api(base, 'POST', '/v1/plans', body);
    const job = await api(base, 'POST', '/v1/jobs', body);
    expect(job.status).toBe(202);
    expect(dry.json.plan).toEqual(job.json.plan);
  });

  it('reads a Chinese prompt and explains it in Chinese', async () => {
    const res = await api(base, 'POST', '/v1/plans', { images: [img(1), img(2), img(3)], prompt: '做一个竖屏视频，半分钟，标题「夏日特卖」，硬切' });
    expect(res.status).toBe(200);
    const plan = res.json.plan;
    expect(plan.output.aspect).toBe('9:16');
    expect(plan.durationMs).toBe(30_000);
    expect(plan.clips[0].transition).toEqual({ type: 'cut', durationMs: 0 });
    expect(plan.overlays[0]).toMatchObject({ type: 'title', text: '夏日特卖' });
    expect(plan.notes).toContain('“竖屏” → 9:16 竖屏');
    expect(plan.notes).toContain('3 张照片 × 10 秒 = 30 秒，1080x1920，30 fps（9:16）');
  });

  it('keeps hostile text plain: markup stays text, control characters go, nothing crashes', async () => {
    const prompt = `title "<span foreground='red'>Sale\u0007</span>" ` + '<script>alert(1)</script>'.repeat(70);
    const res = await api(base, 'POST', '/v1/plans', { images: [img(1)], prompt: prompt.slice(0, 2000) });
    expect(res.status).toBe(200);
    expect(res.json.plan.overlays[0].text).toBe("<span foreground='red'>Sale </span>"); // the BEL became a space
  });

  const bad: [string, unknown][] = [
    ['no images', { prompt: 'x' }],
    ['empty images', { images: [] }],
    ['a non-URL image', { images: [img(1), { url: 'not a url' }] }],
    ['an ftp image', { images: ['ftp://example.com/a.jpg'] }],
    ['a too-long prompt', { images: [img(1)], prompt: 'x'.repeat(2001) }],
    ['fps 29', { images: [img(1)], options: { fps: 29 } }],
    ['an unknown aspect', { images: [img(1)], options: { aspect: '3:2' } }],
    ['an unknown option', { images: [img(1)], options: { colour: 'red' } }],
    ['an unknown transition', { images: [img(1)], options: { transition: { type: 'spin' } } }],
    ['an unknown field', { images: [img(1)], extra: true }],
    ['malformed JSON', '{"images": ['],
  ];
  it.each(bad)('rejects %s exactly as POST /v1/jobs does', async (_name, body) => {
    const plans = await api(base, 'POST', '/v1/plans', body);
    const jobs = await api(base, 'POST', '/v1/jobs', body);
    expect(plans.status).toBe(400);
    expect(plans.json).toEqual(jobs.json);
    expect(plans.json.error.code).toMatch(/^(validation_error|invalid_json)$/);
  });

  it('is in the OpenAPI document', async () => {
    const res = await api(base, 'GET', '/openapi.yaml');
    expect(res.text).toContain('/v1/plans:');
    expect(res.text).toContain('PlanResponse');
  });
});

describe('POST /v1/plans with the LLM planner configured', () => {
  it('uses the model when LLM_PLANNER_URL is set, and falls back to the rules when it fails', async () => {
    let status = 200;
    const fake = await listen((req, res) => {
      req.resume();
      req.on('end', () => {
        if (status !== 200) return res.writeHead(status).end();
        const content = JSON.stringify({ aspect: '4:5', transition: 'circleopen' });
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ choices: [{ message: { role: 'assistant', content } }] }));
      });
    });
    const llm = await startService({ LLM_PLANNER_URL: `${fake.origin}/v1`, LLM_PLANNER_MODEL: 'fake', LLM_PLANNER_API_KEY: 'sk-x', LLM_PLANNER_TIMEOUT_MS: '2000' }, { consumer: false });
    try {
      const ok = await api(llm.url, 'POST', '/v1/plans', { images: [img(1), img(2)], prompt: 'something for the feed with round reveals' });
      expect(ok.status).toBe(200);
      expect(ok.json.plan.output.aspect).toBe('4:5');
      expect(ok.json.plan.clips[0].transition.type).toBe('circleopen');
      expect(ok.json.plan.notes[0]).toContain('language model (fake)');

      status = 503;
      const fallback = await api(llm.url, 'POST', '/v1/plans', { images: [img(1), img(2)], prompt: 'vertical, hard cuts' });
      expect(fallback.status).toBe(200);
      expect(fallback.json.plan.output.aspect).toBe('9:16');
      expect(fallback.json.plan.notes[0]).toBe('language model not used (HTTP 503); read by the built-in rules');
    } finally {
      await llm.stop();
      await fake.close();
    }
  });
});
