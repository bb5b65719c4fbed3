import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { AppError } from '../../../core/errors.js';
import { VERSION } from '../../../core/version.js';

/**
 * HTTP client of the hosted Nemo agent (see docs: the protocol page). One instance per
 * process: it owns the token (anonymous, cached and renewed, or the fixed NEMO_TOKEN).
 *
 * The base URL is operator-configured (NEMO_BASE_URL), not user input, so requests to it
 * do not go through the SSRF-safe fetcher used for customers' photo URLs; they use the
 * global fetch with a timeout on every request.
 *
 * Nothing here logs or returns raw backend bodies: errors become AppErrors with our own
 * wording, and only status codes / business codes go to the logger.
 */

export interface NemoClientOptions {
  baseUrl: string;
  /** A fixed token (NEMO_TOKEN); without it, anonymous tokens are obtained with X-Client-Id. */
  token?: string;
  platform: string;
  /** Where the anonymous client id is kept so a restart gets the same account (and sessions) back. */
  clientIdFile?: string;
  requestTimeoutMs?: number;
  /** Wait after a 429 that has no Retry-After (default 30 s). */
  rateLimitWaitMs?: number;
  /** First backoff after a 5xx / network error; doubles; `maxTransientRetries` retries. */
  retryBaseMs?: number;
  maxTransientRetries?: number;
  /** Renew an anonymous token this long before it expires (default 1 h). */
  renewBeforeMs?: number;
  logger?: NemoLogger;
}

export interface NemoLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export const SKILL_SOURCE = 'image-to-video-hd';

/** The session named in a call does not exist (anymore): 1002 or ADK's 404 "Session not found". */
export class NemoSessionLost extends Error {
  constructor() {
    super('Nemo session not found');
    this.name = 'NemoSessionLost';
  }
}

/** A business error the caller may handle (4001 unsupported type, 4002 too large). */
export class NemoBusinessError extends Error {
  constructor(readonly code: number) {
    super(`Nemo error ${code}`);
    this.name = 'NemoBusinessError';
  }
}

/** A render-envelope failure (`{"success": false}`), carrying only whether the id was a duplicate. */
export class NemoRenderError extends Error {
  constructor(readonly httpStatus: number, readonly duplicateId: boolean, readonly notFound: boolean) {
    super(`Nemo render request failed (HTTP ${httpStatus})`);
    this.name = 'NemoRenderError';
  }
}

export interface Credits {
  available: number;
  frozen: number;
  total: number;
}

export interface UploadedFile {
  filename: string;
  cdnUrl: string;
  width?: number;
  height?: number;
}

export interface RenderStatus {
  id: string;
  status: 'pending' | 'processing' | 'completed' | 'failed' | string;
  /** 0..1 */
  progress: number;
  outputUrl: string | null;
}

interface RequestOpts {
  method?: 'GET' | 'POST';
  json?: unknown;
  form?: FormData;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** The `{success, data}` render envelope instead of `{code, data}`. */
  render?: boolean;
  timeoutMs?: number;
  /** Skip Authorization (the token request itself). */
  anonymous?: boolean;
  /** /run_sse: return the Response itself once it is a 200 event stream. */
  stream?: boolean;
  accept?: string;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

export { sleep as nemoSleep };

/** True for a failure of the connection itself (refused, reset, dropped mid-body), not an abort by us. */
export function isNetworkError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'AbortError' || err.name === 'TimeoutError') return false;
  return err.name === 'TypeError' || /terminated|socket|ECONN|EPIPE|other side closed|fetch failed/i.test(err.message);
}

const unavailable = (what: string, retryable = true, cause?: unknown) =>
  new AppError('engine_unavailable', `The Nemo video service is unavailable right now (${what}); the job will be retried.`, { retryable, cause });

export class NemoClient {
  readonly baseUrl: string;
  readonly #o: Required<Omit<NemoClientOptions, 'token' | 'clientIdFile' | 'logger'>> & Pick<NemoClientOptions, 'token' | 'clientIdFile' | 'logger'>;
  #token: { value: string; expiresAt: number } | null = null;
  #tokenPromise: Promise<string> | null = null;
  #clientId: string | null = null;

  constructor(opts: NemoClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.#o = {
      requestTimeoutMs: 60_000,
      rateLimitWaitMs: 30_000,
      retryBaseMs: 1_000,
      maxTransientRetries: 3,
      renewBeforeMs: 3600_000,
      ...opts,
    };
  }

  /** Attribution headers carried by every request (missing ones make export fail with 402). */
  attribution(): Record<string, string> {
    return { 'X-Skill-Source': SKILL_SOURCE, 'X-Skill-Version': VERSION, 'X-Skill-Platform': this.#o.platform };
  }

  // ---- token ----

  #loadClientId(fresh: boolean): string {
    const file = this.#o.clientIdFile;
    if (!fresh && this.#clientId) return this.#clientId;
    if (!fresh && file) {
      try {
        const v = fs.readFileSync(file, 'utf8').trim();
        if (/^[\w-]{1,64}$/.test(v)) return (this.#clientId = v);
      } catch {
        /* first use */
      }
    }
    const id = randomUUID();
    if (file) {
      try {
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, id + '\n', { mode: 0o600 });
      } catch {
        /* not fatal: the id lives in memory */
      }
    }
    return (this.#clientId = id);
  }

  /** The bearer token: the fixed one, or a cached anonymous one renewed before it expires. */
  async token(signal?: AbortSignal): Promise<string> {
    if (this.#o.token) return this.#o.token;
    if (this.#token && this.#token.expiresAt - Date.now() > this.#o.renewBeforeMs) return this.#token.value;
    this.#tokenPromise ??= this.#acquire(false, signal).finally(() => (this.#tokenPromise = null));
    return this.#tokenPromise;
  }

  async #acquire(freshClientId: boolean, signal?: AbortSignal): Promise<string> {
    let clientId = this.#loadClientId(freshClientId);
    for (let attempt = 0; ; attempt++) {
      try {
        const data = await this.#call<{ token?: string; expires_at?: string }>('/api/auth/anonymous-token', {
          method: 'POST',
          anonymous: true,
          headers: { 'X-Client-Id': clientId },
          signal,
        });
        if (typeof data.token !== 'string' || !data.token) throw unavailable('no token in the answer');
        const exp = Date.parse(data.expires_at ?? '');
        this.#token = { value: data.token, expiresAt: Number.isFinite(exp) ? exp : Date.now() + 24 * 3600_000 };
        this.#o.logger?.info({ expiresAt: new Date(this.#token.expiresAt).toISOString() }, 'nemo: anonymous token obtained');
        return data.token;
      } catch (err) {
        // HTTP 400 = missing/invalid X-Client-Id: generate one and retry (once).
        if (err instanceof AppError && err.code === 'engine_failed' && (err.cause as { status?: number })?.status === 400 && attempt === 0) {
          clientId = this.#loadClientId(true);
          continue;
        }
        throw err;
      }
    }
  }

  /** Forget the anonymous token (1001): the next call gets a new one, under a new client id. */
  async #renewAfter1001(signal?: AbortSignal): Promise<void> {
    if (this.#o.token) {
      throw new AppError('engine_unavailable', 'The configured Nemo token (NEMO_TOKEN) was rejected as expired or invalid.', { retryable: false });
    }
    this.#token = null;
    this.#o.logger?.info({}, 'nemo: token rejected (1001); getting a new one');
    this.#tokenPromise ??= this.#acquire(true, signal).finally(() => (this.#tokenPromise = null));
    await this.#tokenPromise;
  }

  // ---- transport ----

  /**
   * One logical call: adds token and attribution, parses the envelope, and handles the
   * retryable cases of the protocol's table: 1001 (new token, once), 429 (Retry-After or the
   * default wait, once), 5xx and network errors (backoff, bounded). Returns `data`.
   */
  async #call<T>(pathname: string, o: RequestOpts = {}): Promise<T> {
    let renewed = false;
    let rateLimited = false;
    let transient = 0;
    for (;;) {
      let res: Response;
      try {
        res = await this.raw(pathname, o);
      } catch (err) {
        if (o.signal?.aborted) throw err;
        if ((isNetworkError(err) || (err as Error).name === 'TimeoutError') && transient < this.#o.maxTransientRetries) {
          await this.#backoff(transient++, 'network', pathname, o.signal);
          continue;
        }
        if (err instanceof AppError) throw err;
        throw unavailable('the connection failed', true, err);
      }
      if (o.stream && res.ok && /text\/event-stream/i.test(res.headers.get('content-type') ?? '')) return res as T;
      const text = await res.text().catch(() => '');
      let body: Record<string, unknown> | null = null;
      try {
        const parsed: unknown = JSON.parse(text);
        if (parsed && typeof parsed === 'object') body = parsed as Record<string, unknown>;
      } catch {
        /* not JSON */
      }
      const code = typeof body?.code === 'number' ? body.code : typeof body?.code === 'string' && /^\d+$/.test(body.code) ? Number(body.code) : undefined;

      if (code === 1001 || (res.status === 401 && !o.anonymous)) {
        if (renewed || o.anonymous) throw new AppError('engine_unavailable', 'The Nemo video service keeps rejecting our credentials.', { retryable: true });
        renewed = true;
        await this.#renewAfter1001(o.signal);
        continue;
      }
      if (code === 1002 || (res.status === 404 && typeof body?.detail === 'string' && /session not found/i.test(body.detail))) throw new NemoSessionLost();
      if (code === 2001) {
        throw new AppError('insufficient_credits', 'The Nemo video service account is out of credits: add credits (or register the account) and submit the job again.', { retryable: false });
      }
      if (res.status === 402) {
        throw new AppError('plan_export_blocked', "The Nemo video service's plan does not allow exporting videos (a subscription limit, not a credit problem): upgrade the plan and submit the job again.", { retryable: false });
      }
      if (res.status === 429) {
        if (rateLimited) throw new AppError('engine_unavailable', 'The Nemo video service is rate limiting us; the job will be retried.', { retryable: true });
        rateLimited = true;
        const wait = retryAfterMs(res.headers.get('retry-after')) ?? this.#o.rateLimitWaitMs;
        this.#o.logger?.warn({ path: pathname, waitMs: wait }, 'nemo: rate limited (429); waiting');
        await sleep(wait, o.signal);
        continue;
      }
      if (res.status >= 500) {
        if (transient < this.#o.maxTransientRetries) {
          await this.#backoff(transient++, `HTTP ${res.status}`, pathname, o.signal);
          continue;
        }
        throw unavailable(`HTTP ${res.status}`);
      }
      if (code === 4001 || code === 4002) throw new NemoBusinessError(code);

      if (o.render) {
        if (body && body.success === true && 'data' in body) return body.data as T;
        if (body && body.success === false) {
          const msg = typeof body.error === 'string' ? body.error : '';
          throw new NemoRenderError(res.status, /duplicate|already exists|exists/i.test(msg), res.status === 404 || /not found/i.test(msg));
        }
        // Shape B of the status: fields at the top level.
        if (res.ok && body && ('status' in body || 'taskId' in body)) return body as T;
        if (res.status === 404) throw new NemoRenderError(404, false, true);
        throw new AppError('engine_failed', `The Nemo video service answered a render request with HTTP ${res.status}.`, { retryable: true, cause: { status: res.status } });
      }
      if (o.stream && res.ok && (code === undefined || code === 0)) return new Response(text, { headers: { 'content-type': 'text/event-stream' } }) as T;
      if (code === 0 && res.ok) return (body!.data ?? {}) as T;
      if (code !== undefined && code !== 0) {
        this.#o.logger?.warn({ path: pathname, status: res.status, code }, 'nemo: business error');
        throw new AppError('engine_failed', `The Nemo video service refused a request (error ${code}).`, { retryable: false, cause: { status: res.status, code } });
      }
      this.#o.logger?.warn({ path: pathname, status: res.status }, 'nemo: unexpected answer');
      throw new AppError('engine_failed', `The Nemo video service answered with HTTP ${res.status}.`, { retryable: res.status === 408 || res.status === 409, cause: { status: res.status } });
    }
  }

  async #backoff(n: number, why: string, pathname: string, signal?: AbortSignal) {
    const ms = this.#o.retryBaseMs * 2 ** n;
    this.#o.logger?.warn({ path: pathname, why, retryInMs: ms, retry: n + 1 }, 'nemo: transient failure; retrying');
    await sleep(ms, signal);
  }

  /** A bare request with token, attribution and a timeout; the caller reads the response. */
  async raw(pathname: string, o: RequestOpts = {}): Promise<Response> {
    const headers: Record<string, string> = { ...this.attribution(), Accept: o.accept ?? 'application/json', ...o.headers };
    if (!o.anonymous) headers.Authorization = `Bearer ${await this.token(o.signal)}`;
    let body: string | FormData | undefined;
    if (o.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(o.json);
    } else if (o.form) {
      body = o.form;
    }
    const timeout = AbortSignal.timeout(o.timeoutMs ?? this.#o.requestTimeoutMs);
    const signal = o.signal ? AbortSignal.any([o.signal, timeout]) : timeout;
    const url = /^https?:\/\//i.test(pathname) ? pathname : this.baseUrl + pathname;
    return fetch(url, { method: o.method ?? (body ? 'POST' : 'GET'), headers, body, signal, redirect: 'follow' });
  }

  /** Retries of a whole logical step after a network failure the caller detected itself (e.g. a dropped stream). */
  backoffDelay(n: number): number {
    return this.#o.retryBaseMs * 2 ** n;
  }

  async handle1001(signal?: AbortSignal) {
    await this.#renewAfter1001(signal);
  }

  // ---- endpoints ----

  async createSession(signal?: AbortSignal): Promise<{ sessionId: string; taskId?: string }> {
    const d = await this.#call<{ session_id?: unknown; task_id?: unknown }>('/api/tasks/me/with-session/nemo_agent', {
      method: 'POST',
      json: { task_name: 'project', language: 'en' },
      signal,
    });
    if (d.session_id === undefined || d.session_id === null || String(d.session_id) === '') throw unavailable('no session id in the answer');
    return { sessionId: String(d.session_id), taskId: d.task_id === undefined ? undefined : String(d.task_id) };
  }

  /** Sends one message; returns the SSE response to read (pre-stream errors are handled like any call). */
  async runSse(sessionId: string, text: string, timeoutMs: number, signal?: AbortSignal): Promise<Response> {
    return this.#call<Response>('/run_sse', {
      method: 'POST',
      json: { app_name: 'nemo_agent', user_id: 'me', session_id: sessionId, new_message: { role: 'user', parts: [{ text }] } },
      accept: 'text/event-stream',
      stream: true,
      timeoutMs,
      signal,
    });
  }

  async uploadUrls(sessionId: string, urls: string[], signal?: AbortSignal): Promise<UploadedFile[]> {
    const d = await this.#call<{ files?: unknown[] }>(`/api/upload-video/nemo_agent/me/${encodeURIComponent(sessionId)}`, {
      method: 'POST',
      json: { urls, source_type: 'url' },
      signal,
    });
    return files(d.files);
  }

  async uploadFile(sessionId: string, file: { path: string; name: string; mime: string }, signal?: AbortSignal): Promise<UploadedFile[]> {
    // A fresh FormData per attempt would be needed for streamed bodies; a Blob from disk can be re-sent.
    const blob = await fs.openAsBlob(file.path, { type: file.mime });
    const form = new FormData();
    form.append('files', blob, file.name);
    const d = await this.#call<{ files?: unknown[] }>(`/api/upload-video/nemo_agent/me/${encodeURIComponent(sessionId)}`, {
      method: 'POST',
      form,
      signal,
      timeoutMs: this.#o.requestTimeoutMs * 10,
    });
    return files(d.files);
  }

  async credits(signal?: AbortSignal): Promise<Credits> {
    const d = await this.#call<Partial<Credits>>('/api/credits/balance/simple', { signal });
    const available = Number(d.available ?? 0);
    const frozen = Number(d.frozen ?? 0);
    return { available, frozen, total: Number(d.total ?? available + frozen) };
  }

  async state(sessionId: string, signal?: AbortSignal): Promise<{ draft: unknown; raw: Record<string, unknown> }> {
    const d = await this.#call<{ state?: Record<string, unknown> }>(`/api/state/nemo_agent/me/${encodeURIComponent(sessionId)}/latest`, { signal });
    const st = d.state ?? {};
    return { draft: st.draft ?? null, raw: st };
  }

  async startExport(renderId: string, sessionId: string, draft: unknown, signal?: AbortSignal): Promise<RenderStatus> {
    const d = await this.#call<Record<string, unknown>>('/api/render/proxy/lambda', {
      method: 'POST',
      json: { id: renderId, sessionId, draft, output: { format: 'mp4', quality: 'high' } },
      render: true,
      signal,
    });
    return renderStatus(d, renderId);
  }

  async exportStatus(renderId: string, signal?: AbortSignal): Promise<RenderStatus> {
    const d = await this.#call<Record<string, unknown>>(`/api/render/proxy/lambda/${encodeURIComponent(renderId)}`, { render: true, signal });
    return renderStatus(d, renderId);
  }

  /** Best effort: ask the backend to stop a render (the job was canceled). One try, short timeout. */
  async cancelExport(renderId: string): Promise<void> {
    const res = await this.raw(`/api/render/proxy/lambda/${encodeURIComponent(renderId)}/cancel`, { method: 'POST', json: {}, timeoutMs: 5_000 });
    await res.body?.cancel();
  }

  /** The render's download: its output URL, else the proxy's download route. Returns the response to stream. */
  async download(renderId: string, outputUrl: string | null, signal?: AbortSignal): Promise<Response> {
    const timeoutMs = this.#o.requestTimeoutMs * 10;
    const tryOne = async (url: string, withAuth: boolean) => {
      for (let n = 0; ; n++) {
        try {
          // Credentials go only to the backend's own origin, never to a CDN host.
          const res = withAuth ? await this.raw(url, { signal, timeoutMs, accept: '*/*' }) : await fetch(url, { signal: AbortSignal.any([...(signal ? [signal] : []), AbortSignal.timeout(timeoutMs)]) });
          if (res.status >= 500 && n < this.#o.maxTransientRetries) {
            await res.body?.cancel();
            await this.#backoff(n, `HTTP ${res.status}`, 'download', signal);
            continue;
          }
          return res;
        } catch (err) {
          if (signal?.aborted || !isNetworkError(err) || n >= this.#o.maxTransientRetries) throw err;
          await this.#backoff(n, 'network', 'download', signal);
        }
      }
    };
    if (outputUrl) {
      const abs = new URL(outputUrl, this.baseUrl + '/');
      const sameOrigin = abs.origin === new URL(this.baseUrl).origin;
      const res = await tryOne(abs.href, sameOrigin);
      if (res.ok && res.body) return res;
      await res.body?.cancel();
      this.#o.logger?.warn({ status: res.status }, 'nemo: output URL failed; trying the download route');
    }
    const res = await tryOne(`/api/render/proxy/${encodeURIComponent(renderId)}/download`, true);
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      throw new AppError('engine_failed', `The Nemo video service did not deliver the rendered video (HTTP ${res.status}).`, { retryable: true });
    }
    return res;
  }
}

function files(list: unknown[] | undefined): UploadedFile[] {
  return (list ?? []).flatMap((f) => {
    if (!f || typeof f !== 'object') return [];
    const o = f as Record<string, unknown>;
    if (typeof o.cdn_url !== 'string') return [];
    return [{ filename: String(o.filename ?? ''), cdnUrl: o.cdn_url, width: typeof o.width === 'number' ? o.width : undefined, height: typeof o.height === 'number' ? o.height : undefined }];
  });
}

/** Accepts both status shapes: A `{id, status, progress, outputUrl}` and B `{taskId, status, progress, output: {url}}`. */
export function renderStatus(d: Record<string, unknown>, fallbackId: string): RenderStatus {
  const output = d.output && typeof d.output === 'object' ? (d.output as Record<string, unknown>) : undefined;
  const url = typeof d.outputUrl === 'string' ? d.outputUrl : typeof output?.url === 'string' ? output.url : null;
  let progress = Number(d.progress ?? 0);
  if (!Number.isFinite(progress) || progress < 0) progress = 0;
  if (progress > 1) progress = progress / 100;
  return {
    id: String(d.id ?? d.taskId ?? fallbackId),
    status: typeof d.status === 'string' ? d.status.toLowerCase() : 'pending',
    progress: Math.min(1, progress),
    outputUrl: url,
  };
}

/** Retry-After as seconds or an HTTP date -> milliseconds (capped at 10 minutes). */
export function retryAfterMs(v: string | null): number | undefined {
  if (!v) return undefined;
  const t = v.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.min(600_000, Math.round(Number(t) * 1000));
  const at = Date.parse(t);
  if (Number.isFinite(at)) return Math.min(600_000, Math.max(0, at - Date.now()));
  return undefined;
}
