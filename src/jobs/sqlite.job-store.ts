import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

import { Logger } from '@nestjs/common';
import type BetterSqlite3 from 'better-sqlite3';

import { ALECTIO_LOGGER_CONTEXT } from '../alectio.constants.js';
import { AlectioConfigurationError } from '../alectio.errors.js';
import type { JobUpdate, StoredJob } from './job.model.js';
import { isBusy, JobStoreFullError, JobStoreLockedError, openError } from './job-store.errors.js';
import type { JobStore } from './job-store.interface.js';

// Retention: the latest 10,000 jobs, and the latest 256 MiB of results (their bytes as stored,
// UTF-8). Older results are dropped first; their jobs stay, marked so. No age limit.
const MAX_JOBS = 10_000;
/** The SQLite store's budget of result bytes; the module never changes it. */
export const MAX_RESULT_BYTES_ON_DISK = 256 * 1024 * 1024;
export const RESULT_DROPPED_ON_DISK = 'result dropped to keep the server within its disk budget';
/**
 * How long a statement waits for another process's lock. better-sqlite3 is synchronous: the
 * event loop waits as long, so a few ms, then the call fails (JobStoreLockedError, a 503).
 */
const BUSY_TIMEOUT_MS = 5;
/** The WAL file is cut back to this after a checkpoint (one large result would leave it as large). */
const WAL_SIZE_LIMIT_BYTES = 4 * 1024 * 1024;
/** Pages handed back to the file system per step (1 MiB of 4 KiB pages), so that no step holds the loop long. */
const VACUUM_STEP_PAGES = 256;
const VACUUM_STEP_DELAY_MS = 5;
const VACUUM_RETRY_MS = 1000;
const logger = new Logger(ALECTIO_LOGGER_CONTEXT);
const COLUMNS = ['state', 'progress', 'message', 'started_at', 'finished_at', 'result', 'error'] as const;

/**
 * What a test may change; the module's provider passes none of it. `maxResultBytes`: the result
 * budget (256 MiB); `maxPageCount`: SQLite's `max_page_count` on this connection, to make the
 * database "full" without filling a disk; `journalMode: 'delete'`: a rollback journal instead of
 * WAL, as SQLite falls back to where WAL cannot work, and where another process's write lock
 * blocks readers too.
 */
export interface SqliteJobStoreTuning {
  maxResultBytes?: number;
  maxPageCount?: number;
  journalMode?: 'wal' | 'delete';
}

/**
 * Jobs in an SQLite file (better-sqlite3), so finished results and errors survive a restart.
 * WAL mode: readers never wait for the writer, and a crash loses no committed write. No call
 * waits more than a few ms for another process's lock (it fails with a 503 instead); results are
 * kept within a byte budget and the space of dropped ones is given back to the file system.
 */
export class SqliteJobStore implements JobStore {
  /** Bytes of the results stored: this process is the file's one writer (docs/job-mode.md). */
  private resultBytes: number;
  private reclaiming: NodeJS.Timeout | undefined;

  private constructor(
    private readonly file: string,
    private readonly db: BetterSqlite3.Database,
    private readonly maxResultBytes: number,
    /** `auto_vacuum = INCREMENTAL`: the file can shrink (not so for a file made before it was set). */
    private readonly shrinks: boolean,
  ) {
    this.resultBytes = (
      db.prepare('SELECT COALESCE(SUM(octet_length(result)), 0) AS bytes FROM alectio_jobs').get() as { bytes: number }
    ).bytes;
  }

  static async open(file: string, tuning: SqliteJobStoreTuning = {}): Promise<SqliteJobStore> {
    let Database: typeof BetterSqlite3;
    try {
      Database = (await import('better-sqlite3')).default;
    } catch (error) {
      throw new AlectioConfigurationError(
        `jobsDatabase needs the package better-sqlite3 (npm install better-sqlite3@12): ${(error as Error).message}`,
      );
    }
    // A folder it cannot make fails start-up with the file system's own message, which names it.
    mkdirSync(dirname(file), { recursive: true });
    let db: BetterSqlite3.Database | undefined;
    try {
      db = new Database(file);
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      // Only takes effect on a new file, before its first table: set before anything else (and
      // only there: on a file in use it would wait for another process's lock).
      if (db.pragma('page_count', { simple: true }) === 0) db.pragma('auto_vacuum = INCREMENTAL');
      const journal = db.pragma(`journal_mode = ${tuning.journalMode ?? 'WAL'}`, { simple: true });
      if (journal !== (tuning.journalMode ?? 'wal')) {
        logger.warn(
          `jobsDatabase ${JSON.stringify(file)} is in journal mode ${String(journal)}, not WAL: another process writing to it blocks reading jobs`,
        );
      }
      db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
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
      const shrinks = db.pragma('auto_vacuum', { simple: true }) === 2;
      if (!shrinks) {
        logger.warn(
          `jobsDatabase ${JSON.stringify(file)} was created without auto_vacuum: the space of dropped results is reused but the file never shrinks (with the server stopped, 'PRAGMA auto_vacuum = INCREMENTAL; VACUUM;' on it once changes that; see docs/job-mode.md)`,
        );
      }
      if (tuning.maxPageCount !== undefined) db.pragma(`max_page_count = ${Math.trunc(tuning.maxPageCount)}`);
      return new SqliteJobStore(file, db, tuning.maxResultBytes ?? MAX_RESULT_BYTES_ON_DISK, shrinks);
    } catch (error) {
      if (db?.open) db.close();
      throw openError(file, error);
    }
  }

  async create(job: StoredJob): Promise<void> {
    const dropped = this.call(() =>
      this.db
        .transaction(() => {
          // Retention: the latest 10,000 jobs; older finished ones go, so the file does not grow forever.
          const old = `seq <= (SELECT MAX(seq) FROM alectio_jobs) - ${MAX_JOBS} AND finished_at IS NOT NULL`;
          const { bytes } = this.db
            .prepare(`SELECT COALESCE(SUM(octet_length(result)), 0) AS bytes FROM alectio_jobs WHERE ${old}`)
            .get() as { bytes: number };
          const deleted = this.db.prepare(`DELETE FROM alectio_jobs WHERE ${old}`).run().changes;
          this.db
            .prepare(
              `INSERT INTO alectio_jobs (id, kind, state, progress, message, created_at, started_at, finished_at, result, error)
               VALUES (@id, @kind, @state, @progress, @message, @created_at, @started_at, @finished_at, @result, @error)`,
            )
            .run(job);
          return { deleted, bytes };
        })
        .immediate(),
    );
    this.resultBytes -= dropped.bytes;
    if (dropped.deleted > 0) this.reclaim();
  }

  async update(id: string, update: JobUpdate): Promise<void> {
    const fields = COLUMNS.filter((column) => update[column] !== undefined);
    if (fields.length === 0) return;
    const set = (): unknown =>
      this.db
        .prepare(`UPDATE alectio_jobs SET ${fields.map((f) => `${f} = @${f}`).join(', ')} WHERE id = @id`)
        .run({ ...update, id });
    if (update.result === undefined) {
      this.call(set);
      return;
    }
    const incoming = update.result === null ? 0 : Buffer.byteLength(update.result, 'utf8');
    const { delta, dropped } = this.call(() =>
      this.db
        .transaction(() => {
          const current = this.db.prepare('SELECT octet_length(result) AS bytes FROM alectio_jobs WHERE id = ?').get(id) as
            { bytes: number | null } | undefined;
          if (!current) return { delta: 0, dropped: 0 };
          // The oldest results go first, before this one is written, so that it reuses their pages.
          let total = this.resultBytes - (current.bytes ?? 0) + incoming;
          let droppedBytes = 0;
          let last: number | undefined;
          if (total > this.maxResultBytes) {
            const oldest = this.db
              .prepare(
                'SELECT seq, octet_length(result) AS bytes FROM alectio_jobs WHERE result IS NOT NULL AND id <> ? ORDER BY seq',
              )
              .iterate(id) as IterableIterator<{ seq: number; bytes: number }>;
            for (const row of oldest) {
              total -= row.bytes;
              droppedBytes += row.bytes;
              last = row.seq;
              if (total <= this.maxResultBytes) break;
            }
          }
          if (last !== undefined) {
            this.db
              .prepare('UPDATE alectio_jobs SET result = NULL, message = ? WHERE result IS NOT NULL AND id <> ? AND seq <= ?')
              .run(RESULT_DROPPED_ON_DISK, id, last);
          }
          set();
          return { delta: incoming - (current.bytes ?? 0) - droppedBytes, dropped: droppedBytes };
        })
        .immediate(),
    );
    this.resultBytes += delta;
    if (dropped > 0 || (update.result === null && delta < 0)) this.reclaim();
  }

  async get(id: string): Promise<StoredJob | undefined> {
    return this.call(
      () => this.db.prepare(`SELECT ${selected(true)} FROM alectio_jobs WHERE id = ?`).get(id) as StoredJob | undefined,
    );
  }

  async list({ limit, offset }: { limit: number; offset: number }): Promise<{ jobs: StoredJob[]; total: number }> {
    return this.call(() => {
      const jobs = this.db
        .prepare(`SELECT ${selected(false)} FROM alectio_jobs ORDER BY seq DESC LIMIT ? OFFSET ?`)
        .all(limit, offset) as StoredJob[];
      const { total } = this.db.prepare('SELECT COUNT(*) AS total FROM alectio_jobs').get() as { total: number };
      return { jobs, total };
    });
  }

  async failUnfinished(message: string, at: string): Promise<number> {
    return this.call(
      () =>
        this.db
          .prepare(
            `UPDATE alectio_jobs SET state = 'failed', error = @message, message = @message, finished_at = @at
             WHERE state IN ('queued', 'running')`,
          )
          .run({ message, at }).changes,
    );
  }

  async close(): Promise<void> {
    clearTimeout(this.reclaiming);
    this.reclaiming = undefined;
    if (this.db.open) this.db.close();
  }

  /**
   * Runs a statement; SQLite's busy and full errors become the 503s that name their cause (and
   * a full disk is logged with the file, for the operator).
   */
  private call<T>(statement: () => T): T {
    try {
      return statement();
    } catch (error) {
      if (isBusy(error)) throw new JobStoreLockedError(error);
      if ((error as { code?: unknown }).code === 'SQLITE_FULL') {
        logger.error(`jobsDatabase ${JSON.stringify(this.file)}: ${(error as Error).message}`);
        throw new JobStoreFullError(error);
      }
      throw error;
    }
  }

  /**
   * Gives the pages of dropped results back to the file system, a step at a time in the
   * background (each step moves up to 1 MiB of pages), then empties the WAL.
   */
  private reclaim(delayMs = VACUUM_STEP_DELAY_MS): void {
    if (!this.shrinks || this.reclaiming) return;
    this.reclaiming = setTimeout(() => {
      this.reclaiming = undefined;
      if (!this.db.open) return;
      try {
        this.db.pragma(`incremental_vacuum(${VACUUM_STEP_PAGES})`);
        if ((this.db.pragma('freelist_count', { simple: true }) as number) > 0) return this.reclaim();
        this.db.pragma('wal_checkpoint(TRUNCATE)');
      } catch (error) {
        if (isBusy(error)) return this.reclaim(VACUUM_RETRY_MS);
        logger.warn(`could not give the space of dropped job results back to the file system: ${(error as Error).message}`);
      }
    }, delayMs);
    this.reclaiming.unref();
  }
}

function selected(withResult: boolean): string {
  return `id, kind, state, progress, message, created_at, started_at, finished_at, ${withResult ? 'result' : 'NULL AS result'}, error`;
}
