import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { REPO, runTogether, WAIT_FOR_GO } from '../helpers/processes.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type SqliteDatabase } from '../../src/adapters/sqlite/db.js';
import { SqliteQueue, type SqliteQueueOptions } from '../../src/adapters/sqlite/queue.js';

const srcUrl = (p: string) => JSON.stringify(pathToFileURL(join(REPO, p)).href);

let dir: string;
let file: string;
let dbs: SqliteDatabase[];
let queues: SqliteQueue[];
/** Fake clock (ms) for the queues that opt into it. */
let t: number;

function makeQueue(opts: SqliteQueueOptions & { fakeClock?: boolean; db?: SqliteDatabase } = {}): SqliteQueue {
  const { fakeClock = true, db: given, ...rest } = opts;
  let db = given;
  if (!db) {
    db = openDatabase(file);
    dbs.push(db);
  }
  const q = new SqliteQueue(db, { ...(fakeClock ? { now: () => t } : {}), ...rest });
  queues.push(q);
  return q;
}

const once = { max: 10, visibilitySeconds: 30, waitSeconds: 0 };

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'photoreel-queue-'));
  file = join(dir, 'photoreel.db');
  dbs = [];
  queues = [];
  t = 1_700_000_000_000;
});

afterEach(async () => {
  for (const q of queues) await q.close();
  for (const db of dbs) if (db.open) db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('send / receive / delete', () => {
  it('delivers in send order, hides received messages, and delete removes them', async () => {
    const q = makeQueue();
    await q.send('a');
    t += 1;
    await q.send('b');
    t += 1;
    await q.send('c');
    expect(await q.depth()).toEqual({ visible: 3, inFlight: 0, delayed: 0 });

    const first = await q.receive({ ...once, max: 2 });
    expect(first.map((m) => m.body)).toEqual(['a', 'b']);
    for (const m of first) {
      expect(m.receiveCount).toBe(1);
      expect(m.receiptHandle).toMatch(/^[A-Za-z0-9_-]{16,}$/);
      expect(m.id).toMatch(/^msg_/);
    }
    expect(first[0]!.receiptHandle).not.toBe(first[1]!.receiptHandle);
    expect(await q.depth()).toEqual({ visible: 1, inFlight: 2, delayed: 0 });

    const second = await q.receive(once);
    expect(second.map((m) => m.body)).toEqual(['c']);
    expect(await q.receive(once)).toEqual([]);

    for (const m of [...first, ...second]) await q.delete(m.receiptHandle);
    expect(await q.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    t += 60_000;
    expect(await q.receive(once)).toEqual([]);
  });

  it('named queues in one table are independent', async () => {
    const jobs = makeQueue();
    const hooks = makeQueue({ name: 'webhooks', db: dbs[0] });
    await jobs.send('job');
    await hooks.send('hook');
    expect((await hooks.receive(once)).map((m) => m.body)).toEqual(['hook']);
    expect((await jobs.receive(once)).map((m) => m.body)).toEqual(['job']);
    expect(await hooks.depth()).toEqual({ visible: 0, inFlight: 1, delayed: 0 });
  });

  it('validates its arguments', async () => {
    const q = makeQueue();
    await expect(q.receive({ ...once, max: 0 })).rejects.toThrow(/max/);
    await expect(q.receive({ ...once, visibilitySeconds: -1 })).rejects.toThrow(/visibilitySeconds/);
    await expect(q.send('x', { delaySeconds: Number.NaN })).rejects.toThrow(/delaySeconds/);
    // SQS's longest delay: the embedded queue refuses what SQS would refuse.
    await expect(q.send('x', { delaySeconds: 901 })).rejects.toThrow(/at most 900/);
    await q.send('x', { delaySeconds: 900 });
    expect(() => makeQueue({ maxReceives: 0 })).toThrow(/maxReceives/);
  });
});

describe('visibility timeout', () => {
  it('an expired message is redelivered with receive count 2 and a new receipt handle; the old handle is stale', async () => {
    const q = makeQueue();
    await q.send('work');
    const [m1] = await q.receive({ ...once, visibilitySeconds: 30 });
    t += 29_999;
    expect(await q.receive(once)).toEqual([]);
    t += 2;
    const [m2] = await q.receive({ ...once, visibilitySeconds: 30 });
    expect(m2?.id).toBe(m1?.id);
    expect(m2?.body).toBe('work');
    expect(m2?.receiveCount).toBe(2);
    expect(m2?.receiptHandle).not.toBe(m1?.receiptHandle);

    // The first consumer comes back late: its delete is a no-op, its heartbeat fails loudly.
    await q.delete(m1!.receiptHandle);
    expect(await q.depth()).toEqual({ visible: 0, inFlight: 1, delayed: 0 });
    await expect(q.extendVisibility(m1!.receiptHandle, 30)).rejects.toThrow(/receipt handle is no longer valid/);

    await q.delete(m2!.receiptHandle);
    expect(await q.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    // Deleted: its handle is stale too.
    await q.delete(m2!.receiptHandle);
    await expect(q.extendVisibility(m2!.receiptHandle, 30)).rejects.toThrow(/no longer valid/);
  });

  it('extendVisibility keeps a message hidden past its first timeout', async () => {
    const q = makeQueue();
    await q.send('long');
    const [m] = await q.receive({ ...once, visibilitySeconds: 10 });
    t += 8_000;
    await q.extendVisibility(m!.receiptHandle, 10); // now hidden until first receive + 18 s
    t += 8_000; // 16 s after the receive: past the original timeout
    expect(await q.receive(once)).toEqual([]);
    expect(await q.depth()).toEqual({ visible: 0, inFlight: 1, delayed: 0 });
    t += 2_001;
    const [again] = await q.receive(once);
    expect(again?.id).toBe(m!.id);
    expect(again?.receiveCount).toBe(2);
  });

  it('release with a delay hides the message for that long; release(0) makes it visible at once', async () => {
    const q = makeQueue();
    await q.send('retry me');
    const [m] = await q.receive(once);
    await q.release(m!.receiptHandle, 10);
    expect(await q.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 1 });
    t += 9_999;
    expect(await q.receive(once)).toEqual([]);
    t += 1;
    const [m2] = await q.receive(once);
    expect(m2?.id).toBe(m!.id);
    expect(m2?.receiveCount).toBe(2);
    // A spent receipt: releasing it again does nothing, heartbeating it fails.
    await q.release(m!.receiptHandle, 0);
    expect(await q.depth()).toEqual({ visible: 0, inFlight: 1, delayed: 0 });
    await q.release(m2!.receiptHandle);
    expect(await q.depth()).toEqual({ visible: 1, inFlight: 0, delayed: 0 });
    await expect(q.extendVisibility(m2!.receiptHandle, 5)).rejects.toThrow(/no longer valid/);
    expect((await q.receive(once))[0]?.receiveCount).toBe(3);
  });

  it('delaySeconds on send holds the message back', async () => {
    const q = makeQueue();
    await q.send('later', { delaySeconds: 5 });
    await q.send('now');
    expect(await q.depth()).toEqual({ visible: 1, inFlight: 0, delayed: 1 });
    expect((await q.receive(once)).map((m) => m.body)).toEqual(['now']);
    t += 4_999;
    expect(await q.receive(once)).toEqual([]);
    t += 1;
    const got = await q.receive(once);
    expect(got.map((m) => m.body)).toEqual(['later']);
    expect(got[0]?.receiveCount).toBe(1);
  });
});

describe('dead letters', () => {
  it('a message received maxReceives times is dead-lettered on the next receive, returned once by takeDeadLetters', async () => {
    const q = makeQueue({ maxReceives: 3 });
    await q.send('poison');
    for (let i = 1; i <= 3; i++) {
      const got = await q.receive({ ...once, visibilitySeconds: 1 });
      expect(got.map((m) => m.receiveCount)).toEqual([i]);
      t += 1_001;
    }
    expect(await q.takeDeadLetters(10)).toEqual([]); // not yet: redrive happens on the next receive
    expect(await q.receive(once)).toEqual([]);
    expect(await q.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    const dead = await q.takeDeadLetters(10);
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ body: 'poison', receiveCount: 3 });
    expect(await q.takeDeadLetters(10)).toEqual([]);
  });

  it('dead-lettering does not starve healthy messages behind the poison one', async () => {
    const q = makeQueue({ maxReceives: 1 });
    await q.send('poison');
    const [p] = await q.receive({ ...once, max: 1, visibilitySeconds: 1 });
    expect(p?.body).toBe('poison');
    t += 2_000;
    await q.send('healthy'); // visible after the poison message, so it sorts behind it
    // One receive of max 1: the poison message is moved aside, the healthy one returned.
    const got = await q.receive({ ...once, max: 1 });
    expect(got.map((m) => m.body)).toEqual(['healthy']);
    expect((await q.takeDeadLetters(5)).map((m) => m.body)).toEqual(['poison']);
  });

  it('takeDeadLetters honours max and only sees its own queue', async () => {
    const q = makeQueue({ maxReceives: 1 });
    const other = makeQueue({ maxReceives: 1, name: 'other', db: dbs[0] });
    for (const body of ['d1', 'd2', 'd3']) await q.send(body);
    await other.send('o1');
    await q.receive({ ...once, visibilitySeconds: 1 });
    await other.receive({ ...once, visibilitySeconds: 1 });
    t += 2_000;
    expect(await q.receive(once)).toEqual([]);
    expect(await other.receive(once)).toEqual([]);
    const a = await q.takeDeadLetters(2);
    const b = await q.takeDeadLetters(2);
    expect(a).toHaveLength(2);
    expect([...a, ...b].map((m) => m.body).sort()).toEqual(['d1', 'd2', 'd3']);
    expect((await other.takeDeadLetters(10)).map((m) => m.body)).toEqual(['o1']);
  });
});

describe('long poll', () => {
  it('returns promptly when a message is sent during the wait', async () => {
    const q = makeQueue({ fakeClock: false });
    const started = performance.now();
    let sentAt = 0;
    setTimeout(() => {
      sentAt = performance.now();
      void q.send('hello');
    }, 200);
    const got = await q.receive({ max: 1, visibilitySeconds: 30, waitSeconds: 10 });
    const doneAt = performance.now();
    expect(got.map((m) => m.body)).toEqual(['hello']);
    expect(sentAt).toBeGreaterThan(0);
    expect(doneAt - sentAt).toBeLessThan(500);
    expect(doneAt - started).toBeLessThan(700);
  });

  it('a send in the same process wakes the waiter without waiting for the next poll', async () => {
    const q = makeQueue({ fakeClock: false, pollIntervalMs: 60_000 });
    const sender = makeQueue({ fakeClock: false, db: dbs[0] });
    setTimeout(() => void sender.send('wake'), 100);
    const started = performance.now();
    const got = await q.receive({ max: 1, visibilitySeconds: 30, waitSeconds: 20 });
    expect(got.map((m) => m.body)).toEqual(['wake']);
    expect(performance.now() - started).toBeLessThan(600);
  });

  it('finds messages sent through another connection (another process) by polling', async () => {
    const q = makeQueue({ fakeClock: false });
    const otherDb = openDatabase(file);
    dbs.push(otherDb);
    const started = performance.now();
    // Written with raw SQL, so no in-process notification can help.
    setTimeout(() => {
      otherDb
        .prepare("INSERT INTO messages (id, queue, body, visible_at, receive_count, receipt_handle, created_at) VALUES ('msg_ext', 'jobs', 'external', ?, 0, NULL, ?)")
        .run(Date.now(), Date.now());
    }, 200);
    const got = await q.receive({ max: 1, visibilitySeconds: 30, waitSeconds: 10 });
    expect(got.map((m) => m.body)).toEqual(['external']);
    expect(performance.now() - started).toBeLessThan(700);
  });

  it('returns [] after waitSeconds when nothing arrives', async () => {
    const q = makeQueue({ fakeClock: false });
    const started = performance.now();
    expect(await q.receive({ max: 5, visibilitySeconds: 30, waitSeconds: 1 })).toEqual([]);
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(950);
    expect(took).toBeLessThan(1_500);
  });

  it('an abort signal ends the wait with []', async () => {
    const q = makeQueue({ fakeClock: false });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 150);
    const started = performance.now();
    expect(await q.receive({ max: 1, visibilitySeconds: 30, waitSeconds: 20, signal: ac.signal })).toEqual([]);
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('an already aborted signal takes nothing', async () => {
    const q = makeQueue({ fakeClock: false });
    await q.send('keep');
    const ac = new AbortController();
    ac.abort();
    expect(await q.receive({ max: 1, visibilitySeconds: 30, waitSeconds: 5, signal: ac.signal })).toEqual([]);
    expect(await q.depth()).toEqual({ visible: 1, inFlight: 0, delayed: 0 });
  });

  it('close() ends pending long polls', async () => {
    const q = makeQueue({ fakeClock: false });
    const pending = q.receive({ max: 1, visibilitySeconds: 30, waitSeconds: 20 });
    await sleep(100);
    const started = performance.now();
    await q.close();
    expect(await pending).toEqual([]);
    expect(performance.now() - started).toBeLessThan(200);
    await expect(q.send('x')).rejects.toThrow(/closed/);
    expect(dbs[0]!.open).toBe(true);
  });

  it('a delayed message becomes receivable within the wait', async () => {
    const q = makeQueue({ fakeClock: false });
    await q.send('soon', { delaySeconds: 0.3 });
    const started = performance.now();
    const got = await q.receive({ max: 1, visibilitySeconds: 30, waitSeconds: 5 });
    expect(got.map((m) => m.body)).toEqual(['soon']);
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(800);
  });
});

describe('several consumers on one database file', () => {
  it('two queue instances on separate connections never receive the same message', async () => {
    const a = makeQueue({ fakeClock: false });
    const b = makeQueue({ fakeClock: false });
    const N = 300;
    for (let i = 0; i < N; i++) await a.send(`m${i}`);
    const seen = new Map<string, string>();
    const consume = async (q: SqliteQueue, who: string) => {
      for (;;) {
        const got = await q.receive({ max: 7, visibilitySeconds: 60, waitSeconds: 0 });
        if (got.length === 0) return;
        for (const m of got) {
          expect(seen.has(m.id), `${m.id} received by ${seen.get(m.id)} and ${who}`).toBe(false);
          seen.set(m.id, who);
        }
        await sleep(0);
        // Delete only half: the others stay in flight and must stay invisible.
        for (const m of got) if (Number(m.body.slice(1)) % 2 === 0) await q.delete(m.receiptHandle);
      }
    };
    await Promise.all([consume(a, 'a'), consume(b, 'b')]);
    expect(seen.size).toBe(N);
    expect(new Set(seen.values())).toEqual(new Set(['a', 'b']));
    expect(await a.depth()).toEqual({ visible: 0, inFlight: N / 2, delayed: 0 });
  });

  it('two real processes receiving at once get disjoint messages that cover the queue', async () => {
    const q = makeQueue({ fakeClock: false });
    const N = 400;
    for (let i = 0; i < N; i++) await q.send(`m${i}`);
    const script = join(dir, 'consume.mts');
    writeFileSync(
      script,
      `import { openDatabase } from ${srcUrl('src/adapters/sqlite/db.ts')};
       import { SqliteQueue } from ${srcUrl('src/adapters/sqlite/queue.ts')};
       const [file] = process.argv.slice(2);
       const db = openDatabase(file);
       const q = new SqliteQueue(db);
       ${WAIT_FOR_GO}
       const ids = [];
       for (;;) {
         const got = await q.receive({ max: 3, visibilitySeconds: 300, waitSeconds: 0 });
         if (got.length === 0) break;
         for (const m of got) { ids.push(m.id); await q.delete(m.receiptHandle); }
         // A little "work" per batch, so the two consumers' runs overlap for sure.
         await new Promise((r) => setTimeout(r, 1));
       }
       await q.close();
       db.close();
       process.stdout.write(JSON.stringify(ids));`,
    );
    const outs = await runTogether(script, [[file], [file]]);
    const [a, b] = outs.map((o) => JSON.parse(o) as string[]);
    const all = [...a!, ...b!];
    const dupes = all.filter((id, i) => all.indexOf(id) !== i);
    expect(dupes, 'messages received by both processes').toEqual([]);
    expect(all.length).toBe(N);
    // Both actually took part (they ran at the same time).
    expect([a!.length, b!.length].every((n) => n > 0), `split ${a!.length}/${b!.length}`).toBe(true);
    expect(await q.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });
});

