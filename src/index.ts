export { DEFAULT_BODY_LIMIT, DEFAULT_CHECKPOINT_NAME } from './alectio.constants.js';
export { AlectioConfigurationError, AlectioDiscoveryError, ResultContractError } from './alectio.errors.js';
export { AlectioModule } from './alectio.module.js';
export { MODULE_OPTIONS_TOKEN as ALECTIO_MODULE_OPTIONS } from './alectio.module-definition.js';
export { AlectioTest, Infer, Test, Train } from './decorators/handler.decorators.js';
export { InferPayload } from './dto/infer.dto.js';
export { TestPayload } from './dto/test.dto.js';
export { TrainPayload } from './dto/train.dto.js';
export type { AlectioContext } from './interfaces/alectio-context.interface.js';
export type {
  AlectioCallbackOptions,
  AlectioDistributedOptions,
  AlectioModuleOptions,
} from './interfaces/alectio-options.interface.js';
export type { InferResult, Keyed, Scores, TestResult } from './interfaces/alectio-results.interface.js';
export { SIGNATURE_HEADER, signBody } from './jobs/callback.notifier.js';
