import { randomUUID } from 'node:crypto';

import { ServiceUnavailableException } from '@nestjs/common';

import type { HandlerKind } from '../alectio.constants.js';
import { NO_WORKERS } from '../alectio.messages.js';
import { HandedOver, type WorkExecutor, type WorkOptions } from '../execution/work-executor.js';
import type { AlectioContext } from '../interfaces/alectio-context.interface.js';
import { mergeInferChunks } from '../protocol/answer.js';
import type { PayloadOf } from '../protocol/payload/payload.validator.js';
import type { AlectioTracer } from '../tracing/alectio.tracer.js';
import type { PieceData } from './piece.model.js';
import type { Piece, PiecesInFlight } from './pieces-in-flight.js';
import type { PoolLink } from './pool.link.js';
import type { PoolTrainingSlot } from './pool-training.slot.js';

/** Failed pieces stay in BullMQ this long (and at most so many), for a process taking a job over. */
const FAILED_KEPT_S = 3600;
const FAILED_KEPT_COUNT = 1000;

/**
 * Runs the work on the pool: each request goes to the BullMQ queue as pieces (`/infer` in
 * chunks), the workers run them, and the answers are merged here in request order, so the
 * bytes are the same as in-process. An abort of the context cancels the pieces on the workers.
 */
export class PoolExecutor implements WorkExecutor {
  constructor(
    private readonly link: PoolLink,
    private readonly pieces: PiecesInFlight,
    private readonly slot: PoolTrainingSlot,
    private readonly tracer: AlectioTracer | null = null,
  ) {}

  /** A job's pieces, by the job's id: their answers stay in Redis until the job's end is recorded. */
  private readonly kept = new Map<string, string[]>();

  async execute<K extends HandlerKind>(
    kind: K,
    payload: PayloadOf<K>,
    context: AlectioContext,
    options: WorkOptions = {},
  ): Promise<string[]> {
    const { config } = this.link;
    // A job's pieces are named after it, so that a process taking the job over finds them.
    const call = options.id ?? randomUUID();
    const trainingClaim = kind === 'train' ? (options.trainingClaim ?? this.slot.trainingClaim) : undefined;
    const data: PieceData[] = kind === 'infer' ? this.chunks(payload as PayloadOf<'infer'>) : [{ kind, payload, trainingClaim }];
    // The call's (or job's) span goes with each piece: the worker's spans are its children.
    const trace = this.tracer?.carrier();
    if (trace) for (const piece of data) piece.trace = trace;
    // A training is not tried again when its method throws (that is rarely a passing fault, and
    // hours long); a worker that dies still hands it on, through BullMQ's stalled-job check.
    const attempts = kind === 'train' ? 1 : config.attempts;
    const report = (message?: string): void =>
      context.progress(pieces.reduce((sum, piece) => sum + piece.progress, 0) / pieces.length, message);
    // A job's pieces outlast a Redis outage: the job waits for Redis rather than fail on it.
    const patient = options.id !== undefined;
    const pieces = data.map((_, i) =>
      this.pieces.track(`${call}-${i}`, kind, this.label(kind, data, i), attempts, report, patient),
    );
    const ids = pieces.map((piece) => piece.id);
    // Listening before any await: an abort during one must still reach the pieces.
    const unsettled = (): string[] => pieces.filter((piece) => !piece.settled).map((piece) => piece.id);
    const handedOver = (): boolean => context.signal.reason instanceof HandedOver;
    const onAbort = (): void => {
      // This process stops waiting, and another takes the job over: its pieces go on.
      if (handedOver()) {
        for (const piece of pieces) piece.reject(context.signal.reason as Error, null);
        return;
      }
      void this.link.cancel(unsettled(), String((context.signal.reason as Error)?.message ?? 'cancelled'));
    };
    context.signal.addEventListener('abort', onAbort, { once: true });
    // A job taken over and cancelled at once: the pieces its first process queued are stopped,
    // and waited for (a training's claim is freed only once its worker has let go of it).
    const cancelledTakeover = options.resume === true && context.signal.aborted;
    if (cancelledTakeover) onAbort();
    try {
      if (!cancelledTakeover) context.signal.throwIfAborted();
      this.link.assertReachable();
      if ((await this.link.workerCount()) === 0) throw new ServiceUnavailableException(NO_WORKERS(config.queue, config.where));
      if (!cancelledTakeover) context.signal.throwIfAborted();
      const answers = Promise.all(pieces.map((piece) => piece.done));
      answers.catch(() => undefined); // awaited below once queued; a failed addBulk must not leave it unhandled
      let toQueue = options.resume ? await this.stillToQueue(pieces) : pieces.map((_, i) => i);
      if (context.signal.aborted && options.resume) {
        // Cancelled meanwhile: what was never queued is not queued now.
        for (const i of toQueue) pieces[i].reject(context.signal.reason as Error, null);
        toQueue = [];
      }
      if (toQueue.length > 0)
        await this.link.queue
          .addBulk(
            toQueue.map((i) => ({
              name: kind,
              data: data[i],
              opts: {
                jobId: pieces[i].id,
                attempts,
                backoff: { type: 'exponential', delay: 1000 },
                removeOnComplete: true,
                // Kept a while, so that a process taking a job over can tell a piece that failed.
                removeOnFail: { age: FAILED_KEPT_S, count: FAILED_KEPT_COUNT },
              },
            })),
          )
          .catch(async (error: unknown) => {
            // A command that timed out may still have run: the pieces must not run unwanted.
            await this.link.cancel(unsettled(), 'the request could not be queued');
            throw this.link.asServiceError(error);
          });
      for (const piece of pieces) piece.queued = true;
      const json = await answers.catch(async (error: Error) => {
        // One piece failed for good: the others are no use now (unless handed over: they go on).
        if (!handedOver()) await this.link.cancel(unsettled(), 'another piece of the request failed');
        throw error;
      });
      // A job's answers wait in Redis until its end is recorded (settled()), for a process that
      // takes the job over if this one dies first; a call's go now.
      if (options.id) this.kept.set(options.id, ids);
      return kind === 'infer' ? mergeInferChunks(json) : json;
    } finally {
      context.signal.removeEventListener('abort', onAbort);
      for (const piece of pieces) this.pieces.forget(piece);
      if (!this.kept.has(call) && !handedOver()) void this.link.dropResults(ids);
    }
  }

  abandon<K extends HandlerKind>(id: string, kind: K, payload: PayloadOf<K>): void {
    const count = kind === 'infer' ? this.chunks(payload as PayloadOf<'infer'>).length : 1;
    const ids = Array.from({ length: count }, (_, i) => `${id}-${i}`);
    void this.link.cancel(ids, 'its job was given up: its work was lost').then(() => this.link.dropResults(ids));
  }

  settled(id: string): void {
    const ids = this.kept.get(id);
    this.kept.delete(id);
    if (ids) void this.link.dropResults(ids);
  }

  /**
   * A job taken over: its pieces answered already are read, those failed for good fail it, those
   * in the queue are waited for; the positions of those never queued are returned, to be queued.
   */
  private async stillToQueue(pieces: Piece[]): Promise<number[]> {
    const absent: number[] = [];
    await Promise.all(
      pieces.map(async (piece, i) => {
        const found = await this.link.pieceState(piece.id);
        if (found.state === 'absent') return void absent.push(i);
        piece.queued = true;
        if (found.state === 'answered') await this.pieces.completed(piece.id);
        else if (found.state === 'failed') this.pieces.failed(piece.id, found.reason);
      }),
    );
    return absent.sort((a, b) => a - b);
  }

  private chunks(payload: PayloadOf<'infer'>): PieceData[] {
    const size = this.link.config.inferChunkSize;
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
    const size = this.link.config.inferChunkSize;
    const length = (data[i].payload as PayloadOf<'infer'>).unlabeled.length;
    return `infer chunk ${i + 1} of ${data.length} (positions ${i * size} to ${i * size + Math.max(0, length - 1)})`;
  }
}
