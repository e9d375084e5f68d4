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
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { ALECTIO_LOGGER_CONTEXT, HandlerKind } from '../alectio.constants.js';
import { NO_WORKERS, PIECE_FAILED, REDIS_LOST, REDIS_UNREACHABLE } from '../alectio.messages.js';
import { MODULE_OPTIONS_TOKEN } from '../alectio.module-definition.js';
import type { AlectioContext } from '../interfaces/alectio-context.interface.js';
import type { AlectioModuleOptions } from '../interfaces/alectio-options.interface.js';
import type { PayloadOf } from '../validation/payload.validator.js';
import { loadPoolLibraries, poolConfig, PoolConfig } from './pool.config.js';
import type { PieceData } from './piece.model.js';
import { TrainingLock } from './training.lock.js';

const OUTPUTS_OPEN = '{"outputs":{';
const STARTUP_WAIT_MS = 5000;

/** One piece of a request on its way through the queue: a chunk of an infer, or a whole train or test. */
interface Piece {
  id: string;
  /** How the piece is named in an error: "infer chunk 2 of 50 (positions 10000 to 19999)". */
  label: string;
  progress: number;
  settled: boolean;
  resolve(json: string): void;
  reject(error: Error): void;
  report(message?: string): void;
}

/**
 * The API side of distributed mode: each request's work goes to the BullMQ queue as pieces
 * (`/infer` in chunks), the workers run them, and the answers are merged here in request
 * order, so the bytes are the same as in-process.
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
  private lastRedisError = '';

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
    // Not awaited: the app starts (and /health answers) while Redis is away; requests get 503.
    const redis = (this.redis = connect(config, 'api', false));
    redis.on('error', (error: Error) => this.redisError(error));
    redis.on('close', () => this.lost());
    redis.on('ready', () => (this.lastRedisError = ''));
    this.lock = new TrainingLock(redis, config.keys.training, config.lockDurationMs);
    this.queue = new bullmq.Queue(config.queue, { connection: redis });
    this.queue.on('error', (error: Error) => this.redisError(error));
    const events = (this.events = new bullmq.QueueEvents(config.queue, { connection: connect(config, 'api-events', true) }));
    events.on('error', (error: Error) => this.redisError(error));
    events.on('completed', ({ jobId }) => void this.completed(jobId));
    events.on('failed', ({ jobId, failedReason }) => this.failed(jobId, failedReason));
    events.on('removed', ({ jobId }) => this.pieces.get(jobId)?.reject(new Error('cancelled before a worker took it')));
    events.on('progress', ({ jobId, data }) => {
      const piece = this.pieces.get(jobId);
      const { fraction, message } = (data ?? {}) as { fraction?: unknown; message?: unknown };
      if (piece && typeof fraction === 'number') {
        piece.progress = fraction;
        piece.report(typeof message === 'string' ? message : undefined);
      }
    });
    // Start-up waits a little for Redis, so that the first requests do not meet a connection
    // still opening; past that, the app starts anyway and answers 503 until Redis is there.
    const connected = Promise.all([once(redis, 'ready'), events.waitUntilReady()]).then(() => true);
    const timeout = new Promise<false>((resolve) => setTimeout(() => resolve(false), STARTUP_WAIT_MS).unref());
    if (await Promise.race([connected.catch(() => false), timeout])) {
      this.logger.log(`distributed mode: work goes to the queue "${config.queue}" on ${config.where}`);
    } else {
      this.logger.warn(`distributed mode: Redis at ${config.where} is not reachable yet; requests get 503 until it is`);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.allSettled([this.events?.close(), this.queue?.close()]);
    this.redis?.disconnect();
  }

  /**
   * Claims the right to run across the pool (409 if a training runs anywhere, or writes this
   * checkpoint); `local` is this process's own claim, released with it.
   */
  async claim(kind: HandlerKind, ckptFile: string, local: () => void): Promise<() => void> {
    try {
      this.assertReachable();
      const claim = await this.lock!.enter(kind, ckptFile).catch((error: unknown) => {
        throw this.asUnreachable(error);
      });
      if (!claim) return local;
      this.trainingClaim = claim.value;
      return () => {
        this.trainingClaim = undefined;
        claim.release();
        local();
      };
    } catch (error) {
      local();
      throw error;
    }
  }

  /** Runs a validated request on the workers; the answer's fields as JSON parts, as in-process. */
  async execute<K extends HandlerKind>(kind: K, payload: PayloadOf<K>, context: AlectioContext): Promise<string[]> {
    context.signal.throwIfAborted();
    this.assertReachable();
    const config = this.config!;
    if ((await this.queue!.getWorkersCount().catch(() => 1)) === 0) throw new ServiceUnavailableException(NO_WORKERS(config.queue, config.where));
    const call = randomUUID();
    const data: PieceData[] =
      kind === 'infer' ? this.chunks(payload as PayloadOf<'infer'>) : [{ kind, payload, trainingClaim: kind === 'train' ? this.trainingClaim : undefined }];
    const pieces = data.map((_, i) => this.track(`${call}-${i}`, this.label(kind, data, i), (message) => report(message)));
    const report = (message?: string): void => context.progress(pieces.reduce((sum, piece) => sum + piece.progress, 0) / pieces.length, message);

    const onAbort = (): void => void this.cancel(pieces, String((context.signal.reason as Error)?.message ?? 'cancelled'));
    context.signal.addEventListener('abort', onAbort, { once: true });
    try {
      const answers = Promise.all(pieces.map((piece) => piece.done));
      await this.queue!.addBulk(
        data.map((piece, i) => ({
          name: kind,
          data: piece,
          opts: {
            jobId: pieces[i].id,
            attempts: config.attempts,
            backoff: { type: 'exponential', delay: 1000 },
            removeOnComplete: true,
            removeOnFail: true,
          },
        })),
      ).catch((error: unknown) => {
        throw this.asUnreachable(error);
      });
      const json = await answers.catch(async (error: Error) => {
        // One piece failed for good: the others are no use now.
        await this.cancel(pieces, 'another piece of the request failed');
        throw error;
      });
      return kind === 'infer' ? mergeOutputs(json) : json;
    } finally {
      context.signal.removeEventListener('abort', onAbort);
      for (const piece of pieces) this.pieces.delete(piece.id);
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

  private track(id: string, label: string, report: (message?: string) => void): Piece & { done: Promise<string> } {
    let resolve!: (json: string) => void;
    let reject!: (error: Error) => void;
    const done = new Promise<string>((ok, fail) => ((resolve = ok), (reject = fail)));
    done.catch(() => undefined); // rejections are read through Promise.all; the rest are expected
    const piece: Piece & { done: Promise<string> } = {
      id,
      label,
      progress: 0,
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
    const piece = this.pieces.get(jobId);
    if (!piece) return;
    try {
      const json = await this.redis!.getdel(this.config!.keys.result(jobId));
      if (json === null) throw new InternalServerErrorException(`${piece.label}: the worker's answer was not found in Redis`);
      piece.resolve(json);
    } catch (error) {
      piece.reject(this.asUnreachable(error));
    }
  }

  private failed(jobId: string, reason: string): void {
    const piece = this.pieces.get(jobId);
    piece?.reject(new InternalServerErrorException(PIECE_FAILED(piece.label, this.config!.attempts, reason)));
  }

  /**
   * Asks the workers to stop the pieces: a mark that a worker checks before it starts one, a
   * message that aborts the signal of one running, and the removal of those still waiting.
   */
  private async cancel(pieces: Piece[], reason: string): Promise<void> {
    const { keys } = this.config!;
    await Promise.allSettled(
      pieces
        .filter((piece) => !piece.settled)
        .map(async (piece) => {
          await this.redis!.set(keys.cancelled(piece.id), reason, 'PX', 24 * 3600_000);
          await this.redis!.publish(keys.cancelChannel, piece.id);
          await this.queue!.remove(piece.id);
        }),
    );
  }

  private assertReachable(): void {
    const state = this.redis?.status ?? 'not started';
    if (state !== 'ready') throw new ServiceUnavailableException(REDIS_UNREACHABLE(this.config!.where, describe(state, this.lastRedisError)));
  }

  private asUnreachable(error: unknown): Error {
    if (!(error instanceof Error)) return new Error(String(error));
    if (this.redis?.status === 'ready' || error instanceof HttpException) return error;
    return new ServiceUnavailableException(REDIS_UNREACHABLE(this.config!.where, describe(this.redis?.status ?? 'closed', error.message)));
  }

  /** Redis went away: no answer of a running piece can reach this process now. */
  private lost(): void {
    for (const piece of this.pieces.values()) piece.reject(new ServiceUnavailableException(REDIS_LOST(this.config!.where)));
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
