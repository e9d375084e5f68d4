import { randomUUID } from 'node:crypto';

import {
  ConflictException,
  Inject,
  Injectable,
  Logger,
  NotFoundException,
  OnApplicationShutdown,
  OnModuleInit,
  Optional,
  ServiceUnavailableException,
} from '@nestjs/common';
import type { Span } from '@opentelemetry/api';

import { ALECTIO_LOGGER_CONTEXT, HandlerKind } from '../alectio.constants.js';
import { JOB_FINISHED, UNKNOWN_JOB } from '../alectio.messages.js';
import { RunSupervisor } from '../execution/run.supervisor.js';
import type { Release } from '../execution/training-slot.js';
import { WORK_EXECUTOR, type WorkExecutor } from '../execution/work-executor.js';
import { ALECTIO_METRICS, type AlectioMetrics } from '../metrics/alectio.metrics.js';
import { jobResultText } from '../protocol/answer.js';
import type { PayloadOf } from '../protocol/payload/payload.validator.js';
import { errorText, toProtocolError } from '../protocol/protocol-error.js';
import { ALECTIO_TRACER, type AlectioTracer } from '../tracing/alectio.tracer.js';
import { within } from '../util/timing.js';
import { CallbackNotifier } from './callback.notifier.js';
import { FINISHED_STATES, JobUpdate, StoredJob } from './job.model.js';
import { JOB_STORE, type JobStore } from './job-store.interface.js';
import { JobWrites } from './job-writes.js';

const INTERRUPTED_BY_RESTART = 'interrupted by restart';
/** Jobs queued or running at once; beyond, 503: each holds its payload and, soon, its result. */
const MAX_JOBS_IN_PROGRESS = 32;

/**
 * Job mode's lifecycle: a job is recorded, run through the executor like a call, its progress
 * and end state recorded in the store, and its end reported to the callback. The end states a
 * store could not take are kept here, so that GET /jobs/:id still tells them.
 */
@Injectable()
export class JobService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(ALECTIO_LOGGER_CONTEXT);
  private readonly cancelRequested = new Set<string>();
  private readonly finishing = new Set<Promise<void>>();
  /** Jobs counted against the limit: from the check on, not from when the store has recorded them. */
  private inProgress = 0;
  /** End states the store could not take (disk full, say): still what GET /jobs/:id shows. */
  private readonly unrecorded = new Map<string, StoredJob>();
  /** The job's writes, in order, retried behind a locked database. */
  private readonly writes: JobWrites;

  constructor(
    @Inject(JOB_STORE) private readonly store: JobStore,
    @Inject(WORK_EXECUTOR) private readonly executor: WorkExecutor,
    private readonly supervisor: RunSupervisor,
    private readonly callback: CallbackNotifier,
    @Inject(ALECTIO_METRICS) private readonly metrics: AlectioMetrics | null,
    @Optional() @Inject(ALECTIO_TRACER) private readonly tracer: AlectioTracer | null = null,
  ) {
    this.writes = new JobWrites(store, this.logger);
  }

  async onModuleInit(): Promise<void> {
    const interrupted = await this.store.failUnfinished(INTERRUPTED_BY_RESTART, now());
    if (interrupted > 0) this.logger.warn(`${interrupted} jobs were running when the server stopped: marked failed`);
  }

  /** Records a job and starts it; `release` frees its slot (the training one) when it ends. */
  async submit<K extends HandlerKind>(kind: K, payload: PayloadOf<K>, release: Release): Promise<StoredJob> {
    if (this.inProgress >= MAX_JOBS_IN_PROGRESS) {
      release();
      throw new ServiceUnavailableException(`${MAX_JOBS_IN_PROGRESS} jobs are in progress; retry when one has ended`);
    }
    this.inProgress++;
    const job = newJob(kind);
    try {
      await this.store.create(job);
    } catch (error) {
      this.inProgress--;
      release();
      throw error;
    }
    this.metrics?.jobQueued();
    const finished = (
      this.tracer
        ? this.tracer.inSpan(
            `alectio.job.${kind}`,
            { 'alectio.job.id': job.id, 'alectio.endpoint': kind, 'alectio.ckpt_file': String(payload.ckpt_file).slice(0, 255) },
            (span) => this.run(job, payload, release, span),
          )
        : this.run(job, payload, release)
    ).catch((error: Error) => this.logger.error(`job ${job.id} could not be finished: ${error.message}`, error.stack));
    this.finishing.add(finished);
    void finished.finally(() => {
      this.finishing.delete(finished);
      this.inProgress--;
    });
    return job;
  }

  /** Runs the job's method, then records its end (its span, when traced, covers both). */
  private async run<K extends HandlerKind>(job: StoredJob, payload: PayloadOf<K>, release: Release, span?: Span): Promise<void> {
    const kind = job.kind as K;
    let stage: 'queued' | 'running' = 'queued';
    const end = await this.supervisor
      .run(job.id, `Alectio:${kind}:${job.id}`, (context) => this.executor.execute(kind, payload, context), {
        started: () => {
          stage = 'running';
          this.metrics?.jobStarted();
          void this.writes.record(job.id, { state: 'running', started_at: now() });
        },
        progress: (update) => void this.writes.record(job.id, update),
      })
      .then(
        (parts) => this.succeeded(job, parts),
        (error) => this.failed(job, error),
      );
    this.metrics?.jobEnded(kind, stage, end.state ?? 'failed');
    span?.setAttribute('alectio.job.state', end.state ?? 'failed');
    if (end.state === 'failed' && span) this.tracer!.failed(span, end.error ?? 'failed');
    await this.finish(job, end, release);
  }

  async get(id: string): Promise<StoredJob> {
    const unrecorded = this.unrecorded.get(id);
    if (unrecorded) return unrecorded;
    const job = await this.store.get(id);
    if (!job) throw new NotFoundException(UNKNOWN_JOB(id));
    return this.writes.withPending(job);
  }

  async list(limit: number, offset: number): Promise<{ jobs: StoredJob[]; total: number }> {
    const { jobs, total } = await this.store.list({ limit, offset });
    return { jobs: jobs.map((job) => ({ ...this.writes.withPending(job), result: null })), total };
  }

  /** Aborts a job's signal; it ends `cancelled` once its method returns. */
  async cancel(id: string): Promise<StoredJob> {
    const job = await this.get(id);
    if (FINISHED_STATES.includes(job.state)) throw new ConflictException(JOB_FINISHED(id, job.state));
    this.cancelRequested.add(id);
    this.supervisor.cancel(id, `job ${id} was cancelled`);
    // Not awaited: behind a locked database the write waits, the answer need not.
    const update: JobUpdate = { message: 'cancelling: the method was asked to stop' };
    void this.writes.record(id, update);
    return { ...job, ...update };
  }

  /**
   * Shutdown, after the runs were stopped: the jobs whose methods did not return are recorded
   * failed; the end states being written, and the first delivery of their callbacks, are waited
   * for until `deadline` (a `Date.now()` time).
   */
  async settleAtShutdown(unfinished: number, graceMs: number, deadline: number): Promise<void> {
    if (unfinished > 0) {
      const message = `still running when the shutdown grace period of ${graceMs} ms ended`;
      await this.store
        .failUnfinished(message, now())
        .catch((error: Error) =>
          this.logger.error(
            `could not record ${unfinished} jobs as failed (${message}): ${error.message}; the next start marks them interrupted by restart`,
          ),
        );
    }
    await within(deadline - Date.now(), Promise.all(this.finishing));
    await this.callback.settle(deadline - Date.now());
  }

  async onApplicationShutdown(): Promise<void> {
    this.writes.close();
    await this.store.close();
  }

  private succeeded(job: StoredJob, parts: string[]): JobUpdate {
    if (this.cancelRequested.has(job.id)) return { state: 'cancelled', message: 'cancelled; the method returned' };
    // Its signal was aborted: however it returned, it may have stopped short.
    if (this.supervisor.stopping) return { state: 'cancelled', message: 'cancelled: the server shut down; the method returned' };
    try {
      return { state: 'succeeded', progress: 1, result: jobResultText(parts) };
    } catch {
      // Longer than a V8 string: a synchronous call streams such an answer; a record cannot hold it.
      return { state: 'failed', error: `${job.kind}'s result is too large to record as a job result; ask for it synchronously` };
    }
  }

  private failed(job: StoredJob, error: unknown): JobUpdate {
    if (this.cancelRequested.has(job.id)) return { state: 'cancelled', message: 'cancelled' };
    if (this.supervisor.stopping) return { state: 'cancelled', message: 'cancelled: the server shut down' };
    return { state: 'failed', error: errorText(toProtocolError(error)) };
  }

  private async finish(started: StoredJob, end: JobUpdate, release: Release): Promise<void> {
    const { id } = started;
    release();
    this.cancelRequested.delete(id);
    const ended = { ...end, finished_at: now() };
    if (!(await this.writes.record(id, ended))) {
      // Without its result, the end may still fit; if not even that, it is kept here.
      const fallback: JobUpdate = end.result
        ? {
            state: 'failed',
            error: 'the result could not be recorded (see the server log)',
            result: null,
            finished_at: ended.finished_at,
          }
        : ended;
      if (!(await this.writes.record(id, fallback))) this.unrecorded.set(id, { ...started, ...fallback } as StoredJob);
    }
    // The store may refuse the read (locked): the end is known here all the same.
    const job = this.unrecorded.get(id) ?? (await this.get(id).catch(() => undefined)) ?? ({ ...started, ...ended } as StoredJob);
    this.logger.log(`job ${id} (${job.kind}) ${job.state}${job.error ? `: ${job.error}` : ''}`);
    this.callback.notify(job);
  }
}

const now = (): string => new Date().toISOString();

function newJob(kind: HandlerKind): StoredJob {
  return {
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
}
