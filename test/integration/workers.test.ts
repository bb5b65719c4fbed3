import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { Miniflare, type MiniflareOptions } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScaleOutResources, startAwsEmulator, type AwsEmulator, type ScaleOutResources } from '../helpers/aws-emulator.js';
import { REPO } from '../helpers/processes.js';

/**
 * The Cloudflare Workers entry, bundled by wrangler exactly as `wrangler deploy` would and
 * run in workerd (Miniflare) against the S3 + SQS emulator: what the API writes must be
 * what a photoreel consumer on a server would read (the job record in the bucket, the
 * render message on the queue).
 */

const KEYS = { a: 'key-alpha-workers-1', b: 'key-bravo-workers-1' };
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const img = (n: number) => `https://images.example.com/${n}.jpg`;

/**
 * wrangler keeps a `.wrangler/tmp` folder next to its config file; bundling from a copy of
 * wrangler.toml in a temp folder (main made absolute, nothing else changed) keeps the
 * repository clean while building exactly what the real file describes. wrangler resolves
 * [alias] targets from the config's folder, hence the node_modules link beside the copy.
 */
async function bundleWorker(outRoot: string): Promise<{ scriptPath: string; compatibilityDate: string; compatibilityFlags: string[]; sources: string[] }> {
  const toml = fs.readFileSync(path.join(REPO, 'wrangler.toml'), 'utf8');
  const main = /^main\s*=\s*"([^"]+)"/m.exec(toml)?.[1];
  const compatibilityDate = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(toml)?.[1];
  const flags = /^compatibility_flags\s*=\s*\[([^\]]*)\]/m.exec(toml)?.[1];
  if (!main || !compatibilityDate || flags === undefined) throw new Error('wrangler.toml: main, compatibility_date and compatibility_flags expected');
  const configDir = path.join(outRoot, 'config');
  fs.mkdirSync(configDir);
  fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(configDir, 'node_modules'), 'dir');
  fs.writeFileSync(path.join(configDir, 'wrangler.toml'), toml.replace(/^main\s*=.*$/m, `main = ${JSON.stringify(path.join(REPO, main))}`));
  const outdir = path.join(outRoot, 'dist');
  await promisify(execFile)(
    path.join(REPO, 'node_modules/.bin/wrangler'),
    ['deploy', '--dry-run', '--outdir', outdir, '--config', path.join(configDir, 'wrangler.toml')],
    {
      cwd: configDir,
      env: { ...process.env, CI: '1', WRANGLER_SEND_METRICS: 'false', WRANGLER_LOG_PATH: path.join(outRoot, 'logs'), NO_COLOR: '1' },
      timeout: 60_000,
    },
  );
  const script = fs.readdirSync(outdir).find((f) => f.endsWith('.js'));
  if (!script) throw new Error(`wrangler wrote no script to ${outdir}`);
  // esbuild heads each bundled file with a `// path` comment (wrangler does not minify),
  // relative to the config's folder: made relative to the repository here.
  const text = fs.readFileSync(path.join(outdir, script), 'utf8');
  const sources = [...text.matchAll(/^\/\/ (\S+\.(?:[cm]?js|ts|json))$/gm)].map((m) => path.relative(REPO, path.resolve(configDir, m[1]!)));
  return {
    scriptPath: path.join(outdir, script),
    sources,
    compatibilityDate,
    compatibilityFlags: [...flags.matchAll(/"([^"]+)"/g)].map((m) => m[1]!),
  };
}

describe('Workers entry under Miniflare (S3 + SQS emulator)', () => {
  let emu: AwsEmulator;
  let res: ScaleOutResources;
  let mf: Miniflare;
  let options: MiniflareOptions & { bindings: Record<string, string> };
  let tmp: string;
  let script = '';
  let bundleSources: string[] = [];
  let webhookSecret: string;
  /** What the Worker wrote to the console, one entry per line. */
  const logs: string[] = [];

  const call = async (method: string, p: string, opts: { key?: string; body?: unknown; headers?: Record<string, string> } = {}) => {
    const headers: Record<string, string> = { ...(opts.key ? bearer(opts.key) : {}), ...opts.headers };
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const r = await mf.dispatchFetch(`http://photoreel.test${p}`, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
    const text = await r.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: r.status, headers: r.headers, text, json };
  };

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'photoreel-workers-'));
    const [bundle, started] = await Promise.all([bundleWorker(tmp), startAwsEmulator()]);
    emu = started;
    res = await createScaleOutResources(emu);
    script = fs.readFileSync(bundle.scriptPath, 'utf8');
    bundleSources = bundle.sources;
    // QUEUE and STORAGE are left out: the entry defaults to sqs + s3 on its own.
    const { QUEUE: _queue, STORAGE: _storage, ...resourceEnv } = res.env;
    options = {
      modules: true,
      scriptPath: bundle.scriptPath,
      // Module names are paths relative to this root (default: the cwd, the repository),
      // and workerd refuses names that climb out of it with "..".
      modulesRoot: path.dirname(bundle.scriptPath),
      compatibilityDate: bundle.compatibilityDate,
      compatibilityFlags: bundle.compatibilityFlags,
      // Bindings as `wrangler secret put` / [vars] would give them. The emulator is on
      // 127.0.0.1, which Miniflare's default outbound network allows.
      bindings: {
        ...resourceEnv,
        API_KEYS: `tenantA:${KEYS.a},tenantB:${KEYS.b}`,
        WEBHOOK_SECRET: (webhookSecret = `whsec_${randomBytes(24).toString('base64')}`),
      },
      structuredWorkerdLogs: true,
      handleStructuredLogs: ({ message }: { message: string }) => {
        logs.push(...message.split('\n').filter(Boolean));
      },
    };
    mf = new Miniflare(options);
    await mf.ready;
  }, 60_000);

  afterAll(async () => {
    try {
      // A runtime that failed to start rejects dispose too; the emulator must stop regardless.
      await mf?.dispose().catch(() => undefined);
      await emu?.close();
    } finally {
      if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('bundles to a single module without the renderer or the embedded adapters', () => {
    // Packages by their path from (the innermost) node_modules/, wherever that folder really is (a symlink in a worktree).
    const sources = bundleSources.map((f) => (f.includes('node_modules/') ? f.slice(f.lastIndexOf('node_modules/')) : f));
    // Well under Workers' 10 MB (paid) script limit; a jump means something heavy got pulled in.
    expect(Buffer.byteLength(script)).toBeLessThan(8 * 1024 * 1024);
    expect(sources).toContain('src/entry/workers.ts');
    // The Node XML parser, through the [alias] in wrangler.toml (the browser one needs DOMParser).
    expect(sources).toContain('node_modules/@aws-sdk/xml-builder/dist-es/xml-parser.js');
    expect(sources).not.toContain('node_modules/@aws-sdk/xml-builder/dist-es/xml-parser.browser.js');
    const forbidden = /^(node_modules\/(sharp|better-sqlite3|@img)\/|src\/adapters\/(fs|sqlite)\/|src\/pipeline\/(engines|intake|media|consumer|run-job))/;
    expect(sources.filter((f) => forbidden.test(f))).toEqual([]);
    expect(script).not.toMatch(/from ["']node:child_process["']/);
  });

  it('GET /healthz answers with the SQS queue depth', async () => {
    const r = await call('GET', '/healthz');
    expect(r.status, r.text).toBe(200);
    expect(r.json).toMatchObject({ ok: true, queue: { visible: expect.any(Number), inFlight: expect.any(Number), delayed: expect.any(Number) } });
  });

  it('refuses /v1 without a key (401)', async () => {
    const r = await call('GET', '/v1/jobs');
    expect(r.status).toBe(401);
    expect(r.json.error.code).toBe('unauthorized');
  });

  it('lists the engines consumers run, without rendering here', async () => {
    const r = await call('GET', '/v1/engines', { key: KEYS.a });
    expect(r.status, r.text).toBe(200);
    expect(r.json.engines).toEqual([{ name: 'local', default: true }]);
  });

  let jobId: string;

  it('POST /v1/jobs queues a job: 202, its record in the bucket, its render message on SQS', async () => {
    const r = await call('POST', '/v1/jobs', { key: KEYS.a, body: { images: [img(1), { url: img(2) }], prompt: "smooth, title 'Workers'" } });
    expect(r.status, r.text).toBe(202);
    expect(r.json.id).toMatch(/^job_/);
    expect(r.json.status).toBe('queued');
    expect(r.headers.get('location')).toBe(`/v1/jobs/${r.json.id}`);
    jobId = r.json.id;

    // The render message, as a consumer would receive it.
    const bodies: string[] = [];
    for (let i = 0; i < 5 && !bodies.some((b) => b.includes(jobId)); i++) {
      const got = await emu.sqs.send(new ReceiveMessageCommand({ QueueUrl: res.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 0 }));
      bodies.push(...(got.Messages ?? []).map((m) => m.Body ?? ''));
    }
    const body = bodies.find((b) => b.includes(jobId));
    expect(body, `render message for ${jobId} in ${JSON.stringify(bodies)}`).toBeDefined();
    expect(JSON.parse(body!)).toMatchObject({ kind: 'render', jobId });

    // The job record, where every consumer reads it.
    const listed = await emu.s3.send(new ListObjectsV2Command({ Bucket: res.bucket }));
    const key = (listed.Contents ?? []).map((o) => o.Key!).find((k) => k.includes(jobId) && k.endsWith('.json'));
    expect(key, `a .json object naming ${jobId} in ${JSON.stringify(listed.Contents?.map((o) => o.Key))}`).toBeDefined();
    const obj = await emu.s3.send(new GetObjectCommand({ Bucket: res.bucket, Key: key }));
    const record = JSON.parse(await obj.Body!.transformToString());
    expect(record).toMatchObject({ id: jobId, tenant: 'tenantA', status: 'queued' });
  });

  it('GET /v1/jobs/{id} returns the job to its tenant and 404 to another', async () => {
    const mine = await call('GET', `/v1/jobs/${jobId}`, { key: KEYS.a });
    expect(mine.status, mine.text).toBe(200);
    expect(mine.json).toMatchObject({ id: jobId, status: 'queued' });

    const theirs = await call('GET', `/v1/jobs/${jobId}`, { key: KEYS.b });
    expect(theirs.status).toBe(404);
    expect(theirs.json.error.code).toBe('not_found');
  });

  it('a finished job comes back with download URLs presigned in workerd that S3 accepts', async () => {
    // What a consumer leaves behind: the video and poster objects, and the record pointing at them.
    const videoKey = `results/${jobId}/video.mp4`;
    const posterKey = `results/${jobId}/poster.jpg`;
    await emu.s3.send(new PutObjectCommand({ Bucket: res.bucket, Key: videoKey, Body: 'not really an mp4', ContentType: 'video/mp4' }));
    await emu.s3.send(new PutObjectCommand({ Bucket: res.bucket, Key: posterKey, Body: 'not really a jpeg', ContentType: 'image/jpeg' }));
    const listed = await emu.s3.send(new ListObjectsV2Command({ Bucket: res.bucket }));
    const recordKey = (listed.Contents ?? []).map((o) => o.Key!).find((k) => k.includes(jobId) && k.endsWith('.json'))!;
    const record = JSON.parse(await (await emu.s3.send(new GetObjectCommand({ Bucket: res.bucket, Key: recordKey }))).Body!.transformToString());
    const finished = {
      ...record,
      status: 'succeeded',
      stage: 'done',
      progress: 1,
      result: { video: { key: videoKey, bytes: 17, width: 1920, height: 1080, fps: 30, durationMs: 4000, codec: 'h264' }, poster: { key: posterKey } },
    };
    await emu.s3.send(new PutObjectCommand({ Bucket: res.bucket, Key: recordKey, Body: JSON.stringify(finished), ContentType: 'application/json' }));

    const r = await call('GET', `/v1/jobs/${jobId}`, { key: KEYS.a });
    expect(r.status, r.text).toBe(200);
    expect(r.json.status).toBe('succeeded');
    const videoUrl: string = r.json.result.video.url;
    expect(videoUrl).toContain('X-Amz-Signature=');
    const video = await fetch(videoUrl);
    expect(video.status, await video.clone().text()).toBe(200);
    expect(await video.text()).toBe('not really an mp4');
    const poster = await fetch(r.json.result.poster.url);
    expect(poster.status).toBe(200);
    await poster.arrayBuffer();
  });

  it('a repeated Idempotency-Key returns the first job', async () => {
    const body = { images: [img(3)] };
    const headers = { 'idempotency-key': `order-${randomBytes(4).toString('hex')}` };
    const first = await call('POST', '/v1/jobs', { key: KEYS.a, body, headers });
    expect(first.status, first.text).toBe(202);
    const again = await call('POST', '/v1/jobs', { key: KEYS.a, body, headers });
    expect(again.status, again.text).toBe(200);
    expect(again.json.id).toBe(first.json.id);
  });

  it('logs one JSON object per line, without keys or secrets', async () => {
    const records = logs.map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON log line: ${line}`);
      }
    });
    expect(records.find((r) => r.msg === 'job queued')).toMatchObject({ service: 'photoreel', runtime: 'workers', jobId, tenant: 'tenantA', level: 30 });
    expect(records.find((r) => r.msg === 'request' && r.method === 'POST' && r.path === '/v1/jobs')).toMatchObject({ tenant: 'tenantA', status: 202 });
    const all = logs.join('\n');
    for (const secret of [KEYS.a, KEYS.b, webhookSecret]) expect(all).not.toContain(secret);
  });

  it('POST /v1/uploads is a stable 501 on Workers', async () => {
    const r = await call('POST', '/v1/uploads', { key: KEYS.a, headers: { 'content-type': 'image/jpeg' } });
    expect(r.status).toBe(501);
    expect(r.json.error).toMatchObject({ code: 'not_supported', message: expect.stringContaining('image URLs') });
  });

  // Last: it restarts the runtime with other bindings.
  it('without AWS credentials answers 500 and logs which secret is missing (workerd has no default chain)', async () => {
    const { AWS_SECRET_ACCESS_KEY: _secret, ...bindings } = options.bindings;
    logs.length = 0;
    await mf.setOptions({ ...options, bindings });
    const r = await call('GET', '/healthz');
    expect(r.status).toBe(500);
    expect(r.json.error).toMatchObject({ code: 'internal_error', message: expect.stringContaining('misconfigured') });
    expect(logs.join('\n')).toContain('AWS_SECRET_ACCESS_KEY');
  });
});
