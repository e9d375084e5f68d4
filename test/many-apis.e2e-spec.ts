import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';

import { type AppProcess, buildSample } from './fixtures/app.process.js';
import { CallbackReceiver } from './fixtures/callback.receiver.js';
import { HaProxy } from './fixtures/haproxy.js';
import { Pools, until } from './fixtures/pool.js';
import { RedisServer } from './fixtures/redis.server.js';

// Many API processes of one pool, as a deployment runs them: behind a real balancer (Debian's
// HAProxy, round robin, no sticky sessions), on a real Redis, with real worker processes
// (test/fixtures/pool-member.mjs on the built package). The job records live in Redis, so any
// API process answers for any job, and a job outlives the process that accepted it.

const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i);
const ASYNC = { prefer: 'respond-async' };
const FINISHED = ['succeeded', 'failed', 'cancelled'];

interface Answer {
  status: number;
  text: string;
  body: any;
  servedBy: string | null;
}

async function send(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, text, body: JSON.parse(text), servedBy: response.headers.get('x-served-by') };
}

/** Polls GET /jobs/:id at `url` until the job has ended; returns the last answer. */
async function ended(url: string, id: string, ms = 60_000): Promise<Answer> {
  return until(
    `job ${id} to end`,
    async () => {
      const answer = await send(url, 'GET', `/jobs/${id}`).catch(() => undefined);
      return answer?.status === 200 && FINISHED.includes(answer.body.job.state) ? answer : undefined;
    },
    ms,
  );
}

/** The result as GET /jobs/:id carries it, from the synchronous answer's bytes: the same fields, without `status`. */
const asJobResult = (syncText: string): string => syncText.replace(/^\{"status":200,?/, '{');

describe('many API processes behind a balancer, one pool, the jobs in Redis', () => {
  let redis: { url: string; stop(): Promise<void> };
  let dir: string;
  let pools: Pools;
  const balancers: HaProxy[] = [];
  const receivers: CallbackReceiver[] = [];

  beforeAll(async () => {
    buildSample();
    dir = mkdtempSync(join(tmpdir(), 'alectio-apis-'));
    redis = await RedisServer.shared();
    pools = new Pools(dir, () => redis.url);
  }, 120_000);
  afterEach(async () => {
    for (const balancer of balancers.splice(0)) await balancer.stop();
    for (const receiver of receivers.splice(0)) await receiver.close();
    await pools.stopAll();
  });
  afterAll(async () => {
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function receiver(): Promise<CallbackReceiver> {
    const started = await CallbackReceiver.start();
    receivers.push(started);
    return started;
  }

  it('submits, polls, lists and cancels jobs through round-robin HAProxy, whichever process each request reaches', async () => {
    const pool = pools.pool({ ALECTIO_INFER_CHUNK: '500', POOL_MICROS_PER_INDEX: '200', POOL_TRAIN_MS: '30000' });
    const [a, b] = await Promise.all([pool.start('api'), pool.start('api'), pool.start('worker'), pool.start('worker')]);
    const balancer = await HaProxy.start(dir, [a.url, b.url]);
    balancers.push(balancer);
    const body = { unlabeled: range(5_000).reverse(), ckpt_file: 'ckpt_0' };

    const accepted = await send(balancer.url, 'POST', '/infer', body, ASYNC);
    expect(accepted.status).toBe(202);
    const id: string = accepted.body.job_id;
    const servedBy = new Set<string>([accepted.servedBy!]);
    let last: Answer;
    do {
      last = await send(balancer.url, 'GET', `/jobs/${id}`);
      expect(last.status).toBe(200); // never a 404 from the process that did not take the job
      servedBy.add(last.servedBy!);
    } while (!FINISHED.includes(last.body.job.state));
    expect(servedBy).toEqual(new Set(['api1', 'api2']));
    expect(last.body.job.state).toBe('succeeded');
    const sync = await send(balancer.url, 'POST', '/infer', body);
    expect(last.text.endsWith(`,"result":${asJobResult(sync.text)}}}`)).toBe(true);

    // Listed by both processes, newest first.
    const lists = [await send(balancer.url, 'GET', '/jobs'), await send(balancer.url, 'GET', '/jobs')];
    expect(new Set(lists.map((list) => list.servedBy))).toEqual(new Set(['api1', 'api2']));
    for (const list of lists) {
      expect(list.body.total).toBe(1);
      expect(list.body.jobs[0]).toMatchObject({ id, state: 'succeeded' });
      expect(list.body.jobs[0].result).toBeUndefined();
    }

    // A training accepted by one process, cancelled through the other: the cancel reaches the worker.
    const training = await send(balancer.url, 'POST', '/train', { labeled: range(10), ckpt_file: 'ckpt_1' }, ASYNC);
    expect(training.status).toBe(202);
    await until('the training to start on a worker', () => pool.events().some((e) => e.event === 'train'));
    const cancel = await send(balancer.url, 'DELETE', `/jobs/${training.body.job_id}`);
    expect(cancel.status).toBe(202);
    expect(cancel.servedBy).not.toBe(training.servedBy);
    expect(cancel.body.job).toMatchObject({ state: 'running', message: 'cancelling: the method was asked to stop' });
    const cancelled = await ended(balancer.url, training.body.job_id);
    expect(cancelled.body.job).toMatchObject({ state: 'cancelled' });
    expect(pool.events().filter((e) => e.event === 'train-aborted')).toHaveLength(1);
    // The training claim went with the job: a new training can start at once.
    expect((await send(balancer.url, 'POST', '/train', { labeled: [1], ckpt_file: 'ckpt_2' }, ASYNC)).status).toBe(202);
  });

  /** Two API processes, two workers, a callback receiver; jobs taken over within about 2 s of a death. */
  async function killable(env: Record<string, string>) {
    const callbacks = await receiver();
    const pool = pools.pool({ ALECTIO_LOCK_MS: '2000', ...callbacks.env, ...env });
    const [accepting, other] = await Promise.all([
      pool.start('api'),
      pool.start('api'),
      pool.start('worker'),
      pool.start('worker'),
    ]);
    return { pool, callbacks, accepting, other };
  }

  /** The callback of `id` delivered, and nothing more of it for a while after. */
  async function deliveredOnce(callbacks: CallbackReceiver, id: string) {
    await until(`the callback of ${id}`, () => callbacks.of(id).length > 0, 30_000);
    await new Promise((resolve) => setTimeout(resolve, 3000)); // time for a second, wrong, delivery
    const deliveries = callbacks.of(id);
    expect(deliveries).toHaveLength(1);
    expect(deliveries[0].signed).toBe(true);
    return deliveries[0].body.job;
  }

  async function kill(member: AppProcess): Promise<void> {
    member.child.kill('SIGKILL');
    await member.exited;
  }

  it('finishes a job-mode /infer whose accepting process is SIGKILLed mid-way: same result, read through the other, one callback', async () => {
    const { pool, callbacks, accepting, other } = await killable({ ALECTIO_INFER_CHUNK: '1000', POOL_MICROS_PER_INDEX: '400' });
    const body = { unlabeled: range(20_000, 7).reverse(), ckpt_file: 'ckpt_0' };
    const accepted = await send(accepting.url, 'POST', '/infer', body, ASYNC);
    expect(accepted.status).toBe(202);
    const id: string = accepted.body.job_id;
    await until('a few chunks to be done', () => pool.events().filter((e) => e.event === 'infer').length >= 4);
    await kill(accepting);
    const killedAt = Date.now();

    const end = await ended(other.url, id);
    expect(end.body.job.state).toBe('succeeded');
    const sync = await send(other.url, 'POST', '/infer', body);
    expect(end.text.endsWith(`,"result":${asJobResult(sync.text)}}}`)).toBe(true);
    expect(Date.now() - killedAt).toBeLessThan(30_000);
    // Every chunk ran once: the pieces the dead process had queued were waited for, not queued again.
    const chunks = pool.events().filter((e) => e.event === 'infer' && e.count === 1000);
    expect(chunks).toHaveLength(40); // 20 for the job, 20 for the synchronous call
    const job = await deliveredOnce(callbacks, id);
    expect(job).toMatchObject({ id, state: 'succeeded' });
    expect(job.result).toEqual(JSON.parse(asJobResult(sync.text)));
  });

  it('finishes a training job whose accepting process is SIGKILLed mid-training: trained once, one callback, the claim freed', async () => {
    const { pool, callbacks, accepting, other } = await killable({ POOL_TRAIN_MS: '4000' });
    const accepted = await send(accepting.url, 'POST', '/train', { labeled: range(50), ckpt_file: 'ckpt_5' }, ASYNC);
    expect(accepted.status).toBe(202);
    const id: string = accepted.body.job_id;
    await until('the training to start', () => pool.events().some((e) => e.event === 'train'));
    // A second training is refused while this one runs, by either process.
    expect((await send(other.url, 'POST', '/train', { labeled: [1], ckpt_file: 'ckpt_6' })).status).toBe(409);
    await kill(accepting);

    const end = await ended(other.url, id);
    expect(end.body.job).toMatchObject({ id, state: 'succeeded', progress: 1 });
    expect(pool.events().filter((e) => e.event === 'train')).toHaveLength(1);
    expect(pool.events().filter((e) => e.event === 'trained')).toHaveLength(1);
    expect(await deliveredOnce(callbacks, id)).toMatchObject({ id, state: 'succeeded' });
    expect((await send(other.url, 'POST', '/train', { labeled: [1], ckpt_file: 'ckpt_6' })).status).toBe(200);
  });

  it('hands its jobs over on a graceful stop (SIGTERM): the other process finishes them, nothing is cancelled', async () => {
    const { pool, callbacks, accepting, other } = await killable({ POOL_TRAIN_MS: '3000' });
    const accepted = await send(accepting.url, 'POST', '/train', { labeled: range(5), ckpt_file: 'ckpt_7' }, ASYNC);
    const id: string = accepted.body.job_id;
    await until('the training to start', () => pool.events().some((e) => e.event === 'train'));
    accepting.child.kill('SIGTERM');
    await accepting.exited; // Nest's shutdown hooks ran, then the process ends on the signal, as Nest does
    const end = await ended(other.url, id);
    expect(end.body.job).toMatchObject({ state: 'succeeded' });
    expect(pool.events().filter((e) => e.event === 'train-aborted')).toEqual([]);
    expect(await deliveredOnce(callbacks, id)).toMatchObject({ id, state: 'succeeded' });
  });

  it('finishes the jobs of a pool whose every API process died once a new one starts; a job whose work Redis lost fails, saying so', async () => {
    const callbacks = await receiver();
    const pool = pools.pool({
      ALECTIO_LOCK_MS: '2000',
      ALECTIO_INFER_CHUNK: '1000',
      POOL_MICROS_PER_INDEX: '300',
      ...callbacks.env,
    });
    const [only] = await Promise.all([pool.start('api'), pool.start('worker')]);
    const body = { unlabeled: range(8_000), ckpt_file: 'ckpt_0' };
    const kept = (await send(only.url, 'POST', '/infer', body, ASYNC)).body.job_id as string;
    // Queued behind the first job's chunks, on the one worker: still to run when the process dies.
    const evicted = (await send(only.url, 'POST', '/infer', { unlabeled: range(1_000), ckpt_file: 'ckpt_0' }, ASYNC)).body
      .job_id as string;
    await until('the first chunk', () => pool.events().some((e) => e.event === 'infer'));
    await kill(only);
    // As a Redis under maxmemory evicts a key: what the second job was to run is gone.
    RedisServer.commandAt(redis.url, 'DEL', `alectio:${pool.queue}:job:${evicted}:work`);
    const [successor] = await Promise.all([pool.start('api')]);

    const end = await ended(successor.url, kept);
    expect(end.body.job.state).toBe('succeeded');
    expect(Object.keys(end.body.job.result.outputs)).toHaveLength(8_000);
    const lost = await ended(successor.url, evicted);
    expect(lost.body.job).toMatchObject({
      state: 'failed',
      error: "the job's work was lost: what it was to run is no longer in Redis; submit it again",
    });
    expect((await deliveredOnce(callbacks, kept)).state).toBe('succeeded');
    expect(callbacks.of(evicted)).toHaveLength(1);
  });

  it('cancels a job asked through the other process while its owner is dead: the one taking it over stops its pieces', async () => {
    const { pool, accepting, other } = await killable({ POOL_TRAIN_MS: '30000' });
    const accepted = await send(accepting.url, 'POST', '/train', { labeled: range(5), ckpt_file: 'ckpt_8' }, ASYNC);
    const id: string = accepted.body.job_id;
    await until('the training to start', () => pool.events().some((e) => e.event === 'train'));
    await kill(accepting);
    // Before its lease lapses: nobody runs the job to hear the cancel; it is kept on the job.
    expect((await send(other.url, 'DELETE', `/jobs/${id}`)).status).toBe(202);
    const end = await ended(other.url, id);
    expect(end.body.job).toMatchObject({ state: 'cancelled' });
    await until('the worker to stop the training', () => pool.events().some((e) => e.event === 'train-aborted'));
    expect((await send(other.url, 'POST', '/train', { labeled: [1], ckpt_file: 'ckpt_9' }, ASYNC)).status).toBe(202);
  });

  it('waits out a frozen Redis during a job (a synchronous call gets its 503), then ends the job with its whole result', async () => {
    const own = await RedisServer.start();
    try {
      const pool = pools.pool({ ALECTIO_INFER_CHUNK: '500', POOL_MICROS_PER_INDEX: '1000' }, () => own.url);
      const [api] = await Promise.all([pool.start('api'), pool.start('worker')]);
      const body = { unlabeled: range(5_000), ckpt_file: 'ckpt_0' };
      const accepted = await send(api.url, 'POST', '/infer', body, ASYNC);
      await until('a chunk to be done', () => pool.events().some((e) => e.event === 'infer'));
      const sync = send(api.url, 'POST', '/infer', { unlabeled: range(10), ckpt_file: 'ckpt_0' });
      own.freeze();
      // Past the watchdog's verdict (two unanswered PINGs of 5 s): a call waiting on the pool is answered 503.
      expect((await sync).status).toBe(503);
      own.thaw();
      const end = await ended(api.url, accepted.body.job_id);
      expect(end.body.job.state).toBe('succeeded');
      expect(Object.keys(end.body.job.result.outputs)).toHaveLength(5_000);
    } finally {
      await pools.stopAll();
      await own.stop();
    }
  }, 90_000);

  it('records a 200,000-output result and serves it back identical to the synchronous answer, in every store', async () => {
    const body = { unlabeled: range(200_000, 3).reverse(), ckpt_file: 'ckpt_0' };
    const pool = pools.pool({ ALECTIO_INFER_CHUNK: '10000' });
    const [inMemory, inSqlite, withRedis] = await Promise.all([
      pool.start('alone'),
      pool.start('alone', { ALECTIO_JOBS_DB: join(dir, 'jobs-200k.sqlite') }),
      pool.start('api'),
      pool.start('worker'),
    ]);
    const sync = await send(inMemory.url, 'POST', '/infer', body);
    expect(Object.keys(sync.body.outputs)).toHaveLength(200_000);
    for (const store of [inMemory, inSqlite, withRedis]) {
      const accepted = await send(store.url, 'POST', '/infer', body, ASYNC);
      const end = await ended(store.url, accepted.body.job_id);
      expect(end.body.job.state).toBe('succeeded');
      expect(end.text.endsWith(`,"result":${asJobResult(sync.text)}}}`)).toBe(true);
      // A client that leaves mid-answer: the server stops reading the result and serves on.
      const leaving = new AbortController();
      const partial = await fetch(`${store.url}/jobs/${accepted.body.job_id}`, { signal: leaving.signal });
      expect((await partial.body!.getReader().read()).done).toBe(false);
      leaving.abort();
      expect((await send(store.url, 'GET', '/health')).status).toBe(200);
      expect((await send(store.url, 'GET', `/jobs/${accepted.body.job_id}`)).text).toBe(end.text);
    }
  });

  it('keeps results in Redis within jobResultBytes: the oldest dropped first, one larger than it failed, saying so', async () => {
    const pool = pools.pool({ ALECTIO_INFER_CHUNK: '10000', POOL_RESULT_BYTES: String(3_000_000) });
    const [api] = await Promise.all([pool.start('api'), pool.start('worker')]);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const accepted = await send(api.url, 'POST', '/infer', { unlabeled: range(20_000), ckpt_file: 'c' }, ASYNC);
      ids.push(accepted.body.job_id);
      await ended(api.url, accepted.body.job_id);
    }
    // About 1.2 MB each: the third does not fit beside the first two, so the first goes.
    const [first, second, third] = await Promise.all(ids.map((id) => send(api.url, 'GET', `/jobs/${id}`)));
    expect(first.body.job).toMatchObject({
      state: 'succeeded',
      message: "result dropped to keep the pool's Redis within its budget",
    });
    expect(first.body.job.result).toBeUndefined();
    expect(Object.keys(second.body.job.result.outputs)).toHaveLength(20_000);
    expect(Object.keys(third.body.job.result.outputs)).toHaveLength(20_000);

    const large = await send(api.url, 'POST', '/infer', { unlabeled: range(60_000), ckpt_file: 'c' }, ASYNC);
    const refused = await ended(api.url, large.body.job_id);
    expect(refused.body.job.state).toBe('failed');
    expect(refused.body.job.error).toMatch(
      /^the result is \d+ bytes, more than the job store keeps \(jobResultBytes, 3000000 bytes\); ask for it synchronously, or raise jobResultBytes$/,
    );
    expect(Object.keys((await send(api.url, 'GET', `/jobs/${ids[2]}`)).body.job.result.outputs)).toHaveLength(20_000);
  });
});
