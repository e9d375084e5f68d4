import { Provider, Type } from '@nestjs/common';
import { PATH_METADATA } from '@nestjs/common/constants.js';

import { MODULE_OPTIONS_TOKEN } from './alectio.module-definition.js';
import { assertValidOptions } from './alectio.options.js';
import type { AlectioModuleOptions } from './interfaces/alectio-options.interface.js';
import { InProcessJobRunner } from './jobs/in-process.job-runner.js';
import { JOB_RUNNER } from './jobs/job-runner.interface.js';
import { JOB_STORE, type JobStore } from './jobs/job-store.interface.js';
import { MemoryJobStore } from './jobs/memory.job-store.js';
import { SqliteJobStore } from './jobs/sqlite.job-store.js';

const ALECTIO_ROUTES = Symbol('alectio:routes');

/**
 * Checks the options and sets the controller's path from them. Providers are built before
 * `app.init()` registers routes, so this works for `forRootAsync()` too.
 */
export function routePathProvider(controllers: Type[]): Provider {
  return {
    provide: ALECTIO_ROUTES,
    useFactory: (options: AlectioModuleOptions) => {
      assertValidOptions(options);
      for (const controller of controllers) Reflect.defineMetadata(PATH_METADATA, options.prefix ?? '/', controller);
      return options.prefix ?? '/';
    },
    inject: [MODULE_OPTIONS_TOKEN],
  };
}

/**
 * The job store: SQLite when `jobsDatabase` is set, memory otherwise. A worker of a pool
 * records no jobs (its API process does), and must not mark the API's jobs interrupted.
 */
export const jobStoreProvider: Provider = {
  provide: JOB_STORE,
  useFactory: (options: AlectioModuleOptions): Promise<JobStore> | JobStore =>
    options.jobsDatabase && options.distributed?.role !== 'worker'
      ? SqliteJobStore.open(options.jobsDatabase)
      : new MemoryJobStore(),
  inject: [MODULE_OPTIONS_TOKEN],
};

/**
 * The runner: in this process. In distributed mode too: what it runs is then the hand-over to
 * the pool (WorkDispatcher), so signal, progress and shutdown work the same way.
 */
export const jobRunnerProvider: Provider = { provide: JOB_RUNNER, useClass: InProcessJobRunner };
