// Spans through @opentelemetry/api, recorded with the OpenTelemetry SDK: in one process with its
// in-memory exporter, and across a distributed pool of real processes on a real Redis, where the
// worker's span is a child of the API process's (the context travels with the piece).
import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import request from 'supertest';

import { buildSample } from './fixtures/app.process.js';
import { startFixtureApp } from './fixtures/fixture.app.js';
import { Pools } from './fixtures/pool.js';
import { RedisServer } from './fixtures/redis.server.js';

const parentOf = (span: ReadableSpan) =>
  (span as ReadableSpan & { parentSpanContext?: { spanId: string } }).parentSpanContext?.spanId;

describe('spans in one process, with the SDK registered', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const contextManager = new AsyncLocalStorageContextManager().enable();

  beforeAll(() => {
    context.setGlobalContextManager(contextManager);
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    trace.setGlobalTracerProvider(provider);
  });
  afterAll(async () => {
    await provider.shutdown();
    trace.disable();
    context.disable();
    propagation.disable();
  });

  it('records a span per call with the endpoint, list size, checkpoint and outcome, and a job span under its call', async () => {
    const { app, model, url } = await startFixtureApp({ name: 'tracing' });
    try {
      exporter.reset();
      await request(url)
        .post('/train')
        .send({ labeled: [1, 2, 3], resume_from: 'c0', ckpt_file: 'c1' })
        .expect(200);
      await request(url).post('/infer').send({ unlabeled: [], ckpt_file: '../x' }).expect(400);
      model.behaviour.test = () => {
        throw new Error('the GPU is gone');
      };
      await request(url).post('/test').send({ ckpt_file: 'c1' }).expect(500);
      model.reset();
      const job = await request(url).post('/test').set('Prefer', 'respond-async').send({ ckpt_file: 'c1' }).expect(202);
      for (;;) {
        const { body } = await request(url).get(job.body.status_url);
        if (body.job.state === 'succeeded') break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await new Promise((resolve) => setTimeout(resolve, 50)); // the job's span ends once its end is recorded

      const spans = exporter.getFinishedSpans();
      const named = (name: string) => spans.filter((span) => span.name === name);
      const [train] = named('alectio.train');
      expect(train.attributes).toEqual({
        'alectio.endpoint': 'train',
        'alectio.labeled.count': 3,
        'alectio.ckpt_file': 'c1',
        'alectio.resume_from': 'c0',
        'alectio.outcome': '200',
        'http.response.status_code': 200,
      });
      expect(train.status.code).toBe(0); // unset: fine
      const [infer] = named('alectio.infer');
      expect(infer.attributes).toMatchObject({ 'alectio.outcome': '400', 'http.response.status_code': 400 });
      expect(infer.status.code).toBe(0); // the client's mistake, not a failure of the server
      const [failed, accepted] = named('alectio.test');
      expect(failed.attributes).toMatchObject({ 'alectio.outcome': '500' });
      expect(failed.status).toEqual({ code: 2, message: 'test failed in FixtureModel#test: the GPU is gone' });
      expect(accepted.attributes).toMatchObject({ 'alectio.outcome': '202', 'alectio.job.id': job.body.job_id });
      const [jobSpan] = named('alectio.job.test');
      expect(jobSpan.attributes).toMatchObject({ 'alectio.job.id': job.body.job_id, 'alectio.job.state': 'succeeded' });
      expect(jobSpan.spanContext().traceId).toBe(accepted.spanContext().traceId);
      expect(parentOf(jobSpan)).toBe(accepted.spanContext().spanId);
    } finally {
      await app.close();
    }
  });
});

describe('spans across a distributed pool: real processes on a real Redis', () => {
  let redis: { url: string; stop(): Promise<void> };
  let dir: string;
  let pools: Pools;

  beforeAll(async () => {
    buildSample();
    redis = await RedisServer.shared();
    dir = mkdtempSync(join(tmpdir(), 'alectio-trace-'));
    pools = new Pools(dir, () => redis.url);
  }, 120_000);
  afterAll(async () => {
    await pools?.stopAll();
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("makes each worker's span a child of the API process's span, chunk by chunk and for a job", async () => {
    const { start, log } = pools.pool({ POOL_TRACE: '1', ALECTIO_INFER_CHUNK: '100' });
    const [api] = await Promise.all([start('api'), start('worker')]);
    const unlabeled = Array.from({ length: 250 }, (_, i) => i);
    await request(api.url).post('/infer').send({ unlabeled, ckpt_file: 'a' }).expect(200);
    const job = await request(api.url)
      .post('/train')
      .set('Prefer', 'respond-async')
      .send({ labeled: [1], ckpt_file: 'b' })
      .expect(202);
    type SpanEvent = {
      event: string;
      name: string;
      traceId: string;
      spanId: string;
      parentSpanId?: string;
      role: string;
      pid: number;
      attributes: Record<string, unknown>;
    };
    const spans = async (): Promise<SpanEvent[]> => {
      for (let i = 0; i < 100; i++) {
        const events = readFileSync(log, 'utf8')
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line) as SpanEvent);
        const found = events.filter((e) => e.event === 'span');
        if (found.some((span) => span.name === 'alectio.job.train')) return found;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error('the job span never ended');
    };
    const all = await spans();
    const [inferSpan] = all.filter((span) => span.name === 'alectio.infer');
    expect(inferSpan.role).toBe('api');
    const chunks = all.filter((span) => span.name === 'alectio.piece.infer');
    expect(chunks).toHaveLength(3);
    for (const chunk of chunks) {
      expect(chunk.role).toBe('worker');
      expect(chunk.traceId).toBe(inferSpan.traceId);
      expect(chunk.parentSpanId).toBe(inferSpan.spanId);
    }
    const [jobSpan] = all.filter((span) => span.name === 'alectio.job.train');
    expect(jobSpan.attributes['alectio.job.id']).toBe(job.body.job_id);
    const [piece] = all.filter((span) => span.name === 'alectio.piece.train');
    expect(piece.role).toBe('worker');
    expect(piece.traceId).toBe(jobSpan.traceId);
    expect(piece.parentSpanId).toBe(jobSpan.spanId);
  }, 60_000);
});
