import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

import { iou, softmax } from 'nestjs-alectio/simulator';

import { Adam } from '../adam.js';
import { mulberry32, shuffle } from '../seeded-random.js';
import { type Box, CELL, cellOf, CLASSES, GRID, SCENE, type SceneSplit } from './scenes.dataset.js';

/** The pixels one cell looks at: a WINDOW × WINDOW square centred on the cell (zero past the edge). */
const WINDOW = 2 * CELL;
const FEATURES = WINDOW * WINDOW;
const HIDDEN = 64;
/** Per cell: objectness, the class scores (pre-softmax), then the box (centre in the cell, width, height). */
const OUTPUTS = 1 + CLASSES + 4;
const CLASS_AT = 1;
const BOX_AT = 1 + CLASSES;

// One flat parameter vector: the hidden layer's weights and biases, then the output layer's.
const W1 = 0;
const B1 = W1 + HIDDEN * FEATURES;
const W2 = B1 + HIDDEN;
const B2 = W2 + OUTPUTS * HIDDEN;
export const PARAMETERS = B2 + OUTPUTS;

/** Cells scored below this are not reported; kept low, so that mAP sees the whole precision-recall curve. */
const MIN_SCORE = 0.05;
/** Of two boxes overlapping more than this (IoU), the lower-scored is dropped. */
const NMS_IOU = 0.5;
/** Weights of the loss terms: a cell without a digit, and the box of a cell with one. */
const NO_OBJECT_WEIGHT = 0.25;
const BOX_WEIGHT = 5;

export interface DetectorSettings {
  epochs: number;
  /** Scenes per mini-batch. */
  batchSize: number;
  /** Adam's step size. */
  learningRate: number;
  /** The initial weights and the order of the scenes between epochs; fixed, so a run can be repeated. */
  seed: number;
}

export const DEFAULT_DETECTOR_SETTINGS: DetectorSettings = { epochs: 12, batchSize: 8, learningRate: 0.01, seed: 7 };

/** One detected digit: its box, class, score (objectness × class probability) and the class scores before softmax. */
export interface Detection {
  box: Box;
  object: number;
  score: number;
  preSoftmax: number[];
}

/**
 * A small single-shot grid detector (YOLO v1's idea at toy scale): each cell of a 4 × 4 grid
 * looks at the 16 × 16 pixels around it through one hidden layer of 64 ReLU units, and says
 * whether a digit is centred in it, which digit, and its box. Trained with Adam on the labeled
 * scenes only; plain TypeScript, a few thousand weights.
 */
export class GridDetector {
  readonly weights: Float64Array;

  constructor(weights?: Float64Array) {
    if (weights && weights.length !== PARAMETERS) {
      throw new Error(`a grid detector has ${PARAMETERS} weights, this checkpoint ${weights.length}`);
    }
    this.weights = weights ?? initialWeights(DEFAULT_DETECTOR_SETTINGS.seed);
  }

  /**
   * The detections in scene `index` of `split`, best first, after non-maximum suppression, and
   * the scene's embedding: the mean over the grid's cells of
   * the hidden layer's activations, what the model "sees" there (for diversity-aware selection).
   */
  look(split: SceneSplit, index: number): { detections: Detection[]; embedding: number[] } {
    const input = new Float64Array(FEATURES);
    const hidden = new Float64Array(HIDDEN);
    const out = new Float64Array(OUTPUTS);
    const pooled = new Float64Array(HIDDEN);
    const found: Detection[] = [];
    for (let cell = 0; cell < GRID * GRID; cell++) {
      windowOf(split, index, cell, input);
      this.forward(input, hidden, out);
      for (let h = 0; h < HIDDEN; h++) pooled[h] += hidden[h] / (GRID * GRID);
      const preSoftmax = Array.from(out.subarray(CLASS_AT, CLASS_AT + CLASSES));
      const probabilities = softmax(preSoftmax);
      let object = 0;
      for (let c = 1; c < CLASSES; c++) if (probabilities[c] > probabilities[object]) object = c;
      const score = sigmoid(out[0]) * probabilities[object];
      if (score < MIN_SCORE) continue;
      const column = cell % GRID;
      const row = Math.floor(cell / GRID);
      const centreX = (column + sigmoid(out[BOX_AT])) / GRID;
      const centreY = (row + sigmoid(out[BOX_AT + 1])) / GRID;
      const width = sigmoid(out[BOX_AT + 2]);
      const height = sigmoid(out[BOX_AT + 3]);
      const box: Box = [
        clamp01(centreX - width / 2),
        clamp01(centreY - height / 2),
        clamp01(centreX + width / 2),
        clamp01(centreY + height / 2),
      ];
      found.push({ box, object, score, preSoftmax });
    }
    found.sort((a, b) => b.score - a.score);
    const kept: Detection[] = [];
    for (const detection of found) if (kept.every((k) => iou(k.box, detection.box) <= NMS_IOU)) kept.push(detection);
    // Four decimals are plenty for a distance, and keep the answer a third the size.
    return { detections: kept, embedding: Array.from(pooled, (v) => Math.round(v * 1e4) / 1e4) };
  }

  /**
   * Fits on exactly the scenes `indices` of `split`. Yields to the event loop after every
   * mini-batch, so the server keeps answering while it trains; stops with the signal's reason
   * as soon as it is aborted; reports each finished epoch.
   */
  async fit(
    split: SceneSplit,
    indices: readonly number[],
    { signal, onEpoch }: { signal?: AbortSignal; onEpoch?: (epoch: number, epochs: number) => void } = {},
    settings = DEFAULT_DETECTOR_SETTINGS,
  ): Promise<void> {
    const order = Int32Array.from(indices);
    const random = mulberry32(settings.seed);
    const gradient = new Float64Array(PARAMETERS);
    const adam = new Adam(PARAMETERS, settings.learningRate);
    const work = { input: new Float64Array(FEATURES), hidden: new Float64Array(HIDDEN), out: new Float64Array(OUTPUTS) };
    for (let epoch = 0; epoch < settings.epochs; epoch++) {
      shuffle(order, random);
      for (let start = 0; start < order.length; start += settings.batchSize) {
        const end = Math.min(start + settings.batchSize, order.length);
        gradient.fill(0);
        for (let b = start; b < end; b++) this.accumulate(split, order[b], gradient, work);
        adam.step(this.weights, gradient, 1 / (end - start));
        await yieldToEventLoop();
        signal?.throwIfAborted();
      }
      onEpoch?.(epoch + 1, settings.epochs);
    }
  }

  private forward(input: Float64Array, hidden: Float64Array, out: Float64Array): void {
    const w = this.weights;
    for (let h = 0; h < HIDDEN; h++) {
      let z = w[B1 + h];
      const row = W1 + h * FEATURES;
      for (let f = 0; f < FEATURES; f++) z += w[row + f] * input[f];
      hidden[h] = z > 0 ? z : 0;
    }
    for (let o = 0; o < OUTPUTS; o++) {
      let z = w[B2 + o];
      const row = W2 + o * HIDDEN;
      for (let h = 0; h < HIDDEN; h++) z += w[row + h] * hidden[h];
      out[o] = z;
    }
  }

  // The loss of one scene, summed over its cells, and its gradient added to `gradient`.
  private accumulate(
    split: SceneSplit,
    index: number,
    gradient: Float64Array,
    { input, hidden, out }: { input: Float64Array; hidden: Float64Array; out: Float64Array },
  ): void {
    const truth = split.truth[index];
    const owners = new Map(truth.boxes.map((box, i) => [cellOf(box), i]));
    const dOut = new Float64Array(OUTPUTS);
    const w = this.weights;
    for (let cell = 0; cell < GRID * GRID; cell++) {
      windowOf(split, index, cell, input);
      this.forward(input, hidden, out);
      dOut.fill(0);
      const owner = owners.get(cell);
      const objectness = sigmoid(out[0]);
      dOut[0] = owner === undefined ? NO_OBJECT_WEIGHT * objectness : objectness - 1;
      if (owner !== undefined) {
        const probabilities = softmax(Array.from(out.subarray(CLASS_AT, CLASS_AT + CLASSES)));
        for (let c = 0; c < CLASSES; c++) dOut[CLASS_AT + c] = probabilities[c] - (c === truth.objects[owner] ? 1 : 0);
        const [x1, y1, x2, y2] = truth.boxes[owner];
        const targets = [
          ((x1 + x2) / 2) * GRID - (cell % GRID),
          ((y1 + y2) / 2) * GRID - Math.floor(cell / GRID),
          x2 - x1,
          y2 - y1,
        ];
        for (let k = 0; k < 4; k++) {
          const p = sigmoid(out[BOX_AT + k]);
          dOut[BOX_AT + k] = BOX_WEIGHT * 2 * (p - targets[k]) * p * (1 - p);
        }
      }
      // Back through the output layer, then the hidden one (only its active units).
      for (let o = 0; o < OUTPUTS; o++) {
        const d = dOut[o];
        if (d === 0) continue;
        gradient[B2 + o] += d;
        const row = W2 + o * HIDDEN;
        for (let h = 0; h < HIDDEN; h++) gradient[row + h] += d * hidden[h];
      }
      for (let h = 0; h < HIDDEN; h++) {
        if (hidden[h] === 0) continue;
        let d = 0;
        for (let o = 0; o < OUTPUTS; o++) d += dOut[o] * w[W2 + o * HIDDEN + h];
        if (d === 0) continue;
        gradient[B1 + h] += d;
        const row = W1 + h * FEATURES;
        for (let f = 0; f < FEATURES; f++) gradient[row + f] += d * input[f];
      }
    }
  }
}

/** The WINDOW × WINDOW pixels around cell `cell` of scene `index`, zero where they leave the scene. */
function windowOf(split: SceneSplit, index: number, cell: number, out: Float64Array): void {
  const left = (cell % GRID) * CELL - CELL / 2;
  const top = Math.floor(cell / GRID) * CELL - CELL / 2;
  const base = index * SCENE * SCENE;
  for (let y = 0; y < WINDOW; y++) {
    const sy = top + y;
    for (let x = 0; x < WINDOW; x++) {
      const sx = left + x;
      out[y * WINDOW + x] = sx < 0 || sy < 0 || sx >= SCENE || sy >= SCENE ? 0 : split.pixels[base + sy * SCENE + sx];
    }
  }
}

function initialWeights(seed: number): Float64Array {
  const random = mulberry32(seed);
  const weights = new Float64Array(PARAMETERS);
  const uniform = (limit: number): number => (2 * random() - 1) * limit;
  for (let i = W1; i < B1; i++) weights[i] = uniform(Math.sqrt(6 / FEATURES));
  for (let i = W2; i < B2; i++) weights[i] = uniform(Math.sqrt(6 / HIDDEN)) * 0.1;
  weights[B2] = -2; // objectness starts near its prior: most cells hold no digit
  return weights;
}

function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z));
}

function clamp01(value: number): number {
  return Math.min(1, Math.max(0, value));
}
