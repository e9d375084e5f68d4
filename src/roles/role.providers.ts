import { Provider } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';

import { MODULE_OPTIONS_TOKEN } from '../alectio.module-definition.js';
import { PoolApi } from '../distributed/pool.api.js';
import { PoolWorker } from '../distributed/pool.worker.js';
import { LocalExecutor } from '../execution/local.executor.js';
import { LocalTrainingSlot } from '../execution/local-training.slot.js';
import { TRAINING_SLOT } from '../execution/training-slot.js';
import { WORK_EXECUTOR } from '../execution/work-executor.js';
import { JOB_STORE, type JobStore } from '../jobs/job-store.interface.js';
import { MemoryJobStore } from '../jobs/memory.job-store.js';
import { SqliteJobStore } from '../jobs/sqlite.job-store.js';
import { ALECTIO_METRICS, AlectioMetrics } from '../metrics/alectio.metrics.js';
import { ALECTIO_CONFIG, type ResolvedOptions, resolveOptions } from '../options/resolve-options.js';
import { ALECTIO_TRACER, AlectioTracer } from '../tracing/alectio.tracer.js';
import { POOL_API } from './pool-api.token.js';

/**
 * The choices made from the options, once, as providers: the only place that asks which role
 * this process has (ResolvedOptions.role). Everything downstream depends on the tokens.
 */

/** The pool worker, or `null` when this process is not one. */
const POOL_WORKER = Symbol('alectio:pool_worker');

/** The options checked, with every default filled in; a bad option fails start-up here. */
const configProvider: Provider = { provide: ALECTIO_CONFIG, useFactory: resolveOptions, inject: [MODULE_OPTIONS_TOKEN] };

/** Prometheus metrics when the option is on (prom-client loaded then only), or `null`. */
const metricsProvider: Provider = {
  provide: ALECTIO_METRICS,
  useFactory: async (config: ResolvedOptions, slot: LocalTrainingSlot): Promise<AlectioMetrics | null> => {
    if (!config.metrics) return null;
    const metrics = await AlectioMetrics.create(config.metrics, config.role === 'api');
    metrics.watchTraining(() => slot.running);
    return metrics;
  },
  inject: [ALECTIO_CONFIG, LocalTrainingSlot],
};

/** Spans through @opentelemetry/api when it is installed (a no-op without the app's SDK), or `null`. */
const tracerProvider: Provider = {
  provide: ALECTIO_TRACER,
  useFactory: (config: ResolvedOptions) => (config.tracing ? AlectioTracer.create() : null),
  inject: [ALECTIO_CONFIG],
};

const poolApiProvider: Provider = {
  provide: POOL_API,
  useFactory: (
    config: ResolvedOptions,
    local: LocalTrainingSlot,
    metrics: AlectioMetrics | null,
    tracer: AlectioTracer | null,
  ): PoolApi | null =>
    config.role === 'api' ? new PoolApi(config.distributed!, config.jobResultBytes, local, metrics, tracer) : null,
  inject: [ALECTIO_CONFIG, LocalTrainingSlot, ALECTIO_METRICS, ALECTIO_TRACER],
};

/** Where the methods run: in this process, or on the pool's workers. */
const executorProvider: Provider = {
  provide: WORK_EXECUTOR,
  useFactory: (pool: PoolApi | null, local: LocalExecutor) => pool?.executor ?? local,
  inject: [POOL_API, LocalExecutor],
};

/** Who holds the one training slot: this process, or the pool through Redis. */
const trainingSlotProvider: Provider = {
  provide: TRAINING_SLOT,
  useFactory: (pool: PoolApi | null, local: LocalTrainingSlot) => pool?.slot ?? local,
  inject: [POOL_API, LocalTrainingSlot],
};

/**
 * Where jobs are recorded: in a pool, its Redis (shared by every API process); else SQLite when
 * `jobsDatabase` is set, memory otherwise. A pool's worker records none (an empty memory store).
 */
const jobStoreProvider: Provider = {
  provide: JOB_STORE,
  useFactory: (config: ResolvedOptions, pool: PoolApi | null): Promise<JobStore> | JobStore =>
    pool?.jobStore ??
    (config.jobsDatabase
      ? SqliteJobStore.open(config.jobsDatabase, { maxResultBytes: config.jobResultBytes })
      : new MemoryJobStore(config.jobResultBytes)),
  inject: [ALECTIO_CONFIG, POOL_API],
};

/**
 * The worker's own part, built only in a pool's worker: it takes pieces from the queue. Nest runs
 * the lifecycle hooks of the value returned. (The HTTP gate is in every role: it mounts only
 * where there is an HTTP server, and a worker that serves one, say for its probes, keeps it.)
 */
const workerProvider: Provider = {
  provide: POOL_WORKER,
  useFactory: (config: ResolvedOptions, moduleRef: ModuleRef): Promise<PoolWorker> | null =>
    config.role === 'worker' ? moduleRef.create(PoolWorker) : null,
  inject: [ALECTIO_CONFIG, ModuleRef],
};

/** Every provider that chooses by role or option. */
export const roleProviders: Provider[] = [
  configProvider,
  metricsProvider,
  tracerProvider,
  poolApiProvider,
  executorProvider,
  trainingSlotProvider,
  jobStoreProvider,
  workerProvider,
];
