import fs from 'node:fs';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeVideo } from '../../src/pipeline/media/ffprobe.js';
import { createScaleOutResources, startAwsEmulator, type AwsEmulator, type ScaleOutResources } from '../helpers/aws-emulator.js';
import { makePhoto } from '../helpers/images.js';
import { freePort, waitUp } from '../helpers/processes.js';
import { spawnRole, type RoleProcess } from '../helpers/scale-out.js';
import { api, listen, serveFolder, tempDir, waitForJob, webhookReceiver } from '../helpers/servers.js';

/**
 * The scale-out mode end to end, every part a real process: an S3 + SQS emulator over
 * HTTP (moto_server, or fauxqs where moto is absent), `photoreel serve` with API_ONLY=1,
 * and three `photoreel worker` processes sharing one queue and one bucket.
 */
const VISIBILITY_SECONDS = 6;
const MAX_RECEIVES = 3;
const JOBS = 30;

let emu: AwsEmulator;
let res: ScaleOutResources;
let dir: string;
let photos: Awaited<ReturnType<typeof serveFolder>>;
let hanging: Awaited<ReturnType<typeof listen>>;
let hooks: Awaited<ReturnType<typeof webhookReceiver>>;
let apiProc: RoleProcess;
let base: string;
let env: Record<string, string>;
const workers: RoleProcess[] = [];
const dataDirs: string[] = [];

async function startWorker(name: string): Promise<RoleProcess> {
  // One DATA_DIR (scratch space) per worker process, as in production.
  const dataDir = await tempDir(`photoreel-${name}-`);
  dataDirs.push(dataDir);
  const w = spawnRole('worker', name, { ...env, DATA_DIR: dataDir });
  workers.push(w);
  await w.waitForLog((l) => l.msg === 'photoreel worker started', 30_000);
  return w;
}

async function objectJson(key: string): Promise<any> {
  const out = await emu.s3.send(new GetObjectCommand({ Bucket: res.bucket, Key: key }));
  return JSON.parse(await out.Body!.transformToString());
}

async function keysUnder(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await emu.s3.send(new ListObjectsV2Command({ Bucket: res.bucket, Prefix: prefix, ContinuationToken: token }));
    keys.push(...(page.Contents ?? []).map((o) => o.Key!));
    token = page.NextContinuationToken;
  } while (token);
  return keys;
}

const finished = (w: RoleProcess) => w.logs.filter((l) => l.msg === 'job finished').map((l) => l.jobId as string);

beforeAll(async () => {
  emu = await startAwsEmulator();
  res = await createScaleOutResources(emu, { maxReceives: MAX_RECEIVES, visibilitySeconds: VISIBILITY_SECONDS });
  dir = await tempDir('photoreel-scale-out-');
  await makePhoto(path.join(dir, 'a.jpg'), { width: 1600, height: 900, colour: [200, 60, 40] });
  await makePhoto(path.join(dir, 'b.jpg'), { width: 900, height: 1600, colour: [40, 90, 200], seed: 2 });
  for (let i = 0; i < 6; i++) await makePhoto(path.join(dir, `big${i}.jpg`), { width: 3000, height: 2000, colour: [40 * i, 200 - 30 * i, 90], seed: 10 + i });
  photos = await serveFolder(dir);
  // A photo server that accepts the connection and never answers: the poison job's worker is stuck there.
  hanging = await listen(() => {});
  hooks = await webhookReceiver();
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  env = {
    ...res.env,
    WEBHOOK_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    FETCH_ALLOW_HOSTS: `${photos.hostPort},${hooks.hostPort},${hanging.hostPort}`,
    FETCH_IDLE_TIMEOUT_MS: '600000',
    QUEUE_VISIBILITY_SECONDS: String(VISIBILITY_SECONDS),
    WEBHOOK_RETRY_SCHEDULE: '0.5,0.5,0.5',
    SHUTDOWN_GRACE_SECONDS: '10',
    CONCURRENCY: '1',
  };
  const apiData = await tempDir('photoreel-api-');
  dataDirs.push(apiData);
  apiProc = spawnRole('serve', 'api', { ...env, PORT: String(port), API_ONLY: '1', DATA_DIR: apiData });
  await waitUp(base);
  for (let i = 1; i <= 3; i++) await startWorker(`w${i}`);
}, 120_000);

afterAll(async () => {
  await Promise.all(workers.map((w) => w.kill('SIGKILL')));
  await apiProc?.kill('SIGKILL');
  await Promise.all([photos?.close(), hooks?.close(), hanging?.close()]);
  await emu?.close();
  for (const d of [dir, ...dataDirs]) if (d) fs.rmSync(d, { recursive: true, force: true });
});

describe(`scale-out: API + 3 workers on SQS + S3`, () => {
  it(`${JOBS} jobs shared by 3 worker processes: each succeeds exactly once with one video object`, async () => {
    const ids: string[] = [];
    for (let i = 0; i < JOBS; i++) {
      const r = await api(base, 'POST', '/v1/jobs', {
        images: [`${photos.origin}/a.jpg`, `${photos.origin}/b.jpg`],
        options: { resolution: '720p', secondsPerImage: 1 },
        webhook: { url: hooks.url },
        metadata: { n: i },
      });
      expect(r.status).toBe(202);
      ids.push(r.json.id);
    }
    const jobs = await Promise.all(ids.map((id) => waitForJob(base, id, (j) => j.status !== 'queued' && j.status !== 'running', 240_000)));
    for (const j of jobs) expect(j.status).toBe('succeeded');

    // Each job finished exactly once, and every worker took a share of the queue. (A worker's
    // log line can arrive a moment after the API shows the job final.)
    for (const deadline = Date.now() + 10_000; workers.flatMap(finished).length < JOBS && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
    const byWorker = workers.map((w) => finished(w));
    const all = byWorker.flat();
    expect(all.sort()).toEqual([...ids].sort());
    for (const share of byWorker) expect(share.length).toBeGreaterThan(0);

    // One video and one poster object per job, at the tenant-scoped keys.
    expect((await keysUnder(`videos/default/`)).sort()).toEqual(ids.map((id) => `videos/default/${id}.mp4`).sort());
    expect((await keysUnder(`posters/default/`)).length).toBe(JOBS);

    // One job.succeeded event per job.
    await hooks.waitFor(JOBS, 60_000);
    const events = hooks.received.map((h) => JSON.parse(h.body));
    expect(events.map((e) => e.data.id).sort()).toEqual([...ids].sort());
    expect(new Set(hooks.received.map((h) => h.headers['webhook-id'])).size).toBe(JOBS);
    expect(events.every((e) => e.type === 'job.succeeded')).toBe(true);

    // The result URL is a presigned S3 URL that a plain GET downloads: a real H.264 MP4.
    const url = new URL(jobs[0].result.video.url);
    expect(url.origin).toBe(emu.endpoint);
    expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    const download = await fetch(url);
    expect(download.status).toBe(200);
    const out = path.join(dir, 'out.mp4');
    fs.writeFileSync(out, Buffer.from(await download.arrayBuffer()));
    const probe = await probeVideo(out);
    expect([probe.codec, probe.profile, probe.pixFmt]).toEqual(['h264', 'High', 'yuv420p']);
    expect([probe.width, probe.height]).toEqual([1280, 720]);
    expect(Math.abs(probe.durationMs - jobs[0].plan.durationMs)).toBeLessThanOrEqual(1000 / 30);
    expect(probe.moovBeforeMdat).toBe(true);
    console.log(`scale-out: ${JOBS} jobs by worker: ${byWorker.map((s, i) => `w${i + 1}=${s.length}`).join(' ')}`);
  });

  it('a worker killed with SIGKILL mid-render: its job is redelivered and completed by another', async () => {
    const r = await api(base, 'POST', '/v1/jobs', {
      images: Array.from({ length: 6 }, (_, i) => `${photos.origin}/big${i}.jpg`),
      options: { resolution: '1080p', secondsPerImage: 3 },
      webhook: { url: hooks.url },
    });
    expect(r.status).toBe(202);
    const id = r.json.id as string;
    await waitForJob(base, id, (j) => j.status === 'running' && j.stage === 'rendering', 60_000);
    const victim = workers.find((w) => w.child.exitCode === null && w.logs.some((l) => l.msg === 'job started' && l.jobId === id));
    expect(victim).toBeDefined();
    await victim!.kill('SIGKILL');
    const killedAt = Date.now();

    const job = await waitForJob(base, id, (j) => j.status === 'succeeded' || j.status === 'failed', 120_000);
    expect(job.status).toBe('succeeded');
    // It came back only after the dead worker's visibility timeout ran out, and went to a living worker.
    // (the API can show the final state a moment before the worker's log line arrives)
    await Promise.any(workers.filter((w) => w !== victim).map((w) => w.waitForLog((l) => l.msg === 'job finished' && l.jobId === id, 10_000)));
    const finisher = workers.filter((w) => finished(w).includes(id));
    expect(finisher.length).toBe(1);
    expect(finisher[0]).not.toBe(victim);
    // (the last heartbeat before the kill hid it for another VISIBILITY_SECONDS, at most a third of that ago)
    expect(Date.now() - killedAt).toBeGreaterThan(((VISIBILITY_SECONDS * 2) / 3) * 1000 - 500);
    const record = await objectJson(`jobs/${id}.json`);
    expect(record.attempts).toBe(2);
    expect(await keysUnder(`videos/default/${id}`)).toEqual([`videos/default/${id}.mp4`]);
    expect(job.result.video.durationMs).toBe(job.plan.durationMs);
  });

  it('a poison job (its worker dies every time) ends in the dead-letter queue and as failed on the job', async () => {
    const before = hooks.received.length;
    const r = await api(base, 'POST', '/v1/jobs', { images: [`${hanging.origin}/never.jpg`], webhook: { url: hooks.url } });
    expect(r.status).toBe(202);
    const id = r.json.id as string;
    // Each receive hangs in the fetch; kill whichever worker holds it, start a replacement.
    for (let receive = 1; receive <= MAX_RECEIVES; receive++) {
      const holder = await new Promise<RoleProcess>((resolve, reject) => {
        const deadline = Date.now() + 60_000;
        const poll = setInterval(() => {
          const w = workers.find((x) => x.child.exitCode === null && x.child.signalCode === null && x.logs.some((l) => l.msg === 'job started' && l.jobId === id && l.receiveCount === receive));
          if (w) resolve(w);
          else if (Date.now() > deadline) reject(new Error(`receive ${receive} of ${id} never started`));
          if (w || Date.now() > deadline) clearInterval(poll);
        }, 100);
      });
      await holder.kill('SIGKILL');
      await startWorker(`w-after-kill-${receive}`);
    }
    // SQS moves the message to the DLQ on the next receive; a worker's sweep fails the job.
    const job = await waitForJob(base, id, (j) => j.status === 'failed', 90_000);
    expect(job.error.code).toBe('processing_failed');
    expect(job.error.message).toMatch(/after \d+ attempts/);
    const eventsFor = () => hooks.received.slice(before).map((h) => JSON.parse(h.body)).filter((e) => e.data.id === id);
    for (const deadline = Date.now() + 30_000; eventsFor().length === 0 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 100));
    expect(eventsFor().map((e) => e.type)).toEqual(['job.failed']);
    const dlq = await emu.sqs.send(new GetQueueAttributesCommand({ QueueUrl: res.dlqUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
    expect(Number(dlq.Attributes!.ApproximateNumberOfMessages) + Number(dlq.Attributes!.ApproximateNumberOfMessagesNotVisible)).toBe(0);
    expect(await keysUnder(`videos/default/${id}`)).toEqual([]);
  });

  it('SIGTERM: a worker stops receiving and exits 0 within its grace period', async () => {
    const w = workers.find((x) => x.child.exitCode === null && x.child.signalCode === null)!;
    const t = Date.now();
    expect(await w.kill('SIGTERM')).toBe(0);
    expect(Date.now() - t).toBeLessThan(15_000);
    expect(w.logs.some((l) => l.msg === 'consumer stopped')).toBe(true);
  });
});
