// The sample's Swagger UI (GET /docs) in Debian's headless Chromium, offline: the page lists the
// module's endpoints, from the document the sample serves at /docs-json.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Browser, chromium } from 'playwright-core';

import { AppProcess, buildSample, freePort } from './fixtures/app.process.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

describe("the sample's Swagger UI in a real headless browser", () => {
  let browser: Browser;
  let sample: AppProcess;
  let checkpoints: string;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
    buildSample();
    checkpoints = mkdtempSync(join(tmpdir(), 'alectio-docs-'));
    sample = await new AppProcess(
      'sample',
      'alone',
      { ALECTIO_CKPT_DIR: checkpoints, ALECTIO_TOKEN: '' },
      await freePort(),
    ).ready();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    sample?.child.kill('SIGKILL');
    await sample?.exited;
    if (checkpoints) rmSync(checkpoints, { recursive: true, force: true });
  });

  it('lists every endpoint of the module, with nothing fetched from the network', async () => {
    const document = (await (await fetch(`${sample.url}/docs-json`)).json()) as { openapi: string; paths: object };
    expect(document.openapi).toMatch(/^3\./);
    expect(Object.keys(document.paths)).toEqual(expect.arrayContaining(['/train', '/test', '/infer', '/health/ready']));
    // The sample's metrics are on: served before the router, so in no document, but there.
    const metrics = await fetch(`${sample.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('# TYPE alectio_calls_total counter');

    const context = await browser.newContext();
    const page = await context.newPage();
    const outside: string[] = [];
    page.on('request', (request) => {
      if (!request.url().startsWith(sample.url)) outside.push(request.url());
    });
    await page.goto(`${sample.url}/docs`);
    const operations = page.locator('.opblock-summary');
    await operations.first().waitFor({ timeout: 20_000 });
    const methods = await page.locator('.opblock-summary-method').allTextContents();
    const paths = await page.locator('.opblock-summary-path').allTextContents();
    expect(paths).toHaveLength(methods.length);
    const routes = methods.map((method, i) => `${method} ${paths[i]}`);
    expect(routes.map((route) => route.replace(/\u200b/g, '')).sort()).toEqual(
      [
        'GET /health',
        'GET /health/live',
        'GET /health/ready',
        'POST /train',
        'POST /test',
        'POST /infer',
        'GET /jobs',
        'GET /jobs/{id}',
        'DELETE /jobs/{id}',
      ].sort(),
    );
    // The train operation opens on its documented example.
    await page.locator('.opblock-post .opblock-summary-path', { hasText: '/train' }).click();
    await expect(page.locator('.opblock-post.is-open').getByText('ckpt_0').first().isVisible()).resolves.toBe(true);
    expect(outside).toEqual([]);
    await context.close();
  }, 60_000);
});
