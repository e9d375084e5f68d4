import { describe, expect, it } from '@jest/globals';

import { kCenterGreedy } from '../../src/simulator/k-center.js';
import { seededRandom } from '../../src/simulator/seeded-random.js';

/** The textbook loop, every distance computed: what the pruned one must agree with. */
function bruteForce(candidates: number[][], centers: number[][], count: number): number[] {
  const d2 = (a: number[], b: number[]) => a.reduce((s, v, k) => s + (v - b[k]) ** 2, 0);
  const nearest = candidates.map((p) => Math.min(Infinity, ...centers.map((c) => d2(p, c))));
  const picked: number[] = [];
  while (picked.length < Math.min(count, candidates.length)) {
    let best = -1;
    nearest.forEach((d, i) => d >= 0 && (best < 0 || d > nearest[best]) && (best = i));
    picked.push(best);
    nearest[best] = -1;
    candidates.forEach((p, i) => nearest[i] >= 0 && (nearest[i] = Math.min(nearest[i], d2(p, candidates[best]))));
  }
  return picked;
}

describe('k-center greedy', () => {
  it('picks the point farthest from the centers first, then the one farthest from every pick so far', () => {
    //  0: (0,0) is a center; candidates on a line at x = 1, 5, 9, 10.
    const candidates = [
      [1, 0],
      [5, 0],
      [9, 0],
      [10, 0],
    ];
    expect(kCenterGreedy(candidates, [[0, 0]], 1)).toEqual([3]);
    // After (10,0): 5 is 5 from both ends, the farthest left; then 1 (1 from the center) and 9 (1 from 10) tie.
    expect(kCenterGreedy(candidates, [[0, 0]], 4)).toEqual([3, 1, 0, 2]);
  });

  it('breaks ties by the smaller position, and starts at position 0 with no center', () => {
    const square = [
      [1, 1],
      [-1, 1],
      [-1, -1],
      [1, -1],
    ];
    // Each corner is nearer the center at the origin than any other corner: every pick is a tie.
    expect(kCenterGreedy(square, [[0, 0]], 4)).toEqual([0, 1, 2, 3]);
    // No center: the first position, then the corner opposite it (farther than its neighbours).
    expect(kCenterGreedy(square, [], 2)).toEqual([0, 2]);
  });

  it('never picks a point twice, even among duplicates, and stops at the candidates it has', () => {
    const same = [
      [2, 2],
      [2, 2],
      [2, 2],
    ];
    expect(kCenterGreedy(same, [[2, 2]], 5)).toEqual([0, 1, 2]);
    expect(kCenterGreedy([], [[0]], 3)).toEqual([]);
    expect(kCenterGreedy(same, [], 0)).toEqual([]);
  });

  it('refuses vectors of different lengths, naming which', () => {
    expect(() => kCenterGreedy([[1, 2], [3]], [], 1)).toThrow(
      'k-center greedy needs vectors of one length: candidate 1 has 1, the first candidate 2',
    );
    expect(() => kCenterGreedy([[1, 2]], [[1, 2, 3]], 1)).toThrow('center 0 has 3');
  });

  it('picks what computing every distance picks, on spread and on clustered points', () => {
    const random = seededRandom(5);
    const spread = (n: number, dims: number) => Array.from({ length: n }, () => Array.from({ length: dims }, () => random()));
    // Tight clusters around 8 centers: where the triangle inequality skips the most.
    const hubs = spread(8, 6).map((hub) => hub.map((v) => v * 100));
    const clustered = (n: number) => Array.from({ length: n }, (_, i) => hubs[i % 8].map((v) => v + random()));
    for (const [candidates, centers] of [
      [spread(400, 5), spread(30, 5)],
      [clustered(400), clustered(20)],
      [spread(300, 3), []],
    ]) {
      expect(kCenterGreedy(candidates, centers, 60)).toEqual(bruteForce(candidates, centers, 60));
    }
  });

  it('agrees with every distance computed when the labeled centers far outnumber the candidates', () => {
    const random = seededRandom(9);
    const points = (n: number) => Array.from({ length: n }, () => [random(), random(), random()]);
    // 2,100 centers: past the matrix of center distances; 30 candidates: fewer than half the centers.
    for (const [candidates, centers] of [
      [points(30), points(2100)],
      [points(30), points(200)],
    ]) {
      expect(kCenterGreedy(candidates, centers, 10)).toEqual(bruteForce(candidates, centers, 10));
    }
  });

  it('orders huge values as small ones: no square overflows to a tie', () => {
    // 2 is farthest from 0; then 1 and −1 are both 1 from a center: the smaller position first.
    expect(kCenterGreedy([[0], [1e155], [2e155], [-1e155]], [[0]], 3)).toEqual([2, 1, 3]);
    expect(kCenterGreedy([[0], [1], [2], [-1]], [[0]], 3)).toEqual([2, 1, 3]);
  });

  it('refuses a count that is not a whole number, and values that are not finite', () => {
    expect(() => kCenterGreedy([[1], [2]], [], 1.5)).toThrow('k-center greedy picks a count of 0 or more, not 1.5');
    expect(() => kCenterGreedy([[1], [NaN]], [], 1)).toThrow('k-center greedy needs finite numbers: candidate 1 holds NaN');
    expect(() => kCenterGreedy([[1]], [[Infinity]], 1)).toThrow('center 0 holds Infinity');
  });
});
