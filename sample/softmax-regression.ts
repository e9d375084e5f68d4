import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

import { CLASSES, DigitSplit, FEATURES } from './digits.dataset.js';
import { mulberry32, shuffle } from './seeded-random.js';

const STRIDE = FEATURES + 1; // weights of one class, then its bias

export interface TrainingSettings {
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** L2 penalty on the weights. */
  weightDecay: number;
  /** Shuffles the labeled indices between epochs; fixed, so a run can be repeated. */
  seed: number;
}

export const DEFAULT_SETTINGS: TrainingSettings = {
  epochs: 15,
  batchSize: 16,
  learningRate: 0.1,
  weightDecay: 1e-4,
  seed: 7,
};

/**
 * Multinomial logistic regression (a softmax classifier) fitted with mini-batch SGD.
 * Small enough to train in plain TypeScript, real enough to show active learning work.
 */
export class SoftmaxRegression {
  constructor(readonly weights: Float64Array = new Float64Array(CLASSES * STRIDE)) {}

  /** Pre-softmax scores of sample `index` of `split`. */
  logits(split: DigitSplit, index: number, out: Float64Array = new Float64Array(CLASSES)): Float64Array {
    const x = index * FEATURES;
    const { pixels } = split;
    for (let c = 0; c < CLASSES; c++) {
      const w = c * STRIDE;
      let z = this.weights[w + FEATURES];
      for (let f = 0; f < FEATURES; f++) z += this.weights[w + f] * pixels[x + f];
      out[c] = z;
    }
    return out;
  }

  predict(split: DigitSplit, index: number): number {
    const scores = this.logits(split, index);
    let best = 0;
    for (let c = 1; c < CLASSES; c++) if (scores[c] > scores[best]) best = c;
    return best;
  }

  /**
   * Fits on exactly `indices` of `split`. Yields to the event loop after every mini-batch, so
   * the server keeps answering while it trains; stops with the signal's reason as soon as it is
   * aborted; reports each finished epoch.
   */
  async fit(
    split: DigitSplit,
    indices: readonly number[],
    { signal, onEpoch }: { signal?: AbortSignal; onEpoch?: (epoch: number, epochs: number) => void } = {},
    settings = DEFAULT_SETTINGS,
  ): Promise<void> {
    const order = Int32Array.from(indices);
    const random = mulberry32(settings.seed);
    const gradient = new Float64Array(this.weights.length);
    const scores = new Float64Array(CLASSES);
    for (let epoch = 0; epoch < settings.epochs; epoch++) {
      shuffle(order, random);
      for (let start = 0; start < order.length; start += settings.batchSize) {
        const end = Math.min(start + settings.batchSize, order.length);
        gradient.fill(0);
        for (let b = start; b < end; b++) this.accumulate(split, order[b], scores, gradient);
        const step = settings.learningRate / (end - start);
        for (let i = 0; i < this.weights.length; i++) {
          const decay = i % STRIDE === FEATURES ? 0 : settings.weightDecay * this.weights[i];
          this.weights[i] -= step * gradient[i] + settings.learningRate * decay;
        }
        await yieldToEventLoop();
        signal?.throwIfAborted();
      }
      onEpoch?.(epoch + 1, settings.epochs);
    }
  }

  // Cross-entropy gradient of one sample: (softmax - onehot) times the input.
  private accumulate(split: DigitSplit, index: number, scores: Float64Array, gradient: Float64Array): void {
    this.logits(split, index, scores);
    let max = -Infinity;
    for (let c = 0; c < CLASSES; c++) max = Math.max(max, scores[c]);
    let sum = 0;
    for (let c = 0; c < CLASSES; c++) sum += scores[c] = Math.exp(scores[c] - max);
    const x = index * FEATURES;
    for (let c = 0; c < CLASSES; c++) {
      const error = scores[c] / sum - (split.labels[index] === c ? 1 : 0);
      const w = c * STRIDE;
      for (let f = 0; f < FEATURES; f++) gradient[w + f] += error * split.pixels[x + f];
      gradient[w + FEATURES] += error;
    }
  }
}
