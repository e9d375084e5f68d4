import { Injectable } from '@nestjs/common';

import { CLASSES, mnistDigits, POOL_PER_DIGIT, TEST_PER_DIGIT } from '../digits.dataset.js';
import { mulberry32 } from '../seeded-random.js';

/** Pixels per side of a scene as the detector sees it: drawn at twice this size, then averaged 2×2. */
export const SCENE = 32;
/** The detector's grid: GRID × GRID cells of CELL pixels, each responsible for the digit centred in it. */
export const GRID = 4;
export const CELL = SCENE / GRID;
export { CLASSES };

const DRAWN = SCENE * 2;
const DIGIT = 28; // the MNIST images' side
const POOL_SCENES = 2000;
const TEST_SCENES = 400;

/** `[x1, y1, x2, y2]`, normalized to the scene (0..1), as PROTOCOL.md's detection values. */
export type Box = [number, number, number, number];

/** The ground truth of a scene: its digits' boxes and classes. */
export interface SceneTruth {
  boxes: Box[];
  objects: number[];
}

/** Scenes as one flat array of SCENE × SCENE values each (0..1), and their ground truth. */
export interface SceneSplit {
  size: number;
  pixels: Float32Array;
  truth: SceneTruth[];
}

/**
 * Scenes of one to three real MNIST digits (the `mnist` package's) at random positions and
 * sizes, each digit centred in its own grid cell, made the same way on every start (seeded);
 * nothing is downloaded. The training pool's scenes use each digit's images 0-699, the test
 * split's the images 700-849: no digit image is in both.
 */
@Injectable()
export class ScenesDataset {
  /** The training pool: the indices the platform's `labeled` and `unlabeled` refer to. */
  readonly pool: SceneSplit;
  /** The held-out split that `test` scores. */
  readonly test: SceneSplit;

  constructor() {
    const raw = mnistDigits();
    this.pool = scenes(raw, POOL_SCENES, 0, POOL_PER_DIGIT, 101);
    this.test = scenes(raw, TEST_SCENES, POOL_PER_DIGIT, TEST_PER_DIGIT, 202);
  }
}

function scenes(raw: number[][], size: number, firstImage: number, imagesPerDigit: number, seed: number): SceneSplit {
  const random = mulberry32(seed);
  const pixels = new Float32Array(size * SCENE * SCENE);
  const truth: SceneTruth[] = [];
  const canvas = new Float32Array(DRAWN * DRAWN);
  for (let s = 0; s < size; s++) {
    canvas.fill(0);
    const scene: SceneTruth = { boxes: [], objects: [] };
    const taken = new Set<number>();
    const count = 1 + Math.floor(random() * 3);
    for (let d = 0; d < count; d++) {
      const digit = Math.floor(random() * CLASSES);
      const image = firstImage + Math.floor(random() * imagesPerDigit);
      const side = 18 + Math.floor(random() * 13); // 18 to 30 pixels drawn, 9 to 15 as seen
      const cell = Math.floor(random() * GRID * GRID);
      const cellSide = DRAWN / GRID;
      const centreX = ((cell % GRID) + 0.2 + 0.6 * random()) * cellSide;
      const centreY = (Math.floor(cell / GRID) + 0.2 + 0.6 * random()) * cellSide;
      const left = clamp(Math.round(centreX - side / 2), 0, DRAWN - side);
      const top = clamp(Math.round(centreY - side / 2), 0, DRAWN - side);
      const drawn = scaled(raw[digit], image, side);
      const box = tightBox(drawn, side, left, top);
      if (!box) continue;
      // One digit per cell, the cell its box's centre falls in: a digit moved into a taken cell is left out.
      const owner = cellOf(box);
      if (taken.has(owner)) continue;
      taken.add(owner);
      for (let y = 0; y < side; y++) {
        for (let x = 0; x < side; x++) {
          const at = (top + y) * DRAWN + left + x;
          canvas[at] = Math.max(canvas[at], drawn[y * side + x]);
        }
      }
      scene.boxes.push(box);
      scene.objects.push(digit);
    }
    // Averaged 2×2: what the detector sees.
    const offset = s * SCENE * SCENE;
    for (let y = 0; y < SCENE; y++) {
      for (let x = 0; x < SCENE; x++) {
        const at = 2 * y * DRAWN + 2 * x;
        pixels[offset + y * SCENE + x] = (canvas[at] + canvas[at + 1] + canvas[at + DRAWN] + canvas[at + DRAWN + 1]) / 4;
      }
    }
    truth.push(scene);
  }
  return { size, pixels, truth };
}

/** The grid cell (0 to GRID² − 1, row by row) that a box's centre falls in. */
export function cellOf([x1, y1, x2, y2]: Box): number {
  const column = Math.min(GRID - 1, Math.floor(((x1 + x2) / 2) * GRID));
  const row = Math.min(GRID - 1, Math.floor(((y1 + y2) / 2) * GRID));
  return row * GRID + column;
}

/** Image `image` of a digit, scaled bilinearly to `side` × `side`. */
function scaled(images: number[], image: number, side: number): Float32Array {
  const out = new Float32Array(side * side);
  const base = image * DIGIT * DIGIT;
  const pixel = (x: number, y: number): number => (x < 0 || y < 0 || x >= DIGIT || y >= DIGIT ? 0 : images[base + y * DIGIT + x]);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const sx = ((x + 0.5) * DIGIT) / side - 0.5;
      const sy = ((y + 0.5) * DIGIT) / side - 0.5;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      out[y * side + x] =
        (1 - fy) * ((1 - fx) * pixel(x0, y0) + fx * pixel(x0 + 1, y0)) +
        fy * ((1 - fx) * pixel(x0, y0 + 1) + fx * pixel(x0 + 1, y0 + 1));
    }
  }
  return out;
}

/** The box around the digit's ink (values over 0.25) once drawn at (left, top), normalized; none if blank. */
function tightBox(drawn: Float32Array, side: number, left: number, top: number): Box | undefined {
  let x1 = side;
  let y1 = side;
  let x2 = -1;
  let y2 = -1;
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      if (drawn[y * side + x] <= 0.25) continue;
      x1 = Math.min(x1, x);
      y1 = Math.min(y1, y);
      x2 = Math.max(x2, x);
      y2 = Math.max(y2, y);
    }
  }
  if (x2 < 0) return undefined;
  return [(left + x1) / DRAWN, (top + y1) / DRAWN, (left + x2 + 1) / DRAWN, (top + y2 + 1) / DRAWN];
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}
