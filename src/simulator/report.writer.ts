import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { reportHtml } from './report.html.js';
import type { SimulationReport } from './report.model.js';

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
