import { Module } from '@nestjs/common';
import { AlectioModule } from 'nestjs-alectio';

import { DigitsDataset } from './digits.dataset.js';
import { DigitsModule } from './digits.module.js';
import { SampleConfig } from './sample.config.js';

@Module({
  imports: [
    DigitsModule,
    AlectioModule.forRootAsync({
      imports: [DigitsModule],
      inject: [SampleConfig, DigitsDataset],
      useFactory: (config: SampleConfig, digits: DigitsDataset) => ({
        token: config.token,
        poolSize: digits.pool.size,
        jobsDatabase: config.jobsDatabase,
        shutdownGraceMs: config.shutdownGraceMs,
        distributed: config.redisUrl
          ? { redis: config.redisUrl, role: config.role, inferChunkSize: config.inferChunkSize }
          : undefined,
      }),
    }),
  ],
})
export class AppModule {}
