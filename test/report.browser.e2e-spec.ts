import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Browser, chromium } from 'playwright-core';

import type { LoopRecord, RunRecord } from '../src/simulator/loop.simulator.js';
import type { ClassificationMetrics } from '../src/simulator/metrics.js';
import { buildReport, SimulationConfig } from '../src/simulator/report.model.js';
import { writeReport } from '../src/simulator/report.writer.js';

// Debian's chromium: .ci/run installs it (apt-get install chromium).
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

function loop(index: number, labeled: number, accuracy: number): LoopRecord {
  const metrics = { accuracy, macroF1: accuracy } as ClassificationMetrics;
  const size = { request: 10, response: 20 };
  return {
    loop: index,
    ckpt_file: `ckpt_${index}`,
    resume_from: index ? `ckpt_${index - 1}` : null,
    labeled_count: labeled,
    selected: [],
    metrics,
    timings: { train: 1, test: 1, infer: 1, select: 1 },
    sizes: { train: size, test: size, infer: size },
  };
}

describe('the HTML report in a real headless browser', () => {
  let browser: Browser;
  let dir: string;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
    dir = mkdtempSync(join(tmpdir(), 'alectio-report-'));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('draws one point per loop of every run, inside the chart, with the network off', async () => {
    const config: SimulationConfig = {
      task: 'classification',
      url: 'http://127.0.0.1:5000',
      pool_size: 1000,
      initial: 100,
      batch: 50,
      loops: 4,
      strategies: ['entropy', 'random'],
      seeds: [1, 2],
    };
    const runs: RunRecord[] = [];
    for (const strategy of config.strategies) {
      for (const seed of config.seeds) {
        const loops = [0, 1, 2, 3].map((i) =>
          loop(i, 100 + 50 * i, 0.6 + 0.05 * i + (strategy === 'entropy' ? 0.02 : 0) + seed / 100),
        );
        runs.push({ strategy, seed, initial: [], loops: seed === 2 && strategy === 'random' ? loops.slice(0, 3) : loops });
      }
    }
    writeReport(dir, buildReport(config, runs));

    const context = await browser.newContext({ offline: true });
    const page = await context.newPage();
    const requests: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    await page.goto(pathToFileURL(join(dir, 'report.html')).href);

    const chart = page.locator('svg#learning-curve');
    const box = (await chart.boundingBox())!;
    expect(box.width).toBeGreaterThan(300);
    const points = chart.locator('circle.point');
    expect(await points.count()).toBe(15); // 4 + 4 + 4 + 3 loops
    for (const point of await points.all()) {
      expect(await point.isVisible()).toBe(true);
      const p = (await point.boundingBox())!;
      expect(p.x).toBeGreaterThanOrEqual(box.x);
      expect(p.x + p.width).toBeLessThanOrEqual(box.x + box.width);
      expect(p.y).toBeGreaterThanOrEqual(box.y);
      expect(p.y + p.height).toBeLessThanOrEqual(box.y + box.height);
    }
    expect(await chart.locator('circle.point[data-strategy="random"]').count()).toBe(7);
    // A higher accuracy is drawn higher up.
    const ys = await chart
      .locator('circle.point[data-strategy="entropy"][data-seed="1"]')
      .evaluateAll((nodes) => nodes.map((n) => Number(n.getAttribute('cy'))));
    expect(ys).toEqual([...ys].sort((a, b) => b - a));
    expect(requests.filter((url) => !url.startsWith('file:'))).toEqual([]);
    if (process.env.REPORT_SCREENSHOT) await page.screenshot({ path: process.env.REPORT_SCREENSHOT, fullPage: true });
    await context.close();
  });
});
