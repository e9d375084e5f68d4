import { connect } from 'node:net';

import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { type INestApplication, Module, RequestMethod } from '@nestjs/common';
import { NestFactory, RouterModule } from '@nestjs/core';
import { AlectioConfigurationError, AlectioModule } from 'nestjs-alectio';
import request from 'supertest';

import { basePath, FixtureModelModule, FixtureSetup, startFixtureApp } from './fixtures/fixture.app.js';
import { FixtureModel } from './fixtures/fixture.model.js';

const TOKEN = 'protocol-token';
const AUTH = { Authorization: `Bearer ${TOKEN}` };
const LIMIT = 100_000;

/** Sends only the headers of a POST announcing `length` bytes, and returns the first answer line. */
function headersOnly(url: string, path: string, length: number): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () =>
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`,
      ),
    );
    socket.once('data', (chunk) => {
      resolve(chunk.toString());
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

// Every endpoint of PROTOCOL.md, the same assertions over each way of registering the module;
// each with a token and a small body limit, to check 401 and 413 at every path.
const registrations: FixtureSetup[] = [
  { name: 'forRoot()' },
  { name: 'forRootAsync()', async: true },
  { name: 'forRoot() with a prefix', options: { prefix: 'alectio' } },
  { name: 'forRootAsync() with a prefix', async: true, options: { prefix: '/alectio/v2/' } },
  { name: 'forRoot() under a global prefix', globalPrefix: 'api' },
  {
    name: 'forRootAsync() with a prefix under a global prefix',
    async: true,
    globalPrefix: 'api',
    options: { prefix: 'alectio' },
  },
];
const setups = registrations.map((setup) => ({ ...setup, options: { ...setup.options, token: TOKEN, bodyLimit: LIMIT } }));

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
      .set(AUTH)
      .send({ labeled: [3, 1, 2], resume_from: 'ckpt_0', ckpt_file: 'ckpt_1', loop: 4, note: 'extra' })
      .expect(200);
    expect(res.body).toEqual({ status: 200 });
    const received = model.received.train.at(-1)!;
    expect({ ...received }).toEqual({ labeled: [3, 1, 2], resume_from: 'ckpt_0', ckpt_file: 'ckpt_1' });
    expect(received.constructor.name).toBe('TrainPayload');
  });

  it('POST /test answers the predictions and labels keyed by index', async () => {
    const res = await request(url).post(`${base}/test`).set(AUTH).send({ ckpt_file: 'ckpt_1' }).expect(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual({ status: 200, predictions: { 0: 1, 1: 0, 2: 2 }, labels: { 0: 1, 1: 1, 2: 2 } });
  });

  it('POST /infer answers one output per requested index, keyed by index', async () => {
    const res = await request(url)
      .post(`${base}/infer`)
      .set(AUTH)
      .send({ unlabeled: [10, 4], ckpt_file: 'ckpt_1' })
      .expect(200);
    expect(res.body).toEqual({ status: 200, outputs: { 10: [3, -1, 0.5], 4: [4, -1, 0.5] } });
  });

  it.each(['train', 'test', 'infer'])('POST /%s without the token is 401, before the body is read', async (kind) => {
    const res = await request(url).post(`${base}/${kind}`).send({ ckpt_file: 'c' }).expect(401);
    expect(res.body).toEqual({ status: 401, error: 'Unauthorized', message: expect.stringContaining('Bearer') });
    // 60 MiB announced, not a byte sent: the answer comes anyway.
    expect(await headersOnly(url, `${base}/${kind}`, 60 * 1024 * 1024)).toMatch(/^HTTP\/1\.1 401 /);
  });

  it('answers 413 with the limit above bodyLimit', async () => {
    const res = await request(url)
      .post(`${base}/infer`)
      .set(AUTH)
      .send({ unlabeled: Array.from({ length: 30_000 }, (_, i) => i), ckpt_file: 'c' })
      .expect(413);
    expect(res.body).toEqual({
      status: 413,
      error: 'Payload Too Large',
      message: expect.stringContaining(`limit of ${LIMIT} bytes`),
    });
    await request(url)
      .post(`${base}/infer`)
      .set(AUTH)
      .send({ unlabeled: [1], ckpt_file: 'c' })
      .expect(200);
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
    await request(url)
      .post('/train')
      .send({ labeled: [0], resume_from: resume, ckpt_file: 'c0' })
      .expect(200);
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
      predictions: new Map([
        [5, 1],
        [9, 0],
      ]),
      labels: { 5: 1, 9: 1 },
    });
    model.behaviour.infer = ({ unlabeled }: { unlabeled: number[] }) => ({
      outputs: new Map(unlabeled.map((i) => [i, Float32Array.of(i, 0.5)])),
    });
    const test = await request(url).post('/test').send({ ckpt_file: 'c' }).expect(200);
    expect(test.body).toEqual({ status: 200, predictions: { 5: 1, 9: 0 }, labels: { 5: 1, 9: 1 } });
    const infer = await request(url)
      .post('/infer')
      .send({ unlabeled: [7, 2], ckpt_file: 'c' })
      .expect(200);
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
    const res = await request(url)
      .post('/infer')
      .send({ unlabeled: [1], ckpt_file: 'c' })
      .expect(200);
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
    const { started, finish } = model.holdTraining();
    const training = request(url)
      .post('/train')
      .send({ labeled: [1], ckpt_file: 'ckpt_5' })
      .then((r) => r);
    await started;

    const second = await request(url)
      .post('/train')
      .send({ labeled: [2], ckpt_file: 'ckpt_6' });
    expect(second.status).toBe(409);
    expect(second.body).toEqual({ status: 409, error: 'Conflict', message: expect.stringContaining('"ckpt_5"') });

    const test = await request(url).post('/test').send({ ckpt_file: 'ckpt_5' });
    expect(test.status).toBe(409);
    expect(test.body.message).toContain('ckpt_5');
    const infer = await request(url)
      .post('/infer')
      .send({ unlabeled: [1], ckpt_file: 'ckpt_5' });
    expect(infer.status).toBe(409);

    await request(url).post('/test').send({ ckpt_file: 'ckpt_4' }).expect(200);
    await request(url)
      .post('/infer')
      .send({ unlabeled: [1], ckpt_file: 'ckpt_4' })
      .expect(200);
    await request(url).get('/health').expect(200);

    finish();
    expect((await training).status).toBe(200);
    model.reset();
    await request(url)
      .post('/train')
      .send({ labeled: [2], ckpt_file: 'ckpt_6' })
      .expect(200);
  });

  it('frees the training slot when the method fails', async () => {
    model.behaviour.train = () => {
      throw new Error('out of memory');
    };
    await request(url)
      .post('/train')
      .send({ labeled: [1], ckpt_file: 'a' })
      .expect(500);
    model.reset();
    await request(url)
      .post('/train')
      .send({ labeled: [1], ckpt_file: 'a' })
      .expect(200);
  });
});

@Module({
  imports: [FixtureModelModule, AlectioModule.forRoot({ prefix: 'v1' }), AlectioModule.forRoot({ prefix: 'v2', token: TOKEN })],
})
class TwoImportsModule {}

describe('the module imported twice', () => {
  let app: INestApplication;
  let url: string;

  beforeAll(async () => {
    app = await NestFactory.create(TwoImportsModule, { logger: false, abortOnError: false });
    await app.listen(0, '127.0.0.1');
    url = await app.getUrl();
  });
  afterAll(() => app.close());

  it('serves the same methods at both prefixes, each with its own options, and one training at a time', async () => {
    await request(url)
      .post('/v2/train')
      .send({ labeled: [1], ckpt_file: 'a' })
      .expect(401);
    const { started, finish } = app.get(FixtureModel).holdTraining();
    const first = request(url)
      .post('/v1/train')
      .send({ labeled: [1], ckpt_file: 'ckpt_1' })
      .then((r) => r);
    await started;
    const second = await request(url)
      .post('/v2/train')
      .set(AUTH)
      .send({ labeled: [2], ckpt_file: 'ckpt_2' });
    expect(second.status).toBe(409);
    expect(second.body.message).toContain('"ckpt_1"');
    finish();
    expect((await first).status).toBe(200);
  });
});

describe('start-up refuses routes and options it cannot serve safely', () => {
  async function startError(imports: unknown[], configure?: (app: INestApplication) => void): Promise<Error> {
    @Module({ imports: [FixtureModelModule, ...(imports as [])] })
    class HostModule {}
    let app: INestApplication | undefined;
    try {
      app = await NestFactory.create(HostModule, { logger: false, abortOnError: false });
      configure?.(app);
      await app.init();
    } catch (error) {
      return error as Error;
    } finally {
      await app?.close().catch(() => undefined);
    }
    throw new Error('the app started');
  }

  it('refuses a RouterModule path, which the token gate could not see', async () => {
    const error = await startError([AlectioModule.forRoot(), RouterModule.register([{ path: 'ml', module: AlectioModule }])]);
    expect(error).toBeInstanceOf(AlectioConfigurationError);
    expect(error.message).toContain('POST /train before Nest');
    expect(error.message).toContain('AlectioModule.forRoot({ prefix })');
  });

  it('refuses a global-prefix exclude of its routes', async () => {
    const error = await startError([AlectioModule.forRoot()], (app) =>
      app.setGlobalPrefix('api', { exclude: [{ path: 'train', method: RequestMethod.POST }] }),
    );
    expect(error).toBeInstanceOf(AlectioConfigurationError);
    expect(error.message).toContain('POST /api/train');
  });

  it.each([
    [{ bodyLimit: '64MiB' }, 'bodyLimit must be a number of bytes or a string like \'64mb\' (b, kb, mb, gb), got "64MiB"'],
    [{ bodyLimit: -1 }, 'bodyLimit must be a number of bytes'],
    [{ poolSize: 2.5 }, 'poolSize must be a positive integer, got 2.5'],
    [{ distributed: { redis: 'localhost:6379' } }, 'distributed.redis must be a redis:// (or rediss://) URL or { host, port }'],
    [{ distributed: { redis: { host: 'localhost' } } }, 'distributed.redis must be a redis://'],
    [{ distributed: { redis: 'redis://127.0.0.1:1', role: 'both' } }, `distributed.role must be 'api' or 'worker', got "both"`],
    [
      { distributed: { redis: 'redis://127.0.0.1:1', queue: 'a:b' } },
      'distributed.queue must be 1 to 64 characters of A-Z a-z 0-9 _ -',
    ],
    [
      { distributed: { redis: 'redis://127.0.0.1:1', inferChunkSize: 0 } },
      'distributed.inferChunkSize must be an integer of at least 1',
    ],
    [{ distributed: { redis: 'redis://127.0.0.1:1', attempts: 1.5 } }, 'distributed.attempts must be an integer of at least 1'],
    [{ poolsize: 7000 }, 'poolsize is not an option: did you mean poolSize?'],
    [{ tokn: 'secret' }, 'tokn is not an option: did you mean token?'],
    [
      { distributed: { redis: 'redis://127.0.0.1:1', inferChunk: 10 } },
      'distributed.inferChunk is not an option: did you mean distributed.inferChunkSize?',
    ],
    [{ callback: { url: 'http://127.0.0.1:9', secret: 'a'.repeat(16), retries: 2 } }, 'callback.retries is not an option'],
    [{ somethingElse: true }, 'somethingElse is not an option (known: prefix, token, bodyLimit, poolSize,'],
  ])('refuses the options %p', async (options, message) => {
    const error = await startError([AlectioModule.forRoot(options as never)]);
    expect(error).toBeInstanceOf(AlectioConfigurationError);
    expect(error.message).toContain(message);
  });
});
