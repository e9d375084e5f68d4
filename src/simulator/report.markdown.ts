import { percent } from './format.js';
import { HEADLINE } from './headline.js';
import type { SimulationReport } from './report.model.js';

/** The summary as a Markdown table, as the README shows it. */
export function summaryMarkdown(report: SimulationReport): string {
  const { strategies, task } = report.config;
  const lines = [
    `| labeled | ${strategies.map((s) => `${s} (mean ${HEADLINE[task]})`).join(' | ')} |`,
    `| ---: | ${strategies.map(() => '---:').join(' | ')} |`,
  ];
  for (const row of report.summary) {
    const cells = strategies.map((s) => (row.mean[s] ? percent(row.mean[s]!.mean) : ''));
    lines.push(`| ${row.labeled_count} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}
