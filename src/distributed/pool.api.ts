import { OnApplicationShutdown, OnModuleInit } from '@nestjs/common';

import type { LocalTrainingSlot } from '../execution/local-training.slot.js';
import type { AlectioMetrics } from '../metrics/alectio.metrics.js';
import type { ResolvedDistributedOptions } from '../options/resolve-options.js';
import type { AlectioTracer } from '../tracing/alectio.tracer.js';
import { PiecesInFlight } from './pieces-in-flight.js';
import { loadPoolLibraries, poolConfig, type PoolLibraries } from './pool.config.js';
import { PoolExecutor } from './pool.executor.js';
import { PoolLink } from './pool.link.js';
import { PoolTrainingSlot } from './pool-training.slot.js';
import { RedisJobStore } from './redis.job-store.js';

/**
 * The API process's side of a pool, assembled: the link to Redis, the pieces in flight, and
 * the executor and training slot that the module provides in place of the local ones.
 */
export class PoolApi implements OnModuleInit, OnApplicationShutdown {
  private readonly link: PoolLink;
  private readonly pieces: PiecesInFlight;
  readonly slot: PoolTrainingSlot;
  readonly executor: PoolExecutor;
  /** The jobs of every API process of the pool, in its Redis. */
  readonly jobStore: RedisJobStore;
  private libraries?: PoolLibraries;

  /** Builds the parts; nothing connects before the module's init. */
  constructor(
    options: ResolvedDistributedOptions,
    jobResultBytes: number,
    local: LocalTrainingSlot,
    metrics: AlectioMetrics | null = null,
    tracer: AlectioTracer | null = null,
  ) {
    this.link = new PoolLink(poolConfig(options));
    this.pieces = new PiecesInFlight(this.link, metrics);
    metrics?.watchWorkers(() => this.link.workersNow());
    this.slot = new PoolTrainingSlot(this.link, local);
    this.executor = new PoolExecutor(this.link, this.pieces, this.slot, tracer);
    this.jobStore = new RedisJobStore(this.link, jobResultBytes);
  }

  /** Connects (waiting up to 5 s for Redis, then serving anyway: 503s until it is there). */
  async onModuleInit(): Promise<void> {
    const { pieces, slot } = this;
    this.libraries = await loadPoolLibraries();
    await this.link.open(this.libraries, {
      completed: (id) => void pieces.completed(id),
      failed: (id, reason) => pieces.failed(id, reason),
      removed: (id) => pieces.removed(id),
      progress: (id, data) => pieces.progress(id, data),
      active: (id) => pieces.active(id),
      lost: () => pieces.lost(),
      reconnected: async () => void (await Promise.all([pieces.reconnected(), slot.reconnected()])),
      tick: () => pieces.tick(),
    });
    // Its own connection, which waits for Redis and subscribes again after a reconnection.
    this.jobStore.open(this.libraries.connect(this.link.config, 'api-jobs', false));
  }

  onApplicationShutdown(): Promise<void> {
    return this.link.close();
  }

  /** Readiness in the pool: Redis answers a PING, and some worker takes work from the queue. */
  async probe(): Promise<Record<'redis' | 'workers', { ok: boolean; detail: string }>> {
    const { redis, workers } = await this.link.probe();
    return { redis: { ok: redis.ok, detail: redis.detail }, workers: { ok: workers.ok, detail: workers.detail } };
  }
}
