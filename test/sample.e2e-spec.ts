import { existsSync, readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';

import { SampleConfig } from '../sample/sample.config.js';
import { SIGNATURE_HEADER, verifySignature } from '../src/index.js';
import { RunningSample, startSample } from './fixtures/sample.app.js';

const TOKEN = 'sample-token';
const auth = { Authorization: `Bearer ${TOKEN}` };

/** Accuracy of a /test answer. */
function accuracy(body: { predictions: Record<string, number>; labels: Record<string, number> }): number {
  const keys = Object.keys(body.labels);
  return keys.filter((k) => body.predictions[k] === body.labels[k]).length / keys.length;
}

/** Shannon entropy of the softmax of some logits: the more even, the less sure the model. */
function entropy(logits: number[]): number {
  const max = Math.max(...logits);
  const exp = logits.map((z) => Math.exp(z - max));
  const sum = exp.reduce((a, b) => a + b, 0);
  return -exp.reduce((h, e) => h + (e / sum) * Math.log(e / sum), 0);
}

describe('the sample: MNIST digits served through nestjs-alectio', () => {
  let sample: RunningSample;
  let url: string;
  let checkpoints: string;

  beforeAll(async () => {
    sample = await startSample({ token: TOKEN, checkpointsUnder: join('not', 'yet', 'there') });
    ({ url, checkpoints } = sample);
  });
  afterAll(() => sample.close());

  it('reports its pool on /health without a token, and creates its checkpoint folder', async () => {
    const res = await request(url).get('/health').expect(200);
    expect(res.body).toEqual({
      status: 200,
      handlers: { train: true, test: true, infer: true },
      pool_size: 7000,
      task: 'classification',
    });
    expect(existsSync(checkpoints)).toBe(true);
  });

  it('requires the token from ALECTIO_TOKEN', async () => {
    const res = await request(url)
      .post('/train')
      .send({ labeled: [1], ckpt_file: 'x' })
      .expect(401);
    expect(res.body.error).toBe('Unauthorized');
  });

  it('runs two active-learning loops, and accuracy rises far above chance', async () => {
    const poolSize = 7000;
    // Loop 0: an initial set of 100 spread over the pool, ten of each digit (index i is digit i % 10).
    let labeled = Array.from({ length: 100 }, (_, i) => i * 70 + (i % 10));
    const accuracies: number[] = [];
    let previous: string | null = null;
    for (let loop = 0; loop < 2; loop++) {
      const ckpt = `ckpt_${loop}`;
      await request(url)
        .post('/train')
        .set(auth)
        .send({ labeled, resume_from: previous, ckpt_file: ckpt })
        .expect(200, { status: 200 });
      expect(readdirSync(checkpoints)).toContain(ckpt);

      const test = await request(url).post('/test').set(auth).send({ ckpt_file: ckpt }).expect(200);
      expect(Object.keys(test.body.predictions)).toHaveLength(1500);
      expect(Object.keys(test.body.labels)).toEqual(Object.keys(test.body.predictions));
      accuracies.push(accuracy(test.body));

      const taken = new Set(labeled);
      const unlabeled = Array.from({ length: poolSize }, (_, i) => i).filter((i) => !taken.has(i));
      const infer = await request(url).post('/infer').set(auth).send({ unlabeled, ckpt_file: ckpt }).expect(200);
      const outputs = infer.body.outputs as Record<string, number[]>;
      expect(Object.keys(outputs)).toHaveLength(unlabeled.length);
      for (const index of [unlabeled[0], unlabeled.at(-1)!]) {
        expect(outputs[index]).toHaveLength(10);
        expect(outputs[index].every(Number.isFinite)).toBe(true);
      }
      // The next 200 to label: those the model is least sure of.
      const next = unlabeled.sort((a, b) => entropy(outputs[b]) - entropy(outputs[a])).slice(0, 200);
      labeled = [...labeled, ...next];
      previous = ckpt;
    }
    expect(accuracies[0]).toBeGreaterThan(0.5);
    expect(accuracies[1]).toBeGreaterThan(accuracies[0]);
    expect(accuracies[1]).toBeGreaterThan(0.7);
  });

  it('keeps answering /health and the 409s while it trains', async () => {
    const labeled = Array.from({ length: 3000 }, (_, i) => i);
    let trained = false;
    const training = request(url)
      .post('/train')
      .set(auth)
      .send({ labeled, ckpt_file: 'ckpt_long' })
      .then((res) => {
        trained = true;
        return res;
      });
    // Wait until the run holds the training slot.
    let conflict;
    do {
      conflict = await request(url)
        .post('/train')
        .set(auth)
        .send({ labeled: [1], ckpt_file: 'other' });
    } while (conflict.status !== 409 && !trained);
    expect(conflict.status).toBe(409);
    expect(conflict.body.message).toContain('"ckpt_long"');
    await request(url).get('/health').expect(200);
    const test = await request(url).post('/test').set(auth).send({ ckpt_file: 'ckpt_long' });
    expect(test.status).toBe(409);
    expect(trained).toBe(false);
    expect((await training).status).toBe(200);
  });

  it('answers 500 naming a missing checkpoint, then goes on', async () => {
    const res = await request(url).post('/test').set(auth).send({ ckpt_file: 'never_trained' }).expect(500);
    expect(res.body).toEqual({
      status: 500,
      error: 'Internal Server Error',
      message: 'test failed in DigitsModel#test: checkpoint "never_trained" does not exist: train it first',
    });
    await request(url).post('/test').set(auth).send({ ckpt_file: 'ckpt_0' }).expect(200);
  });

  it('writes nothing outside its checkpoint folder', async () => {
    const res = await request(url)
      .post('/train')
      .set(auth)
      .send({ labeled: [1], ckpt_file: '../escaped' })
      .expect(400);
    expect(res.body.message[0]).toContain('ckpt_file must be a plain file name');
    expect(existsSync(join(checkpoints, '..', 'escaped'))).toBe(false);
  });
});

describe("the sample's completion callback, from ALECTIO_CALLBACK_URL and ALECTIO_CALLBACK_SECRET", () => {
  it('POSTs each finished job, signed with the secret, to the URL', async () => {
    const received: { body: string; signature: string }[] = [];
    const receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        received.push({ body: Buffer.concat(chunks).toString(), signature: String(req.headers[SIGNATURE_HEADER]) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const secret = 'a-sample-callback-secret';
    const sample = await startSample({
      callback: { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/done`, secret },
    });
    try {
      await request(sample.url)
        .post('/train')
        .send({ labeled: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], ckpt_file: 'ckpt_cb' })
        .expect(200);
      const job = await request(sample.url)
        .post('/test')
        .set('Prefer', 'respond-async')
        .send({ ckpt_file: 'ckpt_cb' })
        .expect(202);
      while (received.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
      const [delivery] = received;
      expect(verifySignature(delivery.body, secret, delivery.signature)).toBe(true);
      expect(JSON.parse(delivery.body).job).toMatchObject({ id: job.body.job_id, kind: 'test', state: 'succeeded' });
    } finally {
      await sample.close();
      receiver.close();
    }
  });

  it('refuses one of the two without the other', () => {
    expect(() => new SampleConfig({ ALECTIO_CALLBACK_URL: 'http://127.0.0.1:1/done' })).toThrow(
      'ALECTIO_CALLBACK_URL and ALECTIO_CALLBACK_SECRET go together: set both for a callback, or neither',
    );
    expect(new SampleConfig({}).callback).toBeUndefined();
  });
});
