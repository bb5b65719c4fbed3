import { describe, expect, it } from 'vitest';
import { renderStatus, retryAfterMs } from '../../src/pipeline/engines/nemo/client.js';
import { guiIntent, isExportable, replaceInternalPaths, summariseDraft } from '../../src/pipeline/engines/nemo/draft.js';
import { DEFAULT_INSTRUCTION, instructionFor, isPublicUrl } from '../../src/pipeline/engines/nemo/index.js';
import { handleEventData, meaningfulTexts, newTurn, readTurn } from '../../src/pipeline/engines/nemo/sse.js';
import type { Plan } from '../../src/core/plan.js';

const stream = (chunks: string[]) =>
  new ReadableStream<Uint8Array>({
    start(c) {
      for (const ch of chunks) c.enqueue(new TextEncoder().encode(ch));
      c.close();
    },
  });

describe('nemo SSE events', () => {
  it('ADK events: text parts are the answer; thoughts, tool calls, user-role responses and partials are not', () => {
    const t = newTurn();
    handleEventData(t, JSON.stringify({ author: 'nemo_agent', content: { role: 'model', parts: [{ text: 'thinking', thought: true }] } }));
    handleEventData(t, JSON.stringify({ content: { role: 'model', parts: [{ functionCall: { id: '1', name: 'x', args: {} } }] } }));
    handleEventData(t, JSON.stringify({ content: { role: 'user', parts: [{ functionResponse: { id: '1', name: 'x', response: { text: 'no' } } }] } }));
    handleEventData(t, JSON.stringify({ partial: true, content: { role: 'model', parts: [{ text: 'Do' }] } }));
    handleEventData(t, JSON.stringify({ content: { role: 'model', parts: [{ text: 'Done!' }] }, turnComplete: true }));
    expect(t.texts).toEqual(['Done!']);
    expect(t.toolCalls).toBe(1);
  });

  it('the older simple shape, heartbeats and empty data lines', () => {
    const t = newTurn();
    handleEventData(t, '');
    handleEventData(t, '   ');
    handleEventData(t, '{"type":"heartbeat"}');
    handleEventData(t, '{"type":"tool_call","name":"x","args":{}}');
    handleEventData(t, '{"type":"tool_result","name":"x","result":{}}');
    handleEventData(t, '{"type":"text","content":"Here you go"}');
    expect(t).toMatchObject({ texts: ['Here you go'], heartbeats: 3, toolCalls: 1, errored: false });
  });

  it('errors: {"error"} and errorCode events; malformed data is counted, not thrown', () => {
    const t = newTurn();
    handleEventData(t, '{not json');
    handleEventData(t, '42');
    handleEventData(t, '{"error":"boom"}');
    expect(t).toMatchObject({ malformed: 2, errored: true });
    const u = newTurn();
    handleEventData(u, JSON.stringify({ errorCode: 'MODEL_ERROR', errorMessage: 'x' }));
    expect(u.errored).toBe(true);
  });

  it('"I encountered a temporary issue" is noise', () => {
    const t = newTurn();
    t.texts.push('Added transitions.', 'I encountered a temporary issue. Please retry.');
    expect(meaningfulTexts(t)).toEqual(['Added transitions.']);
  });

  it('readTurn: events split across chunks, CRLF, unknown fields, a last event without its blank line', async () => {
    const body = stream([
      'data: {"content":{"role":"model","parts":[{"te',
      'xt":"one"}]}}\r\n\r\n',
      'foo: bar\n\n: comment\n\ndata:\n\n',
      'data: {"type":"text","content":"two"}',
    ]);
    const t = await readTurn(body, new AbortController().signal, 10_000);
    expect(t.texts).toEqual(['one', 'two']);
    expect(t.heartbeats).toBe(1);
    expect(t.dropped).toBe(false);
  });

  it('readTurn: a broken stream is "dropped", the cap is "timedOut"', async () => {
    let pulls = 0;
    const broken = new ReadableStream<Uint8Array>({
      pull(c) {
        if (pulls++ === 0) c.enqueue(new TextEncoder().encode('data: {"type":"text","content":"half"}\n\n'));
        else c.error(new TypeError('terminated'));
      },
    });
    expect(await readTurn(broken, new AbortController().signal, 10_000)).toMatchObject({ dropped: true, texts: ['half'] });
    const endless = new ReadableStream<Uint8Array>({ pull: () => new Promise((r) => setTimeout(r, 50)) });
    expect(await readTurn(endless, new AbortController().signal, 100)).toMatchObject({ timedOut: true, dropped: false });
  });

  it('readTurn: our abort rejects', async () => {
    const ac = new AbortController();
    const endless = new ReadableStream<Uint8Array>({ pull: () => new Promise((r) => setTimeout(r, 50)) });
    setTimeout(() => ac.abort(new DOMException('stop', 'AbortError')), 50);
    await expect(readTurn(endless, ac.signal, 10_000)).rejects.toThrow(/stop/);
  });
});

describe('nemo draft', () => {
  const draft = { t: [{ tt: 0, sg: [{ d: 2000, src: '/mnt/userdata/photo-0.jpg' }, { d: 3000 }] }, { tt: 1, sg: [], d: 0 }, { tt: 7, sg: [{ d: 1500 }] }], m: { width: 1920 }, zz: 1 };

  it('exportable when a track has segments', () => {
    expect(isExportable(draft)).toBe(true);
    expect(isExportable({ t: [{ tt: 0, sg: [] }] })).toBe(false);
    expect(isExportable(null)).toBe(false);
    expect(isExportable({})).toBe(false);
  });

  it('summarises tracks with kinds, segment counts and times', () => {
    expect(summariseDraft(draft)).toBe('Timeline (3 tracks): 1. Video: 2 segments (0-5s) 2. BGM: 0 segments 3. Text: 1 segment (0-1.5s)');
    expect(summariseDraft(null)).toBe('Timeline: empty');
  });

  it('replaces internal paths with cdn URLs and keeps everything else', () => {
    const out = replaceInternalPaths(draft, [{ filename: 'photo-0.jpg', cdnUrl: 'https://cdn.example/u/photo-0.jpg' }]) as any;
    expect(out.t[0].sg[0].src).toBe('https://cdn.example/u/photo-0.jpg');
    expect(out.zz).toBe(1);
    expect(out.m).toEqual({ width: 1920 });
  });

  it('classifies GUI talk', () => {
    expect(guiIntent(['Click the Export button'])).toBe('export');
    expect(guiIntent(['Open the panel to see it'])).toBe('state');
    expect(guiIntent(['Drag the clip left'])).toBe('edit');
    expect(guiIntent(['Done'])).toBe('none');
  });
});

describe('nemo client helpers', () => {
  it('render status: shape A and shape B, progress as a fraction or a percentage', () => {
    expect(renderStatus({ id: 'render_1', status: 'completed', progress: 1, outputUrl: 'https://x/v.mp4' }, 'f')).toEqual({ id: 'render_1', status: 'completed', progress: 1, outputUrl: 'https://x/v.mp4' });
    expect(renderStatus({ taskId: 'render_2', status: 'processing', progress: 40 }, 'f')).toEqual({ id: 'render_2', status: 'processing', progress: 0.4, outputUrl: null });
    expect(renderStatus({ taskId: 'render_2', status: 'COMPLETED', progress: 100, output: { url: 'https://x/o.mp4' } }, 'f')).toMatchObject({ status: 'completed', outputUrl: 'https://x/o.mp4' });
    expect(renderStatus({}, 'render_3')).toEqual({ id: 'render_3', status: 'pending', progress: 0, outputUrl: null });
  });

  it('Retry-After: seconds or an HTTP date', () => {
    expect(retryAfterMs('3')).toBe(3000);
    expect(retryAfterMs(null)).toBeUndefined();
    expect(retryAfterMs('soon')).toBeUndefined();
    const d = retryAfterMs(new Date(Date.now() + 5000).toUTCString())!;
    expect(d).toBeGreaterThan(3000);
    expect(d).toBeLessThanOrEqual(5000);
    expect(retryAfterMs('99999')).toBe(600_000);
  });

  it('public URLs: not loopback/private/allow-listed/credentialed', () => {
    expect(isPublicUrl('https://cdn.example.com/a.jpg', [])).toBe(true);
    expect(isPublicUrl('http://93.184.216.34/a.jpg', [])).toBe(true);
    expect(isPublicUrl('http://127.0.0.1:8080/a.jpg', [])).toBe(false);
    expect(isPublicUrl('http://10.1.2.3/a.jpg', [])).toBe(false);
    expect(isPublicUrl('http://[::1]/a.jpg', [])).toBe(false);
    expect(isPublicUrl('http://localhost/a.jpg', [])).toBe(false);
    expect(isPublicUrl('https://user:pw@cdn.example.com/a.jpg', [])).toBe(false);
    expect(isPublicUrl('http://photos.test:8080/a.jpg', ['photos.test:8080'])).toBe(false);
    expect(isPublicUrl('ftp://cdn.example.com/a.jpg', [])).toBe(false);
  });

  it('the instruction: the prompt (or the default) plus the plan\'s shape', () => {
    const plan = { output: { width: 1080, height: 1920, fps: 30, aspect: '9:16' }, durationMs: 7500, clips: [], overlays: [], background: '#000000', notes: [] } as unknown as Plan;
    const images = [{ index: 0, path: 'a', type: 'jpeg', width: 1, height: 1 }];
    const base = { plan, images, workDir: '/tmp', signal: new AbortController().signal, onProgress: () => {} };
    expect(instructionFor({ ...base, prompt: '  fast cuts ' })).toBe('fast cuts\n\nUse the 1 uploaded photo in order. Output: 9:16 aspect ratio, 1080p (1080x1920), about 7.5 seconds, 30 fps, MP4.');
    expect(instructionFor(base).startsWith(DEFAULT_INSTRUCTION)).toBe(true);
  });
});
