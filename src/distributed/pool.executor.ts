import { randomUUID } from 'node:crypto';

import { ServiceUnavailableException } from '@nestjs/common';

import type { HandlerKind } from '../alectio.constants.js';
import { NO_WORKERS } from '../alectio.messages.js';
import type { WorkExecutor } from '../execution/work-executor.js';
import type { AlectioContext } from '../interfaces/alectio-context.interface.js';
import { mergeInferChunks } from '../protocol/answer.js';
import type { PayloadOf } from '../protocol/payload/payload.validator.js';
import type { AlectioTracer } from '../tracing/alectio.tracer.js';
import type { PieceData } from './piece.model.js';
import type { PiecesInFlight } from './pieces-in-flight.js';
import type { PoolLink } from './pool.link.js';
import type { PoolTrainingSlot } from './pool-training.slot.js';

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

  async execute<K extends HandlerKind>(kind: K, payload: PayloadOf<K>, context: AlectioContext): Promise<string[]> {
    const { config } = this.link;
    const call = randomUUID();
    const data: PieceData[] =
      kind === 'infer'
        ? this.chunks(payload as PayloadOf<'infer'>)
        : [{ kind, payload, trainingClaim: kind === 'train' ? this.slot.trainingClaim : undefined }];
    // The call's (or job's) span goes with each piece: the worker's spans are its children.
    const trace = this.tracer?.carrier();
    if (trace) for (const piece of data) piece.trace = trace;
    // A training is not tried again when its method throws (that is rarely a passing fault, and
    // hours long); a worker that dies still hands it on, through BullMQ's stalled-job check.
    const attempts = kind === 'train' ? 1 : config.attempts;
    const report = (message?: string): void =>
      context.progress(pieces.reduce((sum, piece) => sum + piece.progress, 0) / pieces.length, message);
    const pieces = data.map((_, i) => this.pieces.track(`${call}-${i}`, kind, this.label(kind, data, i), attempts, report));
    // Listening before any await: an abort during one must still reach the pieces.
    const unsettled = (): string[] => pieces.filter((piece) => !piece.settled).map((piece) => piece.id);
    const onAbort = (): void =>
      void this.link.cancel(unsettled(), String((context.signal.reason as Error)?.message ?? 'cancelled'));
    context.signal.addEventListener('abort', onAbort, { once: true });
    try {
      context.signal.throwIfAborted();
      this.link.assertReachable();
      if ((await this.link.workerCount()) === 0) throw new ServiceUnavailableException(NO_WORKERS(config.queue, config.where));
      context.signal.throwIfAborted();
      const answers = Promise.all(pieces.map((piece) => piece.done));
      answers.catch(() => undefined); // awaited below once queued; a failed addBulk must not leave it unhandled
      await this.link.queue
        .addBulk(
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
        )
        .catch(async (error: unknown) => {
          // A command that timed out may still have run: the pieces must not run unwanted.
          await this.link.cancel(unsettled(), 'the request could not be queued');
          throw this.link.asServiceError(error);
        });
      for (const piece of pieces) piece.queued = true;
      const json = await answers.catch(async (error: Error) => {
        // One piece failed for good: the others are no use now.
        await this.link.cancel(unsettled(), 'another piece of the request failed');
        throw error;
      });
      return kind === 'infer' ? mergeInferChunks(json) : json;
    } finally {
      context.signal.removeEventListener('abort', onAbort);
      for (const piece of pieces) this.pieces.forget(piece);
    }
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
