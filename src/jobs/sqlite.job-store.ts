import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

import type BetterSqlite3 from 'better-sqlite3';

import { AlectioConfigurationError } from '../alectio.errors.js';
import type { JobUpdate, StoredJob } from './job.model.js';
import type { JobStore } from './job-store.interface.js';

const MAX_JOBS = 10_000;
const COLUMNS = ['state', 'progress', 'message', 'started_at', 'finished_at', 'result', 'error'] as const;

/**
 * Jobs in an SQLite file (better-sqlite3), so finished results and errors survive a restart.
 * WAL mode: readers never wait for the writer, and a crash loses no committed write.
 */
export class SqliteJobStore implements JobStore {
  private constructor(private readonly db: BetterSqlite3.Database) {}

  static async open(file: string): Promise<SqliteJobStore> {
    let Database: typeof BetterSqlite3;
    try {
      Database = (await import('better-sqlite3')).default;
    } catch (error) {
      throw new AlectioConfigurationError(
        `jobsDatabase needs the package better-sqlite3 (npm install better-sqlite3@12): ${(error as Error).message}`,
      );
    }
    mkdirSync(dirname(file), { recursive: true });
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 5000');
    db.exec(`CREATE TABLE IF NOT EXISTS alectio_jobs (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      id TEXT NOT NULL UNIQUE,
      kind TEXT NOT NULL,
      state TEXT NOT NULL,
      progress REAL NOT NULL,
      message TEXT,
      created_at TEXT NOT NULL,
      started_at TEXT,
      finished_at TEXT,
      result TEXT,
      error TEXT
    )`);
    return new SqliteJobStore(db);
  }

  async create(job: StoredJob): Promise<void> {
    // Retention: the latest 10,000 jobs; older finished ones go, so the file does not grow forever.
    this.db
      .prepare(
        `DELETE FROM alectio_jobs WHERE seq <= (SELECT MAX(seq) FROM alectio_jobs) - ${MAX_JOBS} AND finished_at IS NOT NULL`,
      )
      .run();
    this.db
      .prepare(
        `INSERT INTO alectio_jobs (id, kind, state, progress, message, created_at, started_at, finished_at, result, error)
         VALUES (@id, @kind, @state, @progress, @message, @created_at, @started_at, @finished_at, @result, @error)`,
      )
      .run(job);
  }

  async update(id: string, update: JobUpdate): Promise<void> {
    const fields = COLUMNS.filter((column) => update[column] !== undefined);
    if (fields.length === 0) return;
    this.db
      .prepare(`UPDATE alectio_jobs SET ${fields.map((f) => `${f} = @${f}`).join(', ')} WHERE id = @id`)
      .run({ ...update, id });
  }

  async get(id: string): Promise<StoredJob | undefined> {
    return this.db.prepare(`SELECT ${selected(true)} FROM alectio_jobs WHERE id = ?`).get(id) as StoredJob | undefined;
  }

  async list({ limit, offset }: { limit: number; offset: number }): Promise<{ jobs: StoredJob[]; total: number }> {
    const jobs = this.db
      .prepare(`SELECT ${selected(false)} FROM alectio_jobs ORDER BY seq DESC LIMIT ? OFFSET ?`)
      .all(limit, offset) as StoredJob[];
    const { total } = this.db.prepare('SELECT COUNT(*) AS total FROM alectio_jobs').get() as { total: number };
    return { jobs, total };
  }

  async failUnfinished(message: string, at: string): Promise<number> {
    return this.db
      .prepare(
        `UPDATE alectio_jobs SET state = 'failed', error = @message, message = @message, finished_at = @at
         WHERE state IN ('queued', 'running')`,
      )
      .run({ message, at }).changes;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

function selected(withResult: boolean): string {
  return `id, kind, state, progress, message, created_at, started_at, finished_at, ${withResult ? 'result' : 'NULL AS result'}, error`;
}
