import type { RunRecord } from './loop.simulator.js';
import { mean } from './metrics.js';
import type { StrategyName } from './query-strategies.js';

/** What the simulation was asked to do, as report.json records it. */
export interface SimulationConfig {
  url: string;
  pool_size: number;
  initial: number;
  batch: number;
  loops: number;
  strategies: StrategyName[];
  seeds: number[];
}

/** One row of the comparison: a labeled count and the mean accuracy of each strategy at it. */
export interface SummaryRow {
  loop: number;
  labeled_count: number;
  /** Mean test accuracy over the seeds that reached this loop, per strategy. */
  accuracy: Partial<Record<StrategyName, { mean: number; runs: number }>>;
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

/** One row per loop that at least one run reached, with each strategy's mean accuracy over its seeds. */
export function summarize(config: SimulationConfig, runs: RunRecord[]): SummaryRow[] {
  const rows: SummaryRow[] = [];
  for (let loop = 0; loop < config.loops; loop++) {
    const reached = runs.map((run) => run.loops[loop]).filter(Boolean);
    if (reached.length === 0) break;
    const row: SummaryRow = { loop, labeled_count: reached[0].labeled_count, accuracy: {} };
    for (const strategy of config.strategies) {
      const accuracies = runs.filter((r) => r.strategy === strategy && r.loops[loop]).map((r) => r.loops[loop].metrics.accuracy);
      if (accuracies.length > 0) row.accuracy[strategy] = { mean: mean(accuracies), runs: accuracies.length };
    }
    rows.push(row);
  }
  return rows;
}
