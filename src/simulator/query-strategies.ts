import { sample } from './seeded-random.js';

/** The query strategies, in the order the help and the report list them. */
export const STRATEGIES = ['random', 'least-confidence', 'margin', 'entropy'] as const;
/** How the next samples to label are chosen from the logits that /infer returns. */
export type StrategyName = (typeof STRATEGIES)[number];

/** Softmax of logits, shifted by their maximum so exp() cannot overflow. */
export function softmax(logits: readonly number[]): number[] {
  const max = Math.max(...logits);
  const exp = logits.map((z) => Math.exp(z - max));
  const sum = exp.reduce((a, b) => a + b, 0);
  return exp.map((e) => e / sum);
}

/**
 * Uncertainty of one sample, larger = less sure, with p = softmax(logits):
 * - least-confidence: 1 − max p
 * - margin: −(p₁ − p₂), p₁ and p₂ the two largest (a small margin is uncertain)
 * - entropy: −Σ p·ln p
 */
export function uncertainty(strategy: Exclude<StrategyName, 'random'>, logits: readonly number[]): number {
  const p = softmax(logits);
  switch (strategy) {
    case 'least-confidence':
      return 1 - Math.max(...p);
    case 'margin': {
      const [first, second = 0] = [...p].sort((a, b) => b - a);
      return -(first - second);
    }
    case 'entropy':
      return -p.reduce((h, q) => (q > 0 ? h + q * Math.log(q) : h), 0);
  }
}

/**
 * The `count` indices to label next. Random draws with the seeded generator; the others take
 * the most uncertain first, ties broken by the smaller index, so a run can be repeated.
 */
export function selectNext(
  strategy: StrategyName,
  outputs: ReadonlyMap<number, unknown>,
  count: number,
  random: () => number,
): number[] {
  const candidates = [...outputs.keys()].sort((a, b) => a - b);
  if (strategy === 'random') return sample(candidates, count, random);
  const scored = candidates.map((index) => ({ index, score: uncertainty(strategy, logitsOf(outputs.get(index), index)) }));
  scored.sort((a, b) => b.score - a.score || a.index - b.index);
  return scored.slice(0, count).map((s) => s.index);
}

/** The logits in an output: a list of numbers, or the `pre_softmax` of a detection output. */
export function logitsOf(output: unknown, index: number): number[] {
  const preSoftmax = (output as { pre_softmax?: unknown } | null)?.pre_softmax;
  const list = Array.isArray(output) ? output : Array.isArray(preSoftmax) ? preSoftmax.flat() : undefined;
  if (!list || list.length === 0 || !list.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw new Error(`infer output for index ${index} is not a list of logits (numbers)`);
  }
  return list as number[];
}
