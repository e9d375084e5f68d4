import { Provider } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';

import { MODULE_OPTIONS_TOKEN } from '../alectio.module-definition.js';
import { PoolApi } from '../distributed/pool.api.js';
import { PoolWorker } from '../distributed/pool.worker.js';
import { LocalExecutor } from '../execution/local.executor.js';
import { LocalTrainingSlot } from '../execution/local-training.slot.js';
import { TRAINING_SLOT } from '../execution/training-slot.js';
import { WORK_EXECUTOR } from '../execution/work-executor.js';
import { RequestGate } from '../http/gate/request-gate.js';
import { JOB_STORE, type JobStore } from '../jobs/job-store.interface.js';
import { MemoryJobStore } from '../jobs/memory.job-store.js';
import { SqliteJobStore } from '../jobs/sqlite.job-store.js';
import { ALECTIO_CONFIG, type ResolvedOptions, resolveOptions } from '../options/resolve-options.js';

/**
 * The choices made from the options, once, as providers: the only place that asks which role
 * this process has (ResolvedOptions.role). Everything downstream depends on the tokens.
 */

/** The API process's side of a pool, or `null` when this process is not one. */
const POOL_API = Symbol('alectio:pool_api');
/** What the role adds on top of the shared services: the HTTP gate, or the pool worker. */
const ROLE = Symbol('alectio:role');

/** The options checked, with every default filled in; a bad option fails start-up here. */
export const configProvider: Provider = { provide: ALECTIO_CONFIG, useFactory: resolveOptions, inject: [MODULE_OPTIONS_TOKEN] };

const poolApiProvider: Provider = {
  provide: POOL_API,
  useFactory: (config: ResolvedOptions, local: LocalTrainingSlot): Promise<PoolApi> | null =>
    config.role === 'api' ? PoolApi.start(config.distributed!, local) : null,
  inject: [ALECTIO_CONFIG, LocalTrainingSlot],
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
 * Where jobs are recorded: SQLite when `jobsDatabase` is set, memory otherwise. A pool's worker
 * records none (its API process does), and must not mark the API's jobs interrupted.
 */
const jobStoreProvider: Provider = {
  provide: JOB_STORE,
  useFactory: (config: ResolvedOptions): Promise<JobStore> | JobStore =>
    config.jobsDatabase && config.role !== 'worker' ? SqliteJobStore.open(config.jobsDatabase) : new MemoryJobStore(),
  inject: [ALECTIO_CONFIG],
};

/**
 * The role's own part, built only for that role: a worker takes pieces from the pool and has no
 * HTTP gate; the HTTP side mounts the gate. Nest runs the lifecycle hooks of the value returned.
 */
const roleProvider: Provider = {
  provide: ROLE,
  useFactory: (config: ResolvedOptions, moduleRef: ModuleRef): Promise<PoolWorker | RequestGate> =>
    config.role === 'worker' ? moduleRef.create(PoolWorker) : moduleRef.create(RequestGate),
  inject: [ALECTIO_CONFIG, ModuleRef],
};

/** Every provider that chooses by role or option. */
export const roleProviders: Provider[] = [
  configProvider,
  poolApiProvider,
  executorProvider,
  trainingSlotProvider,
  jobStoreProvider,
  roleProvider,
];
