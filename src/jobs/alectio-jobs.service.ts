import { randomUUID } from 'node:crypto';

import {
  BeforeApplicationShutdown,
  ConflictException,
  Inject,
  Injectable,
  Logger,
  NotFoundException,
  OnApplicationShutdown,
  OnModuleInit,
  ServiceUnavailableException,
} from '@nestjs/common';

import { ALECTIO_LOGGER_CONTEXT, DEFAULT_SHUTDOWN_GRACE_MS, HandlerKind } from '../alectio.constants.js';
import { AlectioExecutor } from '../alectio.executor.js';
import { JOB_FINISHED, UNKNOWN_JOB } from '../alectio.messages.js';
import { MODULE_OPTIONS_TOKEN } from '../alectio.module-definition.js';
import { WorkDispatcher } from '../distributed/work.dispatcher.js';
import { toProtocolError } from '../http/protocol-response.js';
import type { AlectioContext } from '../interfaces/alectio-context.interface.js';
import type { AlectioModuleOptions } from '../interfaces/alectio-options.interface.js';
import { delay } from '../timing.js';
import type { PayloadOf } from '../validation/payload.validator.js';
import { CallbackNotifier } from './callback.notifier.js';
import { FINISHED_STATES, jobJson, JobRecord, JobUpdate } from './job.model.js';
import { JOB_RUNNER, type JobRunner } from './job-runner.interface.js';
import { JOB_STORE, type JobStore } from './job-store.interface.js';

const INTERRUPTED_BY_RESTART = 'interrupted by restart';
/** Jobs queued or running at once; beyond, 503: each holds its payload and, soon, its result. */
const MAX_JOBS_IN_PROGRESS = 32;
// Progress is written at most this often; the latest value is always written at the end.
const PROGRESS_INTERVAL_MS = 200;

/**
 * Synchronous calls and jobs: both run through the runner and the executor; jobs are also
 * recorded in the store and reported to the callback. Owns shutdown: no new work, running
 * methods aborted, their end state recorded within the grace period.
 */
@Injectable()
export class AlectioJobs implements OnModuleInit, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger(ALECTIO_LOGGER_CONTEXT);
  private readonly cancelRequested = new Set<string>();
  private readonly finishing = new Set<Promise<void>>();
  /** End states the store could not take (disk full, say): still what GET /jobs/:id shows. */
  private readonly unrecorded = new Map<string, JobRecord>();
  private draining = false;
  private calls = 0;
  /** The synchronous calls waiting for their method: rejected when the shutdown grace period ends. */
  private readonly waiting = new Set<(error: Error) => void>();

  constructor(
    @Inject(JOB_STORE) private readonly store: JobStore,
    @Inject(JOB_RUNNER) private readonly runner: JobRunner,
    @Inject(MODULE_OPTIONS_TOKEN) private readonly options: AlectioModuleOptions,
    private readonly executor: AlectioExecutor,
    private readonly callback: CallbackNotifier,
    private readonly dispatcher: WorkDispatcher,
  ) {}

  async onModuleInit(): Promise<void> {
    const interrupted = await this.store.failUnfinished(INTERRUPTED_BY_RESTART, now());
    if (interrupted > 0) this.logger.warn(`${interrupted} jobs were running when the server stopped: marked failed`);
  }

  /** Throws 503 once shutdown has begun. */
  assertAccepting(): void {
    if (this.draining)
      throw new ServiceUnavailableException('the server is shutting down and accepts no new work; retry on its successor');
  }

  /**
   * A synchronous call: the method's answer fields as JSON, in parts. Stopped by a shutdown, it
   * is a 503, and it is answered when the grace period ends even if the method never returns,
   * so that the HTTP server can close.
   */
  async call<K extends HandlerKind>(kind: K, payload: PayloadOf<K>): Promise<string[]> {
    const run = this.runner.run(`call-${++this.calls}`, `Alectio:${kind}`, (context) => this.execute(kind, payload, context));
    // Not a race against one shared never-settling promise: each race would leave a reaction
    // on it, one per call for the life of the server.
    let cut!: (error: Error) => void;
    const cutOff = new Promise<never>((_, reject) => (cut = reject));
    this.waiting.add(cut);
    try {
      return await Promise.race([run, cutOff]);
    } catch (error) {
      if (!this.draining) throw error;
      throw new ServiceUnavailableException(`the server shut down while ${kind} ran; retry on its successor`, { cause: error });
    } finally {
      this.waiting.delete(cut);
    }
  }

  /** In this process, or, in distributed mode, on the pool's workers. */
  private execute<K extends HandlerKind>(kind: K, payload: PayloadOf<K>, context: AlectioContext): Promise<string[]> {
    return this.dispatcher.active
      ? this.dispatcher.execute(kind, payload, context)
      : this.executor.execute(kind, payload, context);
  }

  /** Records a job and starts it; `release` frees its slot (the training one) when it ends. */
  async submit<K extends HandlerKind>(kind: K, payload: PayloadOf<K>, release: () => void): Promise<JobRecord> {
    if (this.finishing.size >= MAX_JOBS_IN_PROGRESS) {
      release();
      throw new ServiceUnavailableException(`${MAX_JOBS_IN_PROGRESS} jobs are in progress; retry when one has ended`);
    }
    const job: JobRecord = {
      id: randomUUID(),
      kind,
      state: 'queued',
      progress: 0,
      message: null,
      created_at: now(),
      started_at: null,
      finished_at: null,
      result: null,
      error: null,
    };
    try {
      await this.store.create(job);
    } catch (error) {
      release();
      throw error;
    }
    const progress = throttled(PROGRESS_INTERVAL_MS, (update: JobUpdate) => void this.record(job.id, update));
    const run = this.runner.run(job.id, `Alectio:${kind}:${job.id}`, (context) => this.execute(kind, payload, context), {
      started: () => void this.record(job.id, { state: 'running', started_at: now() }),
      progress: (fraction, message) =>
        progress.push(message === undefined ? { progress: fraction } : { progress: fraction, message }),
    });
    const finished = run
      .then(
        (parts): JobUpdate => {
          if (this.cancelRequested.has(job.id)) return { state: 'cancelled', message: 'cancelled; the method returned' };
          // Its signal was aborted: however it returned, it may have stopped short.
          if (this.draining) return { state: 'cancelled', message: 'cancelled: the server shut down; the method returned' };
          try {
            return { state: 'succeeded', progress: 1, result: parts.join('') };
          } catch {
            // Longer than a V8 string: a synchronous call streams such an answer; a record cannot hold it.
            return {
              state: 'failed',
              error: `${kind}'s result is too large to record as a job result; ask for it synchronously`,
            };
          }
        },
        (error): JobUpdate => {
          if (this.cancelRequested.has(job.id)) return { state: 'cancelled', message: 'cancelled' };
          if (this.draining) return { state: 'cancelled', message: 'cancelled: the server shut down' };
          const { message } = toProtocolError(error);
          return { state: 'failed', error: Array.isArray(message) ? message.join('; ') : message };
        },
      )
      .then((end) => {
        progress.flush();
        return this.finish(job, end, release);
      })
      .catch((error: Error) => this.logger.error(`job ${job.id} could not be finished: ${error.message}`, error.stack));
    this.finishing.add(finished);
    void finished.finally(() => this.finishing.delete(finished));
    return job;
  }

  async get(id: string): Promise<JobRecord> {
    const job = this.unrecorded.get(id) ?? (await this.store.get(id));
    if (!job) throw new NotFoundException(UNKNOWN_JOB(id));
    return job;
  }

  list(limit: number, offset: number): Promise<{ jobs: JobRecord[]; total: number }> {
    return this.store.list({ limit, offset });
  }

  /** Aborts a job's signal; it ends `cancelled` once its method returns. */
  async cancel(id: string): Promise<JobRecord> {
    const job = await this.get(id);
    if (FINISHED_STATES.includes(job.state)) throw new ConflictException(JOB_FINISHED(id, job.state));
    this.cancelRequested.add(id);
    this.runner.cancel(id, `job ${id} was cancelled`);
    await this.record(id, { message: 'cancelling: the method was asked to stop' });
    return this.get(id);
  }

  /** Shutdown, first half: refuse new work, abort what runs, wait for it up to the grace period. */
  async beforeApplicationShutdown(signal?: string): Promise<void> {
    this.draining = true;
    const grace = this.options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS;
    const deadline = Date.now() + grace;
    const { unfinished } = await this.runner.abortAll(`the server is shutting down${signal ? ` (${signal})` : ''}`, grace);
    // Jobs whose methods returned are recorded as they end; the rest are recorded here, and
    // synchronous calls still waiting are answered 503.
    for (const cut of this.waiting) cut(new Error('the shutdown grace period ended'));
    if (unfinished > 0) {
      this.logger.error(`${unfinished} methods did not return within ${grace} ms of being aborted`);
      await this.store.failUnfinished(`still running when the shutdown grace period of ${grace} ms ended`, now());
    }
    // The end states being written, and the first delivery of their callbacks: within the grace.
    await Promise.race([Promise.all(this.finishing), delay(deadline - Date.now())]);
    await this.callback.settle(deadline - Date.now());
  }

  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
  }

  private async finish(started: JobRecord, end: JobUpdate, release: () => void): Promise<void> {
    const { id } = started;
    release();
    this.cancelRequested.delete(id);
    const ended = { ...end, finished_at: now() };
    if (!(await this.record(id, ended))) {
      // Without its result, the end may still fit; if not even that, it is kept here.
      const fallback: JobUpdate = end.result
        ? {
            state: 'failed',
            error: 'the result could not be recorded (see the server log)',
            result: null,
            finished_at: ended.finished_at,
          }
        : ended;
      if (!(await this.record(id, fallback))) this.unrecorded.set(id, { ...started, ...fallback } as JobRecord);
    }
    const job = this.unrecorded.get(id) ?? (await this.store.get(id).catch(() => undefined));
    if (!job) return;
    this.logger.log(`job ${id} (${job.kind}) ${job.state}${job.error ? `: ${job.error}` : ''}`);
    this.callback.notify(id, jobJson(job));
  }

  // A failing store must not leave the run unrecorded in the log, nor crash the process.
  private async record(id: string, update: JobUpdate): Promise<boolean> {
    try {
      await this.store.update(id, update);
      return true;
    } catch (error) {
      this.logger.error(`could not record job ${id}: ${(error as Error).message}`, (error as Error).stack);
      return false;
    }
  }
}

const now = (): string => new Date().toISOString();

/** Writes at most every `interval` ms, merging what came in between; flush() writes what is pending. */
function throttled(interval: number, write: (update: JobUpdate) => void) {
  let pending: JobUpdate | undefined;
  let timer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    clearTimeout(timer);
    timer = undefined;
    if (pending) write(pending);
    pending = undefined;
  };
  return {
    push(update: JobUpdate): void {
      pending = { ...pending, ...update };
      if (!timer) {
        flush();
        timer = setTimeout(flush, interval);
        timer.unref();
      }
    },
    flush,
  };
}
