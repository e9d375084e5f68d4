// Liveness and readiness (GET /health/live, /health/ready) and the Terminus indicator, on real
// apps over HTTP on loopback: in process (draining), and as a distributed pool of real processes
// on a real Redis (Redis stopped, no worker).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import request from 'supertest';

import { AlectioHealthIndicator } from '../src/terminus/index.js';
import { buildSample } from './fixtures/app.process.js';
import { startFixtureApp } from './fixtures/fixture.app.js';
import { Pools, until } from './fixtures/pool.js';
import { RedisServer } from './fixtures/redis.server.js';

@Controller('app-health')
class AppHealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly alectio: AlectioHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.alectio.isReady('alectio')]);
  }
}

describe('probes in one process', () => {
  it('answers liveness and readiness without the token, and only to GET', async () => {
    const { app, url } = await startFixtureApp({ name: 'probes', options: { token: 'secret', prefix: 'alectio' } });
    try {
      const live = await request(url).get('/alectio/health/live').expect(200);
      expect(live.body).toEqual({ status: 200, live: true });
      const ready = await request(url).get('/alectio/health/ready').set('Authorization', 'Bearer secret').expect(200);
      expect(ready.body).toEqual({
        status: 200,
        ready: true,
        checks: {
          methods: { ok: true, detail: 'train, test and infer are discovered' },
          accepting: { ok: true, detail: 'accepting work' },
        },
      });
      // Without the token: which checks hold, not what each saw.
      const anonymous = await request(url).get('/alectio/health/ready').expect(200);
      expect(anonymous.body).toEqual({
        status: 200,
        ready: true,
        checks: { methods: { ok: true, detail: 'ok' }, accepting: { ok: true, detail: 'ok' } },
      });
      const post = await request(url).post('/alectio/health/ready').expect(405);
      expect(post.headers.allow).toBe('GET');
      expect(post.body.message).toBe('POST is not served at /alectio/health/ready: it answers GET');
      // /health stays as PROTOCOL.md says.
      expect((await request(url).get('/alectio/health').expect(200)).body).toEqual({
        status: 200,
        handlers: { train: true, test: true, infer: true },
        pool_size: null,
      });
    } finally {
      await app.close();
    }
  });

  it('turns not ready while the server drains, stays live, and so says the Terminus indicator', async () => {
    const { app, model, url } = await startFixtureApp({
      name: 'draining',
      options: { shutdownGraceMs: 4000 },
      imports: [TerminusModule],
      controllers: [AppHealthController],
      providers: [AlectioHealthIndicator],
    });
    const held = model.holdTraining();
    const terminusUp = await request(url).get('/app-health').expect(200);
    expect(terminusUp.body.info.alectio).toMatchObject({ status: 'up', checks: { accepting: { ok: true } } });

    await request(url)
      .post('/train')
      .set('Prefer', 'respond-async')
      .send({ labeled: [1], ckpt_file: 'c' })
      .expect(202);
    await held.started;
    // The training ignores its signal: the shutdown waits out its grace period, the server still listening.
    const closing = app.close();
    const ready = await until('a 503 from /health/ready', async () => {
      const answer = await request(url).get('/health/ready');
      return answer.status === 503 ? answer : undefined;
    });
    expect(ready.body).toEqual({
      status: 503,
      error: 'Service Unavailable',
      message: 'not ready: accepting: the server is shutting down and accepts no new work',
      ready: false,
      checks: {
        methods: { ok: true, detail: 'train, test and infer are discovered' },
        accepting: { ok: false, detail: 'the server is shutting down and accepts no new work' },
      },
    });
    await request(url).get('/health/live').expect(200);
    const terminusDown = await request(url).get('/app-health').expect(503);
    expect(terminusDown.body.error.alectio).toMatchObject({
      status: 'down',
      message: 'not ready: accepting: the server is shutting down and accepts no new work',
    });
    held.finish();
    await closing;
  });
});

describe('probes of a distributed pool: real processes on a real Redis', () => {
  let redis: RedisServer;
  let dir: string;
  let pools: Pools;

  beforeAll(async () => {
    buildSample();
    dir = mkdtempSync(join(tmpdir(), 'alectio-probes-'));
    redis = await RedisServer.start(); // its own: the test stops it
    pools = new Pools(dir, () => redis.url);
  }, 120_000);
  afterEach(() => pools.stopAll());
  afterAll(async () => {
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const readiness = async (url: string) => {
    const answer = await fetch(`${url}/health/ready`);
    return {
      status: answer.status,
      body: (await answer.json()) as { message?: string; checks: Record<string, { ok: boolean; detail: string }> },
    };
  };

  it('is not ready without a worker, ready with one, not ready while Redis is down, and ready again', async () => {
    const { queue, start } = pools.pool();
    const api = await start('api');
    const alone = await readiness(api.url);
    expect(alone.status).toBe(503);
    expect(alone.body.checks.redis).toEqual({ ok: true, detail: `Redis at 127.0.0.1:${redis.port} answers` });
    expect(alone.body.checks.workers).toEqual({ ok: false, detail: `no worker is connected to the queue "${queue}"` });
    expect(alone.body.message).toBe(`not ready: workers: no worker is connected to the queue "${queue}"`);

    await start('worker');
    const ready = await until('ready with a worker', async () => {
      const answer = await readiness(api.url);
      return answer.status === 200 ? answer : undefined;
    });
    expect(ready.body.checks.workers).toEqual({ ok: true, detail: `1 worker connected to the queue "${queue}"` });

    await redis.stop();
    const down = await until('not ready without Redis', async () => {
      const answer = await readiness(api.url);
      return answer.status === 503 ? answer : undefined;
    });
    expect(down.body.checks.redis.ok).toBe(false);
    expect(down.body.message).toMatch(
      new RegExp(`^not ready: redis: Redis at 127\\.0\\.0\\.1:${redis.port} is not reachable \\(`),
    );
    await fetch(`${api.url}/health/live`).then((answer) => expect(answer.status).toBe(200));

    await redis.restart();
    await until('ready again', async () => ((await readiness(api.url)).status === 200 ? true : undefined), 30_000);
  }, 90_000);
});
