import { logitsOf, preSoftmaxRowsOf, softmax, vectorsOf } from './infer-outputs.js';
import { kCenterGreedy } from './k-center.js';
import { sample } from './seeded-random.js';

/** The query strategies, in the order the help and the report list them. */
export const STRATEGIES = ['random', 'least-confidence', 'margin', 'entropy', 'core-set', 'margin-core-set'] as const;
/** How the next samples to label are chosen from the outputs that /infer returns. */
export type StrategyName = (typeof STRATEGIES)[number];
/** The strategies that score each sample alone by its softmax. */
export type UncertaintyName = 'least-confidence' | 'margin' | 'entropy';

/**
 * The strategies that measure distances to the labeled set, and so need the labeled samples'
 * outputs too: the simulator's /infer asks for the whole pool when one of them runs.
 */
export const needsLabeledOutputs = (strategy: StrategyName): boolean => strategy === 'core-set' || strategy === 'margin-core-set';

/**
 * margin-core-set shortlists this many times the batch of the lowest-margin samples, then picks
 * the batch among them by k-center greedy: Zhdanov's pre-filter factor β = 10 ("Diverse
 * mini-batch Active Learning", 2019), with k-center greedy in place of his weighted k-means.
 */
export const SHORTLIST_FACTOR = 10;

/**
 * Uncertainty of one sample, larger = less sure, with p = softmax(logits):
 * - least-confidence: 1 − max p
 * - margin: 1 − (p₁ − p₂), p₁ and p₂ the two largest (a small margin is uncertain)
 * Each is 0 for a model that is sure, never below: an image's boxes can be summed and averaged.
 * - entropy: −Σ p·ln p
 */
export function uncertainty(strategy: UncertaintyName, logits: readonly number[]): number {
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
 * The `count` indices to label next, from the unlabeled samples' `outputs` (and, for core-set
 * and margin-core-set, the `labeled` samples' outputs: without them the centers start from
 * nothing). Random draws with the seeded generator; every other strategy is deterministic, ties
 * broken by the smaller index, so a run can be repeated:
 * - least-confidence, margin, entropy: the most uncertain first. A detection output scores each
 *   box by the softmax of its pre-softmax row, aggregated per image; an image with no box comes
 *   after every image with one (nothing in it is uncertain to the model): it scores −1, below
 *   any box's uncertainty, which is never negative.
 * - core-set: k-center greedy over the outputs' vectors (see `vectorsOf`).
 * - margin-core-set: the SHORTLIST_FACTOR × count lowest-margin samples, then k-center greedy among them.
 */
export function selectNext(
  strategy: StrategyName,
  outputs: ReadonlyMap<number, unknown>,
  count: number,
  random: () => number,
  settings: SelectionSettings = { task: 'classification', aggregate: 'max' },
  labeled: ReadonlyMap<number, unknown> = new Map(),
): number[] {
  const candidates = [...outputs.keys()].sort((a, b) => a - b);
  if (strategy === 'random') return sample(candidates, count, random);
  if (strategy === 'core-set') return diverse(candidates, outputs, labeled, count, settings);
  const uncertain = mostUncertain(strategy === 'margin-core-set' ? 'margin' : strategy, candidates, outputs, settings);
  if (strategy !== 'margin-core-set') return uncertain.slice(0, count);
  const shortlist = uncertain.slice(0, count * SHORTLIST_FACTOR).sort((a, b) => a - b);
  return diverse(shortlist, outputs, labeled, count, settings);
}

/** `candidates` from the most uncertain to the least, ties to the smaller index. */
function mostUncertain(
  strategy: UncertaintyName,
  candidates: number[],
  outputs: ReadonlyMap<number, unknown>,
  settings: SelectionSettings,
): number[] {
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
  return scored.map((s) => s.index);
}

/** `count` of `candidates` (sorted by index) by k-center greedy, the labeled outputs as the first centers. */
function diverse(
  candidates: number[],
  outputs: ReadonlyMap<number, unknown>,
  labeled: ReadonlyMap<number, unknown>,
  count: number,
  settings: SelectionSettings,
): number[] {
  const labeledIndices = [...labeled.keys()].sort((a, b) => a - b);
  const vectors = vectorsOf(
    [
      ...candidates.map((index) => [index, outputs.get(index)] as const),
      ...labeledIndices.map((i) => [i, labeled.get(i)] as const),
    ],
    settings.task,
  );
  const picked = kCenterGreedy(vectors.slice(0, candidates.length), vectors.slice(candidates.length), count);
  return picked.map((position) => candidates[position]);
}
