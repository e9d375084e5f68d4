// The detection sample (ALECTIO_SAMPLE=detection) over real HTTP on loopback, driven by the
// simulator's loop: small budgets here, the full comparison in `npm run simulate:detection`.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';

import type { DetectionMetrics } from '../src/simulator/detection-metrics.js';
import { runLoops } from '../src/simulator/loop.simulator.js';
import { ProtocolClient } from '../src/simulator/protocol.client.js';
import { RunningSample, startSample } from './fixtures/sample.app.js';

describe('the detection sample: digits in scenes, found by a grid detector', () => {
  let sample: RunningSample;

  beforeAll(async () => {
    sample = await startSample({ sample: 'detection' });
  });
  afterAll(() => sample.close());

  it('reports its pool of scenes and its task on /health', async () => {
    const { body } = await request(sample.url).get('/health').expect(200);
    expect(body).toEqual({ status: 200, handlers: { train: true, test: true, infer: true }, pool_size: 2000, task: 'detection' });
  });

  it('runs two loops of the simulator, its mAP rising, with detection values on the wire', async () => {
    const client = new ProtocolClient(sample.url);
    const run = await runLoops(client, {
      poolSize: 2000,
      initial: 150,
      batch: 250,
      loops: 2,
      strategy: 'entropy',
      seed: 1,
      task: 'detection',
    });
    const [first, second] = run.loops.map((loop) => loop.metrics as DetectionMetrics);
    expect(first.samples).toBe(400);
    expect(second.map50).toBeGreaterThan(first.map50);
    expect(second.mapCoco).toBeGreaterThan(0);
    expect(second.confusion).toHaveLength(second.classes.length + 1);
    expect(run.loops[1].labeled_count).toBe(400);

    const test = await request(sample.url).post('/test').send({ ckpt_file: 'ckpt_1' }).expect(200);
    const label = test.body.labels['0'];
    expect(Object.keys(label).sort()).toEqual(['boxes', 'objects']);
    expect(label.boxes.length).toBe(label.objects.length);
    for (const [x1, y1, x2, y2] of label.boxes)
      expect(0 <= x1 && x1 <= x2 && x2 <= 1 && 0 <= y1 && y1 <= y2 && y2 <= 1).toBe(true);
    const infer = await request(sample.url)
      .post('/infer')
      .send({ unlabeled: [5, 1999], ckpt_file: 'ckpt_1' })
      .expect(200);
    for (const output of Object.values(infer.body.outputs) as {
      boxes: number[][];
      pre_softmax: number[][];
      scores: number[];
      embedding: number[];
    }[]) {
      // The scene's embedding beside the protocol's fields: the detector's 64 hidden units, pooled.
      expect(output.embedding).toHaveLength(64);
      expect(output.embedding.every((v) => Number.isFinite(v) && v >= 0)).toBe(true);
      expect(output.pre_softmax.length).toBe(output.boxes.length);
      expect(output.scores.length).toBe(output.boxes.length);
      for (const row of output.pre_softmax) expect(row).toHaveLength(10);
    }
  });

  it('reports its progress per epoch in job mode, and stops at the next mini-batch when cancelled', async () => {
    const accepted = await request(sample.url)
      .post('/train')
      .set('Prefer', 'respond-async')
      .send({ labeled: Array.from({ length: 600 }, (_, i) => i), ckpt_file: 'ckpt_cancelled' })
      .expect(202);
    const jobUrl = accepted.body.status_url as string;
    let job: { state: string; progress: number; message?: string };
    do job = (await request(sample.url).get(jobUrl)).body.job;
    while (job.progress === 0 && ['queued', 'running'].includes(job.state));
    // An epoch is done: the progress says which, and the run is far from its end.
    expect(job).toMatchObject({ state: 'running', message: expect.stringMatching(/^epoch \d+ of 12$/) });
    await request(sample.url).delete(jobUrl).expect(202);
    do job = (await request(sample.url).get(jobUrl)).body.job;
    while (job.state === 'running');
    expect(job.state).toBe('cancelled');
    expect(job.progress).toBeLessThan(1);
    // Cancelled before it saved: there is no such checkpoint.
    await request(sample.url).post('/test').send({ ckpt_file: 'ckpt_cancelled' }).expect(500);
  });

  it('keeps answering /health and the 409s while it trains', async () => {
    let trained = false;
    const training = request(sample.url)
      .post('/train')
      .send({ labeled: Array.from({ length: 300 }, (_, i) => i), ckpt_file: 'ckpt_long' })
      .then((res) => ((trained = true), res));
    let conflict;
    do
      conflict = await request(sample.url)
        .post('/train')
        .send({ labeled: [1], ckpt_file: 'other' });
    while (conflict.status !== 409 && !trained);
    expect(conflict.status).toBe(409);
    await request(sample.url).get('/health').expect(200);
    expect(trained).toBe(false);
    expect((await training).status).toBe(200);
  });
});
