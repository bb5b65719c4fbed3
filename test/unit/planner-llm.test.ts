import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PlanSchema } from '../../src/core/plan.js';
import { chatCompletionsUrl, createLlmPlanner } from '../../src/pipeline/plan/llm-planner.js';
import { planJob, type PlanInput } from '../../src/pipeline/plan/planner.js';
import { listen } from '../helpers/servers.js';

/**
 * The optional LLM planner against a fake OpenAI-compatible endpoint on 127.0.0.1 (real
 * HTTP). Whatever the endpoint does wrong, the planner answers with the rules' plan plus a
 * note saying why.
 */

type Mode = 'good' | 'fenced' | 'invalid-json' | 'schema' | 'not-json-body' | 'slow' | 'http500' | 'made-up-title';

interface Seen {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

let mode: Mode = 'good';
let answer: unknown = {};
const seen: Seen[] = [];
let server: Awaited<ReturnType<typeof listen>>;

beforeAll(async () => {
  server = await listen((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: JSON.parse(raw) });
      const reply = (content: string) =>
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }] }));
      switch (mode) {
        case 'good': return reply(JSON.stringify(answer));
        case 'fenced': return reply('```json\n' + JSON.stringify(answer) + '\n```');
        case 'invalid-json': return reply('Sure! Here are the settings: {aspect: 9:16');
        case 'schema': return reply(JSON.stringify({ aspect: '3:2', fps: 29 }));
        case 'not-json-body': return res.writeHead(200, { 'content-type': 'text/html' }).end('<html>gateway</html>');
        case 'http500': return res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"boom"}}');
        case 'made-up-title': return reply(JSON.stringify({ aspect: '9:16', title: 'FREE MONEY', captions: ['Red', 'Totally invented'] }));
        case 'slow': {
          const t = setTimeout(() => reply(JSON.stringify(answer)), 3000);
          res.on('close', () => clearTimeout(t));
          return;
        }
      }
    });
  });
});
afterAll(async () => server?.close());
beforeEach(() => {
  mode = 'good';
  answer = {};
  seen.length = 0;
});

const imgs = (n: number) => Array.from({ length: n }, (_, i) => ({ source: `https://example.com/${i}.jpg` }));
const KEY = 'sk-test-secret-never-logged';

function planner(extra: { timeoutMs?: number } = {}) {
  const warnings: unknown[] = [];
  const p = createLlmPlanner({
    url: `${server.origin}/v1`,
    model: 'fake-model',
    apiKey: KEY,
    timeoutMs: extra.timeoutMs ?? 2000,
    logger: { warn: (obj, msg) => warnings.push({ obj, msg }) },
  });
  return { p, warnings };
}

/** A prompt the rules read one way, so a plan that differs shows the model was used. */
const input: PlanInput = { images: imgs(4), prompt: "make it pop for the phone crowd, title 'Summer Sale'" };

describe('LLM planner', () => {
  it('builds the URL of chat completions from a base URL or takes a full one', () => {
    expect(chatCompletionsUrl('http://h/v1')).toBe('http://h/v1/chat/completions');
    expect(chatCompletionsUrl('http://h/v1/')).toBe('http://h/v1/chat/completions');
    expect(chatCompletionsUrl('http://h/openai/v1/chat/completions')).toBe('http://h/openai/v1/chat/completions');
  });

  it('good answer: the model\'s settings, through the same timeline maths, with a note', async () => {
    answer = { aspect: '9:16', secondsPerImage: 2, transition: 'wipeleft', motion: 'zoomin', title: 'Summer Sale', audio: { volume: 0.35 } };
    const { p, warnings } = planner();
    const plan = await p.plan(input);
    expect(PlanSchema.safeParse(plan).success).toBe(true);
    expect(plan.output).toEqual({ width: 1080, height: 1920, fps: 30, aspect: '9:16' });
    expect(plan.durationMs).toBe(8000);
    expect(plan.clips.map((c) => c.startMs)).toEqual([0, 2000, 4000, 6000]);
    expect(plan.clips[0]!.transition).toEqual({ type: 'wipeleft', durationMs: 750 });
    expect(plan.clips[1]!.motion).toMatchObject({ type: 'kenburns', from: { zoom: 1 }, to: { zoom: 1.08 } });
    expect(plan.overlays).toEqual([{ type: 'title', text: 'Summer Sale', startMs: 0, durationMs: 3000 }]);
    expect(plan.audio).toEqual({ volume: 0.35, fadeInMs: 0, fadeOutMs: 0 });
    expect(plan.notes[0]).toContain('language model (fake-model)');
    expect(warnings).toEqual([]);

    // What was sent: an OpenAI-style chat completion with the key as a bearer token.
    expect(seen).toHaveLength(1);
    const req = seen[0]!;
    expect(req.method).toBe('POST');
    expect(req.url).toBe('/v1/chat/completions');
    expect(req.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(req.body).toMatchObject({ model: 'fake-model', temperature: 0, response_format: { type: 'json_object' } });
    expect(req.body.messages[0].role).toBe('system');
    expect(req.body.messages[1]).toEqual({ role: 'user', content: input.prompt });
  });

  it('accepts an answer wrapped in a ```json fence', async () => {
    mode = 'fenced';
    answer = { aspect: '1:1' };
    const plan = await planner().p.plan(input);
    expect(plan.output.aspect).toBe('1:1');
  });

  it('explicit options still win over the model', async () => {
    answer = { aspect: '9:16', fps: 60 };
    const plan = await planner().p.plan({ ...input, options: { aspect: '16:9' } });
    expect(plan.output).toMatchObject({ aspect: '16:9', fps: 60 });
  });

  it('asks once per prompt (the consumer re-plans the same job with the same answer)', async () => {
    answer = { aspect: '4:5' };
    const { p } = planner();
    const a = await p.plan(input);
    const b = await p.plan({ ...input, images: input.images.map((i) => ({ ...i, width: 800, height: 1000 })) });
    expect(seen).toHaveLength(1);
    expect(a.output).toEqual(b.output);
  });

  it('does not call the model for an empty prompt', async () => {
    const plan = await planner().p.plan({ images: imgs(2), prompt: '  ' });
    expect(seen).toHaveLength(0);
    expect(plan).toEqual(planJob({ images: imgs(2), prompt: '  ' }));
  });

  it('drops overlay text the model made up (overlay text must be the user\'s words)', async () => {
    mode = 'made-up-title';
    const plan = await planner().p.plan({ images: imgs(3), prompt: "vertical, captions 'Red' and 'Blue'" });
    expect(plan.output.aspect).toBe('9:16');
    expect(plan.overlays.map((o) => o.text)).toEqual(['Red']);
    expect(plan.notes.join('\n')).toContain('"FREE MONEY" dropped');
  });

  const failures: [string, Mode, string][] = [
    ['invalid JSON from the model', 'invalid-json', 'did not answer a JSON object'],
    ['a schema-violating answer', 'schema', 'failed validation (aspect'],
    ['a body that is not JSON', 'not-json-body', 'did not answer JSON'],
    ['HTTP 500', 'http500', 'HTTP 500'],
  ];
  it.each(failures)('falls back to the rules on %s', async (_name, m, reason) => {
    mode = m;
    const { p, warnings } = planner();
    const plan = await p.plan(input);
    const rules = planJob(input);
    expect(plan.notes[0]).toMatch(/^language model not used \(.+\); read by the built-in rules$/);
    expect(plan.notes[0]).toContain(reason);
    expect({ ...plan, notes: plan.notes.slice(1) }).toEqual(rules);
    expect(PlanSchema.safeParse(plan).success).toBe(true);
    expect(warnings).toHaveLength(1);
    expect(JSON.stringify(warnings)).not.toContain(KEY);
    expect(JSON.stringify(warnings)).not.toContain('Summer Sale'); // nor the prompt
  });

  it('falls back to the rules on a timeout, without waiting for the model', async () => {
    mode = 'slow';
    const { p } = planner({ timeoutMs: 300 });
    const started = Date.now();
    const plan = await p.plan(input);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(plan.notes[0]).toBe('language model not used (no answer within 300 ms); read by the built-in rules');
    expect({ ...plan, notes: plan.notes.slice(1) }).toEqual(planJob(input));
  });

  it('falls back when the endpoint cannot be reached', async () => {
    const dead = await listen(() => {});
    const url = dead.origin;
    await dead.close();
    const p = createLlmPlanner({ url, model: 'm', timeoutMs: 2000 });
    const plan = await p.plan(input);
    expect(plan.notes[0]).toContain('language model not used (the endpoint could not be reached)');
  });

  it('writes the fallback note in Chinese for a Chinese prompt', async () => {
    mode = 'http500';
    const plan = await planner().p.plan({ images: imgs(2), prompt: '竖屏，每张照片2秒' });
    expect(plan.notes[0]).toBe('未使用语言模型（HTTP 500），改用内置规则理解');
    expect(plan.output.aspect).toBe('9:16');
  });

  it('a canceled job stops the call instead of falling back', async () => {
    mode = 'slow';
    const ac = new AbortController();
    const pending = planner({ timeoutMs: 5000 }).p.plan(input, ac.signal);
    setTimeout(() => ac.abort(), 100);
    await expect(pending).rejects.toThrow();
  });
});
