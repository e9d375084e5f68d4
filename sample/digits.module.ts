import { Module } from '@nestjs/common';

import { CheckpointStore } from './checkpoint.store.js';
import { DigitsDataset } from './digits.dataset.js';
import { DigitsModel } from './digits.model.js';
import { SampleConfig } from './sample.config.js';

/** The customer's own model, data and settings; nothing here knows about HTTP. */
@Module({
  providers: [{ provide: SampleConfig, useFactory: () => new SampleConfig() }, DigitsDataset, CheckpointStore, DigitsModel],
  exports: [SampleConfig, DigitsDataset],
})
export class DigitsModule {}
