import { headline } from './headline.js';
import type { RunRecord } from './loop.simulator.js';
import { mean } from './metrics.js';
import type { StrategyName } from './query-strategies.js';

/** One figure over a strategy's seeds: its mean and spread. */
export interface Spread {
  mean: number;
  /** Sample standard deviation (n − 1 in the denominator); 0 for a single run. */
  std: number;
  min: number;
  max: number;
  /** How many runs (seeds) the figures come from. */
  runs: number;
}

/** The mean, the sample standard deviation, the least and the largest of `values` (at least one). */
export function spreadOf(values: readonly number[]): Spread {
  const m = mean(values);
  const squares = values.reduce((sum, v) => sum + (v - m) ** 2, 0);
  return {
    mean: m,
    std: values.length > 1 ? Math.sqrt(squares / (values.length - 1)) : 0,
    min: Math.min(...values),
    max: Math.max(...values),
    runs: values.length,
  };
}

/** One point of a learning curve: the labeled count and the headline figure there. */
export interface CurvePoint {
  labeled: number;
  value: number;
}

/**
 * The area under a learning curve by the trapezoidal rule, divided by the labeled range it
 * spans: the curve's mean height over the budget, in the figure's own unit (an accuracy of 0 to
 * 1), so budgets of different lengths compare. A single point's area is its value.
 */
export function areaUnderCurve(points: readonly CurvePoint[]): number {
  if (points.length === 1) return points[0].value;
  let area = 0;
  for (let i = 1; i < points.length; i++) {
    area += ((points[i].value + points[i - 1].value) / 2) * (points[i].labeled - points[i - 1].labeled);
  }
  const range = points.at(-1)!.labeled - points[0].labeled;
  return range === 0 ? points[0].value : area / range;
}

/** The labeled count of the first point whose figure is at least `target`; null when none is. */
export function labelsToReach(points: readonly CurvePoint[], target: number): number | null {
  return points.find((p) => p.value >= target)?.labeled ?? null;
}

/** The labels a strategy needed to reach the target, per seed. */
export interface LabelsToTarget {
  /** Per run, in the order of the seeds: the labeled count, or null for a run that never reached it. */
  per_run: (number | null)[];
  /** Runs that reached the target. */
  reached: number;
  /** The mean over the runs when every one reached it; null otherwise (a mean of the lucky ones would flatter). */
  mean: number | null;
}

/** One strategy's row of the comparison. */
export interface StrategyComparison {
  strategy: StrategyName;
  /** The area under each run's learning curve (see `areaUnderCurve`), over its seeds. */
  aulc: Spread;
  /** The headline figure at the comparison's last loop, over the seeds. */
  final: Spread;
  /** Present when the simulation was given a target. */
  labels_to_target: LabelsToTarget | null;
}

/** How the strategies compare: over the runs that finished every loop, on the same budgets. */
export interface Comparison {
  /** The `--target` figure, or null when none was given. */
  target: number | null;
  /**
   * Loops 0 to `loops − 1`: every loop of the finished runs. While no run has finished (the
   * first run, or an interrupted report), the loops that every run reached.
   */
  loops: number;
  /** Runs left out because they stopped short (one still running, or interrupted). */
  runs_left_out: number;
  /** The labeled counts of the first and the last of those loops. */
  labeled: [number, number] | null;
  strategies: StrategyComparison[];
}

/**
 * The comparison of `strategies` (in that order) over the runs that finished all `plannedLoops`,
 * so that a run cut short neither shrinks the budgets of the others nor flatters its strategy.
 */
export function compareStrategies(
  strategies: readonly StrategyName[],
  allRuns: readonly RunRecord[],
  target: number | null,
  plannedLoops: number,
): Comparison {
  const finished = allRuns.filter((run) => run.loops.length >= plannedLoops);
  const runs = finished.length > 0 ? finished : allRuns;
  const loops = runs.length === 0 ? 0 : Math.min(...runs.map((run) => run.loops.length));
  const curve = (run: RunRecord): CurvePoint[] =>
    run.loops.slice(0, loops).map((l) => ({ labeled: l.labeled_count, value: headline(l.metrics) }));
  const rows: StrategyComparison[] = [];
  if (loops > 0) {
    for (const strategy of strategies) {
      const curves = runs.filter((run) => run.strategy === strategy).map(curve);
      if (curves.length === 0) continue;
      const perRun = target === null ? [] : curves.map((points) => labelsToReach(points, target));
      const reached = perRun.filter((n): n is number => n !== null);
      rows.push({
        strategy,
        aulc: spreadOf(curves.map(areaUnderCurve)),
        final: spreadOf(curves.map((points) => points.at(-1)!.value)),
        labels_to_target:
          target === null
            ? null
            : { per_run: perRun, reached: reached.length, mean: reached.length === perRun.length ? mean(reached) : null },
      });
    }
  }
  const first = runs[0]?.loops;
  return {
    target,
    loops,
    runs_left_out: allRuns.length - runs.length,
    labeled: loops > 0 ? [first[0].labeled_count, first[loops - 1].labeled_count] : null,
    strategies: rows,
  };
}
