// Small hand-written fakes for the unit specs: each records what the class under test asked of
// it, and answers as the test decides.
import { HttpException, type LoggerService, ServiceUnavailableException } from '@nestjs/common';

import type { HandlerKind } from '../../src/alectio.constants.js';
import type { PoolConfig } from '../../src/distributed/pool.config.js';
import type { WorkExecutor } from '../../src/execution/work-executor.js';
import type { AlectioContext } from '../../src/interfaces/alectio-context.interface.js';
import type { StoredJob } from '../../src/jobs/job.model.js';

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((ok, fail) => ((resolve = ok), (reject = fail)));
  return { promise, resolve, reject };
}

/** Lets every pending promise reaction and I/O callback run (setImmediate: after the microtasks). */
export const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Turns the event loop until `condition` holds; fails after `turns` turns instead of hanging. */
export async function until(condition: () => boolean, turns = 200): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (condition()) return;
    await turn();
  }
  throw new Error(`condition not met after ${turns} turns of the event loop`);
}

/** Where a promise stands now, once the reactions already queued have run. */
export async function stateOf(promise: Promise<unknown>): Promise<'pending' | 'fulfilled' | 'rejected'> {
  let state: 'pending' | 'fulfilled' | 'rejected' = 'pending';
  promise.then(
    () => (state = 'fulfilled'),
    () => (state = 'rejected'),
  );
  for (let i = 0; i < 50; i++) await Promise.resolve();
  return state;
}

/** One call the fake executor received, with the handles to end it. */
export interface ExecutorCall extends Deferred<string[]> {
  kind: HandlerKind;
  payload: unknown;
  context: AlectioContext;
}

/**
 * A {@link WorkExecutor} whose every call waits for the test to end it. With `stopsOnAbort`, a
 * call rejects with its signal's reason as soon as the signal is aborted, as a well-behaved
 * method does; without, it never notices.
 */
export class FakeExecutor implements WorkExecutor {
  readonly calls: ExecutorCall[] = [];

  /** Read at each call: a test may mix calls that stop with calls that do not. */
  constructor(public stopsOnAbort = false) {}

  execute<K extends HandlerKind>(kind: K, payload: unknown, context: AlectioContext): Promise<string[]> {
    const call: ExecutorCall = { kind, payload, context, ...deferred<string[]>() };
    if (this.stopsOnAbort) {
      const { signal } = context;
      signal.addEventListener('abort', () => call.reject(signal.reason), { once: true });
    }
    this.calls.push(call);
    return call.promise;
  }
}

/** The part of `JobService` that `CallService` uses. */
export class FakeJobService {
  readonly settled: { unfinished: number; graceMs: number; deadline: number }[] = [];
  handOvers = 0;

  handOver(): void {
    this.handOvers++;
  }

  async settleAtShutdown(unfinished: number, graceMs: number, deadline: number): Promise<void> {
    this.settled.push({ unfinished, graceMs, deadline });
  }
}

/** The part of `CallbackNotifier` that `JobService` uses. */
export class FakeCallbackNotifier {
  readonly notified: FlatJob[] = [];
  readonly settles: number[] = [];
  readonly enabled = true;

  notify(_id: string, read: () => Promise<StoredJob>): void {
    void flat(read()).then((job) => this.notified.push(job));
  }

  async settle(ms: number): Promise<void> {
    this.settles.push(ms);
  }
}

/** A logger that keeps the lines instead of printing them: `Logger.overrideLogger(new RecordingLogger())`. */
export class RecordingLogger implements LoggerService {
  readonly lines: { level: string; message: unknown; context: unknown }[] = [];

  log(message: unknown, ...params: unknown[]): void {
    this.lines.push({ level: 'log', message, context: params.at(-1) });
  }
  error(message: unknown, ...params: unknown[]): void {
    this.lines.push({ level: 'error', message, context: params.at(-1) });
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.lines.push({ level: 'warn', message, context: params.at(-1) });
  }
}

export const POOL_CONFIG: PoolConfig = {
  role: 'api',
  queue: 'alectio',
  inferChunkSize: 10_000,
  attempts: 3,
  lockDurationMs: 30_000,
  concurrency: 1,
  where: 'redis.test:6379',
  redis: 'redis://redis.test:6379',
  keys: {
    training: 'alectio:alectio:training',
    result: (id) => `alectio:alectio:result:${id}`,
    cancelled: (id) => `alectio:alectio:cancelled:${id}`,
    cancelChannel: 'alectio:alectio:cancel',
  },
};

/**
 * The part of `PoolLink` that `PiecesInFlight` uses, over a map of answers and a set of queued
 * pieces instead of Redis. Cast it: `new PiecesInFlight(link as unknown as PoolLink)`.
 */
export class FakePoolLink {
  readonly results = new Map<string, string>();
  readonly queued = new Set<string>();
  readonly taken: string[] = [];
  readonly cancels: { ids: string[]; reason: string }[] = [];
  workers = 1;

  constructor(readonly config: PoolConfig = POOL_CONFIG) {}

  async readResult(id: string): Promise<string | null> {
    this.taken.push(id);
    return this.results.get(id) ?? null;
  }

  async hasResult(id: string): Promise<boolean> {
    return this.results.has(id);
  }

  async getPiece(id: string): Promise<object | undefined> {
    return this.queued.has(id) ? { id } : undefined;
  }

  /** As PoolLink's: in the queue, else answered or never there (this fake keeps no failed pieces). */
  async pieceState(id: string): Promise<{ state: 'answered' | 'queued' | 'absent' }> {
    if (this.queued.has(id)) return { state: 'queued' };
    return { state: this.results.has(id) ? 'answered' : 'absent' };
  }

  async cancel(ids: string[], reason: string): Promise<void> {
    this.cancels.push({ ids: [...ids], reason });
  }

  async workerCount(): Promise<number> {
    return this.workers;
  }

  asServiceError(error: unknown): Error {
    if (error instanceof HttpException) return error;
    return new ServiceUnavailableException(`redis failed: ${(error as Error).message}`);
  }
}

/** A job as the wire shows it: its result's parts joined. */
export type FlatJob = Omit<StoredJob, 'result'> & { result: string | null };

export async function flat(job: Promise<StoredJob | undefined> | StoredJob): Promise<FlatJob> {
  const { result, ...fields } = (await job)!;
  if (!result) return { ...fields, result: null };
  let text = '';
  for await (const part of result.parts()) text += part;
  return { ...fields, result: text };
}
