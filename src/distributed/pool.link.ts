import { HttpException, Logger, ServiceUnavailableException } from '@nestjs/common';
import type { Job, Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';

import { ALECTIO_LOGGER_CONTEXT } from '../alectio.constants.js';
import { REDIS_FAILED, REDIS_UNREACHABLE } from '../alectio.messages.js';
import { within } from '../util/timing.js';
import type { PieceData } from './piece.model.js';
import { COMMAND_TIMEOUT_MS, type PoolConfig, type PoolLibraries, redisOptions } from './pool.config.js';

/** Start-up waits this long for Redis before it serves anyway (503s until Redis is there). */
const STARTUP_WAIT_MS = 5000;
/** How often the watchdog pings Redis and, while requests wait, the workers are counted. */
export const WATCH_INTERVAL_MS = 1000;
/** A dropped connection that comes back within this is a blip: the waiting requests go on. */
const RECONNECT_GRACE_MS = 3000;
/** How long readiness waits for Redis's PING: a probe's usual timeout. */
const PROBE_TIMEOUT_MS = 1000;
/** A cancel mark outlives any wait of a piece in the queue that matters. */
const CANCEL_MARK_TTL_MS = 3600_000;

/** A readiness check of the pool, with the worker count where it is known. */
export interface PoolCheck {
  ok: boolean;
  detail: string;
  count?: number;
}

/** What the link tells the pieces in flight and the training slot. */
export interface PoolLinkListener {
  completed(pieceId: string): void;
  failed(pieceId: string, reason: string): void;
  removed(pieceId: string): void;
  progress(pieceId: string, data: unknown): void;
  /** A worker started the piece (again, on a retry). */
  active(pieceId: string): void;
  /** No answer of a waiting piece can reach this process now (Redis gone past the grace, or silent). */
  lost(): void;
  /** Redis answers again; the events missed meanwhile are read again, if Redis kept them. */
  reconnected(): Promise<void>;
  /** Once per watch interval, while Redis answers. */
  tick(): Promise<void>;
}

/**
 * An API process's link to the pool: its Redis connection, the queue and its events, and the
 * watchdog that turns a Redis that holds its connections open but answers nothing (a frozen or
 * unreachable host) into a dropped connection. Redis failures become 503s that name Redis.
 */
export class PoolLink {
  private readonly logger = new Logger(ALECTIO_LOGGER_CONTEXT);
  /** Made by open(), in the module's init: building the providers (a test's compile()) connects nothing. */
  private connection?: { redis: Redis; queue: Queue<PieceData>; events: QueueEvents };
  private listener?: PoolLinkListener;
  private watchdog?: NodeJS.Timeout;
  private reconnectTimer?: NodeJS.Timeout;
  private workersSeen?: { count: number; at: number };
  private lastRedisError = '';
  private watching = false;
  private unansweredPings = 0;
  private lastProbe?: { at: number; pending: boolean; result: Promise<Record<'redis' | 'workers', PoolCheck>> };

  constructor(readonly config: PoolConfig) {}

  get redis(): Redis {
    return this.opened().redis;
  }

  get queue(): Queue<PieceData> {
    return this.opened().queue;
  }

  /**
   * Connects, starts the watchdog, and waits a little for Redis, so that the first requests do not
   * meet a connection still opening; past that, the app starts anyway and answers 503 until Redis
   * is there.
   */
  async open({ bullmq, connect }: PoolLibraries, listener: PoolLinkListener): Promise<void> {
    const { config } = this;
    this.listener = listener;
    const redis = connect(config, 'api', true);
    redis.on('error', (error: Error) => this.redisError(error));
    redis.on('close', () => this.dropped());
    redis.on('ready', () => void this.reconnected());
    const queue = new bullmq.Queue<PieceData>(config.queue, { connection: redis });
    queue.on('error', (error: Error) => this.redisError(error));
    const events = new bullmq.QueueEvents(config.queue, { connection: redisOptions(config, 'api-events') });
    events.on('error', (error: Error) => this.redisError(error));
    events.on('completed', ({ jobId }) => this.listener?.completed(jobId));
    events.on('failed', ({ jobId, failedReason }) => this.listener?.failed(jobId, failedReason));
    events.on('removed', ({ jobId }) => this.listener?.removed(jobId));
    events.on('progress', ({ jobId, data }) => this.listener?.progress(jobId, data));
    events.on('active', ({ jobId }) => this.listener?.active(jobId));
    this.connection = { redis, queue, events };
    this.watchdog = setInterval(() => void this.watch(), WATCH_INTERVAL_MS);
    this.watchdog.unref();
    const ready = new Promise<void>((resolve) => (redis.status === 'ready' ? resolve() : redis.once('ready', () => resolve())));
    let connected = false;
    await within(
      STARTUP_WAIT_MS,
      Promise.all([ready, events.waitUntilReady()]).then(() => (connected = true)),
    );
    if (connected) this.logger.log(`distributed mode: work goes to the queue "${config.queue}" on ${config.where}`);
    else this.logger.warn(`distributed mode: Redis at ${config.where} is not reachable yet; requests get 503 until it is`);
  }

  /** Closes the connections; bounded, since BullMQ's close waits for a Redis that may be gone. */
  async close(): Promise<void> {
    clearInterval(this.watchdog);
    clearTimeout(this.reconnectTimer);
    const connection = this.connection;
    if (!connection) return;
    const { redis, queue, events } = connection;
    // BullMQ's close waits for a Redis that may be gone, and its disconnect for one never reached.
    if (!(await within(COMMAND_TIMEOUT_MS, Promise.allSettled([events.close(), queue.close()])))) {
      await within(1000, Promise.allSettled([events.disconnect(), queue.disconnect()]));
    }
    redis.disconnect();
  }

  /** Throws the 503 that names Redis unless the connection is up. */
  assertReachable(): void {
    const state = this.connection?.redis.status ?? 'not opened';
    if (state !== 'ready')
      throw new ServiceUnavailableException(REDIS_UNREACHABLE(this.config.where, withReason(state, this.lastRedisError)));
  }

  /** A Redis failure as the 503 that names it; the protocol's own errors (the 409s) as they are. */
  asServiceError(error: unknown): Error {
    if (error instanceof HttpException) return error;
    const reason = error instanceof Error ? error.message : String(error);
    const state = this.connection?.redis.status ?? 'not opened';
    if (state !== 'ready') {
      return new ServiceUnavailableException(REDIS_UNREACHABLE(this.config.where, withReason(state, reason)));
    }
    return new ServiceUnavailableException(REDIS_FAILED(this.config.where, reason));
  }

  /** The workers taking work from the queue, looked up at most once a watch interval. */
  async workerCount(): Promise<number> {
    const seen = this.workersSeen;
    if (seen && Date.now() - seen.at < WATCH_INTERVAL_MS) return seen.count;
    // CLIENT LIST may be disabled on a managed Redis: then the watchdog cannot tell, and trusts.
    const count = await this.queue.getWorkersCount().catch(() => 1);
    this.workersSeen = { count, at: Date.now() };
    return count;
  }

  /**
   * For readiness: whether Redis answers a PING within a second (a probe's usual timeout), and how
   * many workers are connected to the queue (CLIENT LIST). The probe is anonymous, so however many
   * come at once they share one look at Redis, and a look serves every probe of the next second.
   */
  probe(): Promise<Record<'redis' | 'workers', PoolCheck>> {
    const last = this.lastProbe;
    if (last && (last.pending || Date.now() - last.at < WATCH_INTERVAL_MS)) return last.result;
    const look = { at: Date.now(), pending: true, result: this.look() };
    void look.result.finally(() => ((look.pending = false), (look.at = Date.now())));
    this.lastProbe = look;
    return look.result;
  }

  /** For the metrics: the workers connected to the queue, or undefined where that cannot be told (no Redis, no CLIENT LIST). */
  async workersNow(): Promise<number | undefined> {
    const { workers } = await this.probe();
    return workers.count;
  }

  private async look(): Promise<Record<'redis' | 'workers', PoolCheck>> {
    const redis = this.connection?.redis;
    const state = redis?.status ?? 'not opened';
    let answered = false;
    let refused = '';
    if (state === 'ready') {
      await within(
        PROBE_TIMEOUT_MS,
        redis!.ping().then(
          () => (answered = true),
          (error: Error) => (refused = error.message),
        ),
      );
    }
    if (!answered) {
      const reason =
        state !== 'ready'
          ? withReason(state, this.lastRedisError)
          : refused
            ? `PING failed: ${refused}`
            : `no answer to PING within ${PROBE_TIMEOUT_MS} ms`;
      return {
        redis: { ok: false, detail: `Redis at ${this.config.where} is not reachable (${reason})` },
        workers: { ok: false, detail: 'unknown while Redis is not reachable' },
      };
    }
    let count: number | undefined;
    await within(
      PROBE_TIMEOUT_MS,
      this.queue.getWorkers().then(
        // BullMQ stands in a fake client for a Redis without CLIENT LIST (a managed one).
        (workers) =>
          (count = workers.some((w) => /does not support client list/i.test(String(w.name))) ? undefined : workers.length),
        () => undefined,
      ),
    );
    if (count !== undefined) this.workersSeen = { count, at: Date.now() };
    const queue = this.config.queue;
    return {
      redis: { ok: true, detail: `Redis at ${this.config.where} answers` },
      workers:
        count === undefined
          ? { ok: true, detail: 'unknown: Redis did not list its clients (CLIENT LIST), so the workers cannot be counted' }
          : count > 0
            ? { ok: true, count, detail: `${count} worker${count === 1 ? '' : 's'} connected to the queue "${queue}"` }
            : { ok: false, count, detail: `no worker is connected to the queue "${queue}"` },
    };
  }

  /**
   * A piece's answer (null when it is not there). Read, not taken: a job's answers stay until its
   * end is recorded, for a process that takes it over if this one dies first.
   */
  readResult(pieceId: string): Promise<string | null> {
    return this.redis.get(this.config.keys.result(pieceId));
  }

  /** The answers of pieces whose request has ended (they expire by themselves otherwise). */
  async dropResults(pieceIds: string[]): Promise<void> {
    if (pieceIds.length > 0) await this.redis.del(...pieceIds.map((id) => this.config.keys.result(id))).catch(() => undefined);
  }

  async hasResult(pieceId: string): Promise<boolean> {
    return (await this.redis.exists(this.config.keys.result(pieceId))) > 0;
  }

  getPiece(pieceId: string): Promise<Job<PieceData> | undefined> {
    return this.queue.getJob(pieceId);
  }

  /**
   * Where a piece of a job taken over stands: answered (its answer waits in Redis), failed for
   * good (BullMQ keeps failed pieces an hour), in the queue (waiting or running), or never queued.
   */
  async pieceState(pieceId: string): Promise<{ state: 'answered' | 'queued' | 'absent' } | { state: 'failed'; reason: string }> {
    const job = await this.getPiece(pieceId);
    if (job) {
      const state = await job.getState();
      if (state === 'failed') return { state: 'failed', reason: job.failedReason ?? 'failed' };
      if (state !== 'completed' && state !== 'unknown') return { state: 'queued' };
    }
    // Gone from the queue (or just completed): its answer is written before it completes.
    return { state: (await this.hasResult(pieceId)) ? 'answered' : 'absent' };
  }

  /**
   * Asks the workers to stop pieces: a mark that a worker checks before it starts one, a
   * message that aborts the signal of one running, and the removal of those still waiting.
   */
  async cancel(pieceIds: string[], reason: string): Promise<void> {
    const { keys } = this.config;
    await Promise.allSettled(
      pieceIds.map(async (id) => {
        await this.redis.set(keys.cancelled(id), reason, 'PX', CANCEL_MARK_TTL_MS);
        await this.redis.publish(keys.cancelChannel, id);
        await this.queue.remove(id);
      }),
    );
  }

  /** Once a second; never two checks at once. */
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
    const redis = this.redis;
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
      this.listener?.lost();
      redis.disconnect(true);
      return;
    }
    if (answered) await this.listener?.tick();
  }

  /** The connection dropped: a blip if it is back within the grace, else the waiting requests get 503. */
  private dropped(): void {
    if (this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.connection?.redis.status !== 'ready') this.listener?.lost();
    }, RECONNECT_GRACE_MS);
    this.reconnectTimer.unref();
  }

  private async reconnected(): Promise<void> {
    this.lastRedisError = '';
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    await this.listener?.reconnected();
  }

  private opened(): NonNullable<PoolLink['connection']> {
    if (!this.connection) throw new ServiceUnavailableException(REDIS_UNREACHABLE(this.config.where, 'not opened yet'));
    return this.connection;
  }

  private redisError(error: Error): void {
    // ioredis repeats the same error on every reconnection attempt: log each kind once.
    if (error.message === this.lastRedisError) return;
    this.lastRedisError = error.message;
    this.logger.error(`Redis at ${this.config.where}: ${error.message}`);
  }
}

/** The connection's state, with the last error seen on it. */
function withReason(state: string, lastError: string): string {
  return lastError ? `${state}: ${lastError}` : state;
}
