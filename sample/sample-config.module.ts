import { DynamicModule, Global, Module } from '@nestjs/common';

import { SampleConfig } from './sample.config.js';

/** The sample's settings, read once from the environment, for every module of the app. */
@Global()
@Module({})
export class SampleConfigModule {
  static register(config: SampleConfig): DynamicModule {
    return { module: SampleConfigModule, providers: [{ provide: SampleConfig, useValue: config }], exports: [SampleConfig] };
  }
}
