import type { JobUpdate, StoredJob } from './job.model.js';

/** Injection token of the {@link JobStore}. */
export const JOB_STORE = Symbol('alectio:job_store');

/**
 * Where jobs are recorded. Promise-based so that a store across processes (Redis, SQL) fits
 * the same shape as the embedded ones.
 */
export interface JobStore {
  create(job: StoredJob): Promise<void>;
  update(id: string, update: JobUpdate): Promise<void>;
  get(id: string): Promise<StoredJob | undefined>;
  /** Newest first, without their results. */
  list(page: { limit: number; offset: number }): Promise<{ jobs: StoredJob[]; total: number }>;
  /** Marks every job that was queued or running as failed with `message`; returns how many. */
  failUnfinished(message: string, at: string): Promise<number>;
  close(): Promise<void>;
}
