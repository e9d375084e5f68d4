export { DEFAULT_BODY_LIMIT, DEFAULT_CHECKPOINT_NAME } from './alectio.constants.js';
export { AlectioConfigurationError, AlectioDiscoveryError, ResultContractError } from './alectio.errors.js';
export { AlectioModule } from './alectio.module.js';
export { MODULE_OPTIONS_TOKEN as ALECTIO_MODULE_OPTIONS } from './alectio.module-definition.js';
/** The options of `AlectioModule.forRootAsync()`: `{ imports, inject, useFactory }`, or `useClass`/`useExisting`. */
export type { AlectioModuleAsyncOptions } from './alectio.module-definition.js';
export { AlectioTest, Infer, Test, Train } from './decorators/handler.decorators.js';
export type { AlectioContext } from './interfaces/alectio-context.interface.js';
export type { JobRecord, JobState } from './interfaces/alectio-job.interface.js';
export type {
  AlectioCallbackOptions,
  AlectioDistributedOptions,
  AlectioMetricsOptions,
  AlectioMetricsRegistry,
  AlectioModuleOptions,
  AlectioTask,
} from './interfaces/alectio-options.interface.js';
/** `ReadinessService`: the checks of `GET /health/ready`, for an app's own health checks; what it answers. */
export type { Readiness, ReadinessCheck } from './health/readiness.service.js';
export { ReadinessService } from './health/readiness.service.js';
export type { InferResult, Keyed, Scores, TestResult } from './interfaces/alectio-results.interface.js';
export { SIGNATURE_HEADER, signBody, verifySignature } from './jobs/callback.signature.js';
export { InferPayload } from './protocol/payload/infer.dto.js';
export { TestPayload } from './protocol/payload/test.dto.js';
export { TrainPayload } from './protocol/payload/train.dto.js';
