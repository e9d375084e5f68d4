// Prometheus metrics (the `metrics` option, prom-client) on a real app over HTTP on loopback:
// counts after known calls, the scrape checked by Prometheus's own promtool (Debian's
// prometheus package, installed by scripts/ensure-test-tools.sh), and the app's own registry.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, type ExecutionContext, Get, Res } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import type { Response } from 'express';
import { Counter, Registry } from 'prom-client';
import request from 'supertest';

import { buildSample } from './fixtures/app.process.js';
import { startFixtureApp } from './fixtures/fixture.app.js';
import { Pools } from './fixtures/pool.js';
import { RedisServer } from './fixtures/redis.server.js';

/** The value of one sample of a scrape, `name{labels} value`; undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = (match[2] ?? '').split(',').filter(Boolean);
    if (wanted.length === present.length && wanted.every((pair) => present.includes(pair))) return Number(match[3]);
  }
  return undefined;
}

function promtool(text: string): { status: number | null; output: string } {
  const run = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (run.error) throw new Error(`promtool could not run (apt-get install prometheus): ${run.error.message}`);
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

const AUTH = { Authorization: 'Bearer secret' };

describe('Prometheus metrics', () => {
  it('counts calls by endpoint and status, sizes, durations, trainings and jobs, behind the token; promtool accepts the scrape', async () => {
    const { app, model, url } = await startFixtureApp({ name: 'metrics', options: { token: 'secret', metrics: true } });
    try {
      await request(url)
        .post('/train')
        .set(AUTH)
        .send({ labeled: [1, 2, 3], ckpt_file: 'a' })
        .expect(200);
      await request(url).post('/train').set(AUTH).send({ labeled: [], ckpt_file: 'a' }).expect(400);
      await request(url)
        .post('/train')
        .send({ labeled: [1], ckpt_file: 'a' })
        .expect(401);
      await request(url)
        .post('/infer')
        .set(AUTH)
        .send({ unlabeled: [4, 5, 6, 7, 8], ckpt_file: 'a' })
        .expect(200);
      await request(url).post('/test').set(AUTH).send({ ckpt_file: 'a' }).expect(200);

      // While a training is held: the gauges say so, and a second training is a 409.
      const held = model.holdTraining();
      const training = request(url)
        .post('/train')
        .set(AUTH)
        .send({ labeled: [9], ckpt_file: 'b' });
      const done = training.then((res) => res);
      await held.started;
      await request(url)
        .post('/train')
        .set(AUTH)
        .send({ labeled: [1], ckpt_file: 'c' })
        .expect(409);
      await request(url).get('/metrics').expect(401);
      const during = (await request(url).get('/metrics').set(AUTH).expect(200)).text;
      expect(sample(during, 'alectio_training_running')).toBe(1);
      expect(sample(during, 'alectio_calls_in_progress', { endpoint: 'train' })).toBe(1);
      held.finish();
      expect((await done).status).toBe(200);

      // A job: queued, run, finished.
      const job = await request(url).post('/test').set(AUTH).set('Prefer', 'respond-async').send({ ckpt_file: 'a' }).expect(202);
      for (;;) {
        const { body } = await request(url).get(job.body.status_url).set(AUTH);
        if (body.job.state === 'succeeded') break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }

      const scrape = await request(url).get('/metrics').set(AUTH).expect(200);
      expect(scrape.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
      const text = scrape.text;
      expect(sample(text, 'alectio_calls_total', { endpoint: 'train', status: '200' })).toBe(2);
      expect(sample(text, 'alectio_calls_total', { endpoint: 'train', status: '400' })).toBe(1);
      expect(sample(text, 'alectio_calls_total', { endpoint: 'train', status: '401' })).toBe(1);
      expect(sample(text, 'alectio_calls_total', { endpoint: 'train', status: '409' })).toBe(1);
      expect(sample(text, 'alectio_calls_total', { endpoint: 'infer', status: '200' })).toBe(1);
      expect(sample(text, 'alectio_calls_total', { endpoint: 'test', status: '200' })).toBe(1);
      expect(sample(text, 'alectio_calls_total', { endpoint: 'test', status: '202' })).toBe(1);
      expect(sample(text, 'alectio_call_duration_seconds_count', { endpoint: 'train' })).toBe(5);
      // Sizes: 3 labeled, then 1 (the held training) and 1 (the 409, refused after its body was read).
      expect(sample(text, 'alectio_list_size_count', { endpoint: 'train' })).toBe(3);
      expect(sample(text, 'alectio_list_size_sum', { endpoint: 'train' })).toBe(5);
      expect(sample(text, 'alectio_list_size_sum', { endpoint: 'infer' })).toBe(5);
      expect(sample(text, 'alectio_list_size_bucket', { endpoint: 'infer', le: '10' })).toBe(1);
      expect(sample(text, 'alectio_training_running')).toBe(0);
      expect(sample(text, 'alectio_calls_in_progress', { endpoint: 'train' })).toBe(0);
      expect(sample(text, 'alectio_jobs_finished_total', { kind: 'test', state: 'succeeded' })).toBe(1);
      expect(sample(text, 'alectio_jobs', { state: 'running' })).toBe(0);
      // Not in distributed mode: no worker count.
      expect(sample(text, 'alectio_pool_workers')).toBeUndefined();

      expect(promtool(text)).toEqual({ status: 0, output: '' });
    } finally {
      await app.close();
    }
  });

  it("registers in the app's own registry, with the prefix, and leaves /metrics to the app", async () => {
    const registry = new Registry();
    const own = new Counter({ name: 'app_orders_total', help: "The app's own metric.", registers: [registry] });
    own.inc(3);
    @Controller('metrics')
    class AppMetricsController {
      @Get()
      async scrape(@Res() res: Response) {
        res.setHeader('Content-Type', registry.contentType).end(await registry.metrics());
      }
    }
    // An app guard that lets only the app's own controller serve /metrics: the module claims no
    // route there when it serves no metrics (a route of its own would meet the guard first).
    const onlyTheApps = {
      canActivate: (ctx: ExecutionContext) =>
        ctx.switchToHttp().getRequest<{ path: string }>().path !== '/metrics' || ctx.getClass() === AppMetricsController,
    };
    const { app, url } = await startFixtureApp({
      name: 'app-registry',
      options: { metrics: { registry, prefix: 'ml_' } },
      controllers: [AppMetricsController],
      providers: [{ provide: APP_GUARD, useValue: onlyTheApps }],
    });
    try {
      await request(url)
        .post('/train')
        .send({ labeled: [1], ckpt_file: 'a' })
        .expect(200);
      const text = (await request(url).get('/metrics').expect(200)).text;
      expect(sample(text, 'app_orders_total')).toBe(3);
      expect(sample(text, 'ml_calls_total', { endpoint: 'train', status: '200' })).toBe(1);
      expect(sample(text, 'alectio_calls_total', { endpoint: 'train', status: '200' })).toBeUndefined();
      expect(promtool(text)).toEqual({ status: 0, output: '' });
    } finally {
      await app.close();
    }
  });

  it('serves /metrics under the prefix, to HEAD too, and counts the job routes', async () => {
    const { app, url } = await startFixtureApp({
      name: 'metrics-prefix',
      globalPrefix: 'api',
      options: { prefix: 'al', metrics: true },
    });
    try {
      await request(url).get('/api/al/jobs/nope').expect(404);
      await request(url).get('/api/al/jobs').expect(200);
      await request(url).head('/api/al/metrics').expect(200);
      await request(url).post('/api/al/metrics').expect(405);
      const text = (await request(url).get('/api/al/metrics/').expect(200)).text;
      expect(sample(text, 'alectio_calls_total', { endpoint: 'jobs', status: '404' })).toBe(1);
      expect(sample(text, 'alectio_calls_total', { endpoint: 'jobs', status: '200' })).toBe(1);
      await request(url).get('/metrics').expect(404); // not the app's path: the module's is under its prefix
    } finally {
      await app.close();
    }
  });

  it("refuses to start on a registry that holds another metric of one of the module's names", async () => {
    const registry = new Registry();
    new Counter({ name: 'alectio_calls_total', help: "the app's own", labelNames: ['route'], registers: [registry] });
    await expect(startFixtureApp({ name: 'clash', options: { metrics: { registry } } })).rejects.toThrow(
      'metrics: the registry already holds a metric named alectio_calls_total (a Counter with the labels [route]); give metrics.prefix another value',
    );
  });

  it('serves no /metrics without the option', async () => {
    const { app, url } = await startFixtureApp({ name: 'no-metrics' });
    try {
      await request(url).get('/metrics').expect(404);
    } finally {
      await app.close();
    }
  });
});

describe('Prometheus metrics of a distributed pool: real processes on a real Redis', () => {
  let redis: { url: string; stop(): Promise<void> };
  let dir: string;
  let pools: Pools;

  beforeAll(async () => {
    buildSample();
    redis = await RedisServer.shared();
    dir = mkdtempSync(join(tmpdir(), 'alectio-metrics-'));
    pools = new Pools(dir, () => redis.url);
  }, 120_000);
  afterAll(async () => {
    await pools?.stopAll();
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('counts the pieces by outcome, the retries and the workers', async () => {
    const { start } = pools.pool({ ALECTIO_INFER_CHUNK: '100', ALECTIO_ATTEMPTS: '2', POOL_METRICS: '1' });
    const [api] = await Promise.all([start('api'), start('worker')]);
    // 250 indices in chunks of 100: three pieces, completed.
    const unlabeled = Array.from({ length: 250 }, (_, i) => i);
    await request(api.url).post('/infer').send({ unlabeled, ckpt_file: 'a' }).expect(200);
    // The index that always fails: its piece is tried twice (one retry), then fails.
    await request(api.url)
      .post('/infer')
      .send({ unlabeled: [9_999_999], ckpt_file: 'a' })
      .expect(500);
    const text = (await request(api.url).get('/metrics').expect(200)).text;
    expect(sample(text, 'alectio_pool_pieces_total', { kind: 'infer', outcome: 'completed' })).toBe(3);
    expect(sample(text, 'alectio_pool_pieces_total', { kind: 'infer', outcome: 'failed' })).toBe(1);
    expect(sample(text, 'alectio_pool_piece_retries_total', { kind: 'infer' })).toBe(1);
    expect(sample(text, 'alectio_pool_workers')).toBe(1);
    expect(sample(text, 'alectio_calls_total', { endpoint: 'infer', status: '500' })).toBe(1);
    expect(promtool(text)).toEqual({ status: 0, output: '' });
  }, 60_000);
});
