import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { Test as NestTest } from '@nestjs/testing';
import { AlectioContext, AlectioModule, SIGNATURE_HEADER, signBody } from 'nestjs-alectio';
import request from 'supertest';

import { JOB_STORE } from '../src/jobs/job-store.interface.js';
import { MemoryJobStore } from '../src/jobs/memory.job-store.js';
import { FixtureModelModule, startFixtureApp } from './fixtures/fixture.app.js';
import type { FixtureModel } from './fixtures/fixture.model.js';

const TOKEN = 'jobs-token';
const AUTH = { Authorization: `Bearer ${TOKEN}` };
const ASYNC = { ...AUTH, Prefer: 'respond-async' };

/** A promise and the functions that settle it, for methods a test holds open. */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Polls GET /jobs/:id until `until` holds (bounded: 200 polls). */
async function waitForJob(url: string, statusUrl: string, until: (job: any) => boolean): Promise<any> {
  for (let i = 0; i < 200; i++) {
    const res = await request(url).get(statusUrl).set(AUTH).expect(200);
    if (until(res.body.job)) return res.body.job;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`job at ${statusUrl} never reached the expected state`);
}
const finished = (job: any) => ['succeeded', 'failed', 'cancelled'].includes(job.state);

describe('job mode', () => {
  let app: INestApplication;
  let model: FixtureModel;
  let url: string;

  beforeAll(async () => {
    ({ app, model, url } = await startFixtureApp({ name: 'jobs', options: { token: TOKEN, prefix: 'al' } }));
  });
  afterAll(() => app.close());
  afterEach(() => model.reset());

  it('answers 202 at once, then the job runs to succeeded with the answer a synchronous call gives', async () => {
    const accepted = await request(url).post('/al/test').set(ASYNC).send({ ckpt_file: 'c' }).expect(202);
    expect(accepted.body).toEqual({ status: 202, job_id: expect.any(String), status_url: `/al/jobs/${accepted.body.job_id}` });
    expect(accepted.headers.location).toBe(accepted.body.status_url);
    expect(accepted.headers['preference-applied']).toBe('respond-async');

    const job = await waitForJob(url, accepted.body.status_url, finished);
    const sync = await request(url).post('/al/test').set(AUTH).send({ ckpt_file: 'c' }).expect(200);
    const { status: _status, ...answer } = sync.body;
    expect(job).toEqual({
      id: accepted.body.job_id,
      kind: 'test',
      state: 'succeeded',
      progress: 1,
      message: null,
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      started_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      finished_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      result: answer,
    });
  });

  it('shows the method’s progress while it runs, and the method gets a context', async () => {
    const release = deferred();
    let seen: AlectioContext | undefined;
    model.behaviour.train = (async (_payload: unknown, context: AlectioContext) => {
      seen = context;
      context.progress(0.25, 'epoch 1 of 4');
      await release.promise;
    }) as never;
    const accepted = await request(url)
      .post('/al/train')
      .set(ASYNC)
      .send({ labeled: [1, 2], ckpt_file: 'ckpt_p' })
      .expect(202);
    const running = await waitForJob(url, accepted.body.status_url, (job) => job.progress === 0.25);
    expect(running).toMatchObject({ state: 'running', progress: 0.25, message: 'epoch 1 of 4', finished_at: null });
    expect(seen!.signal.aborted).toBe(false);
    expect(typeof seen!.logger.log).toBe('function');
    release.resolve();
    expect(await waitForJob(url, accepted.body.status_url, finished)).toMatchObject({ state: 'succeeded', result: {} });
  });

  it('cancels: the signal is aborted and the job ends cancelled once the method returns', async () => {
    const aborted = deferred<unknown>();
    const release = deferred();
    model.behaviour.train = (async (_payload: unknown, { signal }: AlectioContext) => {
      signal.addEventListener('abort', () => aborted.resolve(signal.reason));
      await release.promise;
      signal.throwIfAborted();
    }) as never;
    const accepted = await request(url)
      .post('/al/train')
      .set(ASYNC)
      .send({ labeled: [1], ckpt_file: 'ckpt_c' })
      .expect(202);
    await waitForJob(url, accepted.body.status_url, (job) => job.state === 'running');

    const cancel = await request(url).delete(accepted.body.status_url).set(AUTH).expect(202);
    expect(cancel.body.job).toMatchObject({ state: 'running', message: 'cancelling: the method was asked to stop' });
    expect(String(await aborted.promise)).toContain(`job ${accepted.body.job_id} was cancelled`);
    // Still training until the method returns: the slot is held.
    await request(url)
      .post('/al/train')
      .set(AUTH)
      .send({ labeled: [1], ckpt_file: 'other' })
      .expect(409);
    release.resolve();
    expect(await waitForJob(url, accepted.body.status_url, finished)).toMatchObject({ state: 'cancelled' });
    await request(url)
      .post('/al/train')
      .set(AUTH)
      .send({ labeled: [1], ckpt_file: 'other' })
      .expect(200);

    const again = await request(url).delete(accepted.body.status_url).set(AUTH).expect(409);
    expect(again.body).toEqual({
      status: 409,
      error: 'Conflict',
      message: `job "${accepted.body.job_id}" has already been cancelled`,
    });
  });

  it('records a failing method as failed with its message', async () => {
    model.behaviour.infer = () => {
      throw new Error('GPU out of memory');
    };
    const accepted = await request(url)
      .post('/al/infer')
      .set(ASYNC)
      .send({ unlabeled: [1], ckpt_file: 'c' })
      .expect(202);
    const job = await waitForJob(url, accepted.body.status_url, finished);
    expect(job).toMatchObject({ state: 'failed', error: 'infer failed in FixtureModel#infer: GPU out of memory' });
    expect(job.result).toBeUndefined();
  });

  it('records a result that breaks the protocol as failed', async () => {
    model.behaviour.infer = () => ({ outputs: {} });
    const accepted = await request(url)
      .post('/al/infer')
      .set(ASYNC)
      .send({ unlabeled: [4], ckpt_file: 'c' })
      .expect(202);
    const job = await waitForJob(url, accepted.body.status_url, finished);
    expect(job.error).toContain('infer returned no output for 1 of 1 requested indices, first 4');
  });

  it('keeps PROTOCOL.md’s rules before the 202: validation, the token, one training at a time', async () => {
    const bad = await request(url).post('/al/train').set(ASYNC).send({ labeled: [], ckpt_file: '../x' }).expect(400);
    expect(bad.body.message).toHaveLength(2);
    await request(url)
      .post('/al/train')
      .set({ Prefer: 'respond-async' })
      .send({ labeled: [1], ckpt_file: 'c' })
      .expect(401);

    const release = deferred();
    model.behaviour.train = () => release.promise;
    const first = await request(url)
      .post('/al/train')
      .set(ASYNC)
      .send({ labeled: [1], ckpt_file: 'ckpt_9' })
      .expect(202);
    const second = await request(url)
      .post('/al/train')
      .set(ASYNC)
      .send({ labeled: [2], ckpt_file: 'ckpt_10' })
      .expect(409);
    expect(second.body.message).toContain('"ckpt_9"');
    await request(url)
      .post('/al/infer')
      .set(ASYNC)
      .send({ unlabeled: [1], ckpt_file: 'ckpt_9' })
      .expect(409);
    release.resolve();
    await waitForJob(url, first.body.status_url, finished);
  });

  it('needs the token on every job route, and answers 404 naming an unknown id', async () => {
    await request(url).get('/al/jobs').expect(401);
    await request(url).get('/al/jobs/anything').expect(401);
    await request(url).delete('/al/jobs/anything').expect(401);
    for (const id of ['no-such-job', '..%2F..%2Fetc%2Fpasswd', "1'%20OR%20'1'='1"]) {
      const res = await request(url).get(`/al/jobs/${id}`).set(AUTH).expect(404);
      expect(res.body).toEqual({ status: 404, error: 'Not Found', message: `no job with id "${decodeURIComponent(id)}"` });
      await request(url).delete(`/al/jobs/${id}`).set(AUTH).expect(404);
    }
  });

  it('lists jobs newest first, paged, without their results', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await request(url)
        .post('/al/test')
        .set(ASYNC)
        .send({ ckpt_file: `list_${i}` })
        .expect(202);
      ids.push(res.body.job_id);
      await waitForJob(url, res.body.status_url, finished);
    }
    const page = await request(url).get('/al/jobs?limit=2').set(AUTH).expect(200);
    expect(page.body).toMatchObject({ status: 200, limit: 2, offset: 0, total: expect.any(Number) });
    expect(page.body.jobs.map((job: any) => job.id)).toEqual([ids[2], ids[1]]);
    expect(page.body.jobs[0].result).toBeUndefined();
    const next = await request(url).get('/al/jobs?limit=1&offset=2').set(AUTH).expect(200);
    expect(next.body.jobs.map((job: any) => job.id)).toEqual([ids[0]]);
    const bad = await request(url).get('/al/jobs?limit=0').set(AUTH).expect(400);
    expect(bad.body.message).toEqual(['limit must be an integer from 1 to 100, got "0"']);
    await request(url).get('/al/jobs?offset=-1').set(AUTH).expect(400);
  });

  it('gives synchronous calls a context too, whose progress is harmless', async () => {
    model.behaviour.test = ((_payload: unknown, context: AlectioContext) => {
      context.progress(0.5, 'halfway');
      context.progress(Number.NaN);
      return { predictions: [1], labels: [1] };
    }) as never;
    await request(url).post('/al/test').set(AUTH).send({ ckpt_file: 'c' }).expect(200);
  });
});

/** A local receiver of callbacks that fails its first `failures` deliveries with a 500. */
async function receiver(failures: number) {
  const deliveries: Array<{ body: string; headers: IncomingMessage['headers'] }> = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      deliveries.push({ body: Buffer.concat(chunks).toString(), headers: req.headers });
      res.writeHead(deliveries.length <= failures ? 500 : 204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, deliveries, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook` };
}

describe('the completion callback', () => {
  const secret = 'a-shared-secret-of-some-length';

  it.each([
    ['delivers a signed POST, retrying after failures', 2, 3, 3],
    ['gives up after the configured attempts, and the job keeps its state', 99, 3, 3],
  ])('%s', async (_case, failures, attempts, expected) => {
    const hook = await receiver(failures);
    const { app, url } = await startFixtureApp({
      name: 'callback',
      options: { callback: { url: hook.url, secret, attempts, backoffMs: 20 } },
    });
    try {
      const accepted = await request(url).post('/test').set('Prefer', 'respond-async').send({ ckpt_file: 'c' }).expect(202);
      for (let i = 0; i < 200 && hook.deliveries.length < expected; i++) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 200)); // no attempt beyond the bound
      expect(hook.deliveries).toHaveLength(expected);
      for (const delivery of hook.deliveries) {
        expect(delivery.headers[SIGNATURE_HEADER]).toBe(signBody(delivery.body, secret));
        expect(delivery.headers['x-alectio-job-id']).toBe(accepted.body.job_id);
        const { job } = JSON.parse(delivery.body);
        expect(job).toMatchObject({
          id: accepted.body.job_id,
          state: 'succeeded',
          result: { predictions: { 0: 1, 1: 0, 2: 2 } },
        });
      }
      expect(signBody(hook.deliveries[0].body, 'another secret')).not.toBe(hook.deliveries[0].headers[SIGNATURE_HEADER]);
      const job = await request(url).get(accepted.body.status_url).expect(200);
      expect(job.body.job.state).toBe('succeeded');
    } finally {
      await app.close();
      hook.server.close();
    }
  });
});

describe('shutdown', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'alectio-jobs-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses new work with 503, aborts the running method, records it cancelled, and the record survives', async () => {
    const jobsDatabase = join(dir, 'jobs.sqlite');
    const first = await startFixtureApp({ name: 'draining', options: { jobsDatabase, shutdownGraceMs: 5000 } });
    const aborted = deferred();
    const release = deferred();
    first.model.behaviour.train = (async (_payload: unknown, { signal }: AlectioContext) => {
      signal.addEventListener('abort', () => aborted.resolve());
      await release.promise;
      signal.throwIfAborted();
    }) as never;
    const accepted = await request(first.url)
      .post('/train')
      .set('Prefer', 'respond-async')
      .send({ labeled: [1], ckpt_file: 'ckpt_s' })
      .expect(202);
    await waitForJob(first.url, accepted.body.status_url, (job) => job.state === 'running');

    const closing = first.app.close();
    try {
      await aborted.promise;
      const refused = await request(first.url).post('/test').send({ ckpt_file: 'c' }).expect(503);
      expect(refused.body).toEqual({
        status: 503,
        error: 'Service Unavailable',
        message: expect.stringContaining('shutting down'),
      });
    } finally {
      release.resolve();
      await closing;
    }

    const second = await startFixtureApp({ name: 'after', options: { jobsDatabase } });
    try {
      const job = await request(second.url).get(accepted.body.status_url).expect(200);
      expect(job.body.job).toMatchObject({ state: 'cancelled', message: 'cancelled: the server shut down' });
    } finally {
      await second.app.close();
    }
  });
});

describe('shutdown, the hard cases', () => {
  it('answers 503 to a synchronous call whose method ignores its signal, when the grace period ends', async () => {
    const { app, model, url } = await startFixtureApp({ name: 'stubborn', options: { shutdownGraceMs: 300 } });
    const started = deferred();
    model.behaviour.train = () => {
      started.resolve();
      return new Promise(() => undefined); // never returns, never looks at its signal
    };
    const call = request(url)
      .post('/train')
      .send({ labeled: [1], ckpt_file: 'c' })
      .then((r) => r);
    await started.promise;
    await app.close();
    const res = await call;
    expect(res.status).toBe(503);
    expect(res.body.message).toBe('the server shut down while train ran; retry on its successor');
  });

  it('records a job whose method returns normally after the shutdown abort as cancelled, and delivers its callback', async () => {
    const hook = await receiver(0);
    const first = await startFixtureApp({
      name: 'returns',
      options: {
        jobsDatabase: join(mkdtempSync(join(tmpdir(), 'alectio-returns-')), 'jobs.sqlite'),
        callback: { url: hook.url, secret: 'sixteen-chars-at-least' },
      },
    });
    const aborted = deferred();
    first.model.behaviour.train = (async (_payload: unknown, { signal }: AlectioContext) => {
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
      aborted.resolve();
      // returns, as a loop that checks the signal and breaks would: no result to trust
    }) as never;
    const accepted = await request(first.url)
      .post('/train')
      .set('Prefer', 'respond-async')
      .send({ labeled: [1], ckpt_file: 'c' })
      .expect(202);
    await waitForJob(first.url, accepted.body.status_url, (job) => job.state === 'running');
    await first.app.close();
    try {
      expect(hook.deliveries).toHaveLength(1);
      expect(JSON.parse(hook.deliveries[0].body).job).toMatchObject({ id: accepted.body.job_id, state: 'cancelled' });
    } finally {
      hook.server.close();
    }
  });
});

describe('limits of job mode', () => {
  it('refuses more than 32 jobs in progress with 503, and accepts again once they end', async () => {
    const { app, model, url } = await startFixtureApp({ name: 'many' });
    const release = deferred();
    model.behaviour.test = () => release.promise.then(() => ({ predictions: [1], labels: [1] }));
    try {
      for (let i = 0; i < 32; i++)
        await request(url)
          .post('/test')
          .set('Prefer', 'respond-async')
          .send({ ckpt_file: `c${i}` })
          .expect(202);
      const refused = await request(url).post('/test').set('Prefer', 'respond-async').send({ ckpt_file: 'c32' }).expect(503);
      expect(refused.body.message).toBe('32 jobs are in progress; retry when one has ended');
      release.resolve();
      for (let i = 0; i < 100; i++) {
        const res = await request(url).post('/test').set('Prefer', 'respond-async').send({ ckpt_file: 'again' });
        if (res.status === 202) return;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      throw new Error('jobs were never accepted again');
    } finally {
      release.resolve();
      await app.close();
    }
  });
});

describe('a store that fails to record the end', () => {
  async function appWith(store: MemoryJobStore) {
    const moduleRef = await NestTest.createTestingModule({ imports: [FixtureModelModule, AlectioModule.forRoot()] })
      .overrideProvider(JOB_STORE)
      .useValue(store)
      .compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    return { app, url: await app.getUrl() };
  }

  it('records the job failed without its result when the result cannot be written', async () => {
    const store = new MemoryJobStore();
    const finish = store.finish.bind(store);
    store.finish = async (id, end) => {
      if (end.result) throw new Error('database or disk is full');
      return finish(id, end);
    };
    const { app, url } = await appWith(store);
    try {
      const accepted = await request(url).post('/test').set('Prefer', 'respond-async').send({ ckpt_file: 'c' }).expect(202);
      const job = await waitForJob(url, accepted.body.status_url, finished);
      expect(job).toMatchObject({ state: 'failed', error: 'the result could not be recorded (see the server log)' });
    } finally {
      await app.close();
    }
  });

  it('still shows the end when the store takes no end at all, rather than running forever', async () => {
    const store = new MemoryJobStore();
    store.finish = async () => {
      throw new Error('database is locked');
    };
    const { app, url } = await appWith(store);
    try {
      const accepted = await request(url)
        .post('/infer')
        .set('Prefer', 'respond-async')
        .send({ unlabeled: [1], ckpt_file: 'c' })
        .expect(202);
      const job = await waitForJob(url, accepted.body.status_url, finished);
      expect(job).toMatchObject({ state: 'failed', error: 'the result could not be recorded (see the server log)' });
    } finally {
      await app.close();
    }
  });
});
