/**
 * Load soak: the real service (API + queue consumer + local renderer, SQLite) as a child
 * process on loopback with CONCURRENCY=2 (two render slots, "2 consumers"), a burst of small
 * jobs, and checks that every job finishes exactly once while the API stays fast and memory
 * stays flat. Run: `npm run bench:soak` (options: `--jobs N` (default 1000), `--quick` (100),
 * `--rate R` status polls per second (default 20), `--in-flight K` submissions in flight
 * (default 50)).
 *
 * Phases, in one run against one service process:
 *
 * 1. idle baseline: a few warm-up jobs are rendered, then `GET /healthz` and
 *    `GET /v1/jobs/{id}` (of the warm-up jobs) are polled at the same steady rate as later.
 * 2. soak: N jobs (1 photo of 640x360, 720p, 1 s, no motion, no transition, a webhook to a
 *    loopback receiver, a unique Idempotency-Key) are submitted with K requests in flight
 *    (renders start while the burst is still going); `GET /v1/jobs/{id}` of random submitted
 *    jobs is polled at R req/s until every job is final; the service's RSS (and its ffmpeg
 *    children's) is sampled every 500 ms from /proc.
 * 3. checks: every job `succeeded`, exactly one video file per job in
 *    DATA_DIR/objects/videos/default/ and no other, exactly one `job.succeeded` webhook per
 *    job (deliveries with a repeated webhook-id counted as duplicates).
 * 4. submission on its own: both render slots are held by two jobs whose photo URL the
 *    photo server does not answer (no CPU used), then min(N, 500) more jobs are submitted
 *    with K in flight and the rate measured with the consumer idle; those jobs are then
 *    canceled.
 *
 * Latencies are measured by this process (fetch over keep-alive loopback connections), which
 * also sends the burst and receives the webhooks, so they include its own event-loop delay.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { makePhoto } from '../test/helpers/images.js';

const SELF = fileURLToPath(import.meta.url);
const ROOT = path.resolve(path.dirname(SELF), '..');
const MB = 1024 * 1024;
const P99_TARGET_MS = 50;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i === -1 ? undefined : process.argv[i + 1];
}
const quick = process.argv.includes('--quick');
const JOBS = Number(arg('--jobs') ?? (quick ? 100 : 1000));
const RATE = Number(arg('--rate') ?? 20);
const IN_FLIGHT = Number(arg('--in-flight') ?? 50);
const WARMUP_JOBS = 4;
const IDLE_SECONDS = quick ? 5 : 15;
const SOLO_JOBS = Math.min(JOBS, 500);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`);

// ---------------------------------------------------------------------------------------------
// Statistics

function pct(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
function summary(values: number[]) {
  return { n: values.length, p50: pct(values, 50), p90: pct(values, 90), p99: pct(values, 99), max: values.length ? Math.max(...values) : NaN };
}
/** Least-squares slope of y over x. */
function slope(points: { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return NaN;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}

// ---------------------------------------------------------------------------------------------
// Loopback servers

async function listen(handler: http.RequestListener) {
  const server = http.createServer(handler);
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    hostPort: `127.0.0.1:${port}`,
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

async function freePort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

// ---------------------------------------------------------------------------------------------
// The service's memory: VmRSS of the process and of its child processes (ffmpeg)

function vmRssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}
function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}
interface RssSample { t: number; serviceMb: number; childrenMb: number }

// ---------------------------------------------------------------------------------------------
// HTTP

async function request(base: string, method: string, pathname: string, body?: unknown, headers: Record<string, string> = {}) {
  const t = performance.now();
  const res = await fetch(base + pathname, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const ms = performance.now() - t;
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, ms };
}

/** Open-loop poller: one request every 1000/rate ms (not waiting for the previous), latencies recorded. */
function poller(base: string, rate: number, pick: () => string | undefined) {
  const latencies: number[] = [];
  let errors = 0;
  let inFlight = 0;
  const timer = setInterval(() => {
    const p = pick();
    if (!p) return;
    inFlight++;
    request(base, 'GET', p)
      .then((r) => (r.status === 200 ? latencies.push(r.ms) : errors++))
      .catch(() => errors++)
      .finally(() => inFlight--);
  }, 1000 / rate);
  return {
    latencies,
    get errors() {
      return errors;
    },
    async stop() {
      clearInterval(timer);
      while (inFlight > 0) await sleep(10);
    },
  };
}

/** Runs `n` tasks with `k` in flight; returns the wall time in ms. */
async function pool(n: number, k: number, task: (i: number) => Promise<void>): Promise<number> {
  const t = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(k, n) }, async () => {
      while (next < n) await task(next++);
    }),
  );
  return performance.now() - t;
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'photoreel-soak-'));
  const dataDir = path.join(tmp, 'data');
  const photo = path.join(tmp, 'photo.jpg');
  await makePhoto(photo, { width: 640, height: 360, colour: [200, 120, 60], seed: 7, quality: 85 });
  const photoBytes = fs.readFileSync(photo);

  // The "customer's CDN": /photo.jpg, and /hold.jpg which answers only when released.
  const held: http.ServerResponse[] = [];
  const cdn = await listen((req, res) => {
    if (req.url?.startsWith('/hold')) return void held.push(res);
    res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': photoBytes.length }).end(photoBytes);
  });

  // Webhook receiver: counts deliveries per webhook-id.
  const hooks = new Map<string, { count: number; jobId: string; type: string }>();
  let hookRequests = 0;
  const receiver = await listen((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      hookRequests++;
      const id = String(req.headers['webhook-id'] ?? '');
      let body: any = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        /* counted anyway */
      }
      const prev = hooks.get(id);
      if (prev) prev.count++;
      else hooks.set(id, { count: 1, jobId: String(body?.data?.id ?? body?.data?.job?.id ?? ''), type: String(body?.type ?? '') });
      res.writeHead(200).end('ok');
    });
  });

  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    CONCURRENCY: '2',
    FETCH_ALLOW_HOSTS: `${cdn.hostPort},${receiver.hostPort}`,
    // The held photo requests of phase 4 must not time out while the burst runs.
    FETCH_IDLE_TIMEOUT_MS: '600000',
    LOG_LEVEL: 'warn',
    RATE_LIMIT_JOBS_PER_MINUTE: '0',
    MAX_QUEUED_JOBS_PER_TENANT: '0',
  };
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/entry/node.ts'], { cwd: ROOT, env, stdio: ['ignore', 'inherit', 'inherit'] });
  const pid = child.pid!;
  let exited = false;
  child.on('exit', () => (exited = true));

  for (let i = 0; ; i++) {
    if (exited) throw new Error('service exited during start');
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {
      /* not yet */
    }
    if (i > 300) throw new Error('service did not start within 30 s');
    await sleep(100);
  }
  log(`service pid ${pid} on ${base}, data ${dataDir}`);

  const samples: RssSample[] = [];
  const t0 = performance.now();
  const rssTimer = setInterval(() => {
    const kids = childPids(pid);
    samples.push({ t: (performance.now() - t0) / 1000, serviceMb: vmRssMb(pid), childrenMb: kids.reduce((a, k) => a + vmRssMb(k), 0) });
  }, 500);

  const jobBody = (url: string) => ({
    images: [{ url }],
    options: { resolution: '720p', secondsPerImage: 1, motion: 'none', transition: { type: 'none' } },
    webhook: { url: `http://${receiver.hostPort}/hooks` },
  });
  const runId = Date.now().toString(36);
  const allIds: string[] = [];
  const submit = async (key: string, url = `http://${cdn.hostPort}/photo.jpg`) => {
    const r = await request(base, 'POST', '/v1/jobs', jobBody(url), { 'Idempotency-Key': key });
    if (r.status !== 202) throw new Error(`POST /v1/jobs answered ${r.status}: ${JSON.stringify(r.json)}`);
    return { id: String(r.json.id), ms: r.ms };
  };
  const jobStatus = async (id: string) => (await request(base, 'GET', `/v1/jobs/${id}`)).json?.status as string;
  const FINAL = new Set(['succeeded', 'failed', 'canceled']);

  try {
    // 1. Warm-up jobs, then the idle baseline.
    const warm: string[] = [];
    for (let i = 0; i < WARMUP_JOBS; i++) warm.push((await submit(`soak-${runId}-warm-${i}`)).id);
    for (const id of warm) while (!FINAL.has(await jobStatus(id))) await sleep(100);
    allIds.push(...warm);
    await sleep(1000);
    log(`warm-up: ${WARMUP_JOBS} jobs rendered; idle baseline ${IDLE_SECONDS} s at ${RATE} req/s per route`);
    const idleHealth = poller(base, RATE, () => '/healthz');
    await sleep(IDLE_SECONDS * 1000);
    await idleHealth.stop();
    const idleJob = poller(base, RATE, () => `/v1/jobs/${warm[Math.floor(Math.random() * warm.length)]}`);
    await sleep(IDLE_SECONDS * 1000);
    await idleJob.stop();
    const idleRss = samples.at(-1)!;

    // 2. The soak.
    log(`soak: ${JOBS} jobs, ${IN_FLIGHT} submissions in flight, GET /v1/jobs/{id} at ${RATE} req/s`);
    const soakStart = performance.now();
    const soakStartT = (soakStart - t0) / 1000;
    const ids: string[] = [];
    const postMs: number[] = [];
    const loaded = poller(base, RATE, () => (ids.length ? `/v1/jobs/${ids[Math.floor(Math.random() * ids.length)]}` : undefined));
    const burstMs = await pool(JOBS, IN_FLIGHT, async (i) => {
      const r = await submit(`soak-${runId}-${i}`);
      ids.push(r.id);
      postMs.push(r.ms);
    });
    const duringBurst = loaded.latencies.length;
    log(`burst: ${JOBS} submitted in ${(burstMs / 1000).toFixed(1)} s (${(JOBS / (burstMs / 1000)).toFixed(0)} req/s)`);
    allIds.push(...ids);

    // Until every job has its webhook (then confirm the final states below).
    const deadline = Date.now() + Math.max(600_000, JOBS * 5_000);
    const hookedJobs = () => new Set([...hooks.values()].map((h) => h.jobId)).size;
    let lastLog = Date.now();
    while (hookedJobs() < allIds.length && Date.now() < deadline && !exited) {
      await sleep(250);
      if (Date.now() - lastLog > 15_000) {
        lastLog = Date.now();
        log(`${hookedJobs() - WARMUP_JOBS}/${JOBS} done, service RSS ${samples.at(-1)?.serviceMb.toFixed(0)} MB`);
      }
    }
    const soakMs = performance.now() - soakStart;
    await loaded.stop();
    const soakEndT = (performance.now() - t0) / 1000;
    await sleep(3000); // late duplicates would show up here
    const endRss = samples.at(-1)!;
    log(`soak done in ${(soakMs / 1000).toFixed(1)} s`);

    // 3. Checks.
    const statuses: Record<string, number> = {};
    const notSucceeded: string[] = [];
    await pool(allIds.length, 10, async (i) => {
      const s = await jobStatus(allIds[i]!);
      statuses[s] = (statuses[s] ?? 0) + 1;
      if (s !== 'succeeded') notSucceeded.push(allIds[i]!);
    });
    const videoDir = path.join(dataDir, 'objects', 'videos', 'default');
    // FsStorage keeps each object's content type in a `<key>.meta.json` sidecar.
    const entries = fs.existsSync(videoDir) ? fs.readdirSync(videoDir) : [];
    const files = entries.filter((f) => f.endsWith('.mp4'));
    const sidecars = entries.filter((f) => f.endsWith('.mp4.meta.json')).length;
    const expected = new Set(allIds.map((id) => `${id}.mp4`));
    const missingVideos = [...expected].filter((f) => !files.includes(f)).length;
    // Anything else (a second video, a left-over temporary file) is unexpected.
    const extraFiles = entries.filter((f) => !expected.has(f) && !(f.endsWith('.meta.json') && expected.has(f.slice(0, -'.meta.json'.length)))).length;
    const webhookRequests = hookRequests;
    const uniqueWebhookIds = hooks.size;
    const perJob = new Map<string, number>();
    let duplicateDeliveries = 0;
    for (const h of hooks.values()) {
      perJob.set(h.jobId, (perJob.get(h.jobId) ?? 0) + 1);
      duplicateDeliveries += h.count - 1;
    }
    const jobsWithoutWebhook = allIds.filter((id) => !perJob.has(id)).length;
    const jobsWithSeveralEvents = [...perJob.values()].filter((n) => n > 1).length;
    const uniqueIds = new Set(allIds).size;

    // 4. Submission on its own: both render slots held by jobs whose photo never arrives.
    const blockers = [(await submit(`soak-${runId}-block-0`, `http://${cdn.hostPort}/hold-0.jpg`)).id, (await submit(`soak-${runId}-block-1`, `http://${cdn.hostPort}/hold-1.jpg`)).id];
    for (let i = 0; held.length < 2; i++) {
      if (i > 200) throw new Error('blocker jobs did not start');
      await sleep(100);
    }
    log(`submission on its own: ${SOLO_JOBS} jobs with both render slots held`);
    const soloIds: string[] = [];
    const soloPostMs: number[] = [];
    const soloMs = await pool(SOLO_JOBS, IN_FLIGHT, async (i) => {
      const r = await submit(`soak-${runId}-solo-${i}`);
      soloIds.push(r.id);
      soloPostMs.push(r.ms);
    });
    const soloRendered = fs.readdirSync(videoDir).filter((f) => f.endsWith('.mp4')).length; // nothing new should render
    await pool(soloIds.length, 20, async (i) => void (await request(base, 'POST', `/v1/jobs/${soloIds[i]}/cancel`)));
    for (const id of blockers) await request(base, 'POST', `/v1/jobs/${id}/cancel`);
    for (const res of held.splice(0)) res.writeHead(404).end();
    const newVideos = fs.readdirSync(videoDir).filter((f) => f.endsWith('.mp4')).length - soloRendered;

    // Results.
    clearInterval(rssTimer);
    const inSoak = samples.filter((s) => s.t >= soakStartT && s.t <= soakEndT);
    const secondHalf = inSoak.filter((s) => s.t >= (soakStartT + soakEndT) / 2);
    const rss = {
      idleMb: idleRss.serviceMb,
      peakMb: Math.max(...inSoak.map((s) => s.serviceMb)),
      endMb: endRss.serviceMb,
      slopeMbPerMin: slope(inSoak.map((s) => ({ x: s.t / 60, y: s.serviceMb }))),
      secondHalfSlopeMbPerMin: slope(secondHalf.map((s) => ({ x: s.t / 60, y: s.serviceMb }))),
      firstHalfMeanMb: mean(inSoak.filter((s) => s.t < (soakStartT + soakEndT) / 2).map((s) => s.serviceMb)),
      secondHalfMeanMb: mean(secondHalf.map((s) => s.serviceMb)),
      peakWithFfmpegMb: Math.max(...inSoak.map((s) => s.serviceMb + s.childrenMb)),
      peakFfmpegMb: Math.max(...inSoak.map((s) => s.childrenMb)),
    };
    const lat = {
      idleHealthz: summary(idleHealth.latencies),
      idleJob: summary(idleJob.latencies),
      loadedJob: summary(loaded.latencies),
      loadedJobDuringBurst: summary(loaded.latencies.slice(0, duringBurst)),
      loadedJobAfterBurst: summary(loaded.latencies.slice(duringBurst)),
      pollErrors: loaded.errors + idleJob.errors + idleHealth.errors,
    };
    const checks = {
      jobs: allIds.length,
      uniqueJobIds: uniqueIds,
      statuses,
      notSucceeded: notSucceeded.length,
      videoFiles: files.length,
      missingVideos,
      extraFiles,
      videoSidecars: sidecars,
      webhookRequests,
      uniqueWebhookIds,
      duplicateDeliveries,
      jobsWithoutWebhook,
      jobsWithSeveralEvents,
    };
    const ok =
      checks.notSucceeded === 0 && missingVideos === 0 && extraFiles === 0 && duplicateDeliveries === 0 && jobsWithoutWebhook === 0 && jobsWithSeveralEvents === 0 && uniqueIds === allIds.length;
    const result = {
      at: new Date().toISOString(),
      machine: `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GB, node ${process.version}`,
      params: { jobs: JOBS, warmupJobs: WARMUP_JOBS, concurrency: 2, inFlight: IN_FLIGHT, pollRate: RATE, render: jobBody('').options },
      submission: {
        burst: { jobs: JOBS, ms: burstMs, reqPerSec: JOBS / (burstMs / 1000), latency: summary(postMs), note: 'renders run while the burst is submitted' },
        onItsOwn: { jobs: SOLO_JOBS, ms: soloMs, reqPerSec: SOLO_JOBS / (soloMs / 1000), latency: summary(soloPostMs), videosRenderedMeanwhile: newVideos },
      },
      soak: { wallMs: soakMs, jobsPerMinute: JOBS / (soakMs / 60_000) },
      latency: lat,
      rss,
      checks,
      ok,
      p99TargetMet: lat.loadedJob.p99 < P99_TARGET_MS,
      rssSamples: samples.map((s) => [Number(s.t.toFixed(1)), Number(s.serviceMb.toFixed(1)), Number(s.childrenMb.toFixed(1))]),
    };

    const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '-');
    const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}x` : '-');
    const lines = [
      '',
      `machine: ${result.machine}`,
      `${JOBS} jobs (+${WARMUP_JOBS} warm-up), CONCURRENCY=2, ${IN_FLIGHT} submissions in flight, polls at ${RATE} req/s`,
      '',
      '| | idle (before the burst) | loaded (burst + renders) | ratio |',
      '|---|---|---|---|',
      `| GET /healthz p50 / p99 | ${f1(lat.idleHealthz.p50)} / ${f1(lat.idleHealthz.p99)} ms | | |`,
      `| GET /v1/jobs/{id} p50 | ${f1(lat.idleJob.p50)} ms | ${f1(lat.loadedJob.p50)} ms | ${ratio(lat.loadedJob.p50, lat.idleJob.p50)} |`,
      `| GET /v1/jobs/{id} p99 (target < ${P99_TARGET_MS} ms) | ${f1(lat.idleJob.p99)} ms | **${f1(lat.loadedJob.p99)} ms** | ${ratio(lat.loadedJob.p99, lat.idleJob.p99)} |`,
      `| GET /v1/jobs/{id} p99 during the burst / after it | | ${f1(lat.loadedJobDuringBurst.p99)} ms (n=${lat.loadedJobDuringBurst.n}) / ${f1(lat.loadedJobAfterBurst.p99)} ms (n=${lat.loadedJobAfterBurst.n}) | |`,
      `| GET /v1/jobs/{id} max | ${f1(lat.idleJob.max)} ms | ${f1(lat.loadedJob.max)} ms | |`,
      `| service RSS | ${f1(rss.idleMb)} MB | peak ${f1(rss.peakMb)} MB, end ${f1(rss.endMb)} MB | ${ratio(rss.endMb, rss.idleMb)} (end/idle) |`,
      `| RSS slope over the soak / its second half | | ${f1(rss.slopeMbPerMin)} / ${f1(rss.secondHalfSlopeMbPerMin)} MB/min (halves' means ${f1(rss.firstHalfMeanMb)} / ${f1(rss.secondHalfMeanMb)} MB) | |`,
      `| peak RSS incl. ffmpeg children | | ${f1(rss.peakWithFfmpegMb)} MB (ffmpeg ${f1(rss.peakFfmpegMb)} MB) | |`,
      '',
      '| submission (POST /v1/jobs) | jobs | req/s | p50 / p99 latency |',
      '|---|---|---|---|',
      `| burst, renders running meanwhile | ${JOBS} | ${f1(result.submission.burst.reqPerSec)} | ${f1(result.submission.burst.latency.p50)} / ${f1(result.submission.burst.latency.p99)} ms |`,
      `| on its own (render slots held, no CPU in use) | ${SOLO_JOBS} | ${f1(result.submission.onItsOwn.reqPerSec)} | ${f1(result.submission.onItsOwn.latency.p50)} / ${f1(result.submission.onItsOwn.latency.p99)} ms |`,
      '',
      `soak wall time (first POST to last webhook): ${(soakMs / 1000).toFixed(1)} s = ${result.soak.jobsPerMinute.toFixed(0)} jobs/min`,
      `jobs: ${allIds.length} (${uniqueIds} unique ids), statuses ${JSON.stringify(statuses)}`,
      `videos: ${files.length} .mp4 files (+${sidecars} .meta.json sidecars), ${missingVideos} missing, ${extraFiles} unexpected files`,
      `webhooks: ${webhookRequests} requests, ${uniqueWebhookIds} webhook-ids, ${duplicateDeliveries} duplicate deliveries, ${jobsWithoutWebhook} jobs without one, ${jobsWithSeveralEvents} jobs with more than one event`,
      `poll errors: ${lat.pollErrors}`,
      '',
      `all jobs succeeded exactly once: ${ok ? 'yes' : 'NO'}; p99 < ${P99_TARGET_MS} ms: ${result.p99TargetMet ? 'yes' : 'NO'}`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
    const resultsDir = path.join(path.dirname(SELF), 'results');
    fs.mkdirSync(resultsDir, { recursive: true });
    const out = path.join(resultsDir, quick ? 'soak-quick.json' : 'soak.json');
    fs.writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
    log(`results written to ${path.relative(ROOT, out)}`);
    if (!ok || !result.p99TargetMet) process.exitCode = 1;
  } finally {
    clearInterval(rssTimer);
    for (const res of held.splice(0)) res.writeHead(404).end();
    if (!exited) {
      child.kill('SIGTERM');
      await Promise.race([new Promise((r) => child.once('exit', r)), sleep(15_000)]);
      if (!exited) child.kill('SIGKILL');
    }
    await cdn.close();
    await receiver.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function mean(v: number[]): number {
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
