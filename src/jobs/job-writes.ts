import type { Logger } from '@nestjs/common';

import { type JobEnd, type JobUpdate, resultOf, type StoredJob } from './job.model.js';
import { JobStoreAwayError, JobStoreLockedError } from './job-store.errors.js';
import type { JobStore } from './job-store.interface.js';

/** A write refused because another process holds the database's lock is tried again after this, doubling up to 1 s. */
const RETRY_FIRST_MS = 25;
const RETRY_MAX_MS = 1000;

/** What became of a write: taken by the store (for an end, whether it was this one that ended the job), or refused. */
export interface WriteOutcome {
  recorded: boolean;
  /** An end the store took: true if it ended the job, false if the job had already ended. */
  ended?: boolean;
  /** Why the store refused it. */
  error?: Error;
}

/** A write of a job's progress or end the store has not taken yet, and who waits for its outcome. */
interface PendingWrite {
  update: JobUpdate | JobEnd;
  end: boolean;
  settle: (outcome: WriteOutcome) => void;
}

/**
 * The writes of each job, applied in the order they were made. A locked database (or a shared
 * store's Redis away) makes them wait here, retried in order, never holding the event loop;
 * GET /jobs/:id on this process shows them meanwhile.
 */
export class JobWrites {
  /** Each job's writes not yet taken by the store, oldest first (the first is being tried). */
  private readonly pending = new Map<string, PendingWrite[]>();
  private readonly retries = new Map<string, NodeJS.Timeout>();
  /** Past the shutdown: writes are no longer retried. */
  private closed = false;

  get isClosed(): boolean {
    return this.closed;
  }

  constructor(
    private readonly store: JobStore,
    private readonly logger: Logger,
    /** Whether an end leaves a callback to deliver (a shared store keeps that, for a process taking over). */
    private readonly callbackDue = false,
  ) {}

  /**
   * Writes a job's progress or end, after its earlier writes: resolves true once the store has
   * taken it, false if the store refused it (logged). A database locked by another process (or a Redis away) is
   * waited for in the background, the write retried until it succeeds or the server shuts down.
   * A failing store must not leave the run unrecorded in the log, nor crash the process.
   */
  record(id: string, update: JobUpdate): Promise<boolean> {
    return this.write(id, update, false).then((outcome) => outcome.recorded);
  }

  /** Writes how a job ended, after its earlier writes; see {@link WriteOutcome}. */
  end(id: string, end: JobEnd): Promise<WriteOutcome> {
    return this.write(id, end, true);
  }

  private write(id: string, update: JobUpdate | JobEnd, end: boolean): Promise<WriteOutcome> {
    if (this.closed) {
      this.logger.error(`job ${id}: not recorded, the server has shut down: ${writeText(update)}`);
      return Promise.resolve({ recorded: false });
    }
    return new Promise<WriteOutcome>((settle) => {
      const writes = this.pending.get(id);
      if (!writes) {
        this.pending.set(id, [{ update, end, settle }]);
        void this.drain(id, 0);
        return;
      }
      // Progress waiting behind a lock: the latest is what counts (an end is never merged).
      const last = writes.length > 1 ? writes[writes.length - 1] : undefined;
      if (last && !last.end && !end) {
        Object.assign(last.update, update);
        const earlier = last.settle;
        last.settle = (outcome) => {
          earlier(outcome);
          settle(outcome);
        };
        return;
      }
      writes.push({ update: { ...update }, end, settle });
    });
  }

  /** Writes a job's pending writes in order; on a lock, tries again later from the same one. */
  private async drain(id: string, failures: number): Promise<void> {
    const writes = this.pending.get(id);
    while (writes && writes.length > 0 && this.pending.get(id) === writes) {
      const write = writes[0];
      let outcome: WriteOutcome;
      try {
        outcome = write.end
          ? { recorded: true, ended: await this.store.finish(id, write.update as JobEnd, this.callbackDue) }
          : (await this.store.update(id, write.update as JobUpdate), { recorded: true });
      } catch (error) {
        // Behind a lock, or a shared store's Redis away: a passing state, waited out in the background.
        if ((error instanceof JobStoreLockedError || error instanceof JobStoreAwayError) && !this.closed) {
          if (failures === 0) this.logger.warn(`job ${id}: ${error.message}; its writes wait, tried again in the background`);
          const wait = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** failures);
          const timer = setTimeout(() => {
            this.retries.delete(id);
            void this.drain(id, failures + 1);
          }, wait);
          timer.unref();
          this.retries.set(id, timer);
          return;
        }
        this.logger.error(`could not record job ${id}: ${(error as Error).message}`, (error as Error).stack);
        outcome = { recorded: false, error: error as Error };
      }
      writes.shift();
      if (outcome.recorded && failures > 0) {
        this.logger.log(`job ${id}: recorded after ${failures} retries (the job store could not take it)`);
        failures = 0;
      }
      write.settle(outcome);
    }
    if (this.pending.get(id) === writes) this.pending.delete(id);
  }

  /** The job as stored, with its writes still waiting for the store (an end with its result). */
  withPending(job: StoredJob): StoredJob {
    const writes = this.pending.get(job.id);
    if (!writes || job.finished_at !== null) return job;
    const shown = { ...job };
    for (const { update } of writes) {
      const { result, ...fields } = update as JobEnd;
      Object.assign(shown, fields, result ? { result: resultOf(result) } : {});
    }
    return shown;
  }

  /** The grace period is over: what the store has not taken by now is lost here (logged). */
  close(): void {
    this.closed = true;
    for (const timer of this.retries.values()) clearTimeout(timer);
    this.retries.clear();
    for (const [id, writes] of this.pending) {
      this.pending.delete(id);
      for (const write of writes) {
        this.logger.error(`job ${id}: not recorded by the shutdown, the job store not taking it: ${writeText(write.update)}`);
        write.settle({ recorded: false });
      }
    }
  }
}

/** A write for the log: its fields, the result by its size only. */
function writeText(update: JobUpdate | JobEnd): string {
  const { result, ...fields } = update as JobEnd;
  return JSON.stringify(result ? { ...fields, result: `${result.length} parts` } : fields);
}
