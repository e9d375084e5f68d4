import { percent } from './format.js';
import { HEADLINE, headline, type SimulatedTask } from './headline.js';
import type { RunRecord } from './loop.simulator.js';
import type { StrategyName } from './query-strategies.js';
import type { SimulationReport } from './report.model.js';

const COLORS: Record<StrategyName, string> = {
  random: '#8a8a8a',
  'least-confidence': '#d9822b',
  margin: '#2b8a3e',
  entropy: '#1c64d9',
};

const escape = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const STYLE = `body { font: 14px system-ui, sans-serif; margin: 2em; color: #222; }
svg text { font: 12px system-ui, sans-serif; fill: #444; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #ddd; padding: 4px 8px; text-align: right; }
small { color: #777; }`;

const FOOTNOTE =
  'The whole record, with per-class metrics, confusion matrices, selections, timings and sizes, ' +
  'is in report.json beside this page.';

/** A page that needs nothing but itself: the learning curves as inline SVG, and the tables. */
export function reportHtml(report: SimulationReport): string {
  const { config } = report;
  const figure = HEADLINE[config.task];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Active-learning simulation: ${escape(config.url)}</title>
<style>
${STYLE}
</style>
</head>
<body>
<h1>Learning curve</h1>
<p>${escape(config.url)} · pool ${config.pool_size} · ${config.initial} labeled at loop 0, +${config.batch} per loop ·
${config.loops} loops · seeds ${config.seeds.join(', ')} · ${escape(report.generated_at)}</p>
${learningCurve(report)}
<h2>Mean ${figure} by labeled count</h2>
${summaryTable(report)}
<h2>Every loop</h2>
${loopTable(report.runs, config.task)}
<p>${FOOTNOTE}</p>
</body>
</html>
`;
}

/** The headline figure (accuracy, mAP@0.5) against labeled count: a line and a dot per loop for every run, coloured by strategy. */
function learningCurve(report: SimulationReport): string {
  const { config, runs } = report;
  const figure = HEADLINE[config.task];
  const width = 760;
  const height = 420;
  const margin = { left: 76, right: 20, top: 20, bottom: 50 };
  const points = runs.flatMap((run) => run.loops.map((l) => ({ x: l.labeled_count, y: headline(l.metrics) })));
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
    const path = run.loops.map((l) => `${px(l.labeled_count).toFixed(1)},${py(headline(l.metrics)).toFixed(1)}`).join(' ');
    const dots = run.loops
      .map(
        (l) =>
          `<circle class="point" data-strategy="${run.strategy}" data-seed="${run.seed}" ` +
          `cx="${px(l.labeled_count).toFixed(1)}" cy="${py(headline(l.metrics)).toFixed(1)}" r="4" fill="${color}">` +
          `<title>${run.strategy}, seed ${run.seed}: ` +
          `${l.labeled_count} labeled, ${figure} ${percent(headline(l.metrics))}</title></circle>`,
      )
      .join('');
    const line = `<polyline points="${path}" fill="none" stroke="${color}" stroke-opacity="0.6" stroke-width="2"/>`;
    return `<g class="run">${line}${dots}</g>`;
  });
  const legend = config.strategies
    .map(
      (s, i) =>
        `<g transform="translate(${margin.left + 10 + i * 150},${margin.top})">` +
        `<rect width="12" height="12" fill="${COLORS[s]}"/><text x="18" y="11">${s}</text></g>`,
    )
    .join('');

  return [
    `<svg id="learning-curve" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" role="img" ` +
      `aria-label="test ${figure} against labeled count">`,
    grid.join('\n'),
    `<text x="${(margin.left + width - margin.right) / 2}" y="${height - 8}" text-anchor="middle">labeled samples</text>`,
    `<text transform="translate(14,${(margin.top + height - margin.bottom) / 2}) rotate(-90)" text-anchor="middle">` +
      `test ${figure}</text>`,
    legend,
    series.join('\n'),
    '</svg>',
  ].join('\n');
}

/** Each strategy's mean headline figure at each labeled count, with the number of runs it averages. */
function summaryTable(report: SimulationReport): string {
  const { strategies } = report.config;
  const rows = report.summary.map((row) =>
    tableRow([
      row.labeled_count,
      ...strategies.map((s) => (row.mean[s] ? `${percent(row.mean[s]!.mean)} <small>(${row.mean[s]!.runs})</small>` : '')),
    ]),
  );
  return table(['labeled', ...strategies], rows);
}

/** One row per loop of every run: its figures, how long training and inference took, how big the answer was. */
function loopTable(runs: RunRecord[], task: SimulatedTask): string {
  const rows = runs.flatMap((run) =>
    run.loops.map((l) => {
      const m = l.metrics;
      const figures = 'map50' in m ? [percent(m.map50), percent(m.mapCoco)] : [percent(m.accuracy), percent(m.macroF1)];
      return tableRow([
        run.strategy,
        run.seed,
        l.loop,
        l.labeled_count,
        ...figures,
        `${(l.timings.train / 1000).toFixed(2)} s`,
        `${(l.timings.infer / 1000).toFixed(2)} s`,
        `${(l.sizes.infer.response / 1024).toFixed(0)} KiB`,
      ]);
    }),
  );
  const figures = task === 'detection' ? ['mAP@0.5', 'mAP@0.5:0.95'] : ['accuracy', 'macro F1'];
  const header = ['strategy', 'seed', 'loop', 'labeled', ...figures, 'train', 'infer', 'infer answer'];
  return table(header, rows);
}

const table = (header: string[], rows: string[]): string =>
  `<table><tr>${header.map((h) => `<th>${h}</th>`).join('')}</tr>${rows.join('')}</table>`;

const tableRow = (cells: Array<string | number>): string => `<tr>${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`;
