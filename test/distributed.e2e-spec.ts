import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';

import { AppProcess, buildSample, freePort } from './fixtures/app.process.js';
import { Pools, until } from './fixtures/pool.js';
import { RedisServer } from './fixtures/redis.server.js';

// Distributed mode through real HTTP, real worker processes and a real redis-server: the API
// process and the workers are the same app (test/fixtures/pool-member.mjs, on the built package)
// started in two roles. Every test has its own queue, so none sees another's work.

const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i);

async function post(url: string, path: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, text: await response.text() };
}

async function call(url: string, method: string, path: string) {
  const response = await fetch(`${url}${path}`, { method });
  return { status: response.status, body: (await response.json()) as any };
}

describe('distributed mode: an API process and workers on Redis', () => {
  let redis: { url: string; stop(): Promise<void> };
  let dir: string;
  let pools: Pools;

  beforeAll(async () => {
    buildSample();
    dir = mkdtempSync(join(tmpdir(), 'alectio-pool-'));
    redis = await RedisServer.shared();
    pools = new Pools(dir, () => redis.url);
  }, 120_000);
  afterEach(async () => {
    await pools.stopAll();
  });
  afterAll(async () => {
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A pool on its own queue: `start('api')`, `start('worker')`, with a shared event log. */
  const pool = (env: Record<string, string> = {}, server: () => { url: string } = () => redis) =>
    pools.pool(env, () => server().url);

  it('answers a chunked /infer with the same bytes as in-process, the chunks spread over two workers', async () => {
    // 20 ms per chunk: enough that one worker cannot take all 25 before the other asks.
    const { start, events } = pool({ ALECTIO_INFER_CHUNK: '100', POOL_MICROS_PER_INDEX: '200' });
    const [api, , , alone] = await Promise.all([start('api'), start('worker'), start('worker'), start('alone')]);
    const body = { unlabeled: range(2_500, 1_000).reverse(), ckpt_file: 'ckpt_0' };

    const distributed = await post(api.url, '/infer', body);
    const inProcess = await post(alone.url, '/infer', body);
    expect(distributed.status).toBe(200);
    expect(distributed.text).toBe(inProcess.text);
    expect(Object.keys(JSON.parse(distributed.text).outputs)).toHaveLength(2_500);

    const chunks = events().filter((e) => e.event === 'infer' && e.role === 'worker');
    expect(chunks).toHaveLength(25);
    expect(chunks.every((chunk) => chunk.count === 100)).toBe(true);
    expect(new Set(chunks.map((chunk) => chunk.pid)).size).toBe(2);
    // The API process ran none of it.
    expect(events().filter((e) => e.role === 'api')).toEqual([]);

    // Job mode: the merged chunks are the job's result.
    const accepted = await post(api.url, '/infer', body, { prefer: 'respond-async' });
    expect(accepted.status).toBe(202);
    const job = await until('the infer job to succeed', async () => {
      const { body: status } = await call(api.url, 'GET', JSON.parse(accepted.text).status_url);
      return status.job.state === 'succeeded' ? status.job : undefined;
    });
    expect(job.result).toEqual({ outputs: JSON.parse(inProcess.text).outputs });
    expect(job.progress).toBe(1);
  });

  it('loses nothing when a worker is SIGKILLed mid-chunk: another worker runs the chunk again', async () => {
    const { start, events } = pool({ ALECTIO_INFER_CHUNK: '300', ALECTIO_LOCK_MS: '1000', POOL_MICROS_PER_INDEX: '2000' });
    const [api, doomed, , alone] = await Promise.all([start('api'), start('worker'), start('worker'), start('alone')]);
    const body = { unlabeled: range(3_000), ckpt_file: 'ckpt_0' };
    const expected = await post(alone.url, '/infer', body);

    const answer = post(api.url, '/infer', body);
    // A chunk takes 600 ms: kill its worker as soon as it has started one.
    await until('the doomed worker to start a chunk', () =>
      events().find((e) => e.event === 'infer' && e.pid === doomed.child.pid),
    );
    doomed.child.kill('SIGKILL');
    await doomed.exited;
    const victim = events()
      .filter((e) => e.event === 'infer' && e.pid === doomed.child.pid)
      .at(-1)!;

    const { status, text } = await answer;
    expect(status).toBe(200);
    expect(text).toBe(expected.text);
    // The killed worker's chunk was run again, by the other worker.
    const reruns = events().filter((e) => e.event === 'infer' && e.first === victim.first && e.role === 'worker');
    expect(reruns).toHaveLength(2);
    expect(reruns[0].pid).toBe(doomed.child.pid);
    expect(reruns[1].pid).not.toBe(doomed.child.pid);
  });

  it('on a worker’s SIGTERM, lets its piece run out the grace period, then leaves it to another worker', async () => {
    const { start, events } = pool({ POOL_TRAIN_MS: '4000', ALECTIO_LOCK_MS: '1000', ALECTIO_SHUTDOWN_GRACE_MS: '500' });
    const [api, stopping] = await Promise.all([start('api'), start('worker')]);
    const training = post(api.url, '/train', { labeled: range(10), ckpt_file: 'ckpt_1' });
    await until('the training to start', () => events().find((e) => e.event === 'train'));
    const other = await start('worker');
    stopping.child.kill('SIGTERM');
    const exit = await stopping.exited;
    expect(exit.code === 0 || exit.signal === 'SIGTERM').toBe(true);

    expect((await training).status).toBe(200);
    const trainings = events().filter((e) => e.event === 'train' || e.event === 'trained');
    expect(trainings.map((e) => [e.event, e.pid])).toEqual([
      ['train', stopping.child.pid],
      ['train', other.child.pid],
      ['trained', other.child.pid],
    ]);
  });

  it('fails a chunk that keeps failing after the configured attempts, with a clear 500, and keeps serving', async () => {
    const { start, events } = pool({ ALECTIO_INFER_CHUNK: '10', ALECTIO_ATTEMPTS: '2' });
    const [api] = await Promise.all([start('api'), start('worker')]);
    const failing = await post(api.url, '/infer', { unlabeled: [...range(25), 9_999_999], ckpt_file: 'ckpt_0' });
    expect(failing.status).toBe(500);
    expect(JSON.parse(failing.text)).toEqual({
      status: 500,
      error: 'Internal Server Error',
      message:
        'infer chunk 3 of 3 (positions 20 to 25) failed after 2 attempts: infer failed in PoolModel#infer: index 9999999 always fails',
    });
    expect(events().filter((e) => e.event === 'infer' && e.first === 20)).toHaveLength(2);
    expect((await post(api.url, '/infer', { unlabeled: [1, 2], ckpt_file: 'ckpt_0' })).status).toBe(200);
  });

  it('holds one training at a time across two API processes, and trains on a worker', async () => {
    const { start, events } = pool({ POOL_TRAIN_MS: '3000' });
    const [first, second] = await Promise.all([start('api'), start('api'), start('worker'), start('worker')]);
    const job = await post(first.url, '/train', { labeled: range(10), ckpt_file: 'ckpt_1' }, { prefer: 'respond-async' });
    expect(job.status).toBe(202);
    const statusUrl = JSON.parse(job.text).status_url;
    await until('the training to start on a worker', () => events().find((e) => e.event === 'train'));

    const refused = await post(second.url, '/train', { labeled: range(5), ckpt_file: 'ckpt_2' });
    expect(refused.status).toBe(409);
    expect(JSON.parse(refused.text).message).toMatch(/training run is in progress, writing checkpoint "ckpt_1"/);
    const sameCheckpoint = await post(second.url, '/test', { ckpt_file: 'ckpt_1' });
    expect(sameCheckpoint.status).toBe(409);
    expect(JSON.parse(sameCheckpoint.text).message).toMatch(/checkpoint "ckpt_1": a training run is still writing it/);
    const other = await post(second.url, '/test', { ckpt_file: 'ckpt_0' });
    expect(other.status).toBe(200);

    const done = await until('the training to end', async () => {
      const { body } = await call(first.url, 'GET', statusUrl);
      return body.job.state === 'succeeded' ? body.job : undefined;
    });
    expect(done.progress).toBe(1);
    expect(
      events()
        .filter((e) => e.event === 'train')
        .map((e) => e.role),
    ).toEqual(['worker']);
    // Free again, for any API process of the pool.
    expect((await post(second.url, '/train', { labeled: range(5), ckpt_file: 'ckpt_2' })).status).toBe(200);
  });

  it('cancels a job on the worker that runs it, shows the worker’s progress meanwhile, and frees the training slot', async () => {
    const { start, events } = pool({ POOL_TRAIN_MS: '20000' });
    const [api] = await Promise.all([start('api'), start('worker')]);
    const job = await post(api.url, '/train', { labeled: range(10), ckpt_file: 'ckpt_1' }, { prefer: 'respond-async' });
    const statusUrl = JSON.parse(job.text).status_url;
    const running = await until('progress from the worker', async () => {
      const { body } = await call(api.url, 'GET', statusUrl);
      return body.job.state === 'running' && body.job.progress > 0 ? body.job : undefined;
    });
    expect(running.message).toMatch(/^step \d+ of 400$/);

    expect((await call(api.url, 'DELETE', statusUrl)).status).toBe(202);
    const cancelled = await until('the job to end cancelled', async () => {
      const { body } = await call(api.url, 'GET', statusUrl);
      return body.job.state === 'cancelled' ? body.job : undefined;
    });
    expect(cancelled.message).toMatch(/^cancelled/);
    expect(events().find((e) => e.event === 'train-aborted')).toMatchObject({ role: 'worker', ckpt_file: 'ckpt_1' });
    expect((await post(api.url, '/train', { labeled: range(3), ckpt_file: 'ckpt_2' }, { prefer: 'respond-async' })).status).toBe(
      202,
    );
  });

  it('runs the sample as a pool (`npm run worker`): trains on a worker, and infers the pool in chunks, as the sample alone would', async () => {
    const checkpoints = join(dir, 'sample-checkpoints');
    const env = (name: string) => ({ ALECTIO_CKPT_DIR: checkpoints, ALECTIO_JOBS_DB: join(dir, `${name}.sqlite`) });
    const pooled = { ...env('api'), ALECTIO_REDIS_URL: redis.url, ALECTIO_INFER_CHUNK: '1000' };
    const members = [
      new AppProcess('sample', 'api', pooled, await freePort()),
      new AppProcess('sample', 'worker', pooled),
      new AppProcess('sample', 'worker', pooled),
      new AppProcess('sample', 'alone', env('alone'), await freePort()),
    ];
    pools.track(...members);
    const [api, first, second, alone] = await Promise.all(members.map((member) => member.ready()));

    expect((await post(api.url, '/train', { labeled: range(300), ckpt_file: 'ckpt_0' })).status).toBe(200);
    expect(`${first.log()}${second.log()}`).toMatch(/trained ckpt_0 on 300 labeled digits/);
    expect(api.log()).not.toMatch(/trained ckpt_0/);

    const body = { unlabeled: range(7000), ckpt_file: 'ckpt_0' };
    const distributed = await post(api.url, '/infer', body);
    expect(distributed.status).toBe(200);
    expect(distributed.text).toBe((await post(alone.url, '/infer', body)).text);
    const tested = JSON.parse((await post(api.url, '/test', { ckpt_file: 'ckpt_0' })).text);
    expect(Object.keys(tested.predictions)).toHaveLength(1500);
  });

  it('checks the token and the payload in the API process, before anything reaches the pool', async () => {
    // No worker runs: a request that got as far as the pool would be a 503.
    const { start } = pool({ ALECTIO_TOKEN: 'pool-secret' });
    const api = await start('api');
    const anonymous = await post(api.url, '/train', { labeled: [1], ckpt_file: 'ckpt_0' });
    expect([anonymous.status, JSON.parse(anonymous.text).error]).toEqual([401, 'Unauthorized']);

    const auth = { authorization: 'Bearer pool-secret' };
    const invalid = await post(api.url, '/infer', { unlabeled: [3, 3], ckpt_file: '../x' }, auth);
    expect(invalid.status).toBe(400);
    expect(JSON.parse(invalid.text).message).toEqual([
      expect.stringMatching(/^unlabeled\[1\] repeats index 3/),
      expect.stringMatching(/^ckpt_file must be a plain file name/),
    ]);
    const asJob = await post(api.url, '/train', { labeled: [], ckpt_file: 'ckpt_0' }, { ...auth, prefer: 'respond-async' });
    expect(asJob.status).toBe(400);
    expect((await post(api.url, '/test', { ckpt_file: 'ckpt_0' }, auth)).status).toBe(503);
  });

  it('answers 503 when no worker is running, naming the queue', async () => {
    const { start } = pool();
    const api = await start('api');
    const answer = await post(api.url, '/test', { ckpt_file: 'ckpt_0' });
    expect(answer.status).toBe(503);
    expect(JSON.parse(answer.text).message).toMatch(
      /^no worker is taking work from the queue "q\d+-[0-9a-f]+" on 127\.0\.0\.1:\d+/,
    );
  });

  it('answers 503, not a hang, when every worker of the pool is gone while a request waits', async () => {
    const { start } = pool({ POOL_TRAIN_MS: '30000', ALECTIO_LOCK_MS: '1000' });
    const [api, worker] = await Promise.all([start('api'), start('worker')]);
    const waiting = post(api.url, '/train', { labeled: range(5), ckpt_file: 'ckpt_1' });
    await new Promise((resolve) => setTimeout(resolve, 500));
    worker.child.kill('SIGKILL');
    const answer = await waiting;
    expect(answer.status).toBe(503);
    expect(JSON.parse(answer.text).message).toMatch(
      /^no worker has been taking work from the queue "q\d+-[0-9a-f]+" on 127\.0\.0\.1:\d+ for \d+ s while this request waited/,
    );
  });

  it('stops a training whose pool-wide claim vanished with a Redis restart, so no two trainings run at once', async () => {
    const own = await RedisServer.start();
    try {
      const { start, events } = pool({ POOL_TRAIN_MS: '20000', ALECTIO_LOCK_MS: '1500' }, () => own);
      const [api] = await Promise.all([start('api'), start('worker'), start('worker')]);
      const first = post(api.url, '/train', { labeled: range(5), ckpt_file: 'ckpt_1' });
      await until('the training to start', () => events().find((e) => e.event === 'train'));
      await own.stop();
      await own.restart(); // empty: no persistence, the claim is gone
      expect((await first).status).toBe(503);

      const second = await until('a new training to be accepted', async () => {
        const answer = await post(api.url, '/train', { labeled: range(5), ckpt_file: 'ckpt_2' }, { prefer: 'respond-async' });
        return answer.status === 202 ? answer : undefined;
      });
      expect(second.status).toBe(202);
      await until('the first training to stop', () =>
        events().find((e) => e.event === 'train-aborted' && e.ckpt_file === 'ckpt_1'),
      );
      const trained = events().filter((e) => e.event === 'trained');
      expect(trained.map((e) => e.ckpt_file)).not.toContain('ckpt_1');
    } finally {
      await own.stop();
    }
  });

  it('answers 503 naming the refusal when Redis refuses to queue the work (out of memory), and keeps serving', async () => {
    const own = await RedisServer.start();
    try {
      const { start } = pool({}, () => own);
      const [api] = await Promise.all([start('api'), start('worker')]);
      own.command('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
      own.command('CONFIG', 'SET', 'maxmemory', '1');
      const refused = await post(api.url, '/infer', { unlabeled: [1, 2], ckpt_file: 'ckpt_0' });
      expect(refused.status).toBe(503);
      expect(JSON.parse(refused.text).message).toMatch(
        /^the work queue's Redis at 127\.0\.0\.1:\d+ refused the request: OOM command not allowed/,
      );

      own.command('CONFIG', 'SET', 'maxmemory', '0');
      expect((await post(api.url, '/infer', { unlabeled: [1, 2], ckpt_file: 'ckpt_0' })).status).toBe(200);
    } finally {
      await own.stop();
    }
  });

  // Stopped: every connection drops at once. Frozen (SIGSTOP), as a hung or unreachable host:
  // connections stay open and nothing answers, which only a timeout can tell.
  it.each([
    ['stops', (redis: RedisServer) => redis.stop(), (redis: RedisServer) => redis.restart()],
    ['freezes', async (redis: RedisServer) => redis.freeze(), async (redis: RedisServer) => redis.thaw()],
  ])(
    'answers 503, not a hang, when Redis %s mid-request, and serves again once it is back',
    async (_, outage, recovery) => {
      const own = await RedisServer.start();
      try {
        const { start } = pool({ ALECTIO_INFER_CHUNK: '100', POOL_MICROS_PER_INDEX: '2000' }, () => own);
        const [api] = await Promise.all([start('api'), start('worker')]);
        const inFlight = post(api.url, '/infer', { unlabeled: range(2_000), ckpt_file: 'ckpt_0' });
        await new Promise((resolve) => setTimeout(resolve, 500));
        await outage(own);

        const lost = await inFlight;
        expect(lost.status).toBe(503);
        expect(JSON.parse(lost.text).message).toMatch(/^lost the connection to the work queue's Redis at 127\.0\.0\.1:\d+/);
        const refused = await post(api.url, '/infer', { unlabeled: [1], ckpt_file: 'ckpt_0' });
        expect(refused.status).toBe(503);
        expect(JSON.parse(refused.text).message).toMatch(/^the work queue's Redis at 127\.0\.0\.1:\d+ /);
        expect((await call(api.url, 'GET', '/health')).status).toBe(200);

        await recovery(own);
        const back = await until(
          'the pool to serve again',
          async () => {
            const answer = await post(api.url, '/infer', { unlabeled: [1, 2, 3], ckpt_file: 'ckpt_0' });
            return answer.status === 200 ? answer : undefined;
          },
          40_000,
        );
        expect(Object.keys(JSON.parse(back.text).outputs)).toEqual(['1', '2', '3']);
      } finally {
        await own.stop();
      }
    },
    90_000,
  );
});
