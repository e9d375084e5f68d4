import { randomUUID } from 'node:crypto';

import {
  HttpException,
  Inject,
  Injectable,
  InternalServerErrorException,
  Logger,
  OnApplicationShutdown,
  OnModuleInit,
  ServiceUnavailableException,
} from '@nestjs/common';
import type { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';

import { ALECTIO_LOGGER_CONTEXT, HandlerKind } from '../alectio.constants.js';
import {
  NO_WORKERS,
  NO_WORKERS_LEFT,
  PIECE_ABANDONED,
  PIECE_FAILED,
  REDIS_DATA_LOST,
  REDIS_FAILED,
  REDIS_LOST,
  REDIS_UNREACHABLE,
} from '../alectio.messages.js';
import { MODULE_OPTIONS_TOKEN } from '../alectio.module-definition.js';
import type { AlectioContext } from '../interfaces/alectio-context.interface.js';
import type { AlectioModuleOptions } from '../interfaces/alectio-options.interface.js';
import { delay, within } from '../timing.js';
import type { PayloadOf } from '../validation/payload.validator.js';
import type { PieceData } from './piece.model.js';
import { COMMAND_TIMEOUT_MS, loadPoolLibraries, PoolConfig, poolConfig, redisOptions } from './pool.config.js';
import { TrainingLock } from './training.lock.js';

const OUTPUTS_OPEN = '{"outputs":{';
/** Start-up waits this long for Redis before it serves anyway (503s until Redis is there). */
const STARTUP_WAIT_MS = 5000;
/** How often the watchdog pings Redis and, while requests wait, counts the workers. */
const WATCH_INTERVAL_MS = 1000;
/** A dropped connection that comes back within this is a blip: the waiting requests go on. */
const RECONNECT_GRACE_MS = 3000;
/** A cancel mark outlives any wait of a piece in the queue that matters. */
const CANCEL_MARK_TTL_MS = 3600_000;
const STALLED = 'stalled more than allowable limit';

/** One piece of a request on its way through the queue: a chunk of an infer, or a whole train or test. */
interface Piece {
  id: string;
  /** How the piece is named in an error: "infer chunk 2 of 50 (positions 10000 to 19999)". */
  label: string;
  attempts: number;
  progress: number;
  /** In the queue (added): from then on, its BullMQ job exists until it ends. */
  queued: boolean;
  settled: boolean;
  done: Promise<string>;
  resolve(json: string): void;
  reject(error: Error): void;
  report(message?: string): void;
}

/**
 * The API side of distributed mode: each request's work goes to the BullMQ queue as pieces
 * (`/infer` in chunks), the workers run them, and the answers are merged here in request
 * order, so the bytes are the same as in-process. A watchdog turns a silent Redis or a pool
 * without workers into a 503 rather than a request that waits for ever.
 */
@Injectable()
export class WorkDispatcher implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(ALECTIO_LOGGER_CONTEXT);
  private readonly config?: PoolConfig;
  private redis?: Redis;
  private queue?: Queue;
  private events?: QueueEvents;
  private lock?: TrainingLock;
  private readonly pieces = new Map<string, Piece>();
  /** The claim of the training this process runs; its value goes to the worker, which renews it. */
  private trainingClaim?: string;
  /** Pieces given up while Redis was away, and claims not freed: seen to once it is back. */
  private readonly orphans = new Set<string>();
  private readonly unfreedClaims = new Set<string>();
  private watchdog?: NodeJS.Timeout;
  private reconnectTimer?: NodeJS.Timeout;
  private noWorkersSince?: number;
  private workersSeen?: { count: number; at: number };
  private lastRedisError = '';
  private watching = false;
  private unansweredPings = 0;

  constructor(@Inject(MODULE_OPTIONS_TOKEN) options: AlectioModuleOptions) {
    if (options.distributed) this.config = poolConfig(options.distributed);
  }

  /** True in an API process of a pool: the methods run on its workers, not here. */
  get active(): boolean {
    return this.config?.role === 'api';
  }

  async onModuleInit(): Promise<void> {
    const config = this.config;
    if (!config || config.role !== 'api') return;
    const { bullmq, connect } = await loadPoolLibraries();
    const redis = (this.redis = connect(config, 'api', true));
    redis.on('error', (error: Error) => this.redisError(error));
    redis.on('close', () => this.dropped());
    redis.on('ready', () => void this.reconnected());
    this.lock = new TrainingLock(redis, config.keys.training, config.lockDurationMs);
    this.queue = new bullmq.Queue(config.queue, { connection: redis });
    this.queue.on('error', (error: Error) => this.redisError(error));
    const events = (this.events = new bullmq.QueueEvents(config.queue, { connection: redisOptions(config, 'api-events') }));
    events.on('error', (error: Error) => this.redisError(error));
    events.on('completed', ({ jobId }) => void this.completed(jobId));
    events.on('failed', ({ jobId, failedReason }) => this.failed(jobId, failedReason));
    events.on('removed', ({ jobId }) => this.pieces.get(jobId)?.reject(new Error('cancelled before a worker took it')));
    events.on('progress', ({ jobId, data }) => {
      const piece = this.pieces.get(jobId);
      const { fraction, message } = (data ?? {}) as { fraction?: unknown; message?: unknown };
      if (piece && !piece.settled && typeof fraction === 'number') {
        piece.progress = fraction;
        piece.report(typeof message === 'string' ? message : undefined);
      }
    });
    this.watchdog = setInterval(() => void this.watch(), WATCH_INTERVAL_MS);
    this.watchdog.unref();

    // Start-up waits a little for Redis, so that the first requests do not meet a connection
    // still opening; past that, the app starts anyway and answers 503 until Redis is there.
    const ready = new Promise<boolean>((resolve) =>
      redis.status === 'ready' ? resolve(true) : redis.once('ready', () => resolve(true)),
    );
    const timeout = new Promise<false>((resolve) => setTimeout(() => resolve(false), STARTUP_WAIT_MS).unref());
    if (
      (await Promise.race([ready, timeout])) &&
      (await Promise.race([
        events.waitUntilReady().then(
          () => true,
          () => false,
        ),
        timeout,
      ]))
    ) {
      this.logger.log(`distributed mode: work goes to the queue "${config.queue}" on ${config.where}`);
    } else {
      this.logger.warn(`distributed mode: Redis at ${config.where} is not reachable yet; requests get 503 until it is`);
    }
  }

  /** Closes the connections; bounded, since BullMQ's close waits for a Redis that may be gone. */
  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.watchdog);
    clearTimeout(this.reconnectTimer);
    if (!this.redis) return;
    // BullMQ's close waits for a Redis that may be gone, and its disconnect for one never reached.
    if (!(await within(COMMAND_TIMEOUT_MS, Promise.allSettled([this.events?.close(), this.queue?.close()])))) {
      await within(1000, Promise.allSettled([this.events?.disconnect(), this.queue?.disconnect()]));
    }
    this.redis.disconnect();
  }

  /**
   * Claims the right to run across the pool (409 if a training runs anywhere, or writes this
   * checkpoint); `local` is this process's own claim, released with it.
   */
  async claim(kind: HandlerKind, ckptFile: string, local: () => void): Promise<() => void> {
    try {
      this.assertReachable();
      const claim = await this.lock!.enter(kind, ckptFile).catch((error: unknown) => {
        throw this.asServiceError(error);
      });
      if (!claim) return local;
      this.trainingClaim = claim.value;
      return () => {
        this.trainingClaim = undefined;
        claim.release();
        if (this.redis?.status !== 'ready') this.unfreedClaims.add(claim.value);
        local();
      };
    } catch (error) {
      local();
      throw error;
    }
  }

  /** Runs a validated request on the workers; the answer's fields as JSON parts, as in-process. */
  async execute<K extends HandlerKind>(kind: K, payload: PayloadOf<K>, context: AlectioContext): Promise<string[]> {
    const config = this.config!;
    const call = randomUUID();
    const data: PieceData[] =
      kind === 'infer'
        ? this.chunks(payload as PayloadOf<'infer'>)
        : [{ kind, payload, trainingClaim: kind === 'train' ? this.trainingClaim : undefined }];
    // A training is not tried again when its method throws (that is rarely a passing fault, and
    // hours long); a worker that dies still hands it on, through BullMQ's stalled-job check.
    const attempts = kind === 'train' ? 1 : config.attempts;
    const pieces = data.map((_, i) =>
      this.track(`${call}-${i}`, this.label(kind, data, i), attempts, (message) => report(message)),
    );
    const report = (message?: string): void =>
      context.progress(pieces.reduce((sum, piece) => sum + piece.progress, 0) / pieces.length, message);
    // Listening before any await: an abort during one must still reach the pieces.
    const unsettled = (): string[] => pieces.filter((piece) => !piece.settled).map((piece) => piece.id);
    const onAbort = (): void => void this.cancel(unsettled(), String((context.signal.reason as Error)?.message ?? 'cancelled'));
    context.signal.addEventListener('abort', onAbort, { once: true });
    try {
      context.signal.throwIfAborted();
      this.assertReachable();
      if ((await this.workerCount()) === 0) throw new ServiceUnavailableException(NO_WORKERS(config.queue, config.where));
      context.signal.throwIfAborted();
      const answers = Promise.all(pieces.map((piece) => piece.done));
      answers.catch(() => undefined); // awaited below once queued; a failed addBulk must not leave it unhandled
      await this.queue!.addBulk(
        data.map((piece, i) => ({
          name: kind,
          data: piece,
          opts: {
            jobId: pieces[i].id,
            attempts,
            backoff: { type: 'exponential', delay: 1000 },
            removeOnComplete: true,
            removeOnFail: true,
          },
        })),
      ).catch(async (error: unknown) => {
        // A command that timed out may still have run: the pieces must not run unwanted.
        await this.cancel(unsettled(), 'the request could not be queued');
        throw this.asServiceError(error);
      });
      for (const piece of pieces) piece.queued = true;
      const json = await answers.catch(async (error: Error) => {
        // One piece failed for good: the others are no use now.
        await this.cancel(unsettled(), 'another piece of the request failed');
        throw error;
      });
      return kind === 'infer' ? mergeOutputs(json) : json;
    } finally {
      context.signal.removeEventListener('abort', onAbort);
      for (const piece of pieces) {
        this.pieces.delete(piece.id);
        piece.reject(new Error('the request has ended')); // settles the ones never queued
      }
    }
  }

  private chunks(payload: PayloadOf<'infer'>): PieceData[] {
    const size = this.config!.inferChunkSize;
    const { unlabeled, ckpt_file } = payload;
    const data: PieceData[] = [];
    // An empty list is still one piece: the method is called, as in-process.
    for (let start = 0; start === 0 || start < unlabeled.length; start += size) {
      data.push({ kind: 'infer', payload: { unlabeled: unlabeled.slice(start, start + size), ckpt_file } });
    }
    return data;
  }

  private label(kind: HandlerKind, data: PieceData[], i: number): string {
    if (kind !== 'infer') return kind;
    const size = this.config!.inferChunkSize;
    const length = (data[i].payload as PayloadOf<'infer'>).unlabeled.length;
    return `infer chunk ${i + 1} of ${data.length} (positions ${i * size} to ${i * size + Math.max(0, length - 1)})`;
  }

  private track(id: string, label: string, attempts: number, report: (message?: string) => void): Piece {
    let resolve!: (json: string) => void;
    let reject!: (error: Error) => void;
    const done = new Promise<string>((ok, fail) => ((resolve = ok), (reject = fail)));
    done.catch(() => undefined); // rejections are read through Promise.all; the rest are expected
    const piece: Piece = {
      id,
      label,
      attempts,
      progress: 0,
      queued: false,
      settled: false,
      done,
      report,
      resolve: (json) => {
        if (piece.settled) return;
        piece.settled = true;
        piece.progress = 1;
        report();
        resolve(json);
      },
      reject: (error) => {
        if (piece.settled) return;
        piece.settled = true;
        reject(error);
      },
    };
    this.pieces.set(id, piece);
    return piece;
  }

  private async completed(jobId: string): Promise<void> {
    // Every API process of the pool hears every event: only the one waiting for the piece
    // takes its answer. (An answer nobody collects expires with its key.)
    const piece = this.pieces.get(jobId);
    if (!piece) return;
    try {
      const json = await this.redis!.getdel(this.config!.keys.result(jobId));
      if (json === null) throw new InternalServerErrorException(`${piece.label}: the worker's answer was not found in Redis`);
      piece.resolve(json);
    } catch (error) {
      piece.reject(this.asServiceError(error));
    }
  }

  private failed(jobId: string, reason: string): void {
    const piece = this.pieces.get(jobId);
    if (!piece) return;
    const message = reason.includes(STALLED)
      ? PIECE_ABANDONED(piece.label, this.config!.attempts + 1)
      : PIECE_FAILED(piece.label, piece.attempts, reason);
    piece.reject(new InternalServerErrorException(message));
  }

  /**
   * Asks the workers to stop the pieces: a mark that a worker checks before it starts one, a
   * message that aborts the signal of one running, and the removal of those still waiting.
   */
  private async cancel(ids: string[], reason: string): Promise<void> {
    const { keys } = this.config!;
    await Promise.allSettled(
      ids.map(async (id) => {
        await this.redis!.set(keys.cancelled(id), reason, 'PX', CANCEL_MARK_TTL_MS);
        await this.redis!.publish(keys.cancelChannel, id);
        await this.queue!.remove(id);
      }),
    );
  }

  /** The workers taking work from the queue, looked up at most once a second. */
  private async workerCount(): Promise<number> {
    const seen = this.workersSeen;
    if (seen && Date.now() - seen.at < WATCH_INTERVAL_MS) return seen.count;
    // CLIENT LIST may be disabled on a managed Redis: then the watchdog cannot tell, and trusts.
    const count = await this.queue!.getWorkersCount().catch(() => 1);
    this.workersSeen = { count, at: Date.now() };
    return count;
  }

  /**
   * Once a second: a Redis that holds its connections open but answers nothing (a frozen or
   * unreachable host) is dropped, and requests waiting on a pool whose workers are all gone
   * are answered 503 once the pool has had time to get one back.
   */
  private async watch(): Promise<void> {
    if (this.watching) return;
    this.watching = true;
    try {
      await this.check();
    } finally {
      this.watching = false;
    }
  }

  private async check(): Promise<void> {
    const redis = this.redis!;
    if (redis.status !== 'ready') return;
    const answered = await redis.ping().then(
      () => true,
      () => false,
    );
    this.unansweredPings = answered ? 0 : this.unansweredPings + 1;
    // Two in a row (10 s): one slow answer (an fsync, a fork) is not an outage.
    if (this.unansweredPings >= 2 && redis.status === 'ready') {
      this.unansweredPings = 0;
      this.redisError(new Error(`no answer to PING within ${COMMAND_TIMEOUT_MS} ms, twice`));
      this.giveUp();
      redis.disconnect(true);
      return;
    }
    if (!answered) return;
    if (this.pieces.size === 0) {
      this.noWorkersSince = undefined;
      return;
    }
    if ((await this.workerCount()) > 0) {
      this.noWorkersSince = undefined;
      return;
    }
    this.noWorkersSince ??= Date.now();
    const waited = Date.now() - this.noWorkersSince;
    // A worker restarting takes a moment; a dead one's piece waits lockDurationMs anyway.
    if (waited < Math.max(10_000, 2 * this.config!.lockDurationMs)) return;
    const { queue, where } = this.config!;
    const pending = [...this.pieces.values()].filter((piece) => !piece.settled);
    for (const piece of pending)
      piece.reject(new ServiceUnavailableException(NO_WORKERS_LEFT(queue, where, Math.round(waited / 1000))));
    await this.cancel(
      pending.map((piece) => piece.id),
      'no worker was left to run it',
    );
  }

  /** The connection dropped: a blip if it is back within the grace, else the waiting requests get 503. */
  private dropped(): void {
    if (this.reconnectTimer || this.pieces.size === 0) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.redis?.status !== 'ready') this.giveUp();
    }, RECONNECT_GRACE_MS);
    this.reconnectTimer.unref();
  }

  /** No answer of a waiting piece can reach this process now: 503, and the work is stopped once Redis is back. */
  private giveUp(): void {
    for (const piece of this.pieces.values()) {
      if (piece.settled) continue;
      this.orphans.add(piece.id);
      piece.reject(new ServiceUnavailableException(REDIS_LOST(this.config!.where)));
    }
  }

  private async reconnected(): Promise<void> {
    this.lastRedisError = '';
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    // Work whose request was answered 503 must not go on, holding a worker or the training claim.
    const orphans = [...this.orphans];
    this.orphans.clear();
    if (orphans.length > 0) {
      await this.cancel(orphans, 'its request was answered 503 while Redis was away');
    }
    for (const value of [...this.unfreedClaims]) {
      if (await this.lock!.free(value)) this.unfreedClaims.delete(value);
    }
    // The events missed while away are read again from Redis's stream, if Redis kept it; a
    // Redis that restarted empty lost the waiting pieces themselves, which no event will end.
    await delay(WATCH_INTERVAL_MS);
    await this.settleVanished().catch(() => undefined);
  }

  private async settleVanished(): Promise<void> {
    const { keys, where } = this.config!;
    const lost: string[] = [];
    for (const piece of [...this.pieces.values()]) {
      if (piece.settled || !piece.queued || (await this.queue!.getJob(piece.id))) continue;
      // Gone from the queue: finished, with its answer under its key, or lost.
      if (await this.redis!.exists(keys.result(piece.id))) {
        await this.completed(piece.id);
      } else {
        piece.reject(new ServiceUnavailableException(REDIS_DATA_LOST(where, piece.label)));
        lost.push(piece.id);
      }
    }
    // A worker may still be running a lost piece: it must stop before the platform's retry runs.
    await this.cancel(lost, 'its request was answered 503: Redis lost it');
  }

  private assertReachable(): void {
    const state = this.redis?.status ?? 'not started';
    if (state !== 'ready')
      throw new ServiceUnavailableException(REDIS_UNREACHABLE(this.config!.where, describe(state, this.lastRedisError)));
  }

  /** A Redis failure as the 503 that names it; the protocol's own errors (the 409s) as they are. */
  private asServiceError(error: unknown): Error {
    if (error instanceof HttpException) return error;
    const reason = error instanceof Error ? error.message : String(error);
    if (this.redis?.status !== 'ready') {
      return new ServiceUnavailableException(
        REDIS_UNREACHABLE(this.config!.where, describe(this.redis?.status ?? 'closed', reason)),
      );
    }
    return new ServiceUnavailableException(REDIS_FAILED(this.config!.where, reason));
  }

  private redisError(error: Error): void {
    // ioredis repeats the same error on every reconnection attempt: log each kind once.
    if (error.message === this.lastRedisError) return;
    this.lastRedisError = error.message;
    this.logger.error(`Redis at ${this.config!.where}: ${error.message}`);
  }
}

/** The chunks' `{"outputs":{...}}` as the parts of one, in request order. */
function mergeOutputs(chunks: string[]): string[] {
  const parts = [OUTPUTS_OPEN];
  for (const chunk of chunks) {
    const inner = chunk.slice(OUTPUTS_OPEN.length, -2);
    if (inner === '') continue;
    if (parts.length > 1) parts.push(',');
    parts.push(inner);
  }
  parts.push('}}');
  return parts;
}

function describe(state: string, lastError: string): string {
  return lastError ? `${state}: ${lastError}` : state;
}
