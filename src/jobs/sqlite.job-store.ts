import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

import { Logger } from '@nestjs/common';
import type BetterSqlite3 from 'better-sqlite3';

import { ALECTIO_LOGGER_CONTEXT } from '../alectio.constants.js';
import { AlectioConfigurationError } from '../alectio.errors.js';
import {
  bytesOf,
  type JobEnd,
  type JobResult,
  type JobUpdate,
  type NewJob,
  resultOf,
  type StoredJob,
  storedParts,
} from './job.model.js';
import { isBusy, JobResultTooLargeError, JobStoreFullError, JobStoreLockedError, openError } from './job-store.errors.js';
import { DEFAULT_RESULT_BUDGET_BYTES, type JobStore } from './job-store.interface.js';
import { WalCheckpointer } from './wal-checkpointer.js';

// Retention: the latest 10,000 jobs, and the latest `jobResultBytes` of results (256 MiB unless
// set; their bytes as stored, UTF-8). Older results are dropped first; their jobs stay, marked so.
// No age limit: the file is the operator's.
const MAX_JOBS = 10_000;
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
const UPDATED = ['state', 'progress', 'message', 'started_at'] as const;
const ENDED = ['state', 'progress', 'message', 'finished_at', 'error'] as const;
const FIELDS = 'id, kind, state, progress, message, created_at, started_at, finished_at, error';
/** A job has a result: as one text (a file from before parts) or as rows of parts. */
const HAS_RESULT = '(result IS NOT NULL OR result_parts IS NOT NULL)';
const ROW_BYTES = 'COALESCE(result_bytes, octet_length(result), 0)';
const STORED_BYTES = `COALESCE(SUM(${ROW_BYTES}), 0)`;
/** A transaction writes parts of this many characters at most (and one part, however long): a few ms each. */
const CHARACTERS_PER_WRITE = 1 << 20;
/** A large result's writer waits for a WAL checkpoint every this many characters. */
const CHARACTERS_PER_CHECKPOINT = 8 << 20;
/** Parts read per step while a result is served. */
const PARTS_PER_READ = 4;
const RESULT_GONE = 'the result was dropped while it was being read (the job store keeps its byte budget)';

type JobRow = Omit<StoredJob, 'result'> & { result: string | null; result_parts: number | null; result_bytes: number | null };

/**
 * `maxResultBytes`: the result budget (the option `jobResultBytes`, 256 MiB unless set). What only
 * a test changes: `maxPageCount`: SQLite's `max_page_count` on this connection, to make the
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
    private readonly checkpointer?: WalCheckpointer,
  ) {
    this.resultBytes = (db.prepare(`SELECT ${STORED_BYTES} AS bytes FROM alectio_jobs`).get() as { bytes: number }).bytes;
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
      // A file from before results were kept in parts gets their columns; its old results stay readable.
      const columns = (db.pragma('table_info(alectio_jobs)') as { name: string }[]).map((column) => column.name);
      if (!columns.includes('result_parts')) db.exec('ALTER TABLE alectio_jobs ADD COLUMN result_parts INTEGER');
      if (!columns.includes('result_bytes')) db.exec('ALTER TABLE alectio_jobs ADD COLUMN result_bytes INTEGER');
      db.exec(`CREATE TABLE IF NOT EXISTS alectio_job_parts (
        job_id TEXT NOT NULL,
        n INTEGER NOT NULL,
        part TEXT NOT NULL,
        PRIMARY KEY (job_id, n)
      )`);
      // Parts of a result whose writing a crash cut short: no ended job refers to them.
      db.exec(`DELETE FROM alectio_job_parts WHERE job_id NOT IN (SELECT id FROM alectio_jobs WHERE result_parts IS NOT NULL)`);
      const shrinks = db.pragma('auto_vacuum', { simple: true }) === 2;
      if (!shrinks) {
        logger.warn(
          `jobsDatabase ${JSON.stringify(file)} was created without auto_vacuum: the space of dropped results is reused but the file never shrinks (with the server stopped, 'PRAGMA auto_vacuum = INCREMENTAL; VACUUM;' on it once changes that; see docs/job-mode.md)`,
        );
      }
      if (tuning.maxPageCount !== undefined) db.pragma(`max_page_count = ${Math.trunc(tuning.maxPageCount)}`);
      // The WAL is folded back by a thread of its own, not inside this connection's commits.
      const opened = db;
      const checkpointer =
        journal === 'wal'
          ? WalCheckpointer.start(file, (reason) => {
              logger.warn(
                `jobsDatabase ${JSON.stringify(file)}: the WAL checkpoint thread was given up (${reason}); SQLite checkpoints in commits again`,
              );
              if (opened.open) opened.pragma('wal_autocheckpoint = 1000');
            })
          : undefined;
      if (checkpointer) db.pragma('wal_autocheckpoint = 0');
      return new SqliteJobStore(file, db, tuning.maxResultBytes ?? DEFAULT_RESULT_BUDGET_BYTES, shrinks, checkpointer);
    } catch (error) {
      if (db?.open) db.close();
      throw openError(file, error);
    }
  }

  async create(job: NewJob): Promise<void> {
    const dropped = this.call(() =>
      this.db
        .transaction(() => {
          // Retention: the latest 10,000 jobs; older finished ones go, so the file does not grow forever.
          const old = `seq <= (SELECT MAX(seq) FROM alectio_jobs) - ${MAX_JOBS} AND finished_at IS NOT NULL`;
          const { bytes } = this.db.prepare(`SELECT ${STORED_BYTES} AS bytes FROM alectio_jobs WHERE ${old}`).get() as {
            bytes: number;
          };
          this.db.prepare(`DELETE FROM alectio_job_parts WHERE job_id IN (SELECT id FROM alectio_jobs WHERE ${old})`).run();
          const deleted = this.db.prepare(`DELETE FROM alectio_jobs WHERE ${old}`).run().changes;
          this.db
            .prepare(
              `INSERT INTO alectio_jobs (id, kind, state, progress, message, created_at, started_at, finished_at, result, error)
               VALUES (@id, @kind, @state, @progress, @message, @created_at, @started_at, @finished_at, NULL, @error)`,
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
    const fields = UPDATED.filter((column) => update[column] !== undefined);
    if (fields.length === 0) return;
    this.call(() =>
      this.db
        .prepare(`UPDATE alectio_jobs SET ${fields.map((f) => `${f} = @${f}`).join(', ')} WHERE id = @id AND finished_at IS NULL`)
        .run({ ...update, id }),
    );
  }

  /**
   * Writes the result's parts a few MiB per transaction, the event loop free between them, then
   * ends the job in one last transaction (which drops the oldest results past the budget). Done
   * again from the start if a lock interrupts it: the parts of an earlier try are deleted first.
   */
  async finish(id: string, end: JobEnd): Promise<boolean> {
    const { result, ...fields } = end;
    const parts = result ? storedParts(result) : [];
    const incoming = result ? await bytesOf(parts) : 0;
    if (incoming > this.maxResultBytes) throw new JobResultTooLargeError(incoming, this.maxResultBytes);
    const insert = this.db.prepare('INSERT INTO alectio_job_parts (job_id, n, part) VALUES (?, ?, ?)');
    this.call(() => this.db.prepare('DELETE FROM alectio_job_parts WHERE job_id = ?').run(id));
    let sinceCheckpoint = 0;
    for (let n = 0; n < parts.length;) {
      if (n > 0) await yieldToEventLoop();
      const from = n;
      let chars = 0;
      while (n < parts.length && (n === from || chars + parts[n].length <= CHARACTERS_PER_WRITE)) chars += parts[n++].length;
      this.call(() =>
        this.db
          .transaction(() => {
            for (let k = from; k < n; k++) insert.run(id, k, parts[k]);
          })
          .immediate(),
      );
      // Written faster than folded back, the WAL would grow by the whole result: a checkpoint
      // every few MiB, waited for while the event loop serves on.
      sinceCheckpoint += chars;
      if (this.checkpointer && sinceCheckpoint >= CHARACTERS_PER_CHECKPOINT) {
        sinceCheckpoint = 0;
        await this.checkpointer.checkpoint();
      }
    }
    const ended = this.call(() =>
      this.db
        .transaction(() => {
          const current = this.db.prepare('SELECT finished_at FROM alectio_jobs WHERE id = ?').get(id) as
            { finished_at: string | null } | undefined;
          if (!current || current.finished_at !== null) {
            this.db.prepare('DELETE FROM alectio_job_parts WHERE job_id = ?').run(id);
            return { ended: false, dropped: 0 };
          }
          // The oldest results go first, past the budget, so that their pages are reused.
          let total = this.resultBytes + incoming;
          let dropped = 0;
          let last: number | undefined;
          if (total > this.maxResultBytes) {
            const oldest = this.db
              .prepare(`SELECT seq, ${ROW_BYTES} AS bytes FROM alectio_jobs WHERE ${HAS_RESULT} AND id <> ? ORDER BY seq`)
              .iterate(id) as IterableIterator<{ seq: number; bytes: number }>;
            for (const row of oldest) {
              total -= row.bytes;
              dropped += row.bytes;
              last = row.seq;
              if (total <= this.maxResultBytes) break;
            }
          }
          if (last !== undefined) {
            const older = `${HAS_RESULT} AND id <> @id AND seq <= @last`;
            this.db
              .prepare(`DELETE FROM alectio_job_parts WHERE job_id IN (SELECT id FROM alectio_jobs WHERE ${older})`)
              .run({ id, last });
            this.db
              .prepare(
                `UPDATE alectio_jobs SET result = NULL, result_parts = NULL, result_bytes = NULL, message = @message WHERE ${older}`,
              )
              .run({ id, last, message: RESULT_DROPPED_ON_DISK });
          }
          const set = ENDED.filter((column) => fields[column] !== undefined);
          this.db
            .prepare(
              `UPDATE alectio_jobs SET ${set.map((f) => `${f} = @${f}, `).join('')}result_parts = @parts, result_bytes = @bytes WHERE id = @id`,
            )
            .run({ ...fields, id, parts: result ? parts.length : null, bytes: result ? incoming : null });
          return { ended: true, dropped };
        })
        .immediate(),
    );
    if (ended.ended) this.resultBytes += incoming - ended.dropped;
    if (ended.dropped > 0) this.reclaim();
    return ended.ended;
  }

  async get(id: string): Promise<StoredJob | undefined> {
    const row = this.call(
      () =>
        this.db.prepare(`SELECT ${FIELDS}, result, result_parts, result_bytes FROM alectio_jobs WHERE id = ?`).get(id) as
          JobRow | undefined,
    );
    if (!row) return undefined;
    const { result, result_parts, result_bytes: _bytes, ...job } = row;
    return { ...job, result: this.resultOf(id, result, result_parts) };
  }

  async list({ limit, offset }: { limit: number; offset: number }): Promise<{ jobs: StoredJob[]; total: number }> {
    return this.call(() => {
      const jobs = this.db
        .prepare(`SELECT ${FIELDS}, NULL AS result FROM alectio_jobs ORDER BY seq DESC LIMIT ? OFFSET ?`)
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

  /**
   * A stored result: one text (a file written before results were kept in parts), or its rows of
   * parts, read a few at a time as the reader asks for them.
   */
  private resultOf(id: string, text: string | null, count: number | null): JobResult | null {
    if (text !== null) return resultOf([text]);
    if (count === null) return null;
    const page = this.db.prepare('SELECT part FROM alectio_job_parts WHERE job_id = ? AND n >= ? AND n < ? ORDER BY n');
    const call = this.call.bind(this);
    return {
      async *parts() {
        for (let n = 0; n < count; n += PARTS_PER_READ) {
          if (n > 0) await yieldToEventLoop();
          const rows = call(() => page.pluck().all(id, n, n + PARTS_PER_READ) as string[]);
          if (rows.length !== Math.min(PARTS_PER_READ, count - n)) throw new Error(RESULT_GONE);
          yield* rows;
        }
      },
    };
  }

  async close(): Promise<void> {
    clearTimeout(this.reclaiming);
    this.reclaiming = undefined;
    await this.checkpointer?.stop();
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
        // With the checkpoint thread, the WAL is folded back and cut there (journal_size_limit).
        if (!this.checkpointer) this.db.pragma('wal_checkpoint(TRUNCATE)');
      } catch (error) {
        if (isBusy(error)) return this.reclaim(VACUUM_RETRY_MS);
        logger.warn(`could not give the space of dropped job results back to the file system: ${(error as Error).message}`);
      }
    }, delayMs);
    this.reclaiming.unref();
  }
}
