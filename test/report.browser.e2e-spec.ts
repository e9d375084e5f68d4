import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Browser, chromium } from 'playwright-core';

import type { LoopRecord, RunRecord } from '../src/simulator/loop.simulator.js';
import { classificationMetrics } from '../src/simulator/metrics.js';
import { buildReport, SimulationConfig } from '../src/simulator/report.model.js';
import { writeReport } from '../src/simulator/report.writer.js';

// Debian's chromium: .ci/run installs it (apt-get install chromium).
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

// A last loop's answer: three test mails, one of them misread, under class names.
const ANSWER = classificationMetrics({ 0: 'spam', 1: 'ham', 2: 'ham' }, { 0: 'spam', 1: 'spam', 2: 'ham' });

function loop(index: number, labeled: number, accuracy: number): LoopRecord {
  const metrics = { ...ANSWER, accuracy };
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

  it('draws a mean curve per strategy with its band, the seeds on demand, and the last loops, with the network off', async () => {
    const config: SimulationConfig = {
      task: 'classification',
      url: 'http://127.0.0.1:5000',
      pool_size: 1000,
      initial: 100,
      batch: 50,
      loops: 4,
      strategies: ['entropy', 'random'],
      seeds: [1, 2],
      target: 0.7,
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
    const inside = async (locator: ReturnType<typeof chart.locator>) => {
      for (const point of await locator.all()) {
        expect(await point.isVisible()).toBe(true);
        const p = (await point.boundingBox())!;
        expect(p.x).toBeGreaterThanOrEqual(box.x);
        expect(p.x + p.width).toBeLessThanOrEqual(box.x + box.width);
        expect(p.y).toBeGreaterThanOrEqual(box.y);
        expect(p.y + p.height).toBeLessThanOrEqual(box.y + box.height);
      }
    };
    // One mean dot per labeled count and strategy: 4 + 4 (random's loop 3 has one seed).
    const means = chart.locator('circle.mean-point');
    expect(await means.count()).toBe(8);
    await inside(means);
    // A higher mean is drawn higher up.
    const ys = await chart
      .locator('circle.mean-point[data-strategy="entropy"]')
      .evaluateAll((nodes) => nodes.map((n) => Number(n.getAttribute('cy'))));
    expect(ys).toEqual([...ys].sort((a, b) => b - a));
    // The band spans the seeds: entropy's two seeds differ by a point, so it has a height.
    const band = (await chart.locator('g.strategy[data-strategy="entropy"] polygon.band').boundingBox())!;
    expect(band.height).toBeGreaterThan(2);
    expect(await chart.locator('polygon.band').count()).toBe(2);

    // Each seed's dots are hidden, until the box is ticked.
    const seeds = chart.locator('circle.point');
    expect(await seeds.count()).toBe(15); // 4 + 4 + 4 + 3 loops
    expect(await seeds.first().isVisible()).toBe(false);
    await page.getByLabel("show each seed's curve").check();
    await inside(seeds);
    expect(await chart.locator('circle.point[data-strategy="random"]').count()).toBe(7);

    // The comparison: a row per strategy over its finished runs (random's seed 2 stopped short, and is left out).
    const comparison = page.locator('table#comparison');
    expect(await comparison.locator('th').allTextContents()).toEqual([
      'strategy',
      'area under the curve100–250 labeled',
      'accuracy at 250',
      'labels to reach 70.0%',
    ]);
    expect(await comparison.locator('tr').nth(1).locator('td').first().textContent()).toBe('entropy');
    expect(await page.getByText('1 run that stopped short is left out of the comparison.').isVisible()).toBe(true);
    // The last loop of each run: the first open, with its per-class figures and confusion matrix.
    const last = page.locator('details.last-loop');
    expect(await last.count()).toBe(4);
    const first = last.first();
    expect(await first.locator('table.confusion').isVisible()).toBe(true);
    expect(await first.locator('table.confusion th').allTextContents()).toEqual([
      'labeled ↓ predicted →',
      'ham',
      'spam',
      'ham',
      'spam',
    ]);
    expect(await first.locator('td.diagonal').allTextContents()).toEqual(['1', '1']);
    const second = last.nth(1);
    expect(await second.locator('table.confusion').isVisible()).toBe(false);
    await second.locator('summary').click();
    expect(await second.locator('table.confusion').isVisible()).toBe(true);

    expect(requests.filter((url) => !url.startsWith('file:'))).toEqual([]);
    if (process.env.REPORT_SCREENSHOT) await page.screenshot({ path: process.env.REPORT_SCREENSHOT, fullPage: true });
    await context.close();
  });
});
