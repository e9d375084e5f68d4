import { DynamicModule, Module } from '@nestjs/common';

import { createAlectioController } from './alectio.controller.js';
import { AlectioExecutor } from './alectio.executor.js';
import { ASYNC_OPTIONS_TYPE, ConfigurableModuleClass, OPTIONS_TYPE } from './alectio.module-definition.js';
import { jobRunnerProvider, jobStoreProvider, routePathProvider } from './alectio.providers.js';
import { AlectioCoreModule } from './alectio-core.module.js';
import { PoolWorker } from './distributed/pool.worker.js';
import { WorkDispatcher } from './distributed/work.dispatcher.js';
import { AlectioAuthGuard } from './http/alectio-auth.guard.js';
import { AlectioExceptionFilter } from './http/alectio-exception.filter.js';
import { CallLogger } from './http/call.logger.js';
import { RequestGate } from './http/request-gate.js';
import { TokenVerifier } from './http/token.verifier.js';
import { createJobsController } from './jobs/alectio-jobs.controller.js';
import { AlectioJobs } from './jobs/alectio-jobs.service.js';
import { CallbackNotifier } from './jobs/callback.notifier.js';
import { PayloadValidator } from './validation/payload.validator.js';

/**
 * Serves the app's `@Train()`, `@Test()` and `@Infer()` methods to the active-learning
 * platform, as PROTOCOL.md describes: `AlectioModule.forRoot()` in the root module's imports.
 * Imported twice (two prefixes, two tokens), both serve the same methods and share the one
 * training slot.
 */
@Module({
  imports: [AlectioCoreModule],
  providers: [
    PayloadValidator,
    CallLogger,
    TokenVerifier,
    AlectioAuthGuard,
    AlectioExceptionFilter,
    RequestGate,
    AlectioExecutor,
    AlectioJobs,
    CallbackNotifier,
    jobStoreProvider,
    jobRunnerProvider,
    WorkDispatcher,
    PoolWorker,
  ],
})
export class AlectioModule extends ConfigurableModuleClass {
  /** The module with these options; every one is optional (`forRoot()` alone serves the protocol). */
  static override forRoot(options: typeof OPTIONS_TYPE = {}): DynamicModule {
    return withRoutes(super.forRoot(options));
  }

  /** The module with options from a factory: `{ imports, inject, useFactory }`, or `useClass`/`useExisting`. */
  static override forRootAsync(options: typeof ASYNC_OPTIONS_TYPE): DynamicModule {
    return withRoutes(super.forRootAsync(options));
  }
}

function withRoutes(module: DynamicModule): DynamicModule {
  const controllers = [createAlectioController(), createJobsController()];
  return {
    ...module,
    controllers: [...(module.controllers ?? []), ...controllers],
    providers: [...(module.providers ?? []), routePathProvider(controllers)],
  };
}
