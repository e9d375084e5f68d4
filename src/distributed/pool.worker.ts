import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import type { Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { ALECTIO_LOGGER_CONTEXT } from '../alectio.constants.js';
import { AlectioExecutor } from '../alectio.executor.js';
import { MODULE_OPTIONS_TOKEN } from '../alectio.module-definition.js';
import { InferPayload } from '../dto/infer.dto.js';
import { TestPayload } from '../dto/test.dto.js';
import { TrainPayload } from '../dto/train.dto.js';
import type { AlectioContext } from '../interfaces/alectio-context.interface.js';
import type { AlectioModuleOptions } from '../interfaces/alectio-options.interface.js';
import { loadPoolLibraries, poolConfig, PoolConfig, PoolLibraries } from './pool.config.js';
import type { PieceData, PieceResult } from './piece.model.js';
import { TrainingLock } from './training.lock.js';

const PAYLOADS = { train: TrainPayload, test: TestPayload, infer: InferPayload } as const;
const DEFAULT_GRACE_MS = 10_000;
/** A piece's answer waits this long in Redis for its API process to collect it. */
const RESULT_TTL_MS = 3600_000;
const PROGRESS_INTERVAL_MS = 200;
const CANCELLED = 'cancelled';

/**
 * The worker side of distributed mode: takes pieces from the queue and runs the app's own
 * `@Train()`, `@Test()` and `@Infer()` methods on them, through the same executor (and result
 * checks) as in-process. A worker that dies mid-piece loses it for no one: its lock lapses and
 * BullMQ's stalled-job check hands the piece to another worker.
 */
@Injectable()
export class PoolWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(ALECTIO_LOGGER_CONTEXT);
  private readonly config?: PoolConfig;
  private worker?: Worker<PieceData, PieceResult>;
  private redis?: Redis;
  private subscriber?: Redis;
  private lock?: TrainingLock;
  private closing = false;
  /** The pieces this worker is running; shutdown waits for them up to the grace period. */
  private readonly running = new Set<Promise<PieceResult>>();
  private libraries?: PoolLibraries;

  constructor(
    @Inject(MODULE_OPTIONS_TOKEN) private readonly options: AlectioModuleOptions,
    private readonly executor: AlectioExecutor,
  ) {
    if (options.distributed) this.config = poolConfig(options.distributed);
  }

  // After onModuleInit, when the methods have been discovered.
  async onApplicationBootstrap(): Promise<void> {
    const config = this.config;
    if (!config || config.role !== 'worker') return;
    const libraries = (this.libraries = await loadPoolLibraries());
    const { bullmq, connect } = libraries;
    this.redis = connect(config, 'worker', true);
    this.redis.on('error', () => undefined); // the worker's own 'error' reports the outage
    this.lock = new TrainingLock(this.redis, config.keys.training, config.lockDurationMs);
    // A cancel reaches whichever worker runs the piece; the others ignore it.
    this.subscriber = connect(config, 'worker-cancel', true);
    this.subscriber.on('error', () => undefined);
    this.subscriber.on('message', (_channel: string, jobId: string) => void this.worker?.cancelJob(jobId, CANCELLED));
    void this.subscriber.subscribe(config.keys.cancelChannel).catch(() => undefined);
    const processor = (job: Job<PieceData, PieceResult>, _token?: string, signal?: AbortSignal): Promise<PieceResult> => {
      const run = this.process(job, signal!);
      this.running.add(run);
      void run.catch(() => undefined).finally(() => this.running.delete(run));
      return run;
    };
    this.worker = new bullmq.Worker<PieceData, PieceResult>(config.queue, processor, {
      connection: connect(config, 'worker-jobs', true),
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
    // Logged once it takes work (not awaited: a worker started before Redis waits for it).
    void this.worker
      .waitUntilReady()
      .then(() => this.logger.log(`worker of the queue "${config.queue}" on ${config.where}: ${config.concurrency} piece(s) at a time`))
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
    await worker.pause(true);
    const grace = this.options.shutdownGraceMs ?? DEFAULT_GRACE_MS;
    let timer: NodeJS.Timeout | undefined;
    const finished = Promise.allSettled([...this.running]).then(() => true);
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), grace)));
    const inTime = await Promise.race([finished, late]);
    clearTimeout(timer);
    if (!inTime) worker.cancelAllJobs('the worker is shutting down');
    await worker.close(!inTime);
    this.subscriber?.disconnect();
    this.redis?.disconnect();
  }

  private async process(job: Job<PieceData, PieceResult>, signal: AbortSignal): Promise<PieceResult> {
    const { UnrecoverableError } = this.libraries!.bullmq;
    const { keys } = this.config!;
    const { kind, payload: fields, trainingClaim } = job.data;
    // Cancelled while it waited (the message went out before this worker took it).
    if (await this.redis!.exists(keys.cancelled(job.id!))) throw new UnrecoverableError(CANCELLED);
    const payload = Object.assign(new PAYLOADS[kind](), fields);
    const stopRenewing = trainingClaim ? this.lock!.keepAlive(trainingClaim) : undefined;
    let parts: string[];
    try {
      parts = await this.executor.execute(kind, payload as never, this.contextFor(job, signal));
    } catch (error) {
      if (signal.aborted) return this.stopped();
      throw error;
    } finally {
      stopRenewing?.();
    }
    if (signal.aborted) return this.stopped();
    const json = parts.join('');
    await this.redis!.set(keys.result(job.id!), json, 'PX', RESULT_TTL_MS);
    return { bytes: json.length };
  }

  /** A piece whose signal was aborted: cancelled for good, or, at shutdown, left to another worker. */
  private stopped(): Promise<never> {
    if (this.closing) return new Promise<never>(() => undefined);
    throw new this.libraries!.bullmq.UnrecoverableError(CANCELLED);
  }

  private contextFor(job: Job<PieceData, PieceResult>, signal: AbortSignal): AlectioContext {
    let last = 0;
    let logger: Logger | undefined;
    return {
      signal,
      progress: (fraction, message) => {
        if (typeof fraction !== 'number' || !Number.isFinite(fraction)) return;
        const now = Date.now();
        if (now - last < PROGRESS_INTERVAL_MS && fraction < 1) return;
        last = now;
        const update = { fraction: Math.min(1, Math.max(0, fraction)), ...(message === undefined ? {} : { message: String(message) }) };
        job.updateProgress(update).catch(() => undefined);
      },
      get logger() {
        return (logger ??= new Logger(`Alectio:${job.data.kind}:${job.id}`));
      },
    };
  }
}
