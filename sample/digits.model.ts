import { Injectable, Logger } from '@nestjs/common';
import type { AlectioContext, InferResult, TestResult } from 'nestjs-alectio';
import { Infer, InferPayload, Test, TestPayload, Train, TrainPayload } from 'nestjs-alectio';

import { CheckpointStore } from './checkpoint.store.js';
import { DigitsDataset } from './digits.dataset.js';
import { SoftmaxRegression } from './softmax-regression.js';

const FORMAT = 'softmax-regression/1';

/** The customer's side: three methods on a provider, tagged for nestjs-alectio to serve. */
@Injectable()
export class DigitsModel {
  private readonly logger = new Logger(DigitsModel.name);

  constructor(
    private readonly digits: DigitsDataset,
    private readonly checkpoints: CheckpointStore,
  ) {}

  @Train()
  async train({ labeled, resume_from, ckpt_file }: TrainPayload, { signal, progress }: AlectioContext): Promise<void> {
    const model = new SoftmaxRegression(resume_from ? await this.checkpoints.load(resume_from, FORMAT) : undefined);
    await model.fit(this.digits.pool, labeled, {
      signal,
      onEpoch: (epoch, epochs) => progress(epoch / epochs, `epoch ${epoch} of ${epochs}`),
    });
    await this.checkpoints.save(ckpt_file, model.weights, labeled.length, FORMAT);
    this.logger.log(`trained ${ckpt_file} on ${labeled.length} labeled digits${resume_from ? ` from ${resume_from}` : ''}`);
  }

  @Test()
  async test({ ckpt_file }: TestPayload): Promise<TestResult<number>> {
    const model = new SoftmaxRegression(await this.checkpoints.load(ckpt_file, FORMAT));
    const { test } = this.digits;
    const predictions: number[] = [];
    for (let i = 0; i < test.size; i++) predictions.push(model.predict(test, i));
    return { predictions, labels: Array.from(test.labels) };
  }

  @Infer()
  async infer({ unlabeled, ckpt_file }: InferPayload): Promise<InferResult> {
    const model = new SoftmaxRegression(await this.checkpoints.load(ckpt_file, FORMAT));
    return { outputs: unlabeled.map((index) => model.logits(this.digits.pool, index)) };
  }
}
