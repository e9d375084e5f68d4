import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { basePath, FixtureSetup, startFixtureApp } from './fixtures/fixture.app.js';
import type { FixtureModel } from './fixtures/fixture.model.js';
import type { INestApplication } from '@nestjs/common';

// Every endpoint of PROTOCOL.md, the same assertions over each way of registering the module.
const setups: FixtureSetup[] = [
  { name: 'forRoot()' },
  { name: 'forRootAsync()', async: true },
  { name: 'forRoot() with a prefix', options: { prefix: 'alectio' } },
  { name: 'forRootAsync() with a prefix', async: true, options: { prefix: '/alectio/v2/' } },
  { name: 'forRoot() under a global prefix', globalPrefix: 'api' },
  { name: 'forRootAsync() with a prefix under a global prefix', async: true, globalPrefix: 'api', options: { prefix: 'alectio' } },
];

describe.each(setups)('endpoints, $name', (setup) => {
  let app: INestApplication;
  let model: FixtureModel;
  let url: string;
  const base = basePath(setup);

  beforeAll(async () => {
    ({ app, model, url } = await startFixtureApp(setup));
  });
  afterAll(() => app.close());

  it('GET /health lists the methods and the pool size', async () => {
    const res = await request(url).get(`${base}/health`).expect(200);
    expect(res.body).toEqual({ status: 200, handlers: { train: true, test: true, infer: true }, pool_size: null });
  });

  it('POST /train calls @Train() with the payload, extra fields stripped, and answers {status: 200}', async () => {
    const res = await request(url)
      .post(`${base}/train`)
      .send({ labeled: [3, 1, 2], resume_from: 'ckpt_0', ckpt_file: 'ckpt_1', loop: 4, note: 'extra' })
      .expect(200);
    expect(res.body).toEqual({ status: 200 });
    const received = model.received.train.at(-1)!;
    expect({ ...received }).toEqual({ labeled: [3, 1, 2], resume_from: 'ckpt_0', ckpt_file: 'ckpt_1' });
    expect(received.constructor.name).toBe('TrainPayload');
  });

  it('POST /test answers the predictions and labels keyed by index', async () => {
    const res = await request(url).post(`${base}/test`).send({ ckpt_file: 'ckpt_1' }).expect(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual({ status: 200, predictions: { 0: 1, 1: 0, 2: 2 }, labels: { 0: 1, 1: 1, 2: 2 } });
  });

  it('POST /infer answers one output per requested index, keyed by index', async () => {
    const res = await request(url).post(`${base}/infer`).send({ unlabeled: [10, 4], ckpt_file: 'ckpt_1' }).expect(200);
    expect(res.body).toEqual({ status: 200, outputs: { 10: [3, -1, 0.5], 4: [4, -1, 0.5] } });
  });

  it('paths outside the module stay the app’s', async () => {
    await request(url).post(`${base}/other`).send({}).expect(404);
  });
});

describe('PROTOCOL.md details', () => {
  let app: INestApplication;
  let model: FixtureModel;
  let url: string;

  beforeAll(async () => {
    ({ app, model, url } = await startFixtureApp({ name: 'details', options: { poolSize: 1000 } }));
  });
  afterAll(() => app.close());
  afterEach(() => model.reset());

  it.each([
    ['null', null],
    ['""', ''],
    ['absent', undefined],
  ])('resume_from %s reaches the method as null (start fresh)', async (_label, resume) => {
    await request(url).post('/train').send({ labeled: [0], resume_from: resume, ckpt_file: 'c0' }).expect(200);
    expect(model.received.train[0].resume_from).toBeNull();
  });

  it('infer of an empty list answers {} outputs', async () => {
    const res = await request(url).post('/infer').send({ unlabeled: [], ckpt_file: 'c' }).expect(200);
    expect(res.body).toEqual({ status: 200, outputs: {} });
  });

  it('reports the pool size on /health', async () => {
    const res = await request(url).get('/health').expect(200);
    expect(res.body.pool_size).toBe(1000);
  });

  it('accepts results keyed by Map and by array, and sends typed arrays as JSON arrays', async () => {
    model.behaviour.test = () => ({
      predictions: new Map([[5, 1], [9, 0]]),
      labels: { 5: 1, 9: 1 },
    });
    model.behaviour.infer = ({ unlabeled }: { unlabeled: number[] }) => ({
      outputs: new Map(unlabeled.map((i) => [i, Float32Array.of(i, 0.5)])),
    });
    const test = await request(url).post('/test').send({ ckpt_file: 'c' }).expect(200);
    expect(test.body).toEqual({ status: 200, predictions: { 5: 1, 9: 0 }, labels: { 5: 1, 9: 1 } });
    const infer = await request(url).post('/infer').send({ unlabeled: [7, 2], ckpt_file: 'c' }).expect(200);
    expect(infer.text).toBe('{"status":200,"outputs":{"7":[7,0.5],"2":[2,0.5]}}');
  });

  it('sends object-detection values as they are', async () => {
    const prediction = { boxes: [[1, 2, 3, 4]], objects: [2], scores: [0.9] };
    model.behaviour.test = () => ({ predictions: [prediction], labels: [{ boxes: [[1, 2, 3, 4]], objects: [2] }] });
    const res = await request(url).post('/test').send({ ckpt_file: 'c' }).expect(200);
    expect(res.body.predictions).toEqual({ 0: prediction });
  });

  it('answers a sync method as well as an async one', async () => {
    model.behaviour.infer = ({ unlabeled }: { unlabeled: number[] }) => ({ outputs: unlabeled.map(() => [1]) });
    const res = await request(url).post('/infer').send({ unlabeled: [1], ckpt_file: 'c' }).expect(200);
    expect(res.body.outputs).toEqual({ 1: [1] });
  });
});

describe('concurrency', () => {
  let app: INestApplication;
  let model: FixtureModel;
  let url: string;

  beforeAll(async () => {
    ({ app, model, url } = await startFixtureApp({ name: 'concurrency' }));
  });
  afterAll(() => app.close());

  it('answers 409 to a second training and to test/infer of the checkpoint being trained, and serves the rest', async () => {
    let finish!: () => void;
    const started = new Promise<void>((resolve) => {
      model.behaviour.train = () => {
        resolve();
        return new Promise<void>((done) => (finish = done));
      };
    });
    const training = request(url).post('/train').send({ labeled: [1], ckpt_file: 'ckpt_5' }).then((r) => r);
    await started;

    const second = await request(url).post('/train').send({ labeled: [2], ckpt_file: 'ckpt_6' });
    expect(second.status).toBe(409);
    expect(second.body).toEqual({ status: 409, error: 'Conflict', message: expect.stringContaining('"ckpt_5"') });

    const test = await request(url).post('/test').send({ ckpt_file: 'ckpt_5' });
    expect(test.status).toBe(409);
    expect(test.body.message).toContain('ckpt_5');
    const infer = await request(url).post('/infer').send({ unlabeled: [1], ckpt_file: 'ckpt_5' });
    expect(infer.status).toBe(409);

    await request(url).post('/test').send({ ckpt_file: 'ckpt_4' }).expect(200);
    await request(url).post('/infer').send({ unlabeled: [1], ckpt_file: 'ckpt_4' }).expect(200);
    await request(url).get('/health').expect(200);

    finish();
    expect((await training).status).toBe(200);
    model.reset();
    await request(url).post('/train').send({ labeled: [2], ckpt_file: 'ckpt_6' }).expect(200);
  });

  it('frees the training slot when the method fails', async () => {
    model.behaviour.train = () => {
      throw new Error('out of memory');
    };
    await request(url).post('/train').send({ labeled: [1], ckpt_file: 'a' }).expect(500);
    model.reset();
    await request(url).post('/train').send({ labeled: [1], ckpt_file: 'a' }).expect(200);
  });
});
