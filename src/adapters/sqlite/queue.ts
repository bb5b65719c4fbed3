import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import type { Statement } from 'better-sqlite3';
import { newId } from '../../core/ids.js';
import type { Queue, QueueMessage } from '../ports.js';
import type { SqliteDatabase } from './db.js';
import { MAX_QUEUE_DELAY_SECONDS } from '../../pipeline/messages.js';

export interface SqliteQueueOptions {
  /** A message received this many times is dead-lettered on its next receive (SQS maxReceiveCount). */
  maxReceives?: number;
  /** Several named queues can share the messages table. */
  name?: string;
  /** Clock for visibility and delays (ms epoch); a hook for tests. Long-poll waiting uses real time. */
  now?: () => number;
  /**
   * While long-polling, how often to look again for messages sent by other processes
   * (sends in this process wake waiters at once). Default: 50-100 ms, jittered.
   */
  pollIntervalMs?: number;
}

interface MessageRow {
  id: string;
  body: string;
  visible_at: number;
  receive_count: number;
}

interface DeadRow {
  id: string;
  body: string;
  receive_count: number;
}

// ------------------------------------------------------------ in-process wake-ups

/**
 * Receivers long-polling in this process, per (database file, queue name): a send()
 * wakes them at once instead of at their next poll. Other processes are found by polling.
 */
const sleepers = new Map<string, Set<() => void>>();
const memoryDbKeys = new WeakMap<SqliteDatabase, string>();

function topicOf(db: SqliteDatabase, name: string): string {
  let dbKey: string;
  if (db.memory) {
    dbKey = memoryDbKeys.get(db) ?? `memory:${randomBytes(8).toString('hex')}`;
    memoryDbKeys.set(db, dbKey);
  } else {
    dbKey = `file:${resolve(db.name)}`;
  }
  return `${dbKey}\0${name}`;
}

function wakeAll(topic: string): void {
  const set = sleepers.get(topic);
  if (!set) return;
  for (const wake of [...set]) wake();
}

// ------------------------------------------------------------ the queue

/**
 * A queue with SQS semantics in a SQLite table: at-least-once delivery, a visibility
 * timeout per receive, a receive count, receipt handles that change on every receive,
 * and dead-lettering of messages received too often. Safe across processes sharing the
 * database file: every receive is one IMMEDIATE (write-locked) transaction.
 *
 * The database handle is shared and owned by the caller: close() does not close it.
 */
export class SqliteQueue implements Queue {
  readonly name: string;
  readonly maxReceives: number;
  readonly #db: SqliteDatabase;
  readonly #now: () => number;
  readonly #pollIntervalMs: number | undefined;
  readonly #topic: string;
  readonly #ownSleepers = new Set<() => void>();
  #closed = false;

  readonly #insert: Statement<[string, string, string, number, number]>;
  readonly #selectVisible: Statement<[string, number, number, string, number], MessageRow>;
  readonly #markReceived: Statement<[number, string, string]>;
  readonly #insertDead: Statement<[string, string, string, number, number]>;
  readonly #deleteById: Statement<[string]>;
  readonly #deleteByHandle: Statement<[string, string]>;
  readonly #extend: Statement<[number, string, string]>;
  readonly #release: Statement<[number, string, string]>;
  readonly #selectDead: Statement<[string, number], DeadRow>;
  readonly #deleteDead: Statement<[string]>;
  readonly #depth: Statement<[number, number, number, string], { visible: number | null; inFlight: number | null; delayed: number | null }>;
  readonly #receiveTx: (max: number, visibilityMs: number) => QueueMessage[];
  readonly #takeDeadTx: (max: number) => QueueMessage[];

  constructor(db: SqliteDatabase, opts: SqliteQueueOptions = {}) {
    const maxReceives = opts.maxReceives ?? 5;
    if (!Number.isInteger(maxReceives) || maxReceives < 1) throw new Error(`maxReceives must be a positive integer, got ${maxReceives}`);
    this.#db = db;
    this.name = opts.name ?? 'jobs';
    this.maxReceives = maxReceives;
    this.#now = opts.now ?? Date.now;
    this.#pollIntervalMs = opts.pollIntervalMs;
    this.#topic = topicOf(db, this.name);

    this.#insert = db.prepare(
      'INSERT INTO messages (id, queue, body, visible_at, receive_count, receipt_handle, created_at) VALUES (?, ?, ?, ?, 0, NULL, ?)',
    );
    // Keyset over (visible_at, id): each round of the receive loop continues after the
    // last row it looked at, so a row is never picked twice in one receive.
    this.#selectVisible = db.prepare(
      `SELECT id, body, visible_at, receive_count FROM messages
       WHERE queue = ? AND visible_at <= ? AND (visible_at, id) > (?, ?)
       ORDER BY visible_at, id LIMIT ?`,
    ) as unknown as Statement<[string, number, number, string, number], MessageRow>;
    this.#markReceived = db.prepare(
      'UPDATE messages SET visible_at = ?, receive_count = receive_count + 1, receipt_handle = ? WHERE id = ?',
    );
    this.#insertDead = db.prepare(
      'INSERT OR REPLACE INTO dead_letters (id, queue, body, receive_count, dead_at) VALUES (?, ?, ?, ?, ?)',
    );
    this.#deleteById = db.prepare('DELETE FROM messages WHERE id = ?');
    this.#deleteByHandle = db.prepare('DELETE FROM messages WHERE queue = ? AND receipt_handle = ?');
    this.#extend = db.prepare('UPDATE messages SET visible_at = ? WHERE queue = ? AND receipt_handle = ?');
    // A released message goes back to "never received" for depth(); its receipt is spent.
    this.#release = db.prepare(
      'UPDATE messages SET visible_at = ?, receipt_handle = NULL WHERE queue = ? AND receipt_handle = ?',
    );
    this.#selectDead = db.prepare(
      'SELECT id, body, receive_count FROM dead_letters WHERE queue = ? ORDER BY dead_at, id LIMIT ?',
    );
    this.#deleteDead = db.prepare('DELETE FROM dead_letters WHERE id = ?');
    this.#depth = db.prepare(
      `SELECT
         SUM(CASE WHEN visible_at <= ? THEN 1 ELSE 0 END) AS visible,
         SUM(CASE WHEN visible_at > ? AND receipt_handle IS NOT NULL THEN 1 ELSE 0 END) AS inFlight,
         SUM(CASE WHEN visible_at > ? AND receipt_handle IS NULL THEN 1 ELSE 0 END) AS delayed
       FROM messages WHERE queue = ?`,
    );

    const receiveTx = db.transaction((max: number, visibilityMs: number): QueueMessage[] => {
      const now = this.#now();
      const out: QueueMessage[] = [];
      let afterVisibleAt = Number.MIN_SAFE_INTEGER;
      let afterId = '';
      while (out.length < max) {
        const rows = this.#selectVisible.all(this.name, now, afterVisibleAt, afterId, max - out.length);
        if (rows.length === 0) break;
        for (const row of rows) {
          afterVisibleAt = row.visible_at;
          afterId = row.id;
          if (row.receive_count >= this.maxReceives) {
            // SQS redrive: received maxReceives times without being deleted -> poison.
            this.#insertDead.run(row.id, this.name, row.body, row.receive_count, now);
            this.#deleteById.run(row.id);
            continue;
          }
          const receiptHandle = newReceiptHandle();
          this.#markReceived.run(now + visibilityMs, receiptHandle, row.id);
          out.push({ id: row.id, receiptHandle, body: row.body, receiveCount: row.receive_count + 1 });
        }
      }
      return out;
    });
    this.#receiveTx = (max, visibilityMs) => receiveTx.immediate(max, visibilityMs);

    const takeDeadTx = db.transaction((max: number): QueueMessage[] => {
      const rows = this.#selectDead.all(this.name, max);
      for (const row of rows) this.#deleteDead.run(row.id);
      return rows.map((r) => ({ id: r.id, receiptHandle: '', body: r.body, receiveCount: r.receive_count }));
    });
    this.#takeDeadTx = (max) => takeDeadTx.immediate(max);
  }

  async send(body: string, opts: { delaySeconds?: number } = {}): Promise<void> {
    this.#assertOpen();
    const delayMs = toMs(opts.delaySeconds ?? 0, 'delaySeconds');
    // SQS refuses longer delays; refusing them here too keeps code that passes on SQLite honest on SQS.
    if (delayMs > MAX_QUEUE_DELAY_SECONDS * 1000) throw new Error(`send: delaySeconds must be at most ${MAX_QUEUE_DELAY_SECONDS} (SQS's limit), got ${opts.delaySeconds}`);
    const now = this.#now();
    this.#insert.run(newId('msg'), this.name, body, now + delayMs, now);
    if (delayMs === 0) wakeAll(this.#topic);
  }

  async receive(opts: { max: number; visibilitySeconds: number; waitSeconds: number; signal?: AbortSignal }): Promise<QueueMessage[]> {
    const max = Math.floor(opts.max);
    if (!(max >= 1)) throw new Error(`receive: max must be at least 1, got ${opts.max}`);
    const visibilityMs = toMs(opts.visibilitySeconds, 'visibilitySeconds');
    const waitMs = toMs(opts.waitSeconds, 'waitSeconds');
    const { signal } = opts;
    const deadline = performance.now() + waitMs;
    for (;;) {
      // Checked before every attempt: a receiver that was told to stop must not take
      // (and hide) messages it will not process.
      if (this.#closed || signal?.aborted) return [];
      this.#assertOpen();
      const got = this.#receiveTx(max, visibilityMs);
      if (got.length > 0) return got;
      const remaining = deadline - performance.now();
      if (remaining <= 0) return [];
      await this.#sleep(Math.min(remaining, this.#pollIntervalMs ?? 50 + Math.random() * 50), signal);
    }
  }

  async extendVisibility(receiptHandle: string, visibilitySeconds: number): Promise<void> {
    this.#assertOpen();
    const ms = toMs(visibilitySeconds, 'visibilitySeconds');
    const { changes } = this.#extend.run(this.#now() + ms, this.name, receiptHandle);
    if (changes === 0) {
      throw new Error(
        `queue ${this.name}: receipt handle is no longer valid (the message was deleted, released, or received again by another consumer)`,
      );
    }
  }

  /** A stale receipt handle is a no-op (the message was already deleted or re-received). */
  async delete(receiptHandle: string): Promise<void> {
    this.#assertOpen();
    this.#deleteByHandle.run(this.name, receiptHandle);
  }

  /** A stale receipt handle is a no-op. */
  async release(receiptHandle: string, delaySeconds = 0): Promise<void> {
    this.#assertOpen();
    const delayMs = toMs(delaySeconds, 'delaySeconds');
    const { changes } = this.#release.run(this.#now() + delayMs, this.name, receiptHandle);
    if (changes > 0 && delayMs === 0) wakeAll(this.#topic);
  }

  async takeDeadLetters(max: number): Promise<QueueMessage[]> {
    this.#assertOpen();
    const n = Math.floor(max);
    if (!(n >= 1)) return [];
    return this.#takeDeadTx(n);
  }

  async depth(): Promise<{ visible: number; inFlight: number; delayed: number }> {
    this.#assertOpen();
    const now = this.#now();
    const row = this.#depth.get(now, now, now, this.name);
    return { visible: row?.visible ?? 0, inFlight: row?.inFlight ?? 0, delayed: row?.delayed ?? 0 };
  }

  /** Ends pending long-polls (they return []); the shared database handle stays open. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const wake of [...this.#ownSleepers]) wake();
  }

  #assertOpen() {
    if (this.#closed) throw new Error(`queue ${this.name} is closed`);
    if (!this.#db.open) throw new Error(`queue ${this.name}: database is closed`);
  }

  /** Sleep up to `ms`, ending early on a send in this process, abort, or close(). */
  #sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((done) => {
      let set = sleepers.get(this.#topic);
      if (!set) sleepers.set(this.#topic, (set = new Set()));
      const topicSet = set;
      const wake = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', wake);
        topicSet.delete(wake);
        if (topicSet.size === 0 && sleepers.get(this.#topic) === topicSet) sleepers.delete(this.#topic);
        this.#ownSleepers.delete(wake);
        done();
      };
      const timer = setTimeout(wake, ms);
      topicSet.add(wake);
      this.#ownSleepers.add(wake);
      signal?.addEventListener('abort', wake, { once: true });
    });
  }
}

function newReceiptHandle(): string {
  return randomBytes(18).toString('base64url');
}

function toMs(seconds: number, what: string): number {
  if (!Number.isFinite(seconds) || seconds < 0) throw new Error(`${what} must be a non-negative number of seconds, got ${seconds}`);
  return Math.round(seconds * 1000);
}
