import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';

/** The embedded database handle shared by the job store and the queue. */
export type SqliteDatabase = Database.Database;

/** File name of the one embedded database inside DATA_DIR. */
export const DB_FILE_NAME = 'photoreel.db';

/** `openDatabase(dbPathIn(dataDir))`. */
export const dbPathIn = (dataDir: string) => join(dataDir, DB_FILE_NAME);

/**
 * Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
 * Append new entries, never edit old ones. Statements are idempotent anyway
 * (IF NOT EXISTS) so a half-applied state from an older build cannot wedge startup.
 */
const MIGRATIONS: readonly string[] = [
  // 1: jobs, idempotency keys, queue messages, dead letters
  `
  CREATE TABLE IF NOT EXISTS jobs (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    record      TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS jobs_tenant_id ON jobs (tenant, id DESC);
  CREATE INDEX IF NOT EXISTS jobs_tenant_status_id ON jobs (tenant, status, id DESC);

  CREATE TABLE IF NOT EXISTS idempotency (
    tenant       TEXT NOT NULL,
    key          TEXT NOT NULL,
    job_id       TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    fingerprint  TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (tenant, key)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS idempotency_job ON idempotency (job_id);

  CREATE TABLE IF NOT EXISTS messages (
    id              TEXT PRIMARY KEY,
    queue           TEXT NOT NULL,
    body            TEXT NOT NULL,
    visible_at      INTEGER NOT NULL,
    receive_count   INTEGER NOT NULL DEFAULT 0,
    receipt_handle  TEXT,
    created_at      INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS messages_queue_visible ON messages (queue, visible_at, id);
  CREATE UNIQUE INDEX IF NOT EXISTS messages_receipt ON messages (receipt_handle);

  CREATE TABLE IF NOT EXISTS dead_letters (
    id             TEXT PRIMARY KEY,
    queue          TEXT NOT NULL,
    body           TEXT NOT NULL,
    receive_count  INTEGER NOT NULL,
    dead_at        INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS dead_letters_queue ON dead_letters (queue, dead_at, id);
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Open (creating if needed) the embedded database: WAL journal, NORMAL sync, a 5 s busy
 * timeout so several processes can share the file, foreign keys on, schema migrated.
 * The caller owns the handle and closes it (`db.close()`) after the job store and the
 * queue built on it are closed.
 */
export function openDatabase(filePath: string): SqliteDatabase {
  if (filePath !== ':memory:' && filePath !== '') mkdirSync(dirname(filePath), { recursive: true });
  const db = new Database(filePath);
  try {
    db.pragma('busy_timeout = 5000');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    migrate(db);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/** Apply pending migrations. Runs under a write lock, so racing processes apply each once. */
export function migrate(db: SqliteDatabase): void {
  db.transaction(() => {
    const current = Number(db.pragma('user_version', { simple: true }));
    if (current > MIGRATIONS.length) {
      throw new Error(
        `database schema version ${current} is newer than this build understands (${MIGRATIONS.length}); upgrade photoreel`,
      );
    }
    for (let v = current; v < MIGRATIONS.length; v++) db.exec(MIGRATIONS[v]!);
    if (current !== MIGRATIONS.length) db.pragma(`user_version = ${MIGRATIONS.length}`);
  }).immediate();
}
