import { describe, expect, it } from '@jest/globals';

import { areaUnderCurve, compareStrategies, labelsToReach, spreadOf } from '../../src/simulator/comparison.js';
import type { LoopRecord, RunRecord } from '../../src/simulator/loop.simulator.js';
import type { ClassificationMetrics } from '../../src/simulator/metrics.js';
import type { StrategyName } from '../../src/simulator/query-strategies.js';

function run(strategy: StrategyName, seed: number, accuracies: number[]): RunRecord {
  const size = { request: 1, response: 1 };
  const loops: LoopRecord[] = accuracies.map((accuracy, loop) => ({
    loop,
    ckpt_file: `ckpt_${loop}`,
    resume_from: loop ? `ckpt_${loop - 1}` : null,
    labeled_count: 100 + 100 * loop,
    selected: [],
    metrics: { accuracy } as ClassificationMetrics,
    timings: { train: 1, test: 1, infer: 1, select: 1 },
    sizes: { train: size, test: size, infer: size },
  }));
  return { strategy, seed, initial: [], loops };
}

describe('the comparison figures', () => {
  it('spreads: mean, sample standard deviation, least and largest', () => {
    expect(spreadOf([0.5, 0.7, 0.9])).toEqual({
      mean: expect.closeTo(0.7, 12),
      std: expect.closeTo(0.2, 12),
      min: 0.5,
      max: 0.9,
      runs: 3,
    });
    expect(spreadOf([0.4])).toEqual({ mean: 0.4, std: 0, min: 0.4, max: 0.4, runs: 1 });
  });

  it('the area under a hand-made curve, divided by its labeled range', () => {
    // Trapezoids: (0.5+0.7)/2×100 + (0.7+0.8)/2×200 = 60 + 150 = 210 over 300 labels.
    const curve = [
      { labeled: 100, value: 0.5 },
      { labeled: 200, value: 0.7 },
      { labeled: 400, value: 0.8 },
    ];
    expect(areaUnderCurve(curve)).toBeCloseTo(0.7, 12);
    expect(areaUnderCurve([{ labeled: 100, value: 0.42 }])).toBe(0.42);
  });

  it('the labels to reach a target: the first budget at or above it, null when never', () => {
    const curve = [
      { labeled: 100, value: 0.5 },
      { labeled: 200, value: 0.85 },
      { labeled: 300, value: 0.8 },
    ];
    expect(labelsToReach(curve, 0.85)).toBe(200);
    expect(labelsToReach(curve, 0.5)).toBe(100);
    expect(labelsToReach(curve, 0.9)).toBeNull();
  });

  it('compares the strategies over their finished runs, on the same budgets, with the target per seed', () => {
    const runs = [
      run('entropy', 1, [0.5, 0.8, 0.9]),
      run('entropy', 2, [0.5, 0.7, 0.9]),
      run('random', 1, [0.5, 0.6, 0.7]),
      run('random', 2, [0.5, 0.6]), // interrupted: left out, the others keep their three loops
    ];
    const comparison = compareStrategies(['entropy', 'random', 'margin'], runs, 0.85, 3);
    expect(comparison).toMatchObject({ target: 0.85, loops: 3, runs_left_out: 1, labeled: [100, 300] });
    expect(comparison.strategies.map((s) => s.strategy)).toEqual(['entropy', 'random']); // margin has no run
    const [entropy, random] = comparison.strategies;
    // Seed 1: (0.65×100 + 0.85×100) / 200 = 0.75; seed 2: (0.6 + 0.8) / 2 = 0.7.
    expect(entropy.aulc.mean).toBeCloseTo(0.725, 12);
    expect(entropy.aulc.runs).toBe(2);
    expect(entropy.final).toMatchObject({ mean: 0.9, min: 0.9, max: 0.9, runs: 2 });
    expect(entropy.labels_to_target).toEqual({ per_run: [300, 300], reached: 2, mean: 300 });
    expect(random.aulc).toMatchObject({ mean: 0.6, runs: 1 });
    expect(random.labels_to_target).toEqual({ per_run: [null], reached: 0, mean: null });
  });

  it('while no run has finished, compares on the loops every run reached; says which reached the target', () => {
    const partly = compareStrategies(['entropy'], [run('entropy', 1, [0.5, 0.8]), run('entropy', 2, [0.5])], 0.8, 3);
    expect(partly).toMatchObject({ loops: 1, runs_left_out: 0, labeled: [100, 100] });
    const split = compareStrategies(['entropy'], [run('entropy', 1, [0.5, 0.8]), run('entropy', 2, [0.5, 0.6])], 0.8, 2);
    expect(split.strategies[0].labels_to_target).toEqual({ per_run: [200, null], reached: 1, mean: null });
    expect(compareStrategies(['entropy'], [run('entropy', 1, [0.5])], null, 1).strategies[0].labels_to_target).toBeNull();
    expect(compareStrategies(['entropy'], [], 0.8, 3)).toEqual({
      target: 0.8,
      loops: 0,
      runs_left_out: 0,
      labeled: null,
      strategies: [],
    });
  });
});
