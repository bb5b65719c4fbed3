import { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { makeSqsClient } from '../../src/adapters/sqs/client.js';
import { SqsQueue } from '../../src/adapters/sqs/queue.js';
import { createScaleOutResources, startAwsEmulator, type AwsEmulator } from '../helpers/aws-emulator.js';

/**
 * SqsQueue against a real SQS emulator: the full set on moto (the more faithful one, with
 * SQS redrive), a smoke subset on fauxqs, so the adapter is proven on both backends the
 * scale-out tests may run on. Visibility timeouts are 1-2 s to keep the file short.
 */

const CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' };
const MAX_RECEIVES = 2;

interface Ctx {
  emu: AwsEmulator;
  client: SQSClient;
  /** A queue of its own for each test (depth assertions), with a DLQ after MAX_RECEIVES. */
  fresh(opts?: { dlq?: boolean; maxReceives?: number }): Promise<{ q: SqsQueue; queueUrl: string }>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const once = { max: 1, visibilitySeconds: 1, waitSeconds: 0 };

/** Seconds since `t0` (performance.now()). */
const since = (t0: number) => (performance.now() - t0) / 1000;

const cases: Record<string, (c: Ctx) => Promise<void>> = {
  'sends, receives and deletes a message': async ({ fresh }) => {
    const { q } = await fresh();
    await q.send('hello');
    const [m, ...rest] = await q.receive({ max: 1, visibilitySeconds: 2, waitSeconds: 2 });
    expect(rest).toEqual([]);
    expect(m).toMatchObject({ body: 'hello', receiveCount: 1 });
    expect(m!.id).toBeTruthy();
    expect(m!.receiptHandle).toBeTruthy();
    await q.delete(m!.receiptHandle);
    expect(await q.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    expect(await q.receive(once)).toEqual([]);
  },

  'makeSqsClient sends requests to the configured endpoint, not the queue URL host': async ({ emu, fresh }) => {
    const { queueUrl } = await fresh();
    // makeSqsClient takes credentials from the default chain: the environment here.
    for (const [k, v] of Object.entries(emu.env)) vi.stubEnv(k, v);
    const client = makeSqsClient({ region: emu.region, endpoint: emu.endpoint });
    try {
      expect(client.config.useQueueUrlAsEndpoint).toBe(false);
      if (emu.kind === 'fauxqs') expect(new URL(queueUrl).host).not.toBe(new URL(emu.endpoint).host);
      const q = new SqsQueue({ client, queueUrl });
      await q.send('via makeSqsClient');
      const [m] = await q.receive({ ...once, waitSeconds: 2 });
      expect(m?.body).toBe('via makeSqsClient');
      await q.delete(m!.receiptHandle);
      expect(await q.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    } finally {
      client.destroy();
      vi.unstubAllEnvs();
    }
  },

  'a received message is hidden from a second receiver until its visibility lapses': async ({ fresh }) => {
    const { q } = await fresh();
    await q.send('work');
    const [m1] = await q.receive({ ...once, visibilitySeconds: 1 });
    expect(m1?.receiveCount).toBe(1);
    expect(await q.receive(once)).toEqual([]);
    await sleep(1300);
    const [m2] = await q.receive({ ...once, waitSeconds: 2 });
    expect(m2?.id).toBe(m1!.id);
    expect(m2?.receiveCount).toBe(2);
    expect(m2?.receiptHandle).not.toBe(m1!.receiptHandle);
    await q.delete(m2!.receiptHandle);
  },

  'extendVisibility keeps a message hidden past its original timeout': async ({ fresh }) => {
    const { q } = await fresh();
    await q.send('long');
    const t0 = performance.now();
    const [m] = await q.receive({ ...once, visibilitySeconds: 1 });
    await sleep(400);
    await q.extendVisibility(m!.receiptHandle, 2); // hidden until about t0 + 2.4 s
    await sleep(1100); // past the original 1 s
    expect(await q.receive(once)).toEqual([]);
    expect(await q.depth()).toMatchObject({ visible: 0, inFlight: 1 });
    const [again] = await q.receive({ ...once, waitSeconds: 4 });
    expect(since(t0)).toBeGreaterThan(2);
    expect(again?.id).toBe(m!.id);
    expect(again?.receiveCount).toBe(2);
    await q.delete(again!.receiptHandle);
  },

  'release(h, 0) makes a message visible at once; release with a delay hides it': async ({ fresh }) => {
    const { q } = await fresh({ maxReceives: 5 });
    await q.send('retry me');
    const [m1] = await q.receive({ ...once, visibilitySeconds: 30 });
    await q.release(m1!.receiptHandle, 0);
    const t0 = performance.now();
    const [m2] = await q.receive({ ...once, visibilitySeconds: 30, waitSeconds: 2 });
    expect(since(t0)).toBeLessThan(1);
    expect(m2?.id).toBe(m1!.id);
    expect(m2?.receiveCount).toBe(2);

    await q.release(m2!.receiptHandle, 1);
    expect(await q.receive(once)).toEqual([]);
    const [m3] = await q.receive({ ...once, waitSeconds: 3 });
    expect(m3?.id).toBe(m1!.id);
    expect(m3?.receiveCount).toBe(3);
    await q.delete(m3!.receiptHandle);
  },

  'delaySeconds on send hides the message until the delay has passed': async ({ fresh }) => {
    const { q } = await fresh();
    const t0 = performance.now();
    await q.send('later', { delaySeconds: 1 });
    expect(await q.receive(once)).toEqual([]);
    const [m] = await q.receive({ ...once, waitSeconds: 3 });
    expect(m?.body).toBe('later');
    expect(since(t0)).toBeGreaterThan(0.8);
    await q.delete(m!.receiptHandle);
  },

  'a delay over 900 s (SQS limit) is rejected before anything is sent': async ({ fresh }) => {
    const { q } = await fresh();
    await expect(q.send('x', { delaySeconds: 901 })).rejects.toThrow(/delaySeconds must be at most 900/);
    await expect(q.send('x', { delaySeconds: -1 })).rejects.toThrow(/delaySeconds/);
    await expect(q.send('x', { delaySeconds: Number.NaN })).rejects.toThrow(/delaySeconds/);
    await q.send('edge', { delaySeconds: 900 });
    expect(await q.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 1 });
  },

  'receive validates its arguments and clamps max to 10 and the wait to 20 s': async ({ fresh }) => {
    const { q } = await fresh();
    await expect(q.receive({ ...once, max: 0 })).rejects.toThrow(/max/);
    await expect(q.receive({ ...once, visibilitySeconds: -1 })).rejects.toThrow(/visibilitySeconds/);
    await Promise.all(Array.from({ length: 12 }, (_, i) => q.send(`m${i}`)));
    // SQS refuses MaxNumberOfMessages > 10 and WaitTimeSeconds > 20: both are clamped.
    const got = await q.receive({ max: 25, visibilitySeconds: 30, waitSeconds: 60 });
    expect(got.length).toBeGreaterThan(0);
    expect(got.length).toBeLessThanOrEqual(10);
  },

  'a long poll returns as soon as a message arrives': async ({ fresh }) => {
    const { q } = await fresh();
    const t0 = performance.now();
    const pending = q.receive({ ...once, waitSeconds: 10 });
    await sleep(300);
    await q.send('wake up');
    const [m] = await pending;
    expect(m?.body).toBe('wake up');
    expect(since(t0)).toBeLessThan(3);
  },

  'an aborted long poll returns [] at once; an already-aborted signal takes nothing': async ({ fresh }) => {
    const { q } = await fresh();
    const ac = new AbortController();
    const pending = q.receive({ ...once, waitSeconds: 20, signal: ac.signal });
    await sleep(200);
    const t0 = performance.now();
    ac.abort();
    expect(await pending).toEqual([]);
    expect(since(t0)).toBeLessThan(1);

    // A fresh queue: the broker does not see the abort, so the poll above is still open
    // there and would take (and hide) the next message sent to its queue.
    const { q: q2 } = await fresh();
    await q2.send('keep me');
    expect(await q2.receive({ ...once, waitSeconds: 5, signal: AbortSignal.abort() })).toEqual([]);
    const [m] = await q2.receive({ ...once, waitSeconds: 2 });
    expect(m).toMatchObject({ body: 'keep me', receiveCount: 1 });
  },

  'close() ends a pending long poll; later calls fail or return []': async ({ fresh }) => {
    const { q } = await fresh();
    const pending = q.receive({ ...once, waitSeconds: 20 });
    await sleep(200);
    const t0 = performance.now();
    await q.close();
    expect(await pending).toEqual([]);
    expect(since(t0)).toBeLessThan(1);
    expect(await q.receive(once)).toEqual([]);
    await expect(q.send('x')).rejects.toThrow(/closed/);
  },

  'after maxReceives receives the message is dead-lettered and takeDeadLetters returns it once': async ({ emu, fresh }) => {
    const { q } = await fresh();
    await q.send('poison');
    // First attempt: the worker "dies", the visibility lapses.
    const [m1] = await q.receive({ ...once, visibilitySeconds: 1 });
    expect(m1?.receiveCount).toBe(1);
    expect(await q.takeDeadLetters(10)).toEqual([]);
    await sleep(1200);
    // Second attempt: handed back at once.
    const [m2] = await q.receive({ ...once, waitSeconds: 2 });
    expect(m2?.receiveCount).toBe(MAX_RECEIVES);
    await q.release(m2!.receiptHandle, 0);
    // The next receive finds it over maxReceiveCount: the broker moves it to the DLQ.
    expect(await q.receive(once)).toEqual([]);

    const dead = await q.takeDeadLetters(10);
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ id: m1!.id, body: 'poison' });
    // fauxqs also counts the receive that moved the message; moto counts as AWS does.
    if (emu.kind === 'moto') expect(dead[0]!.receiveCount).toBe(MAX_RECEIVES);
    else expect(dead[0]!.receiveCount).toBeGreaterThanOrEqual(MAX_RECEIVES);
    expect(await q.takeDeadLetters(10)).toEqual([]);
    expect(await q.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });

    const { q: noDlq } = await fresh({ dlq: false });
    expect(await noDlq.takeDeadLetters(10)).toEqual([]);
  },

  'depth counts visible, in-flight and delayed messages': async ({ fresh }) => {
    const { q } = await fresh();
    await q.send('a');
    await q.send('b');
    await q.send('c', { delaySeconds: 60 });
    expect(await q.depth()).toEqual({ visible: 2, inFlight: 0, delayed: 1 });
    const [m] = await q.receive({ ...once, visibilitySeconds: 30 });
    expect(await q.depth()).toEqual({ visible: 1, inFlight: 1, delayed: 1 });
    await q.delete(m!.receiptHandle);
    expect(await q.depth()).toEqual({ visible: 1, inFlight: 0, delayed: 1 });
  },

  'stale handles: extendVisibility throws, delete and release are no-ops': async ({ fresh }) => {
    const { q } = await fresh();
    await q.send('done soon');
    const [m] = await q.receive({ ...once, visibilitySeconds: 30 });
    await q.delete(m!.receiptHandle);
    await expect(q.extendVisibility(m!.receiptHandle, 30)).rejects.toThrow(/receipt handle is no longer valid/);
    await q.delete(m!.receiptHandle);
    await q.release(m!.receiptHandle, 0);
    await expect(q.extendVisibility('not-a-receipt-handle', 30)).rejects.toThrow(/no longer valid/);
    expect(await q.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  },
};

/** The cases run on fauxqs too: routing, the core cycle, abort, redrive, error mapping. */
const SMOKE = [
  'makeSqsClient sends requests to the configured endpoint, not the queue URL host',
  'release(h, 0) makes a message visible at once; release with a delay hides it',
  'a delay over 900 s (SQS limit) is rejected before anything is sent',
  'an aborted long poll returns [] at once; an already-aborted signal takes nothing',
  'after maxReceives receives the message is dead-lettered and takeDeadLetters returns it once',
  'stale handles: extendVisibility throws, delete and release are no-ops',
];

function suite(prefer: 'moto' | 'fauxqs', names: string[]) {
  const ctx = {} as Ctx;
  const queues: SqsQueue[] = [];
  beforeAll(async () => {
    ctx.emu = await startAwsEmulator({ prefer });
    ctx.client = new SQSClient({ region: ctx.emu.region, endpoint: ctx.emu.endpoint, credentials: CREDENTIALS });
    ctx.fresh = async ({ dlq = true, maxReceives = MAX_RECEIVES } = {}) => {
      const r = await createScaleOutResources(ctx.emu, { maxReceives, visibilitySeconds: 1 });
      const q = new SqsQueue({ client: ctx.client, queueUrl: r.queueUrl, ...(dlq ? { deadLetterQueueUrl: r.dlqUrl } : {}) });
      queues.push(q);
      return { q, queueUrl: r.queueUrl };
    };
  });
  afterAll(async () => {
    await Promise.all(queues.map((q) => q.close()));
    ctx.client?.destroy();
    await ctx.emu?.close();
  });
  for (const name of names) it(name, () => cases[name]!(ctx));
}

describe('SqsQueue on moto (fauxqs when moto_server is absent)', () => {
  suite('moto', Object.keys(cases));
});

describe('SqsQueue on fauxqs (smoke)', () => {
  suite('fauxqs', SMOKE);
});
