import type { JobEnd, JobUpdate, NewJob, StoredJob } from './job.model.js';

/** Injection token of the {@link JobStore}. */
export const JOB_STORE = Symbol('alectio:job_store');

/**
 * Where jobs are recorded: this process's memory, an SQLite file, or (distributed mode) Redis,
 * shared by every API process. Results go in and come out as parts, so that none has to be one
 * string. Every store keeps results within a byte budget (the oldest are dropped first, their
 * jobs kept and marked so) and refuses one larger than the budget ({@link JobResultTooLargeError}).
 */
export interface JobStore {
  /** Records a new job; a shared store keeps its `work` too, for whoever takes the job over. */
  create(job: NewJob, work?: JobWork): Promise<void>;
  /** A running job's progress; ignored once the job has ended. */
  update(id: string, update: JobUpdate): Promise<void>;
  /**
   * Records how a job ended. True when this call ended it; false when it had already ended (or
   * is not known), so that of two processes ending one job, one alone goes on to its callback.
   */
  finish(id: string, end: JobEnd, callbackDue?: boolean): Promise<boolean>;
  /** The job with its result (read in parts when asked). */
  get(id: string): Promise<StoredJob | undefined>;
  /** Newest first, without their results. */
  list(page: { limit: number; offset: number }): Promise<{ jobs: StoredJob[]; total: number }>;
  /** Marks every job that was queued or running as failed with `message`; returns how many. */
  failUnfinished(message: string, at: string): Promise<number>;
  close(): Promise<void>;
}

/** The result budget a store keeps unless told otherwise: 256 MiB. */
export const DEFAULT_RESULT_BUDGET_BYTES = 256 * 1024 * 1024;

/** What a job runs, kept by a shared store so that another process can run it on. */
export interface JobWork {
  /** The validated payload. */
  payload: object;
  /** The pool's training claim a training job holds. */
  trainingClaim?: string;
}

/** A job whose owner died, now this process's. */
export interface TakenJob {
  job: StoredJob;
  /** What it runs: null once it has ended (only its callback is left to deliver). */
  work: JobWork | null;
  cancelRequested: boolean;
  /** Ended, and its callback not yet delivered nor given up. */
  callbackDue: boolean;
  /** How many times it has been taken over, this one included. */
  takeovers: number;
  /** Taken over more often than a job is (every process that ran it died): it is given up, failed. */
  tooOften: boolean;
}

/**
 * A store that many API processes share (distributed mode's Redis): each job has an owner, the
 * process running it, whose writes alone count; the jobs of an owner that died are claimed by
 * another; a cancel asked through any process reaches the owner.
 */
export interface SharedJobStore extends JobStore {
  /** Makes jobs whose owner died this process's, at most `limit` of them. */
  claimOrphans(limit: number): Promise<TakenJob[]>;
  /** The callback of an ended job has been delivered or given up: nobody need deliver it again. */
  callbackSettled(id: string): Promise<void>;
  /** Of these jobs, those whose cancel has been asked (a message missed while Redis was away is read here). */
  cancelsOf(ids: string[]): Promise<string[]>;
  /** Asks the job's owner, wherever it runs, to stop it. */
  requestCancel(id: string): Promise<void>;
  /** Called with each job whose cancel was asked through any process. */
  onCancel(listener: (id: string) => void): void;
  /** This process stops: its jobs are to be taken over by another at once (not counted as after a death). */
  handOver(): Promise<void>;
}

export function isShared(store: JobStore): store is SharedJobStore {
  return typeof (store as Partial<SharedJobStore>).claimOrphans === 'function';
}
