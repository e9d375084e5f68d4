import { Module } from '@nestjs/common';

import { CheckpointStore } from './checkpoint.store.js';
import { DigitsDataset } from './digits.dataset.js';
import { DigitsModel } from './digits.model.js';
import { SAMPLE_POOL } from './sample.pool.js';

/** The digits sample's model and data (the default); nothing here knows about HTTP. */
@Module({
  providers: [
    DigitsDataset,
    CheckpointStore,
    DigitsModel,
    {
      provide: SAMPLE_POOL,
      useFactory: (digits: DigitsDataset) => ({ size: digits.pool.size, task: 'classification' }),
      inject: [DigitsDataset],
    },
  ],
  exports: [SAMPLE_POOL, DigitsDataset],
})
export class DigitsModule {}
