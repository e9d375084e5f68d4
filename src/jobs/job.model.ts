import type { JobRecord, JobState } from '../interfaces/alectio-job.interface.js';

export type { JobState };

export const FINISHED_STATES: readonly JobState[] = ['succeeded', 'failed', 'cancelled'];

/** A job as the store keeps it: the wire's {@link JobRecord}, with `result` as JSON text and nulls kept. */
export type StoredJob = Omit<JobRecord, 'result' | 'error'> & {
  /** JSON of the answer a synchronous call would have given, without `status`. */
  result: string | null;
  error: string | null;
};

/** The fields a job changes as it runs. */
export type JobUpdate = Partial<Omit<StoredJob, 'id' | 'kind' | 'created_at'>>;
