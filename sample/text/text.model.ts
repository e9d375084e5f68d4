import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

import { Injectable, Logger } from '@nestjs/common';
import type { AlectioContext, InferResult, TestResult } from 'nestjs-alectio';
import { Infer, InferPayload, Test, TestPayload, Train, TrainPayload } from 'nestjs-alectio';

import { CheckpointStore } from '../checkpoint.store.js';
import { MailCorpus } from './mail.corpus.js';
import { DOCS_PER_TURN, TextClassifier } from './text-classifier.js';

const FORMAT = 'text-classifier/1';

/** The text sample's side: the same three methods, for a classifier of mail (ham, hard ham, spam). */
@Injectable()
export class TextModel {
  private readonly logger = new Logger(TextModel.name);

  constructor(
    private readonly mail: MailCorpus,
    private readonly checkpoints: CheckpointStore,
  ) {}

  @Train()
  async train({ labeled, resume_from, ckpt_file }: TrainPayload, { signal, progress }: AlectioContext): Promise<void> {
    const classifier = new TextClassifier(resume_from ? await this.checkpoints.load(resume_from, FORMAT) : undefined);
    await classifier.fit(this.mail.pool, labeled, {
      signal,
      onEpoch: (epoch, epochs) => progress(epoch / epochs, `epoch ${epoch} of ${epochs}`),
    });
    await this.checkpoints.save(ckpt_file, classifier.checkpoint(), labeled.length, FORMAT);
    this.logger.log(`trained ${ckpt_file} on ${labeled.length} labeled mails${resume_from ? ` from ${resume_from}` : ''}`);
  }

  @Test()
  async test({ ckpt_file }: TestPayload, { signal }: AlectioContext): Promise<TestResult<number>> {
    const classifier = new TextClassifier(await this.checkpoints.load(ckpt_file, FORMAT));
    const { test } = this.mail;
    const indices = Array.from({ length: test.size }, (_, i) => i);
    const predictions = await scoreAll(indices, (d) => classifier.predict(test, d), signal);
    return { predictions, labels: Array.from(test.labels) };
  }

  @Infer()
  async infer({ unlabeled, ckpt_file }: InferPayload, { signal }: AlectioContext): Promise<InferResult> {
    const classifier = new TextClassifier(await this.checkpoints.load(ckpt_file, FORMAT));
    const { pool } = this.mail;
    return { outputs: await scoreAll(unlabeled, (d) => classifier.logits(pool, d), signal) };
  }
}

/** `score` of every mail of `indices`, in their order, yielding to the event loop as it goes. */
async function scoreAll<T>(indices: readonly number[], score: (d: number) => T, signal?: AbortSignal): Promise<T[]> {
  const all: T[] = [];
  for (let i = 0; i < indices.length; i++) {
    if (i > 0 && i % DOCS_PER_TURN === 0) {
      await yieldToEventLoop();
      signal?.throwIfAborted();
    }
    all.push(score(indices[i]));
  }
  return all;
}
