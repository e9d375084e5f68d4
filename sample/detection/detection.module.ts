import { Module } from '@nestjs/common';

import { CheckpointStore } from '../checkpoint.store.js';
import { SAMPLE_POOL } from '../sample.pool.js';
import { DetectionModel } from './detection.model.js';
import { ScenesDataset } from './scenes.dataset.js';

/** The detection sample's model and data (`ALECTIO_SAMPLE=detection`); nothing here knows about HTTP. */
@Module({
  providers: [
    ScenesDataset,
    CheckpointStore,
    DetectionModel,
    {
      provide: SAMPLE_POOL,
      useFactory: (scenes: ScenesDataset) => ({ size: scenes.pool.size, task: 'detection' }),
      inject: [ScenesDataset],
    },
  ],
  exports: [SAMPLE_POOL],
})
export class DetectionModule {}
