import { headline, type SimulatedTask } from './headline.js';
import type { RunRecord } from './loop.simulator.js';
import { mean } from './metrics.js';
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
}

/** One row of the comparison: a labeled count and the mean headline figure of each strategy at it. */
export interface SummaryRow {
  loop: number;
  labeled_count: number;
  /** Over the seeds that reached this loop, per strategy: the mean test accuracy (classification) or mAP@0.5 (detection). */
  mean: Partial<Record<StrategyName, { mean: number; runs: number }>>;
}

/** The whole record of a simulation: the content of report.json, and what the Markdown and the page show. */
export interface SimulationReport {
  generated_at: string;
  config: SimulationConfig;
  summary: SummaryRow[];
  runs: RunRecord[];
}

/** The report of the runs so far, stamped with the current time. */
export function buildReport(config: SimulationConfig, runs: RunRecord[]): SimulationReport {
  return { generated_at: new Date().toISOString(), config, summary: summarize(config, runs), runs };
}

/** One row per loop that at least one run reached, with each strategy's mean headline figure over its seeds. */
export function summarize(config: SimulationConfig, runs: RunRecord[]): SummaryRow[] {
  const rows: SummaryRow[] = [];
  for (let loop = 0; loop < config.loops; loop++) {
    const reached = runs.map((run) => run.loops[loop]).filter(Boolean);
    if (reached.length === 0) break;
    const row: SummaryRow = { loop, labeled_count: reached[0].labeled_count, mean: {} };
    for (const strategy of config.strategies) {
      const figures = runs.filter((r) => r.strategy === strategy && r.loops[loop]).map((r) => headline(r.loops[loop].metrics));
      if (figures.length > 0) row.mean[strategy] = { mean: mean(figures), runs: figures.length };
    }
    rows.push(row);
  }
  return rows;
}
