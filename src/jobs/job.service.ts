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
import { type Release, TRAINING_SLOT, type TrainingSlot } from '../execution/training-slot.js';
import { HandedOver, WORK_EXECUTOR, type WorkExecutor, type WorkOptions } from '../execution/work-executor.js';
import { ALECTIO_METRICS, type AlectioMetrics } from '../metrics/alectio.metrics.js';
import type { PayloadOf } from '../protocol/payload/payload.validator.js';
import { errorText, toProtocolError } from '../protocol/protocol-error.js';
import { ALECTIO_TRACER, type AlectioTracer } from '../tracing/alectio.tracer.js';
import { delay, within } from '../util/timing.js';
import { CallbackNotifier } from './callback.notifier.js';
import { FINISHED_STATES, type JobEnd, type NewJob, type StoredJob } from './job.model.js';
import { JobResultTooLargeError, JobStoreAwayError } from './job-store.errors.js';
import { isShared, JOB_STORE, type JobStore, type SharedJobStore, type TakenJob } from './job-store.interface.js';
import { JobWrites } from './job-writes.js';

const INTERRUPTED_BY_RESTART = 'interrupted by restart';
/** Jobs queued or running at once in this process; beyond, 503: each holds its payload and, soon, its result. */
const MAX_JOBS_IN_PROGRESS = 32;
/** How often a process of a pool looks for jobs whose process died. */
const TAKEOVER_INTERVAL_MS = 1000;
const CANCELLING = 'cancelling: the method was asked to stop';
/** How often a pool's Redis that refused a job's end (out of memory) is asked again. */
const END_RETRY_MS = 5000;
const noRelease: Release = () => undefined;

/**
 * Job mode's lifecycle: a job is recorded, run through the executor like a call, its progress
 * and end state recorded in the store, and its end reported to the callback. The end states a
 * store could not take are kept here, so that GET /jobs/:id still tells them. With a store that
 * many processes share (distributed mode), a job outlives the process that took it: another
 * takes it over, and a stopping process hands its jobs on instead of cancelling them.
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
  /** The store, when other processes share it. */
  private readonly shared: SharedJobStore | null;
  /** Jobs this process stopped waiting for at shutdown: another takes them over. */
  private readonly handedOver = new Set<string>();
  /** The jobs this process runs (or waits for, on a pool). */
  private readonly runningHere = new Set<string>();
  private takeoverTimer?: NodeJS.Timeout;
  private claiming = false;

  constructor(
    @Inject(JOB_STORE) private readonly store: JobStore,
    @Inject(WORK_EXECUTOR) private readonly executor: WorkExecutor,
    private readonly supervisor: RunSupervisor,
    private readonly callback: CallbackNotifier,
    @Inject(ALECTIO_METRICS) private readonly metrics: AlectioMetrics | null,
    @Optional() @Inject(ALECTIO_TRACER) private readonly tracer: AlectioTracer | null = null,
    @Optional() @Inject(TRAINING_SLOT) private readonly slot: TrainingSlot | null = null,
  ) {
    this.shared = isShared(store) ? store : null;
    this.writes = new JobWrites(store, this.logger, callback.enabled);
  }

  async onModuleInit(): Promise<void> {
    if (this.shared) {
      // The jobs of a process that died are taken over, not failed.
      this.shared.onCancel((id) => this.cancelHere(id));
      this.takeoverTimer = setInterval(() => void this.takeOver(), TAKEOVER_INTERVAL_MS);
      this.takeoverTimer.unref();
      return;
    }
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
    // In a pool, a training's claim goes with the job: whichever process ends the job frees it.
    const trainingClaim = this.shared && kind === 'train' ? this.slot?.handOver?.() : undefined;
    let runRelease = release;
    if (trainingClaim) {
      release(); // this process's own slot; the claim, handed over, is held below
      runRelease = this.slot!.adopt!(trainingClaim);
    }
    try {
      await this.store.create(job, this.shared ? { payload, trainingClaim } : undefined);
    } catch (error) {
      this.inProgress--;
      runRelease();
      throw error;
    }
    this.metrics?.jobQueued();
    this.start(job, payload, runRelease, { id: job.id, trainingClaim });
    return { ...job, result: null };
  }

  private start<K extends HandlerKind>(job: NewJob, payload: PayloadOf<K>, release: Release, options: WorkOptions): void {
    const kind = job.kind as K;
    const finished = (
      this.tracer
        ? this.tracer.inSpan(
            `alectio.job.${kind}`,
            { 'alectio.job.id': job.id, 'alectio.endpoint': kind, 'alectio.ckpt_file': String(payload.ckpt_file).slice(0, 255) },
            (span) => this.run(job, payload, release, options, span),
          )
        : this.run(job, payload, release, options)
    ).catch((error: Error) => this.logger.error(`job ${job.id} could not be finished: ${error.message}`, error.stack));
    this.finishing.add(finished);
    this.runningHere.add(job.id);
    void finished.finally(() => {
      this.finishing.delete(finished);
      this.runningHere.delete(job.id);
      this.inProgress--;
    });
  }

  /** Runs the job's method, then records its end (its span, when traced, covers both). */
  private async run<K extends HandlerKind>(
    job: NewJob,
    payload: PayloadOf<K>,
    release: Release,
    options: WorkOptions,
    span?: Span,
  ): Promise<void> {
    const kind = job.kind as K;
    let stage: 'queued' | 'running' = job.started_at === null ? 'queued' : 'running';
    const end = await this.supervisor
      .run(job.id, `Alectio:${kind}:${job.id}`, (context) => this.executor.execute(kind, payload, context, options), {
        started: () => {
          if (stage === 'running') return; // taken over: it started on the process that died
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
    if (this.handedOver.has(job.id)) {
      // Stopped at shutdown, its work going on: the process that takes it over ends it.
      this.logger.log(`job ${job.id} (${kind}) handed over: another process of the pool finishes it`);
      return;
    }
    this.metrics?.jobEnded(kind, stage, end.state);
    span?.setAttribute('alectio.job.state', end.state);
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

  /**
   * Aborts a job's signal; it ends `cancelled` once its method returns. In a pool, the process
   * running the job is asked, wherever it is; one that takes the job over cancels it at once.
   */
  async cancel(id: string): Promise<StoredJob> {
    const job = await this.get(id);
    if (FINISHED_STATES.includes(job.state)) throw new ConflictException(JOB_FINISHED(id, job.state));
    if (this.shared) await this.shared.requestCancel(id);
    this.cancelHere(id);
    return { ...job, result: null, message: CANCELLING };
  }

  /** Stops a job if it runs in this process (or, without a shared store, wherever it is queued here). */
  private cancelHere(id: string): void {
    if (this.shared && !this.supervisor.has(id)) return;
    if (this.cancelRequested.has(id)) return;
    this.cancelRequested.add(id);
    this.supervisor.cancel(id, `job ${id} was cancelled`);
    // Not awaited: behind a locked database the write waits, the answer need not.
    void this.writes.record(id, { message: CANCELLING });
  }

  /**
   * Shutdown, before the runs are stopped: in a pool, this process stops waiting for its jobs,
   * whose work goes on, and another process takes them over. Without a shared store, nothing.
   */
  handOver(): void {
    if (!this.shared) return;
    clearInterval(this.takeoverTimer);
    for (const id of this.runningHere) {
      this.handedOver.add(id);
      this.supervisor.cancel(id, new HandedOver());
    }
  }
  /**
   * Shutdown, after the runs were stopped: the jobs whose methods did not return are recorded
   * failed (in a pool, they were handed over instead); the end states being written, and the
   * first delivery of their callbacks, are waited for until `deadline` (a `Date.now()` time).
   * Then, in a pool, this process gives up its lease: another takes over at once what is left.
   */
  async settleAtShutdown(unfinished: number, graceMs: number, deadline: number): Promise<void> {
    if (unfinished > 0 && !this.shared) {
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
    await this.shared?.handOver();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.takeoverTimer);
    this.writes.close();
    await this.store.close();
  }

  /**
   * Once a second, in a pool: the jobs whose process died become this one's, as many as it has
   * room for; and the cancels asked of the jobs running here are read (a message missed while
   * Redis was away, or one sent while a job was being taken over, is not lost).
   */
  private async takeOver(): Promise<void> {
    if (this.claiming || this.supervisor.stopping) return;
    this.claiming = true;
    try {
      for (const id of await this.shared!.cancelsOf([...this.runningHere])) this.cancelHere(id);
      for (const taken of await this.shared!.claimOrphans(MAX_JOBS_IN_PROGRESS - this.inProgress)) this.resume(taken);
    } catch {
      // Redis away: the next look, once it is back (the link logs the outage).
    } finally {
      this.claiming = false;
    }
  }

  /** A job taken over: run on from where its pieces are, or its callback delivered, or given up. */
  private resume({ job, work, cancelRequested, callbackDue, takeovers, tooOften }: TakenJob): void {
    const { id, kind } = job;
    // Claimed as the shutdown began: left for the next process (this one's jobs are marked handed over).
    if (this.supervisor.stopping) return;
    if (job.finished_at !== null) {
      if (!callbackDue || !this.callback.enabled) return this.callbackSettled(id);
      this.logger.warn(`job ${id} (${kind}): its process stopped before its callback was delivered; delivering it`);
      return this.deliver(id);
    }
    const lost = tooOften
      ? `every process that ran it stopped (${takeovers - 1} times)`
      : !work
        ? 'what it was to run is no longer in Redis'
        : undefined;
    // A training's claim goes with the job: held from here on, freed when it ends.
    const release: HeldRelease = work?.trainingClaim && this.slot?.adopt ? this.slot.adopt(work.trainingClaim) : noRelease;
    if (lost) {
      this.logger.error(`job ${id} (${kind}): its work was lost: ${lost}`);
      // Whatever of it still runs on the workers is stopped: nobody will read it. Its training
      // claim is not freed here: it lapses once the worker, stopping, no longer renews it.
      if (work) this.executor.abandon?.(id, kind, work.payload as PayloadOf<HandlerKind>);
      release.keep?.();
      this.inProgress++;
      const done = this.finish(job, { state: 'failed', error: `the job's work was lost: ${lost}; submit it again` }, noRelease)
        .catch((error: Error) => this.logger.error(`job ${id} could not be finished: ${error.message}`, error.stack))
        .finally(() => {
          this.finishing.delete(done);
          this.inProgress--;
        });
      this.finishing.add(done);
      return;
    }
    this.logger.warn(`job ${id} (${kind}): its process stopped; taken over (${takeovers}), it goes on from where its work is`);
    this.inProgress++; // start() counts it down when it ends
    this.start(job as NewJob, work!.payload as PayloadOf<HandlerKind>, release, {
      id,
      resume: true,
      trainingClaim: work!.trainingClaim,
    });
    if (cancelRequested) this.cancelHere(id);
  }

  private succeeded(job: NewJob, parts: string[]): EndState {
    if (this.cancelRequested.has(job.id)) return { state: 'cancelled', message: 'cancelled; the method returned' };
    // Its signal was aborted: however it returned, it may have stopped short.
    if (this.supervisor.stopping) return { state: 'cancelled', message: 'cancelled: the server shut down; the method returned' };
    return { state: 'succeeded', progress: 1, result: parts };
  }

  private failed(job: NewJob, error: unknown): EndState {
    if (this.cancelRequested.has(job.id)) return { state: 'cancelled', message: 'cancelled' };
    if (this.supervisor.stopping) return { state: 'cancelled', message: 'cancelled: the server shut down' };
    return { state: 'failed', error: errorText(toProtocolError(error)) };
  }

  /**
   * Records the end; only the process whose write ended the job goes on to its callback. A
   * result the store refuses (larger than its budget, a full disk) fails the job with the cause.
   */
  private async finish(started: NewJob | StoredJob, end: EndState, release: HeldRelease): Promise<void> {
    const { id } = started;
    // In one process, the slot is free from here; in a pool, only once this end is the job's.
    if (!this.shared) release();
    this.cancelRequested.delete(id);
    const ended: JobEnd = { ...end, finished_at: now() };
    let last = ended;
    let outcome = await this.writes.end(id, ended);
    if (!outcome.recorded && end.result && !(outcome.error instanceof JobStoreAwayError)) {
      // Without its result, the end may still fit; if not even that, it is kept here.
      const cause =
        outcome.error instanceof JobResultTooLargeError
          ? outcome.error.message
          : 'the result could not be recorded (see the server log)';
      last = { state: 'failed', error: cause, finished_at: ended.finished_at };
      outcome = await this.writes.end(id, last);
    }
    // A pool's Redis refusing an end (out of memory, read-only after a failover): tried again
    // until it takes it, or the shutdown hands the job over; the job must not stay running there.
    while (this.shared && !outcome.recorded && !this.supervisor.stopping && !this.writes.isClosed) {
      await delay(END_RETRY_MS);
      outcome = await this.writes.end(id, last);
    }
    if (outcome.recorded && !outcome.ended) {
      // Ended by another process, or (in a pool) no longer this one's: taken over while Redis was
      // away, or handed over at shutdown. Whoever owns it ends it, frees its claim, reads its
      // pieces and delivers its callback.
      release.keep?.();
      this.logger.warn(`job ${id} (${started.kind}): ended or owned by another process now; this end is dropped`);
      return;
    }
    if (this.shared && !outcome.recorded) {
      release.keep?.();
      this.logger.warn(`job ${id} (${started.kind}): its end could not be written before the shutdown; the next owner ends it`);
      return;
    }
    if (this.shared) release();
    if (!outcome.recorded) this.unrecorded.set(id, { ...started, ...last, result: null } as StoredJob);
    this.executor.settled?.(id);
    // The store may refuse the read (locked): the end is known here all the same.
    const job = this.unrecorded.get(id) ?? (await this.get(id).catch(() => undefined));
    const state = job?.state ?? last.state;
    const error = job ? job.error : (last.error ?? null);
    this.logger.log(`job ${id} (${started.kind}) ${state}${error ? `: ${error}` : ''}`);
    this.deliver(id);
  }

  /** Starts the callback's delivery; in a pool, once it has ended nobody delivers it again. */
  private deliver(id: string): void {
    if (!this.callback.enabled) return;
    this.callback.notify(
      id,
      () => this.get(id),
      () => this.callbackSettled(id),
    );
  }

  /** In a pool: nobody need deliver this job's callback again. Tried a few times: else, a duplicate later. */
  private callbackSettled(id: string, attempt = 1): void {
    if (!this.shared) return;
    this.shared.callbackSettled(id).catch((error: Error) => {
      if (attempt >= 5) return this.logger.warn(`job ${id}: could not mark its callback delivered: ${error.message}`);
      setTimeout(() => this.callbackSettled(id, attempt + 1), 1000 * attempt).unref();
    });
  }
}

/** A release, and for a claim handed over with a job, a way to stop holding it without freeing it. */
type HeldRelease = Release & { keep?(): void };
/** An end as a run gives it, before its time is set. */
type EndState = Omit<JobEnd, 'finished_at'>;

const now = (): string => new Date().toISOString();

function newJob(kind: HandlerKind): NewJob {
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
