import { describe, expect, it } from '@jest/globals';

import { softmax, vectorsOf } from '../../src/simulator/infer-outputs.js';
import { selectNext, uncertainty } from '../../src/simulator/query-strategies.js';
import { sample, seededRandom } from '../../src/simulator/seeded-random.js';

describe('query strategies', () => {
  const sure = [10, 0, 0]; // p ≈ [1, 0, 0]
  const even = [0, 0, 0]; // p = [1/3, 1/3, 1/3]
  const torn = [Math.log(2), Math.log(2), 0]; // p = [0.4, 0.4, 0.2]

  it('softmax is shift-invariant and sums to 1', () => {
    expect(softmax(torn).map((p) => +p.toFixed(6))).toEqual([0.4, 0.4, 0.2]);
    expect(softmax([1000, 1000])).toEqual([0.5, 0.5]);
  });

  it('least confidence is 1 − max p', () => {
    expect(uncertainty('least-confidence', even)).toBeCloseTo(2 / 3);
    expect(uncertainty('least-confidence', torn)).toBeCloseTo(0.6);
    expect(uncertainty('least-confidence', sure)).toBeCloseTo(1 - 1 / (1 + 2 * Math.exp(-10)));
  });

  it('margin is 1 − (p₁ − p₂): 1 for a tie, 0 for a sure model, never below', () => {
    expect(uncertainty('margin', torn)).toBeCloseTo(1);
    expect(uncertainty('margin', [Math.log(3), 0])).toBeCloseTo(1 - (0.75 - 0.25));
    expect(uncertainty('margin', [1000, 0])).toBeCloseTo(0);
  });

  it('entropy is −Σ p ln p', () => {
    expect(uncertainty('entropy', even)).toBeCloseTo(Math.log(3));
    expect(uncertainty('entropy', torn)).toBeCloseTo(-(2 * 0.4 * Math.log(0.4) + 0.2 * Math.log(0.2)));
    expect(uncertainty('entropy', [1000, 0])).toBeCloseTo(0);
  });

  it('takes the most uncertain first, ties to the smaller index', () => {
    const outputs = new Map<number, number[]>([
      [9, sure],
      [4, even],
      [2, torn],
      [7, even],
    ]);
    expect(selectNext('entropy', outputs, 3, seededRandom(1))).toEqual([4, 7, 2]);
    expect(selectNext('least-confidence', outputs, 2, seededRandom(1))).toEqual([4, 7]);
    expect(selectNext('margin', outputs, 1, seededRandom(1))).toEqual([2]);
  });

  describe('on detection outputs', () => {
    const detection = (...rows: number[][]) => ({
      boxes: rows.map(() => [0, 0, 1, 1]),
      pre_softmax: rows,
      scores: rows.map(() => 0.9),
    });
    // Image 1: one torn box; image 2: three boxes, two sure and one even; image 3: no box at all.
    const outputs = new Map<number, unknown>([
      [1, detection(torn)],
      [2, detection(sure, sure, even)],
      [3, detection()],
    ]);
    const pick = (aggregate: 'max' | 'mean' | 'sum') =>
      selectNext('entropy', outputs, 3, seededRandom(1), { task: 'detection', aggregate });

    it('scores each box by the softmax of its own row, never one softmax over all boxes, and aggregates per image', () => {
      expect(pick('max')).toEqual([2, 1, 3]); // its even box is the most uncertain box of all
      expect(pick('mean')).toEqual([1, 2, 3]); // its two sure boxes pull its mean down
      expect(pick('sum')[0]).toBe(2);
    });

    it('sums and averages margins as uncertainties: two torn boxes outrank one', () => {
      const margins = new Map<number, unknown>([
        [1, detection(torn)],
        [2, detection(torn, torn)],
      ]);
      expect(selectNext('margin', margins, 2, seededRandom(1), { task: 'detection', aggregate: 'sum' })).toEqual([2, 1]);
    });

    it('ranks an image with no box after every image with one, even a box the model is sure of', () => {
      const withEmptyFirst = new Map<number, unknown>([
        [0, detection()],
        [1, detection([1000, 0, 0])],
        [2, detection([0, 0.1, 0])],
      ]);
      for (const strategy of ['least-confidence', 'margin', 'entropy'] as const) {
        for (const aggregate of ['max', 'mean', 'sum'] as const) {
          expect(selectNext(strategy, withEmptyFirst, 3, seededRandom(1), { task: 'detection', aggregate })).toEqual([2, 1, 0]);
        }
      }
    });

    it('takes an image with no box as a valid output: last for every strategy, any for random', () => {
      for (const strategy of ['least-confidence', 'margin', 'entropy'] as const) {
        expect(selectNext(strategy, outputs, 3, seededRandom(1), { task: 'detection', aggregate: 'max' }).at(-1)).toBe(3);
      }
      expect(selectNext('random', outputs, 3, seededRandom(1), { task: 'detection', aggregate: 'max' }).sort()).toEqual([
        1, 2, 3,
      ]);
    });

    it('refuses a detection output whose rows do not match its boxes', () => {
      const broken = new Map<number, unknown>([[5, { boxes: [[0, 0, 1, 1]], pre_softmax: [], scores: [1] }]]);
      expect(() => selectNext('entropy', broken, 1, seededRandom(1), { task: 'detection', aggregate: 'max' })).toThrow(
        'infer output for index 5 is not a detection output {boxes, pre_softmax, scores} with one row of numbers per box',
      );
    });
  });

  it('reads a classification output as logits, never a detection value', () => {
    expect(() => selectNext('entropy', new Map([[1, { pre_softmax: [[0, 0]] }]]), 1, seededRandom(1))).toThrow(
      'infer output for index 1 is not a list of logits (numbers)',
    );
  });

  it('draws the same random selection from the same seed, another from another', () => {
    const outputs = new Map(Array.from({ length: 100 }, (_, i) => [i, [0, 1]] as [number, number[]]));
    const a = selectNext('random', outputs, 10, seededRandom(42));
    expect(selectNext('random', outputs, 10, seededRandom(42))).toEqual(a);
    expect(selectNext('random', outputs, 10, seededRandom(43))).not.toEqual(a);
    expect(new Set(a).size).toBe(10);
  });

  it('samples without repeats, and no more than there is', () => {
    expect(sample([1, 2, 3], 5, seededRandom(3)).sort()).toEqual([1, 2, 3]);
  });

  it('refuses an output that holds no logits', () => {
    const outputs = new Map<number, unknown>([[3, 'cat']]);
    expect(() => selectNext('entropy', outputs, 1, seededRandom(1))).toThrow(
      'infer output for index 3 is not a list of logits (numbers)',
    );
  });

  describe('core-set and margin-core-set', () => {
    // Logits on a line: the labeled sample sits at 0; candidates at 1, 2, 8 and 9.
    const outputs = new Map<number, number[]>([
      [10, [1, 0]],
      [11, [2, 0]],
      [12, [8, 0]],
      [13, [9, 0]],
    ]);
    const labeled = new Map<number, number[]>([[0, [0, 0]]]);

    it('core-set picks the output farthest from the labeled ones, then from its picks', () => {
      expect(selectNext('core-set', outputs, 2, seededRandom(1), undefined, labeled)).toEqual([13, 11]);
      // With the labeled sample far to the right, the left end comes first.
      expect(selectNext('core-set', outputs, 1, seededRandom(1), undefined, new Map([[0, [20, 0]]]))).toEqual([10]);
    });

    it('core-set is deterministic: the seed does not change it', () => {
      expect(selectNext('core-set', outputs, 3, seededRandom(1), undefined, labeled)).toEqual(
        selectNext('core-set', outputs, 3, seededRandom(99), undefined, labeled),
      );
    });

    it('margin-core-set shortlists the 10 × batch lowest margins, then picks diverse ones among them', () => {
      // 30 candidates: 0-19 sure (margin 0), 20-29 torn (p ≈ 0.5/0.5) along a line of logits.
      const pool = new Map<number, number[]>();
      for (let i = 0; i < 20; i++) pool.set(i, [50 + i, 0]);
      for (let i = 20; i < 30; i++) pool.set(i, [i / 1000, 0]);
      // A batch of 1 shortlists the 10 most torn, 20-29, and takes the one farthest from the labeled [0, 0].
      expect(selectNext('margin-core-set', pool, 1, seededRandom(1), undefined, new Map([[99, [0, 0]]]))).toEqual([29]);
      // Core-set alone goes for the farthest output of all, a sure one.
      expect(selectNext('core-set', pool, 1, seededRandom(1), undefined, new Map([[99, [0, 0]]]))).toEqual([19]);
    });

    it('measures a detector output by its embedding when every output carries one', () => {
      const detection = (embedding?: number[]) => ({
        boxes: [[0, 0, 1, 1]],
        pre_softmax: [[0, 1]],
        scores: [0.5],
        ...(embedding ? { embedding } : {}),
      });
      const scenes = new Map<number, unknown>([
        [1, detection([0, 0, 1])],
        [2, detection([0, 0, 7])],
      ]);
      const settings = { task: 'detection' as const, aggregate: 'max' as const };
      expect(selectNext('core-set', scenes, 1, seededRandom(1), settings, new Map([[0, detection([0, 0, 0])]]))).toEqual([2]);
      expect(() =>
        selectNext('core-set', new Map([...scenes, [3, detection()]]), 1, seededRandom(1), settings, new Map()),
      ).toThrow('infer output for index 3 has no "embedding", which 2 other outputs carry');
    });
  });

  describe('the vectors core-set measures', () => {
    it('a detection output without embedding: per class the largest box probability, zeros for no box', () => {
      const vectors = vectorsOf(
        [
          [
            0,
            {
              boxes: [
                [0, 0, 1, 1],
                [0, 0, 1, 1],
              ],
              pre_softmax: [
                [Math.log(3), 0],
                [0, Math.log(4)],
              ],
              scores: [1, 1],
            },
          ],
          [1, { boxes: [], pre_softmax: [], scores: [] }],
        ],
        'detection',
      );
      expect(vectors[0].map((v) => +v.toFixed(6))).toEqual([0.75, 0.8]);
      expect(vectors[1]).toEqual([0, 0]);
    });

    it('refuses vectors of different lengths and a broken embedding, naming the index', () => {
      expect(() =>
        vectorsOf(
          [
            [4, [1, 2]],
            [5, [1, 2, 3]],
          ],
          'classification',
        ),
      ).toThrow(
        'infer output for index 5 gives a vector of 3 numbers where the others give 2: core-set measures distances between vectors of one length',
      );
      expect(() => vectorsOf([[6, { boxes: [], pre_softmax: [], scores: [], embedding: [1, 'x'] }]], 'detection')).toThrow(
        'infer output for index 6 has an "embedding" that is not a non-empty list of numbers',
      );
    });
  });
});
