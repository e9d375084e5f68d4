// Limits the documentation promises, each broken once (found by review): the progress rate, the
// number of jobs in progress, and a body limit of zero.
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { Logger, ServiceUnavailableException } from '@nestjs/common';

import { RunSupervisor } from '../../src/execution/run.supervisor.js';
import { createRunContext, PROGRESS_INTERVAL_MS } from '../../src/execution/run-context.js';
import type { CallbackNotifier } from '../../src/jobs/callback.notifier.js';
import type { NewJob } from '../../src/jobs/job.model.js';
import { JobService } from '../../src/jobs/job.service.js';
import { MemoryJobStore } from '../../src/jobs/memory.job-store.js';
import { resolveOptions } from '../../src/options/resolve-options.js';
import { FakeCallbackNotifier, FakeExecutor, turn } from './fakes.js';

describe('limits', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  // run-context.ts: "Progress is passed on at most this often" (PROGRESS_INTERVAL_MS), and
  // docs/job-mode.md: progress "updates the job (written at most every 200 ms)". A trailing write
  // that did not start a new interval let the next report through at once: 10 writes a second, not 5.
  it('run-context: progress reported steadily is passed on at most once per 200 ms', () => {
    jest.useFakeTimers();
    const passedAt: number[] = [];
    const start = Date.now();
    const run = createRunContext({ name: 'Alectio:train', onProgress: () => passedAt.push(Date.now() - start) });
    for (let ms = 0; ms < 1000; ms++) {
      run.context.progress(ms / 1000);
      jest.advanceTimersByTime(1);
    }
    const gaps = passedAt.slice(1).map((at, i) => at - passedAt[i]);
    expect(gaps.filter((gap) => gap < PROGRESS_INTERVAL_MS)).toEqual([]);
    expect(passedAt.length).toBeLessThanOrEqual(1000 / PROGRESS_INTERVAL_MS + 1); // 0, 200, ..., 1000
  });

  // job.service.ts / docs/job-mode.md: "at most 32 jobs queued or running at once (the next is a
  // 503 until one ends)". Counted only once the store had recorded a job, submits that overlapped
  // while it recorded all passed the check: with a store that waits for I/O (Redis, SQL), two
  // requests arriving while one job is being recorded.
  it('job.service: 40 overlapping submits leave at most 32 jobs in progress, the rest 503 with release called', async () => {
    Logger.overrideLogger(false);
    class IoStore extends MemoryJobStore {
      override async create(job: NewJob): Promise<void> {
        await turn(); // a round trip to the database
        return super.create(job);
      }
    }
    const service = new JobService(
      new IoStore(),
      new FakeExecutor(),
      new RunSupervisor(),
      new FakeCallbackNotifier() as unknown as CallbackNotifier,
      null,
    );
    let released = 0;
    const outcomes = await Promise.allSettled(
      Array.from({ length: 40 }, () => service.submit('infer', {} as never, () => void released++)),
    );
    const refused = outcomes.filter((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    expect({ accepted: outcomes.length - refused.length, refused: refused.length, released }).toEqual({
      accepted: 32,
      refused: 8,
      released: 8,
    });
    expect(refused[0].reason).toEqual(new ServiceUnavailableException('32 jobs are in progress; retry when one has ended'));
  });

  // resolve-options.ts refuses `bodyLimit: 0` ("must be a number of bytes"); the same zero as a
  // string ('0', '0kb', '0mb') would have the gate answer every body of the module's routes 413.
  it.each(['0', '0kb', '0mb'])('resolve-options: refuses the zero body limit %p as it refuses 0', (bodyLimit) => {
    expect(() => resolveOptions({ bodyLimit: 0 })).toThrow('bodyLimit must be a number of bytes');
    expect(() => resolveOptions({ bodyLimit })).toThrow('bodyLimit must be a number of bytes');
  });
});
