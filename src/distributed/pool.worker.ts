import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap, Optional } from '@nestjs/common';
import type { Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';

import { ALECTIO_LOGGER_CONTEXT, HANDLER_KINDS } from '../alectio.constants.js';
import { LocalExecutor } from '../execution/local.executor.js';
import { createRunContext } from '../execution/run-context.js';
import { ALECTIO_CONFIG, type ResolvedOptions } from '../options/resolve-options.js';
import { type PayloadOf, PayloadValidator } from '../protocol/payload/payload.validator.js';
import { toProtocolError } from '../protocol/protocol-error.js';
import { ALECTIO_TRACER, type AlectioTracer } from '../tracing/alectio.tracer.js';
import { within } from '../util/timing.js';
import type { PieceData, PieceProgress } from './piece.model.js';
import { COMMAND_TIMEOUT_MS, loadPoolLibraries, PoolConfig, poolConfig, PoolLibraries, redisOptions } from './pool.config.js';
import { TrainingLock } from './training.lock.js';

/** A piece's answer waits this long in Redis for its API process to collect it. */
const RESULT_TTL_MS = 3600_000;
const CANCELLED = 'cancelled';
const CLAIM_GONE =
  "the pool's training claim was lost (Redis restarted without its data, or the claim expired): " +
  'stopped, so that no two trainings run at once; retry';

const ms = (since: number): string => `${Math.round(performance.now() - since)} ms`;

/**
 * The worker side of distributed mode: takes pieces from the queue and runs the app's own
 * `@Train()`, `@Test()` and `@Infer()` methods on them, through the same executor (and result
 * checks) as in-process. A worker that dies mid-piece loses it for no one: its lock lapses and
 * BullMQ's stalled-job check hands the piece to another worker.
 */
@Injectable()
export class PoolWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(ALECTIO_LOGGER_CONTEXT);
  private readonly config: PoolConfig;
  private worker?: Worker<PieceData, void>;
  private redis?: Redis;
  private subscriber?: Redis;
  private lock?: TrainingLock;
  private closing = false;
  /** The pieces this worker is running; shutdown waits for them up to the grace period. */
  private readonly running = new Set<Promise<void>>();
  private libraries?: PoolLibraries;

  constructor(
    @Inject(ALECTIO_CONFIG) private readonly options: ResolvedOptions,
    private readonly executor: LocalExecutor,
    private readonly validator: PayloadValidator,
    @Optional() @Inject(ALECTIO_TRACER) private readonly tracer: AlectioTracer | null = null,
  ) {
    this.config = poolConfig(options.distributed!);
  }

  // After onModuleInit, when the methods have been discovered.
  async onApplicationBootstrap(): Promise<void> {
    const config = this.config;
    const libraries = (this.libraries = await loadPoolLibraries());
    const { bullmq, connect } = libraries;
    this.redis = connect(config, 'worker', false);
    this.redis.on('error', () => undefined); // the worker's own 'error' reports the outage
    this.lock = new TrainingLock(this.redis, config.keys.training, config.lockDurationMs);
    // A cancel reaches whichever worker runs the piece; the others ignore it.
    this.subscriber = connect(config, 'worker-cancel', false);
    this.subscriber.on('error', () => undefined);
    this.subscriber.on('message', (_channel: string, jobId: string) => void this.worker?.cancelJob(jobId, CANCELLED));
    void this.subscriber.subscribe(config.keys.cancelChannel).catch(() => undefined);
    const processor = (job: Job<PieceData, void>, token?: string, signal?: AbortSignal): Promise<void> => {
      const run = this.process(job, token, signal!);
      this.running.add(run);
      void run.catch(() => undefined).finally(() => this.running.delete(run));
      return run;
    };
    this.worker = new bullmq.Worker<PieceData, void>(config.queue, processor, {
      connection: redisOptions(config, 'worker-jobs'),
      concurrency: config.concurrency,
      lockDuration: config.lockDurationMs,
      // A dead worker's piece is found at the next check after its lock lapsed.
      stalledInterval: config.lockDurationMs,
      maxStalledCount: config.attempts,
    });
    let lastError = '';
    this.worker.on('error', (error: Error) => {
      if (error.message !== lastError) this.logger.error(`worker, Redis at ${config.where}: ${(lastError = error.message)}`);
    });
    this.worker.on('ready', () => (lastError = ''));
    // A piece whose BullMQ lock could not be renewed is being given to another worker (or soon
    // will be): this run can no longer deliver, and must not go on beside the next one.
    this.worker.on('lockRenewalFailed', (jobIds: string[]) => {
      for (const id of jobIds) this.worker?.cancelJob(id, 'its lock was lost: another worker takes the piece over');
    });
    // Logged once it takes work (not awaited: a worker started before Redis waits for it).
    void this.worker
      .waitUntilReady()
      .then(() =>
        this.logger.log(`worker of the queue "${config.queue}" on ${config.where}: ${config.concurrency} piece(s) at a time`),
      )
      .catch(() => undefined);
  }

  /**
   * Shutdown: no new pieces; those running get the grace period to finish and be delivered.
   * Past it, their signal is aborted and they are left unfinished, so that their lock lapses
   * and another worker runs them: a stopped worker must not report a cut-short result.
   */
  async beforeApplicationShutdown(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.closing = true;
    // Not worker.close() first: a forced close() after it would wait on the same promise.
    await within(1000, worker.pause(true));
    const grace = this.options.shutdownGraceMs;
    const inTime = await within(grace, Promise.allSettled([...this.running]));
    if (!inTime) worker.cancelAllJobs('the worker is shutting down');
    // BullMQ's close waits for a Redis that may be gone: bounded, then the sockets are dropped.
    if (!(await within(COMMAND_TIMEOUT_MS, worker.close(!inTime)))) await within(1000, worker.disconnect());
    this.subscriber?.disconnect();
    this.redis?.disconnect();
  }

  private async process(job: Job<PieceData, void>, token: string | undefined, signal: AbortSignal): Promise<void> {
    const { UnrecoverableError, DelayedError } = this.libraries!.bullmq;
    const { keys } = this.config;
    if (this.closing) {
      // Taken by a fetch already under way when shutdown began: back to the queue, for another
      // worker, without counting as an attempt.
      await job.moveToDelayed(Date.now(), token);
      throw new DelayedError();
    }
    const { kind, payload: fields, trainingClaim } = job.data;
    // Cancelled while it waited (the message went out before this worker took it).
    if (await this.redis!.exists(keys.cancelled(job.id!))) throw new UnrecoverableError(CANCELLED);
    // Checked again, as on the HTTP side: whatever can write to the queue cannot hand the
    // methods a payload the protocol refuses (a checkpoint name that leaves its folder, say).
    if (!HANDLER_KINDS.includes(kind)) throw new UnrecoverableError(`unknown kind of work ${JSON.stringify(kind)}`);
    let payload: PayloadOf<typeof kind>;
    try {
      payload = await this.validator.validate(kind, fields);
    } catch (error) {
      throw new UnrecoverableError(`invalid work: ${toProtocolError(error).message}`);
    }
    // One training at a time: run only while the pool's claim is this training's, and stop if
    // it is lost (Redis restarted without its data), or two could write at once.
    const claimLost = new AbortController();
    let stopRenewing: (() => void) | undefined;
    if (kind === 'train') {
      if (!trainingClaim || !(await this.lock!.renew(trainingClaim))) throw new UnrecoverableError(CLAIM_GONE);
      stopRenewing = this.lock!.keepAlive(trainingClaim, () => claimLost.abort(new Error(CLAIM_GONE)));
    }
    const stop = AbortSignal.any([signal, claimLost.signal]);
    const started = performance.now();
    const what = `${job.name} ${job.id} (attempt ${job.attemptsMade + 1})`;
    const run = createRunContext({
      name: `Alectio:${kind}:${job.id}`,
      signal: stop,
      onProgress: ({ progress, message }) => {
        const update: PieceProgress = message === undefined ? { fraction: progress } : { fraction: progress, message };
        job.updateProgress(update as object).catch(() => undefined);
      },
    });
    let parts: string[];
    try {
      const execute = (): Promise<string[]> => this.executor.execute(kind, payload, run.context);
      parts = this.tracer
        ? await this.tracer.inSpan(
            `alectio.piece.${kind}`,
            { 'alectio.endpoint': kind, 'alectio.piece.id': job.id!, 'alectio.piece.attempt': job.attemptsMade + 1 },
            execute,
            job.data.trace,
          )
        : await execute();
    } catch (error) {
      if (stop.aborted) return this.stopped(claimLost.signal.aborted, what);
      const cause = (error as Error).cause as Error | undefined;
      this.logger.error(`${what} failed in ${ms(started)}: ${(error as Error).message}`, cause?.stack ?? (error as Error).stack);
      throw error;
    } finally {
      run.flush();
      stopRenewing?.();
    }
    if (stop.aborted) return this.stopped(claimLost.signal.aborted, what);
    const json = parts.join('');
    await this.redis!.set(keys.result(job.id!), json, 'PX', RESULT_TTL_MS);
    this.logger.log(`${what} done in ${ms(started)}`);
  }

  /** A piece whose signal was aborted: cancelled for good, or, at shutdown, left to another worker. */
  private stopped(claimLost: boolean, what: string): Promise<never> {
    const { UnrecoverableError } = this.libraries!.bullmq;
    if (claimLost) {
      this.logger.error(`${what} stopped: ${CLAIM_GONE}`);
      throw new UnrecoverableError(CLAIM_GONE);
    }
    if (this.closing) {
      this.logger.warn(`${what} stopped by the shutdown: left to another worker`);
      return new Promise<never>(() => undefined);
    }
    this.logger.log(`${what} cancelled`);
    throw new UnrecoverableError(CANCELLED);
  }
}
