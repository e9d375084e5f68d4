// The OpenAPI document of a real app (@nestjs/swagger's SwaggerModule.createDocument), checked
// against the OpenAPI specification by a kept validator, and tried: a request built from each
// documented example, answered with a documented status and a body of its documented schema.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';

import { startFixtureApp } from './fixtures/fixture.app.js';

type Operation = {
  operationId: string;
  parameters?: { name: string; in: string; example?: unknown }[];
  requestBody?: { content: Record<string, { schema: object; example?: unknown }> };
  responses: Record<string, { content?: Record<string, { schema: object }> }>;
  security?: unknown[];
  callbacks?: Record<string, unknown>;
};

const TOKEN = 'secret';

describe('the OpenAPI document of an app that imports the module', () => {
  let app: INestApplication;
  let url: string;
  let document: OpenAPIObject;

  beforeAll(async () => {
    ({ app, url } = await startFixtureApp({
      name: 'openapi',
      globalPrefix: 'api',
      options: {
        prefix: 'alectio',
        token: TOKEN,
        poolSize: 100,
        metrics: true,
        callback: { url: 'https://platform.example/alectio/done', secret: 'a-secret-of-16-chars' },
      },
    }));
    document = SwaggerModule.createDocument(app, new DocumentBuilder().setTitle('app').addBearerAuth().build());
  });
  afterAll(() => app.close());

  const operation = (path: string, method: string): Operation =>
    (document.paths[`/api/alectio${path}`] as Record<string, Operation>)[method];

  it('validates against the OpenAPI specification', async () => {
    const result = await new Validator().validate(document as never);
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
  });

  it("holds every route of the module, under the app's global prefix and the module's prefix", () => {
    const routes = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.keys(methods as object).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(routes.sort()).toEqual(
      [
        'GET /api/alectio/health',
        'GET /api/alectio/health/live',
        'GET /api/alectio/health/ready',
        'POST /api/alectio/train',
        'POST /api/alectio/test',
        'POST /api/alectio/infer',
        'GET /api/alectio/jobs',
        'GET /api/alectio/jobs/{id}',
        'DELETE /api/alectio/jobs/{id}',
      ].sort(),
    );
  });

  it('gives the bodies the rules the validator enforces, and every answer of the protocol', () => {
    const train = operation('/train', 'post');
    expect(train.requestBody!.content['application/json'].schema).toEqual({
      type: 'object',
      required: ['labeled', 'ckpt_file'],
      properties: {
        labeled: {
          type: 'array',
          minItems: 1,
          uniqueItems: true,
          items: { type: 'integer', minimum: 0, maximum: 99 }, // poolSize 100
        },
        resume_from: expect.objectContaining({
          type: 'string',
          maxLength: 255,
          pattern: '^$|^[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}$', // "" is a fresh start, as null is
          nullable: true,
        }),
        ckpt_file: expect.objectContaining({
          type: 'string',
          minLength: 1,
          maxLength: 255,
          pattern: '^[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}$',
        }),
      },
    });
    const infer = operation('/infer', 'post').requestBody!.content['application/json'].schema as {
      properties: { unlabeled: object };
    };
    expect(infer.properties.unlabeled).toEqual({
      type: 'array',
      uniqueItems: true,
      items: { type: 'integer', minimum: 0, maximum: 99 },
    });
    for (const kind of ['train', 'test', 'infer']) {
      const call = operation(`/${kind}`, 'post');
      expect(Object.keys(call.responses).sort()).toEqual(['200', '202', '400', '401', '409', '413', '500', '503']);
      expect(call.parameters).toEqual([expect.objectContaining({ name: 'Prefer', in: 'header' })]);
      expect(call.security).toEqual([{ bearer: [] }]);
      // The completion callback, signed.
      expect(Object.keys(call.callbacks!.jobFinished as object)).toEqual(['https://platform.example/alectio/done']);
    }
    expect(operation('/health', 'get').security).toBeUndefined(); // never needs the token
    expect(operation('/jobs/{id}', 'get').parameters).toEqual([
      expect.objectContaining({ name: 'id', in: 'path', required: true }),
    ]);
    expect(operation('/jobs', 'get').parameters!.map((p) => `${p.in} ${p.name}`)).toEqual(['query limit', 'query offset']);
    expect(Object.keys(operation('/jobs/{id}', 'delete').responses).sort()).toEqual(['202', '401', '404', '409']);
  });

  it('answers a request built from each documented example as documented', async () => {
    // OpenAPI 3.0's schemas: `nullable` and `example` are its own words, formats (date-time) are checked.
    const ajv = new Ajv({ strict: false });
    addFormats.default(ajv);
    // The order of a loop: train first, so that test and infer find the checkpoint.
    const order = ['/train', '/test', '/infer', '/health', '/health/live', '/health/ready', '/jobs', '/jobs/{id}'];
    // A job of job mode, so that the job routes answer with a real job (its id is no example's).
    const job = await fetch(`${url}/api/alectio/test`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json', Prefer: 'respond-async' },
      body: JSON.stringify({ ckpt_file: 'ckpt_0' }),
    });
    const { job_id: jobId, status_url: statusUrl } = (await job.json()) as { job_id: string; status_url: string };
    for (;;) {
      const polled = await fetch(`${url}${statusUrl}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
      if (((await polled.json()) as { job: { state: string } }).job.state === 'succeeded') break;
    }
    const tried: string[] = [];
    for (const path of order) {
      for (const [method, op] of Object.entries(document.paths[`/api/alectio${path}`] as Record<string, Operation>)) {
        const target = `${url}/api/alectio${path.replace('{id}', jobId)}`;
        const example = op.requestBody?.content['application/json'].example;
        const answer = await fetch(target, {
          method: method.toUpperCase(),
          headers: { Authorization: `Bearer ${TOKEN}`, ...(example ? { 'Content-Type': 'application/json' } : {}) },
          body: example ? JSON.stringify(example) : undefined,
        });
        const documented = op.responses[String(answer.status)];
        expect({ operation: op.operationId, status: documented ? answer.status : `undocumented ${answer.status}` }).toEqual({
          operation: op.operationId,
          status: answer.status,
        });
        const { schema } = documented.content!['application/json'];
        const body = await answer.json();
        const valid = ajv.validate(schema, body);
        expect({ operation: op.operationId, errors: valid ? null : ajv.errors }).toEqual({
          operation: op.operationId,
          errors: null,
        });
        tried.push(`${op.operationId} ${answer.status}`);
      }
    }
    // Under the module prefix "alectio", every operationId says so (unique with two imports).
    expect(tried).toEqual([
      'alectio_alectio_train 200',
      'alectio_alectio_test 200',
      'alectio_alectio_infer 200',
      'alectio_alectio_health 200',
      'alectio_alectio_live 200',
      'alectio_alectio_ready 200',
      'alectio_alectio_jobs_list 200',
      'alectio_alectio_jobs_get 200',
      'alectio_alectio_jobs_cancel 409', // the job has ended: documented, with the protocol's error body
    ]);
  });
});

describe('the OpenAPI document with the defaults', () => {
  it('documents no security without a token, and no callback without one configured', async () => {
    const { app } = await startFixtureApp({ name: 'openapi-defaults' });
    try {
      const document = SwaggerModule.createDocument(app, new DocumentBuilder().build());
      // GET /metrics is served before Nest's router when the metrics are on, and is in no document.
      expect(Object.keys(document.paths).sort()).toEqual([
        '/health',
        '/health/live',
        '/health/ready',
        '/infer',
        '/jobs',
        '/jobs/{id}',
        '/test',
        '/train',
      ]);
      const train = (document.paths['/train'] as Record<string, Operation>).post;
      expect(train.security).toBeUndefined();
      expect(Object.keys(train.responses)).not.toContain('401');
      expect(train.callbacks).toBeUndefined();
      expect((await new Validator().validate(document as never)).valid).toBe(true);
    } finally {
      await app.close();
    }
  });
});
