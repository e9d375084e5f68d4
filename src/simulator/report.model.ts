import { compareStrategies, type Comparison, type Spread, spreadOf } from './comparison.js';
import { headline, type SimulatedTask } from './headline.js';
import type { RunRecord } from './loop.simulator.js';
import type { Aggregate, StrategyName } from './query-strategies.js';

/** What the simulation was asked to do, as report.json records it. */
export interface SimulationConfig {
  url: string;
  pool_size: number;
  initial: number;
  batch: number;
  loops: number;
  strategies: StrategyName[];
  seeds: number[];
  /** How /test is scored and /infer read: `classification` (accuracy) or `detection` (mAP). */
  task: SimulatedTask;
  /** For detection: how the boxes' uncertainties make an image's. */
  aggregate?: Aggregate;
  /** `--target`: the headline figure whose labeled cost the comparison reports; absent when none was given. */
  target?: number;
}

/** One row of the learning curves: a labeled count and each strategy's headline figure at it. */
export interface SummaryRow {
  loop: number;
  labeled_count: number;
  /**
   * Per strategy, over its seeds that reached this loop: the mean and spread of the test
   * accuracy (classification) or mAP@0.5 (detection).
   */
  strategies: Partial<Record<StrategyName, Spread>>;
}

/** The whole record of a simulation: the content of report.json, and what the Markdown and the page show. */
export interface SimulationReport {
  generated_at: string;
  config: SimulationConfig;
  summary: SummaryRow[];
  /** Per strategy: the area under its learning curves, its last figure and the labels it needed to reach the target. */
  comparison: Comparison;
  runs: RunRecord[];
}

/** The report of the runs so far, stamped with the current time. */
export function buildReport(config: SimulationConfig, runs: RunRecord[]): SimulationReport {
  return {
    generated_at: new Date().toISOString(),
    config,
    summary: summarize(config, runs),
    comparison: compareStrategies(config.strategies, runs, config.target ?? null, config.loops),
    runs,
  };
}

/** One row per loop that at least one run reached, with each strategy's headline figure over its seeds. */
export function summarize(config: SimulationConfig, runs: RunRecord[]): SummaryRow[] {
  const rows: SummaryRow[] = [];
  for (let loop = 0; loop < config.loops; loop++) {
    const reached = runs.map((run) => run.loops[loop]).filter(Boolean);
    if (reached.length === 0) break;
    const row: SummaryRow = { loop, labeled_count: reached[0].labeled_count, strategies: {} };
    for (const strategy of config.strategies) {
      const figures = runs.filter((r) => r.strategy === strategy && r.loops[loop]).map((r) => headline(r.loops[loop].metrics));
      if (figures.length > 0) row.strategies[strategy] = spreadOf(figures);
    }
    rows.push(row);
  }
  return rows;
}
