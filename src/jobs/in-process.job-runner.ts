import { Injectable, Logger } from '@nestjs/common';

import type { AlectioContext } from '../interfaces/alectio-context.interface.js';
import type { JobRunner, RunObserver } from './job-runner.interface.js';

/** Runs the methods in this process, on its event loop (or their own worker threads). */
interface Run {
  abort(reason: unknown): void;
  done: Promise<unknown>;
}

/** Runs the methods in this process, on its event loop (or their own worker threads). */
@Injectable()
export class InProcessJobRunner implements JobRunner {
  private readonly running = new Map<string, Run>();

  run<T>(id: string, name: string, work: (context: AlectioContext) => Promise<T>, observer: RunObserver = {}): Promise<T> {
    // The signal and the logger are made on first use: most short calls touch neither, and at
    // thousands of calls a second their cost shows.
    let controller: AbortController | undefined;
    let abortedWith: { reason: unknown } | undefined;
    let logger: Logger | undefined;
    const context: AlectioContext = {
      get signal() {
        if (!controller) {
          controller = new AbortController();
          if (abortedWith) controller.abort(abortedWith.reason);
        }
        return controller.signal;
      },
      progress: (fraction, message) => {
        if (typeof fraction === 'number' && Number.isFinite(fraction)) {
          observer.progress?.(Math.min(1, Math.max(0, fraction)), message === undefined ? undefined : String(message));
        }
      },
      get logger() {
        return (logger ??= new Logger(name));
      },
    };
    observer.started?.();
    const settled = Promise.resolve()
      .then(() => work(context))
      .finally(() => this.running.delete(id));
    this.running.set(id, {
      abort: (reason) => {
        abortedWith ??= { reason };
        controller?.abort(reason);
      },
      done: settled.catch(() => undefined),
    });
    return settled;
  }

  cancel(id: string, reason: string): boolean {
    const run = this.running.get(id);
    if (!run) return false;
    run.abort(new Error(reason));
    return true;
  }

  async abortAll(reason: string, graceMs: number): Promise<{ unfinished: number }> {
    const runs = [...this.running.values()];
    for (const run of runs) run.abort(new Error(reason));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), graceMs)));
    await Promise.race([Promise.all(runs.map((run) => run.done)), timeout]);
    clearTimeout(timer);
    return { unfinished: this.running.size };
  }
}
