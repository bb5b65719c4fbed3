import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/core/logger.js';
import { startServer, type RunningServer } from '../../src/entry/server.js';

/** A real HTTP server on 127.0.0.1 with a free port. */
export async function listen(handler: http.RequestListener): Promise<{ server: http.Server; origin: string; hostPort: string; close(): Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    origin: `http://127.0.0.1:${port}`,
    hostPort: `127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Serves the files of a folder (GET /<name>) from loopback: the "customer's CDN". */
export async function serveFolder(dir: string) {
  return listen((req, res) => {
    const name = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname.slice(1));
    const file = path.join(dir, path.basename(name));
    if (!name || !fs.existsSync(file)) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': fs.statSync(file).size });
    fs.createReadStream(file).pipe(res);
  });
}

export interface ReceivedWebhook {
  headers: Record<string, string>;
  body: string;
  at: number;
}

/** A webhook receiver on loopback that records every request and answers with `statuses` in turn (then 200). */
export async function webhookReceiver(statuses: number[] = []) {
  const received: ReceivedWebhook[] = [];
  const waiters: (() => void)[] = [];
  const srv = await listen((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers as Record<string, string>, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
      res.writeHead(statuses.shift() ?? 200).end('ok');
      waiters.splice(0).forEach((w) => w());
    });
  });
  return {
    ...srv,
    url: `${srv.origin}/hooks`,
    received,
    /** Resolves once `n` requests have arrived (or rejects after timeoutMs). */
    async waitFor(n: number, timeoutMs = 60_000): Promise<ReceivedWebhook[]> {
      const deadline = Date.now() + timeoutMs;
      while (received.length < n) {
        if (Date.now() > deadline) throw new Error(`expected ${n} webhooks, got ${received.length}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 200);
        });
      }
      return received;
    },
    /** Resolves with the first webhook payload (parsed) that `match` accepts, once it has arrived. */
    async waitForEvent(match: (payload: any) => boolean, timeoutMs = 30_000): Promise<any> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = received.map((r) => JSON.parse(r.body)).find(match);
        if (hit) return hit;
        if (Date.now() > deadline) throw new Error('webhook not received');
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 200);
        });
      }
    },
  };
}

export async function tempDir(prefix = 'photoreel-test-'): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), prefix));
}

/** The real service (API + consumer) in this process on a free loopback port, with its own data folder. */
export async function startService(env: Record<string, string> = {}, opts: { consumer?: boolean } = {}): Promise<RunningServer & { dataDir: string; stop(): Promise<void> }> {
  const dataDir = env.DATA_DIR ?? (await tempDir('photoreel-data-'));
  const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'silent', X264_PRESET: 'superfast', ...env });
  const running = await startServer(config, { logger: createLogger(config.LOG_LEVEL), consumer: opts.consumer });
  return {
    ...running,
    dataDir,
    async stop() {
      await running.close(2000);
      await fsp.rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** JSON request helper: returns status, headers and parsed body. */
export async function api(base: string, method: string, pathname: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(base + pathname, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

/** Poll a job until `until(job)` holds. */
export async function waitForJob(base: string, id: string, until: (job: any) => boolean, timeoutMs = 90_000, onPoll?: (job: any) => void): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { json } = await api(base, 'GET', `/v1/jobs/${id}`);
    onPoll?.(json);
    if (until(json)) return json;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${json?.status}/${json?.stage} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const isFinal = (j: any) => ['succeeded', 'failed', 'canceled'].includes(j?.status);
