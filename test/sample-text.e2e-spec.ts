// The text sample (ALECTIO_SAMPLE=text) over real HTTP on loopback, driven by the simulator's
// loop: real mail of the SpamAssassin corpus, classified as ham, hard ham or spam.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';

import { runLoops } from '../src/simulator/loop.simulator.js';
import type { ClassificationMetrics } from '../src/simulator/metrics.js';
import { ProtocolClient } from '../src/simulator/protocol.client.js';
import { RunningSample, startSample } from './fixtures/sample.app.js';

const CLASS_IDS = [0, 1, 2]; // ham, hard ham, spam
/** The split of the corpus's 6,046 mails, once 208 copies are dropped: 80% of each class in the pool. */
const POOL_SIZE = 4670;
const TEST_PER_CLASS = [772, 50, 346];

describe('the text sample: mail classified by a hashed tf-idf softmax regression', () => {
  let sample: RunningSample;
  const poolSize = POOL_SIZE;

  beforeAll(async () => {
    sample = await startSample({ sample: 'text' });
  });
  afterAll(() => sample.close());

  it('reports its pool of mails and its task on /health', async () => {
    const { body } = await request(sample.url).get('/health').expect(200);
    expect(body).toEqual({
      status: 200,
      handlers: { train: true, test: true, infer: true },
      pool_size: POOL_SIZE,
      task: 'classification',
    });
  });

  it.each(['entropy', 'random'] as const)(
    'runs two loops of the simulator (%s): above the majority class, macro-F1 rising',
    async (strategy) => {
      const run = await runLoops(new ProtocolClient(sample.url), {
        poolSize,
        initial: 100,
        batch: 200,
        loops: 2,
        strategy,
        seed: 1,
      });
      const [first, second] = run.loops.map((loop) => loop.metrics as ClassificationMetrics);
      expect(run.loops.map((loop) => loop.labeled_count)).toEqual([100, 300]);
      expect(second.classes).toEqual(CLASS_IDS);

      // The rate a model that always says the commonest class would reach on the test split.
      const test = await request(sample.url).post('/test').send({ ckpt_file: 'ckpt_1' }).expect(200);
      const labels = Object.values(test.body.labels as Record<string, number>);
      const majority = Math.max(...CLASS_IDS.map((c) => labels.filter((label) => label === c).length)) / labels.length;
      expect(second.accuracy).toBeGreaterThan(majority);
      expect(second.macroF1).toBeGreaterThan(1 / 3);
      expect(second.macroF1).toBeGreaterThan(first.macroF1);
    },
  );

  it('answers /test with integer class ids 0 to 2 for every mail of the test split', async () => {
    const { body } = await request(sample.url).post('/test').send({ ckpt_file: 'ckpt_1' }).expect(200);
    const keys = Object.keys(body.labels);
    const size = TEST_PER_CLASS.reduce((a, b) => a + b);
    expect(keys).toEqual(Array.from({ length: size }, (_, i) => String(i)));
    expect(Object.keys(body.predictions)).toEqual(keys);
    for (const key of keys) {
      expect(CLASS_IDS).toContain(body.labels[key]);
      expect(CLASS_IDS).toContain(body.predictions[key]);
    }
    const labels = Object.values(body.labels);
    expect(CLASS_IDS.map((c) => labels.filter((label) => label === c).length)).toEqual(TEST_PER_CLASS);
  });

  it('answers /infer with three finite scores per requested mail, and refuses an index past the pool', async () => {
    const unlabeled = [poolSize - 1, 0, 17];
    const { body } = await request(sample.url).post('/infer').send({ unlabeled, ckpt_file: 'ckpt_1' }).expect(200);
    expect(Object.keys(body.outputs).sort()).toEqual(['0', '17', String(poolSize - 1)]);
    for (const index of unlabeled) {
      expect(body.outputs[index]).toHaveLength(3);
      expect(body.outputs[index].every(Number.isFinite)).toBe(true);
    }
    await request(sample.url)
      .post('/infer')
      .send({ unlabeled: [poolSize], ckpt_file: 'ckpt_1' })
      .expect(400);
  });

  it('trains the same model from the same labeled mails', async () => {
    const labeled = Array.from({ length: 150 }, (_, i) => i * 3);
    const unlabeled = Array.from({ length: 200 }, (_, i) => i * 3 + 1);
    const outputs = [];
    for (const ckpt of ['ckpt_same_a', 'ckpt_same_b']) {
      await request(sample.url).post('/train').send({ labeled, ckpt_file: ckpt }).expect(200);
      outputs.push((await request(sample.url).post('/infer').send({ unlabeled, ckpt_file: ckpt }).expect(200)).body.outputs);
    }
    expect(outputs[1]).toEqual(outputs[0]);
  });

  it('reports its progress per epoch in job mode, and stops at the next mini-batch when cancelled', async () => {
    const accepted = await request(sample.url)
      .post('/train')
      .set('Prefer', 'respond-async')
      .send({ labeled: Array.from({ length: poolSize }, (_, i) => i), ckpt_file: 'ckpt_cancelled' })
      .expect(202);
    const jobUrl = accepted.body.status_url as string;
    let job: { state: string; progress: number; message?: string };
    do job = (await request(sample.url).get(jobUrl)).body.job;
    while (job.progress === 0 && ['queued', 'running'].includes(job.state));
    // An epoch is done: the progress says which, and the run is not at its end.
    expect(job).toMatchObject({ state: 'running', message: expect.stringMatching(/^epoch [1-4] of 5$/) });
    await request(sample.url).delete(jobUrl).expect(202);
    do job = (await request(sample.url).get(jobUrl)).body.job;
    while (job.state === 'running');
    expect(job.state).toBe('cancelled');
    expect(job.progress).toBeLessThan(1);
    // Cancelled before it saved: there is no such checkpoint.
    const test = await request(sample.url).post('/test').send({ ckpt_file: 'ckpt_cancelled' }).expect(500);
    expect(test.body.message).toBe('test failed in TextModel#test: checkpoint "ckpt_cancelled" does not exist: train it first');
  });

  it('keeps answering /health and the 409s while it trains', async () => {
    let trained = false;
    const training = request(sample.url)
      .post('/train')
      .send({ labeled: Array.from({ length: poolSize }, (_, i) => i), ckpt_file: 'ckpt_long' })
      .then((res) => ((trained = true), res));
    let conflict;
    do
      conflict = await request(sample.url)
        .post('/train')
        .send({ labeled: [1], ckpt_file: 'other' });
    while (conflict.status !== 409 && !trained);
    expect(conflict.status).toBe(409);
    expect(conflict.body.message).toContain('"ckpt_long"');
    await request(sample.url).get('/health').expect(200);
    await request(sample.url).post('/test').send({ ckpt_file: 'ckpt_long' }).expect(409);
    expect(trained).toBe(false);
    expect((await training).status).toBe(200);
    await request(sample.url).post('/test').send({ ckpt_file: 'ckpt_long' }).expect(200);
  });
});
