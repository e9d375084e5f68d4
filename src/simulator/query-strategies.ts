import { sample } from './seeded-random.js';

/** The query strategies, in the order the help and the report list them. */
export const STRATEGIES = ['random', 'least-confidence', 'margin', 'entropy'] as const;
/** How the next samples to label are chosen from the logits that /infer returns. */
export type StrategyName = (typeof STRATEGIES)[number];

/** Softmax of logits, shifted by their maximum so exp() cannot overflow. */
export function softmax(logits: readonly number[]): number[] {
  let max = -Infinity;
  for (const z of logits) max = Math.max(max, z); // not Math.max(...logits): 200,000 arguments overflow the stack
  const exp = logits.map((z) => Math.exp(z - max));
  const sum = exp.reduce((a, b) => a + b, 0);
  return exp.map((e) => e / sum);
}

/**
 * Uncertainty of one sample, larger = less sure, with p = softmax(logits):
 * - least-confidence: 1 − max p
 * - margin: 1 − (p₁ − p₂), p₁ and p₂ the two largest (a small margin is uncertain)
 * Each is 0 for a model that is sure, never below: an image's boxes can be summed and averaged.
 * - entropy: −Σ p·ln p
 */
export function uncertainty(strategy: Exclude<StrategyName, 'random'>, logits: readonly number[]): number {
  const p = softmax(logits);
  let first = 0;
  let second = 0;
  for (const q of p) {
    if (q > first) [first, second] = [q, first];
    else if (q > second) second = q;
  }
  switch (strategy) {
    case 'least-confidence':
      return 1 - first;
    case 'margin':
      return 1 - (first - second);
    case 'entropy':
      return -p.reduce((h, q) => (q > 0 ? h + q * Math.log(q) : h), 0);
  }
}

/** The score of an image with no box: below every uncertainty, which is never negative. */
const NO_BOX = -1;

/** How a detection output's box uncertainties make the image's: the largest, the mean or the sum. */
export const AGGREGATES = ['max', 'mean', 'sum'] as const;
export type Aggregate = (typeof AGGREGATES)[number];

/** What an output is: a classifier's logits, or a detector's boxes with a pre-softmax row each. */
export interface SelectionSettings {
  task: 'classification' | 'detection';
  aggregate: Aggregate;
}

/**
 * The `count` indices to label next. Random draws with the seeded generator; the others take
 * the most uncertain first, ties broken by the smaller index, so a run can be repeated. A
 * detection output scores each box by the softmax of its pre-softmax row, aggregated per image;
 * an image with no box comes after every image with one (nothing in it is uncertain to the
 * model): it scores −1, below any box's uncertainty, which is never negative.
 */
export function selectNext(
  strategy: StrategyName,
  outputs: ReadonlyMap<number, unknown>,
  count: number,
  random: () => number,
  settings: SelectionSettings = { task: 'classification', aggregate: 'max' },
): number[] {
  const candidates = [...outputs.keys()].sort((a, b) => a - b);
  if (strategy === 'random') return sample(candidates, count, random);
  const scoreOf = (index: number): number => {
    const output = outputs.get(index);
    if (settings.task === 'classification') return uncertainty(strategy, logitsOf(output, index));
    const rows = preSoftmaxRowsOf(output, index);
    if (rows.length === 0) return NO_BOX;
    let max = 0;
    let sum = 0;
    for (const row of rows) {
      const u = uncertainty(strategy, row);
      max = Math.max(max, u);
      sum += u;
    }
    return settings.aggregate === 'max' ? max : settings.aggregate === 'sum' ? sum : sum / rows.length;
  };
  const scored = candidates.map((index) => ({ index, score: scoreOf(index) }));
  scored.sort((a, b) => b.score - a.score || a.index - b.index);
  return scored.slice(0, count).map((s) => s.index);
}

/** The logits in a classification output: a list of numbers. */
export function logitsOf(output: unknown, index: number): number[] {
  if (!Array.isArray(output) || output.length === 0 || !output.every(isFiniteNumber)) {
    throw new Error(`infer output for index ${index} is not a list of logits (numbers)`);
  }
  return output as number[];
}

/**
 * The pre-softmax rows of a detection output `{boxes, pre_softmax, scores}`, one per box, each
 * a non-empty list of numbers; `[]` for an image with no box, a valid output.
 */
export function preSoftmaxRowsOf(output: unknown, index: number): number[][] {
  const { boxes, pre_softmax: rows } = (output ?? {}) as { boxes?: unknown; pre_softmax?: unknown };
  const valid =
    Array.isArray(boxes) &&
    Array.isArray(rows) &&
    rows.length === boxes.length &&
    rows.every((row) => Array.isArray(row) && row.length > 0 && row.every(isFiniteNumber));
  if (!valid) {
    throw new Error(
      `infer output for index ${index} is not a detection output {boxes, pre_softmax, scores} with one row of numbers per box`,
    );
  }
  return rows as number[][];
}

function isFiniteNumber(value: unknown): boolean {
  return typeof value === 'number' && Number.isFinite(value);
}
