/**
 * Scale-out throughput: jobs per minute with 1, 2 and 3 `photoreel worker` processes
 * sharing one SQS queue and one S3 bucket (the emulator from the tests: moto_server, or
 * fauxqs), against the embedded service (SQLite, one render slot) on the same workload in
 * the same run as the baseline; and where one job's time goes (queue wait, fetch, plan,
 * render, publish, webhook).
 *
 * Run: `npm run bench:scale-out` (options: `--jobs N` per configuration (default 24),
 * `--workers 1,2,3`).
 *
 * Workload per job: 2 photos (1600x900 and 900x1600 JPEG from a loopback server), 720p30,
 * 2 s per photo with the default motion and transition (about 4 s of video), a webhook to
 * a loopback receiver. Every worker runs CONCURRENCY=1. All jobs are submitted at once; the
 * clock runs from the first submission to the last job's final state.
 *
 * This machine has 2 cores, shared by the emulator, the API, the workers and their ffmpeg:
 * more workers than cores cannot add CPU, so the 3-worker figure shows the cost of
 * contention rather than a gain; on real deployments each worker has its own machine.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createScaleOutResources, startAwsEmulator } from '../test/helpers/aws-emulator.js';
import { makePhoto } from '../test/helpers/images.js';
import { freePort, waitUp } from '../test/helpers/processes.js';
import { spawnRole, type RoleProcess } from '../test/helpers/scale-out.js';
import { api, serveFolder, tempDir, webhookReceiver } from '../test/helpers/servers.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const { values } = parseArgs({ options: { jobs: { type: 'string', default: '24' }, workers: { type: 'string', default: '1,2,3' } } });
const JOBS = Number(values.jobs);
const WORKER_COUNTS = values.workers!.split(',').map(Number);
const WEBHOOK_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

interface RunResult {
  label: string;
  wallMs: number;
  jobsPerMinute: number;
  /** Per-job stage times (ms) from the workers' "job finished" lines, plus webhook delay. */
  stages: Record<string, number>[];
}

const dir = await tempDir('photoreel-bench-scale-');
await makePhoto(path.join(dir, 'a.jpg'), { width: 1600, height: 900, colour: [200, 60, 40] });
await makePhoto(path.join(dir, 'b.jpg'), { width: 900, height: 1600, colour: [40, 90, 200], seed: 2 });
const photos = await serveFolder(dir);
const hooks = await webhookReceiver();
const cleanup: string[] = [dir];

async function submitAndWait(base: string, label: string): Promise<{ wallMs: number; ids: string[]; doneAt: Map<string, number> }> {
  const t0 = Date.now();
  const ids = await Promise.all(
    Array.from({ length: JOBS }, async (_, i) => {
      const r = await api(base, 'POST', '/v1/jobs', {
        images: [`${photos.origin}/a.jpg`, `${photos.origin}/b.jpg`],
        options: { resolution: '720p', secondsPerImage: 2 },
        webhook: { url: hooks.url },
        metadata: { label, n: i },
      });
      if (r.status !== 202) throw new Error(`submit failed: ${r.status} ${r.text}`);
      return r.json.id as string;
    }),
  );
  const doneAt = new Map<string, number>();
  const deadline = Date.now() + 30 * 60_000;
  while (doneAt.size < ids.length) {
    if (Date.now() > deadline) throw new Error(`${label}: only ${doneAt.size}/${ids.length} jobs finished`);
    for (const id of ids) {
      if (doneAt.has(id)) continue;
      const j = (await api(base, 'GET', `/v1/jobs/${id}`)).json;
      if (j.status === 'failed' || j.status === 'canceled') throw new Error(`${label}: job ${id} ${j.status}: ${JSON.stringify(j.error)}`);
      if (j.status === 'succeeded') doneAt.set(id, Date.now());
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { wallMs: Math.max(...doneAt.values()) - t0, ids, doneAt };
}

/** Webhook delay: from the job's final write (updatedAt) to the receiver getting the event. */
function webhookDelays(ids: string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const h of hooks.received) {
    const body = JSON.parse(h.body);
    if (ids.includes(body.data.id) && !out.has(body.data.id)) out.set(body.data.id, h.at - Date.parse(body.data.updatedAt));
  }
  return out;
}

function stagesFrom(logs: Record<string, any>[][], ids: string[]): Record<string, number>[] {
  const delays = webhookDelays(ids);
  return logs.flat().filter((l) => l.msg === 'job finished' && ids.includes(l.jobId)).map((l) => ({ ...l.stages, webhookMs: delays.get(l.jobId) ?? NaN }));
}

async function embedded(): Promise<RunResult> {
  const dataDir = await tempDir('photoreel-bench-embedded-');
  cleanup.push(dataDir);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  // The embedded service logs to stdout at info so the stage times can be read; spawnRole does that for `serve`.
  const proc = spawnRole('serve', 'embedded', { PORT: String(port), DATA_DIR: dataDir, CONCURRENCY: '1', FETCH_ALLOW_HOSTS: `${photos.hostPort},${hooks.hostPort}`, WEBHOOK_SECRET, X264_PRESET: 'veryfast' });
  try {
    await waitUp(base);
    const { wallMs, ids } = await submitAndWait(base, 'embedded');
    await new Promise((r) => setTimeout(r, 1500)); // let the last webhooks land
    return { label: 'embedded (SQLite, 1 slot)', wallMs, jobsPerMinute: (JOBS * 60_000) / wallMs, stages: stagesFrom([proc.logs], ids) };
  } finally {
    await proc.kill('SIGKILL');
  }
}

async function scaleOut(workerCount: number, emu: Awaited<ReturnType<typeof startAwsEmulator>>): Promise<RunResult> {
  const res = await createScaleOutResources(emu, { maxReceives: 5, visibilitySeconds: 60 });
  const env = { ...res.env, WEBHOOK_SECRET, FETCH_ALLOW_HOSTS: `${photos.hostPort},${hooks.hostPort}`, CONCURRENCY: '1', X264_PRESET: 'veryfast', QUEUE_VISIBILITY_SECONDS: '30' };
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const procs: RoleProcess[] = [];
  try {
    const apiDir = await tempDir('photoreel-bench-api-');
    cleanup.push(apiDir);
    procs.push(spawnRole('serve', 'api', { ...env, PORT: String(port), API_ONLY: '1', DATA_DIR: apiDir }));
    await waitUp(base);
    const workers: RoleProcess[] = [];
    for (let i = 0; i < workerCount; i++) {
      const d = await tempDir(`photoreel-bench-w${i}-`);
      cleanup.push(d);
      const w = spawnRole('worker', `w${i}`, { ...env, DATA_DIR: d });
      procs.push(w);
      workers.push(w);
    }
    await Promise.all(workers.map((w) => w.waitForLog((l) => l.msg === 'photoreel worker started')));
    const { wallMs, ids } = await submitAndWait(base, `workers-${workerCount}`);
    await new Promise((r) => setTimeout(r, 1500));
    return { label: `scale-out, ${workerCount} worker${workerCount > 1 ? 's' : ''}`, wallMs, jobsPerMinute: (JOBS * 60_000) / wallMs, stages: stagesFrom(workers.map((w) => w.logs), ids) };
  } finally {
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
  }
}

const median = (xs: number[]) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : NaN;
};

try {
  const results: RunResult[] = [await embedded()];
  const emu = await startAwsEmulator();
  try {
    for (const n of WORKER_COUNTS) results.push(await scaleOut(n, emu));
  } finally {
    await emu.close();
  }
  const base = results[0]!;
  console.log(`\nScale-out bench: ${JOBS} jobs per configuration (2 photos, 720p30, ~4 s of video each), emulator ${process.env.MOTO_SERVER ?? 'moto_server or fauxqs'}, ${(await import('node:os')).cpus().length} cores\n`);
  console.log('| configuration | wall | jobs/min | vs embedded | vs 1 worker |');
  console.log('|---|---|---|---|---|');
  const one = results.find((r) => r.label.includes(', 1 worker'));
  for (const r of results) {
    console.log(`| ${r.label} | ${(r.wallMs / 1000).toFixed(1)} s | ${r.jobsPerMinute.toFixed(1)} | ${(r.jobsPerMinute / base.jobsPerMinute).toFixed(2)}x | ${one ? `${(r.jobsPerMinute / one.jobsPerMinute).toFixed(2)}x` : '-'} |`);
  }
  console.log('\nMedian time per stage of one job (ms; queue wait grows with the backlog since all jobs are submitted at once):\n');
  const keys = ['queuedMs', 'fetchingMs', 'planningMs', 'renderingMs', 'publishingMs', 'webhookMs'];
  console.log(`| configuration | ${keys.join(' | ')} |`);
  console.log(`|---|${keys.map(() => '---').join('|')}|`);
  for (const r of results) console.log(`| ${r.label} | ${keys.map((k) => String(Math.round(median(r.stages.map((s) => s[k] ?? NaN))))).join(' | ')} |`);
  const out = path.join(path.dirname(new URL(import.meta.url).pathname), 'results', 'scale-out.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify({ at: new Date().toISOString(), jobs: JOBS, results: results.map(({ stages, ...r }) => ({ ...r, medianStages: Object.fromEntries(keys.map((k) => [k, median(stages.map((s) => s[k] ?? NaN))])) })) }, null, 2));
} finally {
  await photos.close();
  await hooks.close();
  for (const d of cleanup) fs.rmSync(d, { recursive: true, force: true });
}
