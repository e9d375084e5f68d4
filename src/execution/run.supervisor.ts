import { Injectable } from '@nestjs/common';

import type { AlectioContext } from '../interfaces/alectio-context.interface.js';
import { within } from '../util/timing.js';
import { createRunContext, type ProgressUpdate } from './run-context.js';

/** What a run reports while it goes. */
export interface RunObserver {
  started?(): void;
  progress?(update: ProgressUpdate): void;
}

interface Run {
  abort(reason: unknown): void;
  done: Promise<unknown>;
}

/**
 * The work in progress in this process, calls and jobs alike, each with the signal of its
 * context: one can be cancelled, and at shutdown all are stopped. Where the work itself runs
 * (here, or on a pool's workers) is the executor's business; this is where it is waited for.
 */
@Injectable()
export class RunSupervisor {
  private readonly running = new Map<string, Run>();
  private stopped = false;

  /** True once shutdown has begun: no new work is accepted, and what ran was stopped by it. */
  get stopping(): boolean {
    return this.stopped;
  }

  /** Runs `work` with a fresh context whose signal `cancel(id)` and `stopAll()` abort. */
  run<T>(id: string, name: string, work: (context: AlectioContext) => Promise<T>, observer: RunObserver = {}): Promise<T> {
    const run = createRunContext({ name, onProgress: observer.progress });
    observer.started?.();
    const settled = Promise.resolve()
      .then(() => work(run.context))
      .finally(() => {
        run.flush();
        this.running.delete(id);
      });
    this.running.set(id, { abort: run.abort, done: settled.catch(() => undefined) });
    return settled;
  }

  /** Aborts the signal of run `id`, if it runs here. */
  cancel(id: string, reason: string | Error): void {
    this.running.get(id)?.abort(typeof reason === 'string' ? new Error(reason) : reason);
  }

  /** Whether run `id` runs in this process. */
  has(id: string): boolean {
    return this.running.has(id);
  }

  /** Shutdown: aborts every run, and resolves once all have returned or `graceMs` has passed. */
  async stopAll(reason: string, graceMs: number): Promise<{ unfinished: number }> {
    this.stopped = true;
    const runs = [...this.running.values()];
    for (const run of runs) run.abort(new Error(reason));
    await within(graceMs, Promise.all(runs.map((run) => run.done)));
    return { unfinished: this.running.size };
  }
}
