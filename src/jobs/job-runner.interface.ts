import type { AlectioContext } from '../interfaces/alectio-context.interface.js';

/** Injection token of the {@link JobRunner}. */
export const JOB_RUNNER = Symbol('alectio:job_runner');

/** What a run reports while it goes. */
export interface RunObserver {
  started?(): void;
  progress?(fraction: number, message?: string): void;
}

/**
 * Executes the work of a call or a job, and can abort it: the method itself, or in distributed
 * mode its hand-over to the workers, which an abort cancels there.
 */
export interface JobRunner {
  /** Runs `work` with a context whose signal `cancel(id)` and `abortAll()` abort. */
  run<T>(id: string, name: string, work: (context: AlectioContext) => Promise<T>, observer?: RunObserver): Promise<T>;
  /** Aborts the signal of run `id`; false when it is not running here. */
  cancel(id: string, reason: string): boolean;
  /** Aborts every run, and resolves once all have returned or `graceMs` has passed. */
  abortAll(reason: string, graceMs: number): Promise<{ unfinished: number }>;
}
