import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

import { Adam } from '../adam.js';
import { mulberry32, shuffle } from '../seeded-random.js';
import { CLASSES, type MailSplit } from './mail.corpus.js';
import { BUCKETS, inverseDocumentFrequency, unitScale } from './text.features.js';

/**
 * The weights bucket by bucket (class c's weight of bucket b at b × CLASSES + c: a mail's three
 * scores read neighbouring values), then the CLASSES biases.
 */
const BIAS_AT = CLASSES * BUCKETS;
const PARAMETERS = BIAS_AT + CLASSES;
/** A checkpoint: the PARAMETERS, then the idf of each bucket that they were fitted with. */
export const CHECKPOINT_LENGTH = PARAMETERS + BUCKETS;
/** Documents scored between two turns of the event loop: a few ms each. */
export const DOCS_PER_TURN = 500;

/** How the text classifier trains. */
export interface TextTrainingSettings {
  epochs: number;
  batchSize: number;
  /** Adam's step size. */
  learningRate: number;
  /** L2 penalty on the weights (not the biases). */
  weightDecay: number;
  /**
   * Weighs each labeled mail by n / (classes × its class's count), as scikit-learn's
   * `class_weight="balanced"`: the few hard-ham mails count as much as the many ham ones.
   */
  balanced: boolean;
  /** The order of the labeled mails between epochs; fixed, so a run can be repeated. */
  seed: number;
}

/** The settings `train` uses, chosen with a throwaway script (docs/sample.md has its figures). */
export const DEFAULT_TEXT_SETTINGS: TextTrainingSettings = {
  epochs: 5,
  batchSize: 32,
  learningRate: 0.1,
  weightDecay: 1e-5,
  balanced: true,
  seed: 7,
};

/**
 * Multinomial logistic regression (softmax) over the hashed tf-idf vectors of mails, L2
 * regularized, fitted with mini-batch Adam on the labeled mails only: the idf too is theirs, and
 * is kept with the weights.
 */
export class TextClassifier {
  readonly weights: Float64Array;
  private idf: Float64Array;

  /** A classifier from a checkpoint's values, or a new one (zero weights, no idf yet). */
  constructor(checkpoint?: Float64Array) {
    if (checkpoint && checkpoint.length !== CHECKPOINT_LENGTH) {
      throw new Error(`a text classifier's checkpoint has ${CHECKPOINT_LENGTH} values, this one ${checkpoint.length}`);
    }
    this.weights = checkpoint ? checkpoint.slice(0, PARAMETERS) : new Float64Array(PARAMETERS);
    this.idf = checkpoint ? checkpoint.slice(PARAMETERS) : new Float64Array(BUCKETS);
  }

  /** What CheckpointStore saves: the weights, then the idf. */
  checkpoint(): Float64Array {
    const values = new Float64Array(CHECKPOINT_LENGTH);
    values.set(this.weights);
    values.set(this.idf, PARAMETERS);
    return values;
  }

  /** The CLASSES pre-softmax scores of mail `d` of `split`. */
  logits(split: MailSplit, d: number, out: number[] = new Array<number>(CLASSES)): number[] {
    const { offsets, buckets, tf } = split.terms;
    const scale = unitScale(split.terms, d, this.idf);
    for (let c = 0; c < CLASSES; c++) out[c] = 0;
    for (let k = offsets[d]; k < offsets[d + 1]; k++) {
      const value = tf[k] * this.idf[buckets[k]];
      if (value === 0) continue;
      const at = buckets[k] * CLASSES;
      for (let c = 0; c < CLASSES; c++) out[c] += value * this.weights[at + c];
    }
    for (let c = 0; c < CLASSES; c++) out[c] = this.weights[BIAS_AT + c] + scale * out[c];
    return out;
  }

  /** The class id of mail `d` of `split`: the highest score's. */
  predict(split: MailSplit, d: number): number {
    const scores = this.logits(split, d);
    let best = 0;
    for (let c = 1; c < CLASSES; c++) if (scores[c] > scores[best]) best = c;
    return best;
  }

  /**
   * Fits on exactly the mails `indices` of `split`, from the weights it has (a warm start when
   * they come from a checkpoint), with the idf of those mails. Yields to the event loop after
   * every mini-batch, so the server keeps answering while it trains; stops with the signal's
   * reason as soon as it is aborted; reports each finished epoch.
   */
  async fit(
    split: MailSplit,
    indices: readonly number[],
    { signal, onEpoch }: { signal?: AbortSignal; onEpoch?: (epoch: number, epochs: number) => void } = {},
    settings = DEFAULT_TEXT_SETTINGS,
  ): Promise<void> {
    const { offsets, buckets, tf } = split.terms;
    this.idf = inverseDocumentFrequency(split.terms, indices);
    // Each labeled mail's unit-length tf-idf vector, computed once for the whole fit.
    const values: Float64Array[] = [];
    const rowOf = new Int32Array(split.size); // mail d's vector is values[rowOf[d]]
    for (let i = 0; i < indices.length; i++) {
      const d = indices[i];
      const scale = unitScale(split.terms, d, this.idf);
      const row = new Float64Array(offsets[d + 1] - offsets[d]);
      for (let k = offsets[d]; k < offsets[d + 1]; k++) row[k - offsets[d]] = tf[k] * this.idf[buckets[k]] * scale;
      rowOf[d] = values.push(row) - 1;
      if ((i + 1) % DOCS_PER_TURN === 0) {
        await yieldToEventLoop();
        signal?.throwIfAborted();
      }
    }
    const classWeight = classWeights(split, indices, settings.balanced);
    const order = Int32Array.from(indices);
    const random = mulberry32(settings.seed);
    const gradient = new Float64Array(PARAMETERS);
    // The buckets some mail of the mini-batch holds: only their weights have a gradient.
    const inBatch = new Uint8Array(BUCKETS);
    const touched: number[] = [];
    const adam = new Adam(PARAMETERS, settings.learningRate);
    const probabilities = new Float64Array(CLASSES);
    const errors = new Float64Array(CLASSES);
    for (let epoch = 0; epoch < settings.epochs; epoch++) {
      shuffle(order, random);
      for (let first = 0; first < order.length; first += settings.batchSize) {
        const end = Math.min(first + settings.batchSize, order.length);
        for (let b = first; b < end; b++) {
          const d = order[b];
          const x = values[rowOf[d]];
          this.softmax(split, d, x, probabilities);
          const weight = classWeight[split.labels[d]];
          for (let k = 0; k < x.length; k++) {
            const bucket = buckets[offsets[d] + k];
            if (inBatch[bucket] === 1) continue;
            inBatch[bucket] = 1;
            touched.push(bucket);
          }
          // Cross-entropy's gradient: (softmax - one-hot) times the input.
          for (let c = 0; c < CLASSES; c++) {
            errors[c] = weight * (probabilities[c] - (split.labels[d] === c ? 1 : 0));
            gradient[BIAS_AT + c] += errors[c];
          }
          for (let k = 0; k < x.length; k++) {
            const at = buckets[offsets[d] + k] * CLASSES;
            for (let c = 0; c < CLASSES; c++) gradient[at + c] += errors[c] * x[k];
          }
        }
        // The mean over the mini-batch, plus the L2 penalty's gradient, applied lazily as sparse
        // learners do (scikit-learn's SGD, TensorFlow's LazyAdam): to the weights of the buckets
        // the mini-batch holds, so that a step costs what the mini-batch holds, not 3 × 65,536.
        const scale = 1 / (end - first);
        adam.tick();
        for (const bucket of touched) {
          inBatch[bucket] = 0;
          for (let c = 0; c < CLASSES; c++) {
            const i = bucket * CLASSES + c;
            adam.update(this.weights, i, gradient[i] * scale + settings.weightDecay * this.weights[i]);
            gradient[i] = 0;
          }
        }
        touched.length = 0;
        for (let i = BIAS_AT; i < PARAMETERS; i++) {
          adam.update(this.weights, i, gradient[i] * scale);
          gradient[i] = 0;
        }
        await yieldToEventLoop();
        signal?.throwIfAborted();
      }
      onEpoch?.(epoch + 1, settings.epochs);
    }
  }

  // The class probabilities of labeled mail `d`, whose unit tf-idf values are `x`.
  private softmax(split: MailSplit, d: number, x: Float64Array, out: Float64Array): void {
    const { offsets, buckets } = split.terms;
    for (let c = 0; c < CLASSES; c++) out[c] = this.weights[BIAS_AT + c];
    for (let k = 0; k < x.length; k++) {
      const at = buckets[offsets[d] + k] * CLASSES;
      for (let c = 0; c < CLASSES; c++) out[c] += x[k] * this.weights[at + c];
    }
    let max = -Infinity;
    for (let c = 0; c < CLASSES; c++) max = Math.max(max, out[c]);
    let sum = 0;
    for (let c = 0; c < CLASSES; c++) sum += out[c] = Math.exp(out[c] - max);
    for (let c = 0; c < CLASSES; c++) out[c] /= sum;
  }
}

/** Per class id, the weight of its labeled mails: 1, or balanced over the classes present. */
function classWeights(split: MailSplit, indices: readonly number[], balanced: boolean): number[] {
  const counts = new Array<number>(CLASSES).fill(0);
  for (const d of indices) counts[split.labels[d]]++;
  const present = counts.filter((n) => n > 0).length;
  return counts.map((n) => (!balanced ? 1 : n === 0 ? 0 : indices.length / (present * n)));
}
