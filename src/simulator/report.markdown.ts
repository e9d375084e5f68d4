import type { Comparison } from './comparison.js';
import { labeledRange, labelsCell, leftOutNote, meanAndSpread, percent } from './format.js';
import { HEADLINE } from './headline.js';
import type { SimulationReport } from './report.model.js';

/** The summary as Markdown, as the command prints it and the README shows it: the curves, then the comparison. */
export function summaryMarkdown(report: SimulationReport): string {
  const { strategies, task, seeds } = report.config;
  const figure = HEADLINE[task];
  const over =
    seeds.length === 1 ? `seed ${seeds[0]}` : `mean over seeds ${seeds.join(', ')} ± sample standard deviation, in points`;
  const lines = [
    `Test ${figure} by labeled count (${over}):`,
    '',
    `| labeled | ${strategies.join(' | ')} |`,
    `| ---: | ${strategies.map(() => '---:').join(' | ')} |`,
  ];
  for (const row of report.summary) {
    const cells = strategies.map((s) => (row.strategies[s] ? meanAndSpread(row.strategies[s]!) : ''));
    lines.push(`| ${row.labeled_count} | ${cells.join(' | ')} |`);
  }
  const comparison = comparisonMarkdown(report.comparison, figure);
  return comparison ? `${lines.join('\n')}\n\n${comparison}` : lines.join('\n');
}

function comparisonMarkdown(comparison: Comparison, figure: string): string {
  if (comparison.labeled === null || comparison.strategies.length === 0) return '';
  const [first, last] = comparison.labeled;
  const header = ['strategy', `area under the curve, ${labeledRange(first, last)}`, `${figure} at ${last}`];
  if (comparison.target !== null) header.push(`labels to reach ${percent(comparison.target)}`);
  const lines = [
    `| ${header.join(' | ')} |`,
    `| --- | ${header
      .slice(1)
      .map(() => '---:')
      .join(' | ')} |`,
  ];
  for (const row of comparison.strategies) {
    const cells = [row.strategy, meanAndSpread(row.aulc), meanAndSpread(row.final)];
    if (row.labels_to_target) cells.push(labelsCell(row.labels_to_target));
    lines.push(`| ${cells.join(' | ')} |`);
  }
  if (comparison.runs_left_out > 0) lines.push('', leftOutNote(comparison.runs_left_out));
  return lines.join('\n');
}
