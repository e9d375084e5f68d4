// The `task` option through a real app on loopback: reported by GET /health, and each result
// value checked against the task's shape before it is sent, with a 500 naming the index and the rule.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';

import { startFixtureApp } from './fixtures/fixture.app.js';
import { FixtureModel } from './fixtures/fixture.model.js';

const box = [0.1, 0.2, 0.3, 0.4];

describe.each([
  ['detection' as const, { boxes: [box], objects: [3], scores: [0.9] }],
  [undefined, { boxes: [box], objects: [3], scores: [0.9] }],
])('with task %p', (task, prediction) => {
  let app: INestApplication;
  let model: FixtureModel;
  let url: string;

  beforeAll(async () => {
    ({ app, model, url } = await startFixtureApp({ name: `task ${task}`, options: task ? { task } : {} }));
  });
  afterAll(() => app.close());

  it('reports the task in GET /health, and nothing new without one', async () => {
    const { body } = await request(url).get('/health').expect(200);
    expect(body).toEqual({
      status: 200,
      handlers: { train: true, test: true, infer: true },
      pool_size: null,
      ...(task ? { task } : {}),
    });
  });

  it('sends well-shaped detection values as they are', async () => {
    model.behaviour.test = () => ({ predictions: [prediction], labels: [{ boxes: [box], objects: [3] }] });
    const { body } = await request(url).post('/test').send({ ckpt_file: 'ckpt_0' }).expect(200);
    expect(body.predictions).toEqual({ 0: prediction });
    model.behaviour.infer = ({ unlabeled }: { unlabeled: number[] }) => ({
      outputs: unlabeled.map(() => ({ boxes: [], pre_softmax: [], scores: [] })),
    });
    const infer = await request(url)
      .post('/infer')
      .send({ unlabeled: [4, 2], ckpt_file: 'ckpt_0' })
      .expect(200);
    expect(infer.body.outputs).toEqual({
      4: { boxes: [], pre_softmax: [], scores: [] },
      2: { boxes: [], pre_softmax: [], scores: [] },
    });
  });

  it(
    task
      ? 'answers a broken box with a 500 naming the index and the rule, then serves on'
      : 'checks no shape: the broken box is sent',
    async () => {
      model.behaviour.infer = ({ unlabeled }: { unlabeled: number[] }) => ({
        outputs: unlabeled.map((i) => ({ boxes: [i === 2 ? [0.6, 0.2, 0.3, 0.4] : box], pre_softmax: [[1, 2]], scores: [0.5] })),
      });
      const response = await request(url)
        .post('/infer')
        .send({ unlabeled: [4, 2], ckpt_file: 'ckpt_0' });
      if (!task) {
        expect(response.status).toBe(200);
        return;
      }
      expect(response.status).toBe(500);
      expect(response.body).toEqual({
        status: 500,
        error: 'Internal Server Error',
        message:
          'infer in FixtureModel#infer returned a result that breaks the protocol: infer output for index 2 breaks the detection shape: boxes[0] has x1 > x2 (0.6 > 0.3)',
      });
      await request(url).get('/health').expect(200);
    },
  );
});

describe('the task option', () => {
  it('fails start-up on an unknown task, naming the known ones', async () => {
    await expect(startFixtureApp({ name: 'bad task', options: { task: 'segmentation' as never } })).rejects.toThrow(
      `task must be 'classification' or 'detection', got "segmentation"`,
    );
  });
});
