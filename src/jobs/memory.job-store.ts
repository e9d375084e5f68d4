import type { JobEnd, JobUpdate, NewJob, StoredJob } from './job.model.js';
import { bytesOf, resultOf, storedParts } from './job.model.js';
import { JobResultTooLargeError } from './job-store.errors.js';
import { DEFAULT_RESULT_BUDGET_BYTES, type JobStore } from './job-store.interface.js';

// A long-lived server must not keep every result it ever computed: the oldest finished jobs go,
// and past the byte budget the oldest results go (their jobs stay, marked so).
const MAX_JOBS = 1000;
export const RESULT_DROPPED_IN_MEMORY = 'result dropped to keep the server within its memory budget';

interface Entry {
  job: NewJob;
  /** The result's parts, as given (sliced only where one is very long): never joined. */
  parts: string[] | null;
  bytes: number;
}

/**
 * Jobs in this process's memory: the default, lost on restart. Keeps the latest 1,000 jobs and
 * the latest `budget` bytes of results (UTF-8), 256 MiB unless `jobResultBytes` says otherwise.
 */
export class MemoryJobStore implements JobStore {
  private readonly jobs = new Map<string, Entry>();
  private resultBytes = 0;

  constructor(private readonly budget = DEFAULT_RESULT_BUDGET_BYTES) {}

  async create(job: NewJob): Promise<void> {
    this.jobs.set(job.id, { job: { ...job }, parts: null, bytes: 0 });
    if (this.jobs.size <= MAX_JOBS) return;
    for (const [id, old] of this.jobs) {
      if (old.job.finished_at !== null) {
        this.resultBytes -= old.bytes;
        this.jobs.delete(id);
        break;
      }
    }
  }

  async update(id: string, update: JobUpdate): Promise<void> {
    const entry = this.jobs.get(id);
    if (entry && entry.job.finished_at === null) Object.assign(entry.job, update);
  }

  async finish(id: string, end: JobEnd): Promise<boolean> {
    const entry = this.jobs.get(id);
    if (!entry || entry.job.finished_at !== null) return false;
    const { result, ...fields } = end;
    if (result) {
      const parts = storedParts(result);
      const bytes = await bytesOf(parts);
      if (bytes > this.budget) throw new JobResultTooLargeError(bytes, this.budget);
      this.resultBytes += bytes;
      for (const old of this.jobs.values()) {
        if (this.resultBytes <= this.budget) break;
        if (old.parts !== null) {
          this.resultBytes -= old.bytes;
          Object.assign(old, { parts: null, bytes: 0 });
          old.job.message = RESULT_DROPPED_IN_MEMORY;
        }
      }
      Object.assign(entry, { parts, bytes });
    }
    Object.assign(entry.job, fields);
    return true;
  }

  async get(id: string): Promise<StoredJob | undefined> {
    const entry = this.jobs.get(id);
    if (!entry) return undefined;
    return { ...entry.job, result: entry.parts && resultOf(entry.parts) };
  }

  async list({ limit, offset }: { limit: number; offset: number }): Promise<{ jobs: StoredJob[]; total: number }> {
    const newestFirst = [...this.jobs.values()].reverse();
    return {
      jobs: newestFirst.slice(offset, offset + limit).map(({ job }) => ({ ...job, result: null })),
      total: newestFirst.length,
    };
  }

  async failUnfinished(message: string, at: string): Promise<number> {
    let count = 0;
    for (const { job } of this.jobs.values()) {
      if (job.state === 'queued' || job.state === 'running') {
        Object.assign(job, { state: 'failed', error: message, message, finished_at: at });
        count++;
      }
    }
    return count;
  }

  async close(): Promise<void> {}
}
