import { createRequire } from 'node:module';

import { Injectable } from '@nestjs/common';

const require = createRequire(import.meta.url);

/** Pixels per image: the 28x28 handwritten digits of the `mnist` package, scaled to 0..1. */
export const FEATURES = 28 * 28;
export const CLASSES = 10;
export const POOL_PER_DIGIT = 700;
export const TEST_PER_DIGIT = 150;

/** Images as one flat array of FEATURES values each, and their digit. */
export interface DigitSplit {
  size: number;
  pixels: Float64Array;
  labels: Uint8Array;
}

/**
 * The real MNIST digits that the `mnist` package ships (about 1,000 per digit), split the
 * same way on every start: per digit, the first 700 go to the pool and the next 150 to the
 * test split, interleaved so that index i of a split is digit i % 10. Nothing is downloaded.
 */
@Injectable()
export class DigitsDataset {
  /** The training pool: the indices the platform's `labeled` and `unlabeled` refer to. */
  readonly pool: DigitSplit;
  /** The held-out split that `test` scores. */
  readonly test: DigitSplit;

  constructor() {
    const raw = mnistDigits();
    this.pool = split(raw, 0, POOL_PER_DIGIT);
    this.test = split(raw, POOL_PER_DIGIT, TEST_PER_DIGIT);
  }
}

/**
 * The `mnist` package's digits: per digit, its images one after the other (FEATURES values each,
 * 0..1). Per digit, images 0-699 are the training pool's and 700-849 the test split's, in this
 * sample and in the detection sample's scenes.
 */
export function mnistDigits(): number[][] {
  const raw: number[][] = [];
  for (let digit = 0; digit < CLASSES; digit++) raw.push((require(`mnist/src/digits/${digit}.json`) as { data: number[] }).data);
  return raw;
}

function split(raw: number[][], first: number, perDigit: number): DigitSplit {
  const size = perDigit * CLASSES;
  const pixels = new Float64Array(size * FEATURES);
  const labels = new Uint8Array(size);
  for (let i = 0; i < size; i++) {
    const digit = i % CLASSES;
    const sample = first + Math.floor(i / CLASSES);
    pixels.set(raw[digit].slice(sample * FEATURES, (sample + 1) * FEATURES), i * FEATURES);
    labels[i] = digit;
  }
  return { size, pixels, labels };
}
