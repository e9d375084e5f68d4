import { InternalServerErrorException, ServiceUnavailableException } from '@nestjs/common';

import { NO_WORKERS_LEFT, PIECE_ABANDONED, PIECE_FAILED, REDIS_DATA_LOST, REDIS_LOST } from '../alectio.messages.js';
import type { AlectioMetrics } from '../metrics/alectio.metrics.js';
import { delay } from '../util/timing.js';
import type { PieceProgress } from './piece.model.js';
import { type PoolLink, type PoolLinkListener, WATCH_INTERVAL_MS } from './pool.link.js';

const STALLED = 'stalled more than allowable limit';
/** Reads of a job's piece's answer before a Redis that refuses it fails it (one a second). */
const PATIENT_READS = 60;

/** One piece of a request on its way through the queue: a chunk of an infer, or a whole train or test. */
export interface Piece {
  id: string;
  /** How the piece is named in an error: "infer chunk 2 of 50 (positions 10000 to 19999)". */
  label: string;
  attempts: number;
  progress: number;
  /** In the queue (added): from then on, its BullMQ job exists until it ends. */
  queued: boolean;
  settled: boolean;
  /** The piece's answer, `{...}` JSON, once a worker has delivered it. */
  done: Promise<string>;
  resolve(json: string): void;
  /** Ends the wait with `error`; `outcome` is what the metrics count it as (`null`: not counted, it never was in the queue). */
  reject(error: Error, outcome?: PieceOutcome | null): void;
}

type TrackedPiece = Piece & {
  report(message?: string): void;
  kind: string;
  starts: number;
  /** A job's: it waits out a Redis outage (its answer stays in Redis), where a call's client would not. */
  patient: boolean;
};

/** How a piece ended, as the metrics count it. */
export type PieceOutcome = 'completed' | 'failed' | 'cancelled' | 'lost';

/**
 * The pieces this API process waits for, and what ends each: the worker's answer, its failure,
 * a cancel, or the pool itself going away (Redis lost, restarted empty, or no worker left).
 * Every API process hears every event; only the one waiting for a piece takes its answer.
 */
export class PiecesInFlight implements PoolLinkListener {
  private readonly pieces = new Map<string, TrackedPiece>();
  /** Pieces given up while Redis was away: stopped on the workers once it is back. */
  private readonly orphans = new Set<string>();
  private noWorkersSince?: number;

  constructor(
    private readonly link: PoolLink,
    private readonly metrics: AlectioMetrics | null = null,
  ) {}

  /** Starts waiting for a piece of a `kind` call; `report` is called as its progress changes. */
  track(id: string, kind: string, label: string, attempts: number, report: (message?: string) => void, patient = false): Piece {
    let resolve!: (json: string) => void;
    let reject!: (error: Error) => void;
    const done = new Promise<string>((ok, fail) => ((resolve = ok), (reject = fail)));
    done.catch(() => undefined); // rejections are read through Promise.all; the rest are expected
    const piece: TrackedPiece = {
      id,
      kind,
      patient,
      starts: 0,
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
        this.metrics?.piece(kind, 'completed');
        resolve(json);
      },
      reject: (error, outcome = 'failed') => {
        if (piece.settled) return;
        piece.settled = true;
        if (outcome) this.metrics?.piece(kind, outcome);
        reject(error);
      },
    };
    this.pieces.set(id, piece);
    return piece;
  }

  /** Stops waiting: the request has ended; a piece never queued is settled here. */
  forget(piece: Piece): void {
    this.pieces.delete(piece.id);
    piece.reject(new Error('the request has ended'), piece.queued ? 'cancelled' : null);
  }

  async completed(pieceId: string, attempt = 1): Promise<void> {
    const piece = this.pieces.get(pieceId);
    if (!piece || piece.settled) return; // another API process's, or already ended (an answer nobody collects expires)
    try {
      const json = await this.link.readResult(pieceId);
      if (json === null) throw new InternalServerErrorException(`${piece.label}: the worker's answer was not found in Redis`);
      piece.resolve(json);
    } catch (error) {
      // A job's piece: its answer waits in Redis; read again, every second while Redis is away,
      // and a few times if it refuses.
      const away = (): boolean => this.link.redis.status !== 'ready';
      if (piece.patient && !(error instanceof InternalServerErrorException) && (attempt < PATIENT_READS || away())) {
        setTimeout(() => void this.completed(pieceId, attempt + 1), WATCH_INTERVAL_MS).unref();
        return;
      }
      piece.reject(this.link.asServiceError(error));
    }
  }

  failed(pieceId: string, reason: string): void {
    const piece = this.pieces.get(pieceId);
    if (!piece) return;
    const message = reason.includes(STALLED)
      ? PIECE_ABANDONED(piece.label, this.link.config.attempts + 1)
      : PIECE_FAILED(piece.label, piece.attempts, reason);
    piece.reject(new InternalServerErrorException(message));
  }

  removed(pieceId: string): void {
    this.pieces.get(pieceId)?.reject(new Error('cancelled before a worker took it'), 'cancelled');
  }

  /** A worker started a piece: a second start is a retry (after a failed attempt, or one whose worker died). */
  active(pieceId: string): void {
    const piece = this.pieces.get(pieceId);
    if (piece && piece.starts++ > 0) this.metrics?.pieceRetried(piece.kind);
  }

  progress(pieceId: string, data: unknown): void {
    const piece = this.pieces.get(pieceId);
    const { fraction, message } = (data ?? {}) as Partial<PieceProgress>;
    if (piece && !piece.settled && typeof fraction === 'number') {
      piece.progress = fraction;
      piece.report(typeof message === 'string' ? message : undefined);
    }
  }

  /**
   * No answer of a waiting piece can reach this process now: 503, and the work is stopped once
   * Redis is back. Not a job's pieces: their answers wait in Redis, and the job waits for it.
   */
  lost(): void {
    for (const piece of this.pieces.values()) {
      if (piece.settled || piece.patient) continue;
      this.orphans.add(piece.id);
      piece.reject(new ServiceUnavailableException(REDIS_LOST(this.link.config.where)), 'lost');
    }
  }

  async reconnected(): Promise<void> {
    // Work whose request was answered 503 must not go on, holding a worker or the training claim.
    const orphans = [...this.orphans];
    this.orphans.clear();
    if (orphans.length > 0) await this.link.cancel(orphans, 'its request was answered 503 while Redis was away');
    // The events missed while away are read again from Redis's stream, if Redis kept it; a
    // Redis that restarted empty lost the waiting pieces themselves, which no event will end.
    await delay(WATCH_INTERVAL_MS);
    await this.settleVanished().catch(() => undefined);
  }

  /** Requests waiting on a pool whose workers are all gone are answered 503 once it has had time to get one back. */
  async tick(): Promise<void> {
    if (this.pieces.size === 0 || (await this.link.workerCount()) > 0) {
      this.noWorkersSince = undefined;
      return;
    }
    this.noWorkersSince ??= Date.now();
    const waited = Date.now() - this.noWorkersSince;
    // A worker restarting takes a moment; a dead one's piece waits lockDurationMs anyway.
    if (waited < Math.max(10_000, 2 * this.link.config.lockDurationMs)) return;
    const { queue, where } = this.link.config;
    const pending = this.unsettled();
    for (const piece of pending)
      piece.reject(new ServiceUnavailableException(NO_WORKERS_LEFT(queue, where, Math.round(waited / 1000))), 'lost');
    await this.link.cancel(
      pending.map((piece) => piece.id),
      'no worker was left to run it',
    );
  }

  private unsettled(): Piece[] {
    return [...this.pieces.values()].filter((piece) => !piece.settled);
  }

  private async settleVanished(): Promise<void> {
    const lost: string[] = [];
    for (const piece of [...this.pieces.values()]) {
      if (piece.settled || !piece.queued) continue;
      const found = await this.link.pieceState(piece.id);
      if (found.state === 'queued') continue;
      // Failed for good (its event missed), finished (its answer under its key), or lost.
      if (found.state === 'failed') {
        this.failed(piece.id, found.reason);
      } else if (found.state === 'answered') {
        await this.completed(piece.id);
      } else {
        piece.reject(new ServiceUnavailableException(REDIS_DATA_LOST(this.link.config.where, piece.label)), 'lost');
        lost.push(piece.id);
      }
    }
    // A worker may still be running a lost piece: it must stop before the platform's retry runs.
    await this.link.cancel(lost, 'its request was answered 503: Redis lost it');
  }
}
