import { ConfigurableModuleBuilder } from '@nestjs/common';

import type { AlectioModuleOptions } from './interfaces/alectio-options.interface.js';

export const { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN, OPTIONS_TYPE, ASYNC_OPTIONS_TYPE } =
  new ConfigurableModuleBuilder<AlectioModuleOptions>({ moduleName: 'Alectio' }).setClassMethodName('forRoot').build();

/** The options of `AlectioModule.forRootAsync()`. */
export type AlectioModuleAsyncOptions = typeof ASYNC_OPTIONS_TYPE;
