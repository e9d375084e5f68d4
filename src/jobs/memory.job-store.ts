import type { JobUpdate, StoredJob } from './job.model.js';
import type { JobStore } from './job-store.interface.js';

// A long-lived server must not keep every result it ever computed: the oldest finished jobs go,
// and past a byte budget the oldest results go (their jobs stay, marked so).
const MAX_JOBS = 1000;
const MAX_RESULT_BYTES = 256 * 1024 * 1024;

/**
 * Jobs in this process's memory: the default, lost on restart. Keeps the latest 1,000 jobs and
 * the latest 256 MiB of results.
 */
export class MemoryJobStore implements JobStore {
  private readonly jobs = new Map<string, StoredJob>();
  private resultChars = 0;

  async create(job: StoredJob): Promise<void> {
    this.jobs.set(job.id, { ...job });
    if (this.jobs.size <= MAX_JOBS) return;
    for (const [id, old] of this.jobs) {
      if (old.finished_at !== null) {
        this.resultChars -= old.result?.length ?? 0;
        this.jobs.delete(id);
        break;
      }
    }
  }

  async update(id: string, update: JobUpdate): Promise<void> {
    const job = this.jobs.get(id);
    if (!job) return;
    if (update.result !== undefined) this.resultChars += (update.result?.length ?? 0) - (job.result?.length ?? 0);
    Object.assign(job, update);
    for (const [otherId, old] of this.jobs) {
      if (this.resultChars <= MAX_RESULT_BYTES) break;
      if (old.result !== null && otherId !== id) {
        this.resultChars -= old.result.length;
        Object.assign(old, { result: null, message: 'result dropped to keep the server within its memory budget' });
      }
    }
  }

  async get(id: string): Promise<StoredJob | undefined> {
    const job = this.jobs.get(id);
    return job && { ...job };
  }

  async list({ limit, offset }: { limit: number; offset: number }): Promise<{ jobs: StoredJob[]; total: number }> {
    const newestFirst = [...this.jobs.values()].reverse();
    return {
      jobs: newestFirst.slice(offset, offset + limit).map((job) => ({ ...job, result: null })),
      total: newestFirst.length,
    };
  }

  async failUnfinished(message: string, at: string): Promise<number> {
    let count = 0;
    for (const job of this.jobs.values()) {
      if (job.state === 'queued' || job.state === 'running') {
        Object.assign(job, { state: 'failed', error: message, message, finished_at: at });
        count++;
      }
    }
    return count;
  }

  async close(): Promise<void> {}
}
