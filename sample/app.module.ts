import { DynamicModule, Module } from '@nestjs/common';
import { AlectioModule } from 'nestjs-alectio';

import { DetectionModule } from './detection/detection.module.js';
import { DigitsModule } from './digits.module.js';
import { SampleConfig } from './sample.config.js';
import { SAMPLE_POOL, type SamplePool } from './sample.pool.js';
import { SampleConfigModule } from './sample-config.module.js';
import { TextModule } from './text/text.module.js';

const SAMPLES = { digits: DigitsModule, detection: DetectionModule, text: TextModule };

/** The sample that `ALECTIO_SAMPLE` names (`digits` by default, `detection` or `text`), served by nestjs-alectio. */
@Module({})
export class AppModule {
  static forSample(config = new SampleConfig()): DynamicModule {
    const sample = SAMPLES[config.sample];
    return {
      module: AppModule,
      imports: [
        SampleConfigModule.register(config),
        sample,
        AlectioModule.forRootAsync({
          imports: [sample],
          inject: [SAMPLE_POOL],
          useFactory: (pool: SamplePool) => ({
            token: config.token,
            poolSize: pool.size,
            task: pool.task,
            // In distributed mode the jobs are kept in the pool's Redis, shared by every API process.
            jobsDatabase: config.redisUrl ? undefined : config.jobsDatabase,
            shutdownGraceMs: config.shutdownGraceMs,
            metrics: config.metrics,
            callback: config.callback,
            distributed: config.redisUrl
              ? { redis: config.redisUrl, role: config.role, inferChunkSize: config.inferChunkSize }
              : undefined,
          }),
        }),
      ],
    };
  }
}
