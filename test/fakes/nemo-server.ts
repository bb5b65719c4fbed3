import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';

/**
 * A fake of the hosted Nemo agent, written from /work/shared/nemo-protocol.md: real HTTP on
 * 127.0.0.1, the `{code, message, data}` envelope, the render envelope and both status shapes,
 * ADK-framed SSE on /run_sse, and switches for every failure the client must handle. It counts
 * every call and records the headers it saw, so tests can assert what the client did.
 */

export interface NemoFakeSwitches {
  /** The first authenticated request answers 1001 (and the token it carried is revoked). */
  token1001Once?: boolean;
  /** The first /run_sse answers "session not found": as a 1002 envelope or ADK's HTTP 404 detail. */
  session1002Once?: 'envelope' | 'detail';
  /** The first upload answers HTTP 429 (with `Retry-After: <seconds>` when a number is given). */
  rateLimitOnce?: { retryAfterSeconds?: number };
  /** /run_sse answers 2001 (out of credits). */
  outOfCredits?: boolean;
  /** Export answers HTTP 402 (plan does not allow export). */
  export402?: boolean;
  /** The turn is only heartbeats (empty data lines and `{"type":"heartbeat"}`); the edit is applied. */
  heartbeatsOnly?: boolean;
  /** The turn has tool traffic but no text (the 30 % case); the edit is applied. */
  noText?: boolean;
  /** A trailing "I encountered a temporary issue" text after the real answer. */
  trailingTemporaryIssue?: boolean;
  /** The older simple event shape (`{"type":"text","content":...}`) instead of ADK events. */
  simpleEvents?: boolean;
  /** Render status shape A (newest, default) or B (older, top-level). */
  renderShape?: 'A' | 'B';
  /** The render ends `failed`. */
  renderFails?: boolean;
  /** Status polls before the render completes (default 1). */
  pollsNeeded?: number;
  /** Garbage lines in the SSE stream (non-JSON data, unknown fields, comments). */
  malformedLines?: boolean;
  /** The first /run_sse connection is destroyed mid-stream, before the edit is applied. */
  dropMidStreamOnce?: boolean;
  /** Delay between SSE events, ms (default 5). */
  sseEventDelayMs?: number;
  /** Answer status polls with HTTP 503 this many times first. */
  status503Times?: number;
  /** Drafts name internal paths (/mnt/userdata/...) the client must replace with cdn_url. */
  internalPaths?: boolean;
  /** Required upload types; anything else gets 4001 (default: the protocol's list). */
  uploadLimitBytes?: number;
  credits?: number;
  /** The first export request creates the render but answers "duplicate id" (as if our own retry of a timed-out request). */
  exportDuplicateOnce?: boolean;
}

export type NemoEndpoint =
  | 'token' | 'session' | 'upload' | 'uploadUrl' | 'runSse' | 'state' | 'credits' | 'exportCreate' | 'exportStatus' | 'exportCancel' | 'download' | 'cdn';

interface Session {
  id: string;
  user: string;
  files: { filename: string; cdn_url: string }[];
  draft: Record<string, unknown> | null;
}

interface Render {
  id: string;
  sessionId: string;
  polls: number;
  draft: unknown;
  canceled?: boolean;
}

export interface RecordedRequest {
  endpoint: NemoEndpoint | 'unknown';
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body?: unknown;
}

const ACCEPTED_EXT = ['mp4', 'mov', 'avi', 'webm', 'mkv', 'jpg', 'jpeg', 'png', 'gif', 'webp', 'mp3', 'wav', 'm4a', 'aac'];

let mp4Cache: Promise<Buffer> | null = null;
/** A small H.264 MP4 made with ffmpeg once per process (1280x720, 30 fps, 2 s, faststart). */
export function sampleMp4(): Promise<Buffer> {
  mp4Cache ??= new Promise((resolve, reject) => {
    const out = path.join(os.tmpdir(), `nemo-fake-${process.pid}-${Date.now()}.mp4`);
    execFile(
      'ffmpeg',
      ['-nostdin', '-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30', '-t', '2', '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-movflags', '+faststart', '-y', out],
      (err) => {
        if (err) return reject(err);
        const buf = fs.readFileSync(out);
        fs.rmSync(out, { force: true });
        resolve(buf);
      },
    );
  });
  return mp4Cache;
}

export async function startNemoFake(initial: NemoFakeSwitches = {}) {
  const mp4 = await sampleMp4();
  const sw: NemoFakeSwitches = { ...initial };
  const counts: Record<NemoEndpoint, number> = { token: 0, session: 0, upload: 0, uploadUrl: 0, runSse: 0, state: 0, credits: 0, exportCreate: 0, exportStatus: 0, exportCancel: 0, download: 0, cdn: 0 };
  const requests: RecordedRequest[] = [];
  const tokens = new Map<string, { user: string; clientId: string }>();
  const byClient = new Map<string, string>();
  const sessions = new Map<string, Session>();
  const renders = new Map<string, Render>();
  const issuedTokens: string[] = [];
  const listeners: ((r: RecordedRequest) => void)[] = [];
  let nextSid = 1000;
  let fired = { t1001: false, s1002: false, r429: false, drop: false, status503: 0, dup: false };
  let credits = initial.credits ?? 100;
  let origin = '';

  const json = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
  };
  const ok = (res: http.ServerResponse, data: unknown) => json(res, 200, { code: 0, message: 'success', data });
  const fail = (res: http.ServerResponse, status: number, code: number, message: string) => json(res, status, { code, message, data: null });

  const readBody = (req: http.IncomingMessage) =>
    new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
    });

  function makeDraft(s: Session): Record<string, unknown> {
    const sg = s.files.map((f, i) => ({
      id: `seg_${i}`,
      src: sw.internalPaths ? `/mnt/userdata/${f.filename}` : f.cdn_url,
      st: i * 2000,
      d: 2000,
      fx: { transition: 'fade', opaque: { k: [1, 2, 3] } },
    }));
    return { t: [{ tt: 0, sg, d: sg.length * 2000 }, { tt: 7, sg: [{ text: 'Title', st: 0, d: 1500 }] }], d: sg.length * 2000, m: { title: 'project', width: 1920, height: 1080 }, x_opaque: { keep: true } };
  }

  async function runSse(req: http.IncomingMessage, res: http.ServerResponse, user: string, body: Record<string, unknown>) {
    const sid = String(body.session_id ?? body.sessionId ?? '');
    const session = sessions.get(sid);
    if (sw.session1002Once && !fired.s1002) {
      fired.s1002 = true;
      if (sw.session1002Once === 'envelope') return fail(res, 200, 1002, 'session not found');
      return json(res, 404, { detail: `Session not found: ${sid}` });
    }
    if (!session || session.user !== user) return json(res, 404, { detail: `Session not found: ${sid}` });
    if (sw.outOfCredits || credits < 50) return fail(res, 200, 2001, 'insufficient credits');
    const text = (body.new_message as { parts?: { text?: string }[] } | undefined)?.parts?.[0]?.text;
    if (!text) return json(res, 422, { detail: 'new_message required' });

    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const delay = sw.sseEventDelayMs ?? 5;
    const send = async (line: string) => {
      res.write(line);
      await new Promise((r) => setTimeout(r, delay));
    };
    const adk = (content: unknown, extra: Record<string, unknown> = {}) =>
      `data: ${JSON.stringify({ id: randomUUID(), invocationId: 'e-1', author: 'nemo_agent', timestamp: Date.now() / 1000, content, actions: { stateDelta: {}, artifactDelta: {}, requestedAuthConfigs: {} }, ...extra })}\n\n`;
    const textEvent = (t: string) => (sw.simpleEvents ? `data: ${JSON.stringify({ type: 'text', content: t })}\n\n` : adk({ role: 'model', parts: [{ text: t }] }));

    if (sw.malformedLines) {
      await send('data: {this is not json\n\n');
      await send(': a comment line\n\n');
      await send('retry: soon\n\n');
      await send('bogus-field: 1\n\n');
      await send('data: [1,2,3]\n\n');
    }
    if (sw.heartbeatsOnly) {
      for (let i = 0; i < 5; i++) {
        await send('data: \n\n');
        await send(`data: ${JSON.stringify({ type: 'heartbeat' })}\n\n`);
      }
      session.draft = makeDraft(session);
      credits -= 50;
      return res.end();
    }
    // Thoughts and tool traffic: internal, never the answer.
    await send(adk({ role: 'model', parts: [{ text: 'Let me think about transitions.', thought: true }] }));
    await send(sw.simpleEvents ? `data: ${JSON.stringify({ type: 'tool_call', name: 'edit_timeline', args: { token: 'nope' } })}\n\n` : adk({ role: 'model', parts: [{ functionCall: { id: 'fc1', name: 'edit_timeline', args: { files: session.files.length } } }] }));
    await send('data:\n\n');
    if (sw.dropMidStreamOnce && !fired.drop) {
      fired.drop = true;
      res.socket?.destroy();
      return;
    }
    session.draft = makeDraft(session);
    credits -= 50;
    await send(sw.simpleEvents ? `data: ${JSON.stringify({ type: 'tool_result', name: 'edit_timeline', result: { ok: true } })}\n\n` : adk({ role: 'user', parts: [{ functionResponse: { id: 'fc1', name: 'edit_timeline', response: { ok: true } } }] }));
    if (!sw.noText) {
      await send(textEvent(`Done! Your ${session.files.length} photos are on the timeline with fade transitions. Click the Export button to download your video. RAW-BACKEND-SECRET-TEXT`));
    }
    if (sw.trailingTemporaryIssue) await send(textEvent('I encountered a temporary issue. Please try again.'));
    res.end();
  }

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const p = url.pathname;
    const endpoint: NemoEndpoint | 'unknown' =
      p === '/api/auth/anonymous-token' ? 'token'
      : p === '/api/tasks/me/with-session/nemo_agent' ? 'session'
      : p.startsWith('/api/upload-video/nemo_agent/me/') ? (String(req.headers['content-type']).includes('json') ? 'uploadUrl' : 'upload')
      : p === '/run_sse' ? 'runSse'
      : p.startsWith('/api/state/nemo_agent/me/') ? 'state'
      : p === '/api/credits/balance/simple' ? 'credits'
      : p === '/api/render/proxy/lambda' && req.method === 'POST' ? 'exportCreate'
      : /^\/api\/render\/proxy\/lambda\/[^/]+$/.test(p) ? 'exportStatus'
      : /^\/api\/render\/proxy\/lambda\/[^/]+\/cancel$/.test(p) ? 'exportCancel'
      : /^\/api\/render\/proxy\/[^/]+\/download$/.test(p) ? 'download'
      : p.startsWith('/cdn/') ? 'cdn'
      : 'unknown';
    const raw = req.method === 'POST' ? await readBody(req) : Buffer.alloc(0);
    let body: Record<string, unknown> = {};
    if (String(req.headers['content-type']).includes('json') && raw.length) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        return json(res, 400, { detail: 'bad json' });
      }
    }
    const rec: RecordedRequest = { endpoint, method: req.method ?? '', path: p, headers: req.headers, body: endpoint === 'upload' ? undefined : body };
    requests.push(rec);
    if (endpoint !== 'unknown') counts[endpoint]++;
    listeners.forEach((l) => l(rec));

    if (endpoint === 'cdn') {
      if (p.startsWith('/cdn/render/')) return void res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': mp4.length }).end(mp4);
      return void res.writeHead(200, { 'content-type': 'image/jpeg' }).end('x');
    }
    if (endpoint === 'token') {
      const clientId = req.headers['x-client-id'];
      if (typeof clientId !== 'string' || !clientId || clientId.length > 64) return json(res, 400, { code: 400, message: 'X-Client-Id required', data: null });
      let token = byClient.get(clientId);
      if (!token || !tokens.has(token)) {
        token = `nmv_usr_${randomUUID().replace(/-/g, '')}`;
        tokens.set(token, { user: `u_${clientId.slice(0, 8)}`, clientId });
        byClient.set(clientId, token);
        issuedTokens.push(token);
      }
      return ok(res, { token, user_id: tokens.get(token)!.user, expires_at: new Date(Date.now() + 7 * 86400_000).toISOString(), credits });
    }

    const auth = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1];
    const who = auth ? tokens.get(auth) : undefined;
    if (!who) return fail(res, 401, 1001, 'token invalid');
    if (sw.token1001Once && !fired.t1001) {
      fired.t1001 = true;
      tokens.delete(auth!);
      return fail(res, 401, 1001, 'token expired');
    }
    const attributed = req.headers['x-skill-source'] && req.headers['x-skill-version'] && req.headers['x-skill-platform'];

    switch (endpoint) {
      case 'session': {
        const id = String(nextSid++);
        sessions.set(id, { id, user: who.user, files: [], draft: null });
        return ok(res, { task_id: `task_${id}`, session_id: id, user_id: who.user });
      }
      case 'upload':
      case 'uploadUrl': {
        if (sw.rateLimitOnce && !fired.r429) {
          fired.r429 = true;
          const h: Record<string, string> = sw.rateLimitOnce.retryAfterSeconds !== undefined ? { 'retry-after': String(sw.rateLimitOnce.retryAfterSeconds) } : {};
          return json(res, 429, { code: 429, message: 'too many requests', data: null }, h);
        }
        const sid = decodeURIComponent(p.split('/').pop()!);
        const s = sessions.get(sid);
        if (!s || s.user !== who.user) return fail(res, 200, 1002, 'session not found');
        const names: { name: string; size: number; head?: Buffer }[] = [];
        if (endpoint === 'uploadUrl') {
          for (const u of (body.urls as string[]) ?? []) names.push({ name: path.basename(new URL(u).pathname) || 'file.jpg', size: 0 });
        } else {
          // Minimal multipart reading: filenames and part sizes.
          const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(String(req.headers['content-type']));
          const b = boundary?.[1] ?? boundary?.[2];
          if (!b) return json(res, 400, { detail: 'multipart expected' });
          const parts = raw.toString('latin1').split(`--${b}`).slice(1, -1);
          for (const part of parts) {
            const m = /name="files"; filename="([^"]+)"/.exec(part);
            const content = Buffer.from(part.slice(part.indexOf('\r\n\r\n') + 4, -2), 'latin1');
            if (m) names.push({ name: m[1]!, size: content.length, head: content.subarray(0, 12) });
          }
          if (names.length === 0) return json(res, 400, { detail: 'field files required' });
        }
        for (const n of names) {
          const ext = path.extname(n.name).slice(1).toLowerCase();
          if (!ACCEPTED_EXT.includes(ext)) return fail(res, 200, 4001, 'unsupported file type');
          // The bytes must be what the name says (a renamed HEIC is still refused).
          if (n.head && (ext === 'jpg' || ext === 'jpeg') && !(n.head[0] === 0xff && n.head[1] === 0xd8)) return fail(res, 200, 4001, 'unsupported file type');
          if (n.head && ext === 'png' && n.head.toString('latin1', 1, 4) !== 'PNG') return fail(res, 200, 4001, 'unsupported file type');
          if (sw.uploadLimitBytes !== undefined && n.size > sw.uploadLimitBytes) return fail(res, 200, 4002, 'file too large');
        }
        const files = names.map((n) => ({ filename: n.name, file_type: 'image', cdn_url: `${origin}/cdn/${s.id}/${n.name}`, width: 1600, height: 900 }));
        s.files.push(...files.map((f) => ({ filename: f.filename, cdn_url: f.cdn_url })));
        return ok(res, { files, session_state_applied: true });
      }
      case 'runSse':
        return runSse(req, res, who.user, body);
      case 'state': {
        const sid = decodeURIComponent(p.split('/').slice(-2)[0]!);
        const s = sessions.get(sid);
        if (!s || s.user !== who.user) return fail(res, 200, 1002, 'session not found');
        return ok(res, { session_id: s.id, task_id: `task_${s.id}`, state: { draft: s.draft, video_infos: [], generated_media: [] } });
      }
      case 'credits':
        return ok(res, { available: credits, frozen: 0, total: credits });
      case 'exportCreate': {
        if (sw.export402 || !attributed) return json(res, 402, { success: false, error: 'Export requires a paid plan' });
        const id = String(body.id ?? '');
        if (!/^render_/.test(id) || typeof body.sessionId !== 'string' || !body.draft) return json(res, 400, { success: false, error: 'bad request' });
        if (renders.has(id)) return json(res, 409, { success: false, error: `render id ${id} already exists (duplicate)` });
        if (JSON.stringify(body.draft).includes('/mnt/userdata/')) return json(res, 400, { success: false, error: 'draft references internal paths' });
        renders.set(id, { id, sessionId: body.sessionId, polls: 0, draft: body.draft });
        if (sw.exportDuplicateOnce && !fired.dup) {
          fired.dup = true;
          return json(res, 409, { success: false, error: `render id ${id} already exists (duplicate)` });
        }
        return json(res, 200, { success: true, data: { id, status: 'pending', progress: 0 } });
      }
      case 'exportStatus': {
        const id = decodeURIComponent(p.split('/').pop()!);
        const r = renders.get(id);
        if (!r) return json(res, 404, { success: false, error: 'render not found' });
        if ((sw.status503Times ?? 0) > fired.status503) {
          fired.status503++;
          return json(res, 503, { success: false, error: 'unavailable' });
        }
        r.polls++;
        const need = sw.pollsNeeded ?? 1;
        const status = r.polls >= need ? (sw.renderFails ? 'failed' : 'completed') : r.polls === 1 ? 'pending' : 'processing';
        const progress = status === 'completed' ? 100 : Math.round((r.polls / need) * 90);
        const outputUrl = status === 'completed' ? `${origin}/cdn/render/${id}.mp4` : undefined;
        if (sw.renderShape === 'B') {
          return json(res, 200, { taskId: id, status, progress, ...(outputUrl ? { output: { url: outputUrl, duration: 2, size: mp4.length } } : {}), ...(status === 'failed' ? { error: 'RAW-BACKEND-RENDER-ERROR' } : {}) });
        }
        return json(res, 200, { success: true, data: { id, status, progress: progress / 100, outputUrl, createdAt: new Date().toISOString(), completedAt: outputUrl ? new Date().toISOString() : undefined, ...(status === 'failed' ? { error: 'RAW-BACKEND-RENDER-ERROR' } : {}) } });
      }
      case 'exportCancel': {
        const r = renders.get(decodeURIComponent(p.split('/').slice(-2)[0]!));
        if (!r) return json(res, 404, { success: false, error: 'render not found' });
        r.canceled = true;
        return json(res, 200, { success: true, data: { id: r.id, status: 'canceled' } });
      }
      case 'download':
        return void res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': mp4.length }).end(mp4);
      default:
        return json(res, 404, { detail: 'Not Found' });
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    origin,
    hostPort: origin.replace('http://', ''),
    switches: sw,
    counts,
    requests,
    issuedTokens,
    sessions,
    renders,
    mp4,
    /** Resolves at the first request to `endpoint` (after `n - 1` earlier ones). */
    waitFor(endpoint: NemoEndpoint, n = 1, timeoutMs = 60_000): Promise<void> {
      if (counts[endpoint] >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`nemo fake: no ${endpoint} #${n} within ${timeoutMs} ms`)), timeoutMs);
        listeners.push((r) => {
          if (r.endpoint === endpoint && counts[endpoint] >= n) {
            clearTimeout(t);
            resolve();
          }
        });
      });
    },
    set(next: NemoFakeSwitches) {
      Object.assign(sw, next);
    },
    resetFired() {
      fired = { t1001: false, s1002: false, r429: false, drop: false, status503: 0, dup: false };
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export type NemoFake = Awaited<ReturnType<typeof startNemoFake>>;
