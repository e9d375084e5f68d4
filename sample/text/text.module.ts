import { Module } from '@nestjs/common';

import { CheckpointStore } from '../checkpoint.store.js';
import { SAMPLE_POOL } from '../sample.pool.js';
import { MailCorpus } from './mail.corpus.js';
import { TextModel } from './text.model.js';

/** The text sample's model and data (`ALECTIO_SAMPLE=text`); nothing here knows about HTTP. */
@Module({
  providers: [
    MailCorpus,
    CheckpointStore,
    TextModel,
    {
      provide: SAMPLE_POOL,
      useFactory: (mail: MailCorpus) => ({ size: mail.pool.size, task: 'classification' }),
      inject: [MailCorpus],
    },
  ],
  exports: [SAMPLE_POOL],
})
export class TextModule {}
