import type { LabelsToTarget, Spread } from './comparison.js';

/** A share (0 to 1) as people read it in the summary, the progress lines and the page: one decimal and a % sign. */
export const percent = (value: number): string => `${(value * 100).toFixed(1)}%`;

/** A figure over seeds as the tables show it: the mean, and ± the standard deviation in points when there are several runs. */
export const meanAndSpread = (spread: Spread): string =>
  spread.runs > 1 ? `${percent(spread.mean)} ± ${(spread.std * 100).toFixed(1)}` : percent(spread.mean);

/** The labels needed to reach the target, over seeds: the mean when every run reached it. */
export function labelsCell(labels: LabelsToTarget): string {
  if (labels.mean !== null) return String(Math.round(labels.mean));
  const runs = labels.per_run.length;
  return labels.reached === 0 ? 'not reached' : `not reached by ${runs - labels.reached} of ${runs}`;
}

/** The labeled range of the comparison: `100–1000 labeled`, or `at 100 labeled` for one loop. */
export const labeledRange = (first: number, last: number): string =>
  first === last ? `at ${first} labeled` : `${first}–${last} labeled`;

/** What the comparison says of the runs it leaves out. */
export const leftOutNote = (runs: number): string =>
  `${runs} run${runs === 1 ? '' : 's'} that stopped short ${runs === 1 ? 'is' : 'are'} left out of the comparison.`;
