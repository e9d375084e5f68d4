import { Injectable } from '@nestjs/common';
import type { InferResult, TestResult } from 'nestjs-alectio';
import { Infer, InferPayload, Test, TestPayload, Train, TrainPayload } from 'nestjs-alectio';

/** A customer's model, written against the published types only. */
@Injectable()
export class CustomerModel {
  readonly trained: TrainPayload[] = [];

  @Train()
  async train(payload: TrainPayload): Promise<void> {
    this.trained.push(payload);
  }

  @Test()
  test(payload: TestPayload): TestResult<number> {
    // An array (position = index) for predictions, a Map for labels: both are "keyed by index".
    return {
      predictions: [1, 0, payload.ckpt_file.length],
      labels: new Map([
        [0, 1],
        [1, 1],
        [2, 2],
      ]),
    };
  }

  @Infer()
  async infer(payload: InferPayload): Promise<InferResult> {
    // Typed arrays, as tensor libraries return them.
    return { outputs: payload.unlabeled.map((i) => Float32Array.of(i, -i, 0.5)) };
  }
}
