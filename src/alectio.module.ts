import { DynamicModule, Module } from '@nestjs/common';

import { ASYNC_OPTIONS_TYPE, ConfigurableModuleClass, OPTIONS_TYPE } from './alectio.module-definition.js';
import { CallService } from './calls/call.service.js';
import { AlectioCoreModule } from './discovery/alectio-core.module.js';
import { LocalExecutor } from './execution/local.executor.js';
import { RunSupervisor } from './execution/run.supervisor.js';
import { ReadinessService } from './health/readiness.service.js';
import { createAlectioController } from './http/alectio.controller.js';
import { AlectioAuthGuard } from './http/alectio-auth.guard.js';
import { AlectioExceptionFilter } from './http/alectio-exception.filter.js';
import { CallLogger } from './http/call.logger.js';
import { RequestGate } from './http/gate/request-gate.js';
import { createJobsController } from './http/jobs.controller.js';
import { routePathProvider } from './http/route-path.js';
import { TokenVerifier } from './http/token.verifier.js';
import { CallbackNotifier } from './jobs/callback.notifier.js';
import { JobService } from './jobs/job.service.js';
import { openApiProvider } from './openapi/openapi.provider.js';
import { PayloadValidator } from './protocol/payload/payload.validator.js';
import { roleProviders } from './roles/role.providers.js';

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
    RequestGate,
    AlectioAuthGuard,
    AlectioExceptionFilter,
    LocalExecutor,
    RunSupervisor,
    CallService,
    JobService,
    CallbackNotifier,
    ReadinessService,
    ...roleProviders,
  ],
  // For the app's own health checks (the Terminus indicator of `nestjs-alectio/terminus`).
  exports: [ReadinessService],
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
  const routes = { protocol: createAlectioController(), jobs: createJobsController() };
  const controllers = Object.values(routes);
  return {
    ...module,
    controllers: [...(module.controllers ?? []), ...controllers],
    providers: [...(module.providers ?? []), routePathProvider(controllers), openApiProvider(routes)],
  };
}
