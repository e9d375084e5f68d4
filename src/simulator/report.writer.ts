import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { RunRecord } from './loop.simulator.js';
import type { StrategyName } from './query-strategies.js';

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

export interface SimulationReport {
  generated_at: string;
  config: SimulationConfig;
  summary: SummaryRow[];
  runs: RunRecord[];
}

export function buildReport(config: SimulationConfig, runs: RunRecord[]): SimulationReport {
  return { generated_at: new Date().toISOString(), config, summary: summarize(config, runs), runs };
}

export function summarize(config: SimulationConfig, runs: RunRecord[]): SummaryRow[] {
  const rows: SummaryRow[] = [];
  for (let loop = 0; loop < config.loops; loop++) {
    const reached = runs.map((run) => run.loops[loop]).filter(Boolean);
    if (reached.length === 0) break;
    const row: SummaryRow = { loop, labeled_count: reached[0].labeled_count, accuracy: {} };
    for (const strategy of config.strategies) {
      const accuracies = runs.filter((r) => r.strategy === strategy && r.loops[loop]).map((r) => r.loops[loop].metrics.accuracy);
      if (accuracies.length > 0) {
        row.accuracy[strategy] = { mean: accuracies.reduce((a, b) => a + b, 0) / accuracies.length, runs: accuracies.length };
      }
    }
    rows.push(row);
  }
  return rows;
}

/** The summary as a Markdown table, as the README shows it. */
export function summaryMarkdown(report: SimulationReport): string {
  const { strategies } = report.config;
  const lines = [
    `| labeled | ${strategies.map((s) => `${s} (mean accuracy)`).join(' | ')} |`,
    `| ---: | ${strategies.map(() => '---:').join(' | ')} |`,
  ];
  for (const row of report.summary) {
    const cells = strategies.map((s) => (row.accuracy[s] ? `${(row.accuracy[s]!.mean * 100).toFixed(1)}%` : ''));
    lines.push(`| ${row.labeled_count} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** Rewrites `report.json` and `report.html` in `dir`; each file is replaced whole, never half-written. */
export function writeReport(dir: string, report: SimulationReport): void {
  mkdirSync(dir, { recursive: true });
  replace(join(dir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  replace(join(dir, 'report.html'), reportHtml(report));
}

function replace(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

const COLORS: Record<StrategyName, string> = {
  random: '#8a8a8a',
  'least-confidence': '#d9822b',
  margin: '#2b8a3e',
  entropy: '#1c64d9',
};

const escape = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const percent = (value: number): string => `${(value * 100).toFixed(1)}%`;

/** A page that needs nothing but itself: the learning curves as inline SVG, and the tables. */
export function reportHtml(report: SimulationReport): string {
  const { config, runs } = report;
  const width = 760;
  const height = 420;
  const margin = { left: 76, right: 20, top: 20, bottom: 50 };
  const points = runs.flatMap((run) => run.loops.map((l) => ({ x: l.labeled_count, y: l.metrics.accuracy })));
  const xMin = Math.min(...points.map((p) => p.x), config.initial);
  const xMax = Math.max(...points.map((p) => p.x), xMin + 1);
  const yMin = Math.max(0, Math.floor((Math.min(...points.map((p) => p.y), 1) - 0.05) * 10) / 10);
  const yMax = 1;
  const px = (x: number) => margin.left + ((x - xMin) / (xMax - xMin)) * (width - margin.left - margin.right);
  const py = (y: number) => height - margin.bottom - ((y - yMin) / (yMax - yMin || 1)) * (height - margin.top - margin.bottom);

  const grid: string[] = [];
  for (let i = 0; i <= 5; i++) {
    const y = yMin + ((yMax - yMin) * i) / 5;
    grid.push(
      `<line x1="${margin.left}" x2="${width - margin.right}" y1="${py(y)}" y2="${py(y)}" stroke="#e4e4e4"/>` +
        `<text x="${margin.left - 8}" y="${py(y) + 4}" text-anchor="end">${percent(y)}</text>`,
    );
    const x = xMin + ((xMax - xMin) * i) / 5;
    grid.push(`<text x="${px(x)}" y="${height - margin.bottom + 18}" text-anchor="middle">${Math.round(x)}</text>`);
  }
  const series = runs.map((run) => {
    const color = COLORS[run.strategy];
    const path = run.loops.map((l) => `${px(l.labeled_count).toFixed(1)},${py(l.metrics.accuracy).toFixed(1)}`).join(' ');
    const dots = run.loops
      .map(
        (l) =>
          `<circle class="point" data-strategy="${run.strategy}" data-seed="${run.seed}" cx="${px(l.labeled_count).toFixed(1)}" ` +
          `cy="${py(l.metrics.accuracy).toFixed(1)}" r="4" fill="${color}"><title>${run.strategy}, seed ${run.seed}: ` +
          `${l.labeled_count} labeled, accuracy ${percent(l.metrics.accuracy)}</title></circle>`,
      )
      .join('');
    return `<g class="run"><polyline points="${path}" fill="none" stroke="${color}" stroke-opacity="0.6" stroke-width="2"/>${dots}</g>`;
  });
  const legend = config.strategies
    .map(
      (s, i) =>
        `<g transform="translate(${margin.left + 10 + i * 150},${margin.top})"><rect width="12" height="12" fill="${COLORS[s]}"/><text x="18" y="11">${s}</text></g>`,
    )
    .join('');

  const summaryRows = report.summary
    .map(
      (row) =>
        `<tr><td>${row.labeled_count}</td>${config.strategies.map((s) => `<td>${row.accuracy[s] ? `${percent(row.accuracy[s]!.mean)} <small>(${row.accuracy[s]!.runs})</small>` : ''}</td>`).join('')}</tr>`,
    )
    .join('');
  const runRows = runs
    .flatMap((run) =>
      run.loops.map(
        (l) =>
          `<tr><td>${run.strategy}</td><td>${run.seed}</td><td>${l.loop}</td><td>${l.labeled_count}</td><td>${percent(l.metrics.accuracy)}</td>` +
          `<td>${percent(l.metrics.macroF1)}</td><td>${(l.timings.train / 1000).toFixed(2)} s</td><td>${(l.timings.infer / 1000).toFixed(2)} s</td>` +
          `<td>${(l.sizes.infer.response / 1024).toFixed(0)} KiB</td></tr>`,
      ),
    )
    .join('');

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Active-learning simulation: ${escape(config.url)}</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 2em; color: #222; }
svg text { font: 12px system-ui, sans-serif; fill: #444; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #ddd; padding: 4px 8px; text-align: right; }
small { color: #777; }
</style>
</head>
<body>
<h1>Learning curve</h1>
<p>${escape(config.url)} · pool ${config.pool_size} · ${config.initial} labeled at loop 0, +${config.batch} per loop ·
${config.loops} loops · seeds ${config.seeds.join(', ')} · ${escape(report.generated_at)}</p>
<svg id="learning-curve" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" role="img" aria-label="test accuracy against labeled count">
${grid.join('\n')}
<text x="${(margin.left + width - margin.right) / 2}" y="${height - 8}" text-anchor="middle">labeled samples</text>
<text transform="translate(14,${(margin.top + height - margin.bottom) / 2}) rotate(-90)" text-anchor="middle">test accuracy</text>
${legend}
${series.join('\n')}
</svg>
<h2>Mean accuracy by labeled count</h2>
<table><tr><th>labeled</th>${config.strategies.map((s) => `<th>${s}</th>`).join('')}</tr>${summaryRows}</table>
<h2>Every loop</h2>
<table><tr><th>strategy</th><th>seed</th><th>loop</th><th>labeled</th><th>accuracy</th><th>macro F1</th><th>train</th><th>infer</th><th>infer answer</th></tr>${runRows}</table>
<p>The whole record, with per-class metrics, confusion matrices, selections, timings and sizes, is in report.json beside this page.</p>
</body>
</html>
`;
}
