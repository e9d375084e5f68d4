import { Logger } from '@nestjs/common';

import type { AlectioContext } from '../interfaces/alectio-context.interface.js';

/** Progress is passed on at most this often; the latest value is always passed on at the end. */
export const PROGRESS_INTERVAL_MS = 200;

/** A progress report, clamped to 0..1, its message a string. */
export interface ProgressUpdate {
  progress: number;
  message?: string;
}

/** What a run's context needs from where it runs. */
export interface RunContextOptions {
  /** The logger's context: `Alectio:train`, `Alectio:infer:<job id>`... */
  name: string;
  /** A signal of the caller's (a worker's piece); without one, the run gets its own, made on first use. */
  signal?: AbortSignal;
  /** Where progress goes, throttled: a job's record, or the pool's queue. */
  onProgress?: (update: ProgressUpdate) => void;
}

/** The context handed to a method, and the handles of the one who runs it. */
export interface RunContext {
  context: AlectioContext;
  /** Aborts the context's own signal (once: the first reason stays); a signal the caller gave is the caller's to abort. */
  abort(reason: unknown): void;
  /** Passes on the progress still held back by the throttle, and stops the throttle. */
  flush(): void;
}

/**
 * The one builder of a method's {@link AlectioContext}, for the API process and the pool's
 * workers alike. The signal and the logger are made on first use: most short calls touch
 * neither, and at thousands of calls a second their cost shows.
 */
export function createRunContext({ name, signal, onProgress }: RunContextOptions): RunContext {
  let controller: AbortController | undefined;
  let abortedWith: { reason: unknown } | undefined;
  let logger: Logger | undefined;
  const progress = onProgress ? throttle(onProgress) : undefined;
  const context: AlectioContext = {
    get signal() {
      if (signal) return signal;
      if (!controller) {
        controller = new AbortController();
        if (abortedWith) controller.abort(abortedWith.reason);
      }
      return controller.signal;
    },
    progress: (fraction, message) => {
      if (typeof fraction !== 'number' || !Number.isFinite(fraction)) return;
      const update: ProgressUpdate = { progress: Math.min(1, Math.max(0, fraction)) };
      if (message !== undefined) update.message = String(message);
      progress?.push(update);
    },
    get logger() {
      return (logger ??= new Logger(name));
    },
  };
  return {
    context,
    abort: (reason) => {
      abortedWith ??= { reason };
      controller?.abort(reason);
    },
    flush: () => progress?.flush(),
  };
}

/**
 * Passes on at most one update per interval: the first at once, then the latest of each
 * interval (merged with what came in between) when it ends, which starts the next interval.
 */
function throttle(write: (update: ProgressUpdate) => void) {
  let pending: ProgressUpdate | undefined;
  let timer: NodeJS.Timeout | undefined;
  const pass = (update: ProgressUpdate): void => {
    write(update);
    timer = setTimeout(() => {
      timer = undefined;
      const next = pending;
      pending = undefined;
      if (next) pass(next);
    }, PROGRESS_INTERVAL_MS);
    timer.unref();
  };
  return {
    push(update: ProgressUpdate): void {
      if (timer) pending = { ...pending, ...update };
      else pass(update);
    },
    flush(): void {
      clearTimeout(timer);
      timer = undefined;
      if (pending) write(pending);
      pending = undefined;
    },
  };
}
