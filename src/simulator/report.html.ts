import type { DetectionMetrics } from './detection-metrics.js';
import { labeledRange, labelsCell, leftOutNote, meanAndSpread, percent } from './format.js';
import { HEADLINE, headline, type SimulatedTask } from './headline.js';
import type { RunRecord } from './loop.simulator.js';
import type { ClassificationMetrics } from './metrics.js';
import type { StrategyName } from './query-strategies.js';
import type { SimulationReport, SummaryRow } from './report.model.js';

const COLORS: Record<StrategyName, string> = {
  random: '#8a8a8a',
  'least-confidence': '#d9822b',
  margin: '#2b8a3e',
  entropy: '#1c64d9',
  'core-set': '#9c36b5',
  'margin-core-set': '#c2255c',
};

const escape = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

// The seeds' own lines stay hidden until the box before the chart is ticked: no script needed.
const STYLE = `body { font: 14px system-ui, sans-serif; margin: 2em; color: #222; }
svg text { font: 12px system-ui, sans-serif; fill: #444; }
svg#learning-curve { display: block; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #ddd; padding: 4px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
small { color: #777; }
.legend span { margin-right: 1.5em; white-space: nowrap; }
.legend i { display: inline-block; width: 12px; height: 12px; margin-right: 6px; vertical-align: -1px; }
#show-seeds:not(:checked) ~ svg .seeds { display: none; }
details { margin: 0.5em 0; }
summary { cursor: pointer; }
td.diagonal { background: #e7f0fd; font-weight: 600; }`;

const FOOTNOTE =
  "The whole record, with every loop's metrics, selections, timings and sizes, is in report.json beside this page.";

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
<h1>Learning curves</h1>
<p>${escape(config.url)} · pool ${config.pool_size} · ${config.initial} labeled at loop 0, +${config.batch} per loop ·
${config.loops} loops · seeds ${config.seeds.join(', ')} · ${escape(report.generated_at)}</p>
<p class="legend">${config.strategies.map((s) => `<span><i style="background:${COLORS[s]}"></i>${s}</span>`).join('')}</p>
<p>Each line is a strategy's mean over its seeds; the band around it spans their lowest and highest ${figure}.</p>
<input type="checkbox" id="show-seeds"> <label for="show-seeds">show each seed's curve</label>
${learningCurve(report)}
<h2>Comparison</h2>
${comparisonTable(report)}
<h2>Test ${figure} by labeled count</h2>
${summaryTable(report)}
<h2>The last loop of each run</h2>
${lastLoops(report.runs, config.task)}
<h2>Every loop</h2>
${loopTable(report.runs, config.task)}
<p>${FOOTNOTE}</p>
</body>
</html>
`;
}

/**
 * The headline figure (accuracy, mAP@0.5) against labeled count: per strategy, its mean over
 * the seeds as a line with a dot per loop, and the band from the lowest to the highest seed;
 * each seed's own line and dots, hidden until asked for.
 */
function learningCurve(report: SimulationReport): string {
  const { config, runs, summary } = report;
  const figure = HEADLINE[config.task];
  const width = 760;
  const height = 420;
  const margin = { left: 76, right: 20, top: 20, bottom: 50 };
  const points = runs.flatMap((run) => run.loops.map((l) => ({ x: l.labeled_count, y: headline(l.metrics) })));
  const xMin = Math.min(...points.map((p) => p.x), config.initial);
  const xMax = Math.max(...points.map((p) => p.x), xMin + 1);
  const yMin = Math.max(0, Math.floor((Math.min(...points.map((p) => p.y), 1) - 0.05) * 10) / 10);
  const yMax = 1;
  const px = (x: number) => (margin.left + ((x - xMin) / (xMax - xMin)) * (width - margin.left - margin.right)).toFixed(1);
  const py = (y: number) =>
    (height - margin.bottom - ((y - yMin) / (yMax - yMin || 1)) * (height - margin.top - margin.bottom)).toFixed(1);

  const grid: string[] = [];
  for (let i = 0; i <= 5; i++) {
    const y = yMin + ((yMax - yMin) * i) / 5;
    grid.push(
      `<line x1="${margin.left}" x2="${width - margin.right}" y1="${py(y)}" y2="${py(y)}" stroke="#e4e4e4"/>` +
        `<text x="${margin.left - 8}" y="${Number(py(y)) + 4}" text-anchor="end">${percent(y)}</text>`,
    );
    const x = xMin + ((xMax - xMin) * i) / 5;
    grid.push(`<text x="${px(x)}" y="${height - margin.bottom + 18}" text-anchor="middle">${Math.round(x)}</text>`);
  }
  const seeds = runs.map((run) => {
    const color = COLORS[run.strategy];
    const path = run.loops.map((l) => `${px(l.labeled_count)},${py(headline(l.metrics))}`).join(' ');
    const dots = run.loops
      .map(
        (l) =>
          `<circle class="point" data-strategy="${run.strategy}" data-seed="${run.seed}" ` +
          `cx="${px(l.labeled_count)}" cy="${py(headline(l.metrics))}" r="3" fill="${color}">` +
          `<title>${run.strategy}, seed ${run.seed}: ` +
          `${l.labeled_count} labeled, ${figure} ${percent(headline(l.metrics))}</title></circle>`,
      )
      .join('');
    const line = `<polyline points="${path}" fill="none" stroke="${color}" stroke-opacity="0.5" stroke-width="1" stroke-dasharray="4 3"/>`;
    return `<g class="run">${line}${dots}</g>`;
  });
  const means = config.strategies.map((strategy) => {
    const rows = summary.filter((row) => row.strategies[strategy]);
    if (rows.length === 0) return '';
    const color = COLORS[strategy];
    const at = (row: SummaryRow) => row.strategies[strategy]!;
    const upper = rows.map((row) => `${px(row.labeled_count)},${py(at(row).max)}`);
    const lower = rows.map((row) => `${px(row.labeled_count)},${py(at(row).min)}`).reverse();
    const band = `<polygon class="band" points="${[...upper, ...lower].join(' ')}" fill="${color}" fill-opacity="0.15"/>`;
    const line =
      `<polyline class="mean" points="${rows.map((row) => `${px(row.labeled_count)},${py(at(row).mean)}`).join(' ')}" ` +
      `fill="none" stroke="${color}" stroke-width="2.5"/>`;
    const dots = rows
      .map((row) => {
        const spread = at(row);
        return (
          `<circle class="mean-point" data-strategy="${strategy}" cx="${px(row.labeled_count)}" cy="${py(spread.mean)}" r="4.5" ` +
          `fill="${color}"><title>${strategy}: ${row.labeled_count} labeled, ${figure} ${meanAndSpread(spread)} ` +
          `(${percent(spread.min)} to ${percent(spread.max)}, ${spread.runs} run${spread.runs === 1 ? '' : 's'})</title></circle>`
        );
      })
      .join('');
    return `<g class="strategy" data-strategy="${strategy}">${band}${line}${dots}</g>`;
  });

  return [
    `<svg id="learning-curve" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" role="img" ` +
      `aria-label="test ${figure} against labeled count">`,
    grid.join('\n'),
    `<text x="${(margin.left + width - margin.right) / 2}" y="${height - 8}" text-anchor="middle">labeled samples</text>`,
    `<text transform="translate(14,${(margin.top + height - margin.bottom) / 2}) rotate(-90)" text-anchor="middle">` +
      `test ${figure}</text>`,
    means.join('\n'),
    `<g class="seeds">${seeds.join('\n')}</g>`,
    '</svg>',
  ].join('\n');
}

/** Per strategy: the area under its curves, its last figure, the labels it needed to reach the target. */
function comparisonTable(report: SimulationReport): string {
  const { comparison } = report;
  if (comparison.labeled === null) return '<p>No loop has finished in every run yet.</p>';
  const figure = HEADLINE[report.config.task];
  const [first, last] = comparison.labeled;
  const header = ['strategy', `area under the curve<br><small>${labeledRange(first, last)}</small>`, `${figure} at ${last}`];
  if (comparison.target !== null) header.push(`labels to reach ${percent(comparison.target)}`);
  const rows = comparison.strategies.map((row) =>
    tableRow([
      row.strategy,
      meanAndSpread(row.aulc),
      meanAndSpread(row.final),
      ...(row.labels_to_target
        ? [`${labelsCell(row.labels_to_target)} <small>(${row.labels_to_target.per_run.map((n) => n ?? '–').join(', ')})</small>`]
        : []),
    ]),
  );
  const note =
    `<p><small>Mean over the seeds ± the sample standard deviation in points. The area is the trapezoidal area under ` +
    `each run's curve divided by its labeled range: the curve's mean height over the budget.` +
    `${comparison.runs_left_out > 0 ? ` ${leftOutNote(comparison.runs_left_out)}` : ''}</small></p>`;
  return `<table id="comparison">${headerRow(header)}${rows.join('')}</table>${note}`;
}

/** Each strategy's headline figure at each labeled count over its seeds, with the number of runs. */
function summaryTable(report: SimulationReport): string {
  const { strategies } = report.config;
  const rows = report.summary.map((row) =>
    tableRow([
      row.labeled_count,
      ...strategies.map((s) => {
        const spread = row.strategies[s];
        return spread ? `${meanAndSpread(spread)} <small>(${spread.runs})</small>` : '';
      }),
    ]),
  );
  return table(['labeled', ...strategies], rows);
}

/** Per run, its last loop's per-class figures and confusion matrix; the first run's open. */
function lastLoops(runs: RunRecord[], task: SimulatedTask): string {
  return runs
    .filter((run) => run.loops.length > 0)
    .map((run, i) => {
      const last = run.loops.at(-1)!;
      const m = last.metrics;
      const title =
        `${run.strategy}, seed ${run.seed}: loop ${last.loop}, ${last.labeled_count} labeled, ` +
        `${HEADLINE[task]} ${percent(headline(m))}`;
      return (
        `<details class="last-loop" data-strategy="${run.strategy}" data-seed="${run.seed}"${i === 0 ? ' open' : ''}>` +
        `<summary>${title}</summary>${'map50' in m ? detectionClasses(m) : classificationClasses(m)}</details>`
      );
    })
    .join('\n');
}

function classificationClasses(m: ClassificationMetrics): string {
  const names = m.classes.map((c) => escape(String(c)));
  const support = m.confusion.map((row) => row.reduce((a, b) => a + b, 0));
  const perClass = table(
    ['class', 'test samples', 'precision', 'recall', 'F1'],
    names.map((name, i) => tableRow([name, support[i], percent(m.precision[i]), percent(m.recall[i]), percent(m.f1[i])])),
  );
  const macro = `<p>Accuracy ${percent(m.accuracy)} · macro precision ${percent(m.macroPrecision)} · macro recall ${percent(m.macroRecall)} · macro F1 ${percent(m.macroF1)}</p>`;
  return macro + perClass + confusionTable(m.confusion, names, names, 'labeled ↓ predicted →');
}

function detectionClasses(m: DetectionMetrics): string {
  const names = m.classes.map(String);
  const perClass = table(
    ['class', 'ground-truth boxes', 'AP@0.5'],
    names.map((name, i) => tableRow([name, m.groundTruth[i], m.ap50[i] === null ? '–' : percent(m.ap50[i]!)])),
  );
  const summary =
    `<p>mAP@0.5 ${percent(m.map50)} · mAP@0.5:0.95 ${percent(m.mapCoco)} · at score ${m.scoreThreshold}: ` +
    `precision ${percent(m.precision)}, recall ${percent(m.recall)}</p>`;
  const withBackground = [...names, 'background'];
  return summary + perClass + confusionTable(m.confusion, withBackground, withBackground, 'true ↓ detected →');
}

/** A confusion matrix as a table, its diagonal marked. */
function confusionTable(confusion: number[][], rows: string[], columns: string[], corner: string): string {
  const body = confusion.map(
    (row, i) => `<tr><th>${rows[i]}</th>${row.map((n, j) => `<td${i === j ? ' class="diagonal"' : ''}>${n}</td>`).join('')}</tr>`,
  );
  return `<table class="confusion">${headerRow([`<small>${corner}</small>`, ...columns])}${body.join('')}</table>`;
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

const headerRow = (header: string[]): string => `<tr>${header.map((h) => `<th>${h}</th>`).join('')}</tr>`;

const table = (header: string[], rows: string[]): string => `<table>${headerRow(header)}${rows.join('')}</table>`;

const tableRow = (cells: Array<string | number>): string => `<tr>${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`;
