import type { Server } from 'node:http';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  ArgumentsHost,
  Body,
  CallHandler,
  Catch,
  Controller,
  ExceptionFilter,
  ExecutionContext,
  INestApplication,
  Module,
  NestInterceptor,
  Post,
  ValidationPipe,
  VersioningType,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AlectioModule } from 'nestjs-alectio';
import { map } from 'rxjs';
import request from 'supertest';

import { FixtureModelModule, startFixtureApp } from './fixtures/fixture.app.js';
import type { FixtureModel } from './fixtures/fixture.model.js';

@Controller()
class HostController {
  @Post('echo')
  echo(@Body() body: unknown) {
    return body;
  }
}

class WrapInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler) {
    return next.handle().pipe(map((data) => ({ wrapped: data })));
  }
}

@Catch()
class HostFilter implements ExceptionFilter {
  catch(_exception: unknown, host: ArgumentsHost) {
    host.switchToHttp().getResponse().status(418).json({ host: 'filter' });
  }
}

const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

describe('inside a host app with its own global pipe, interceptor, filter, versioning and body limit', () => {
  let app: INestApplication;
  let model: FixtureModel;
  let url: string;

  beforeAll(async () => {
    ({ app, model, url } = await startFixtureApp({
      name: 'host',
      controllers: [HostController],
      configure: (host) => {
        host.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true }));
        host.useGlobalInterceptors(new WrapInterceptor());
        host.useGlobalFilters(new HostFilter());
        host.enableVersioning({ type: VersioningType.URI, defaultVersion: '1' });
      },
    }));
  });
  afterAll(() => app.close());
  afterEach(() => model.reset());

  it('keeps the protocol’s paths, bodies and errors whatever the host’s globals', async () => {
    const ok = await request(url)
      .post('/train')
      .send({ labeled: [1], ckpt_file: 'c', extra: true })
      .expect(200);
    expect(ok.body).toEqual({ status: 200 });
    const bad = await request(url).post('/train').send({ labeled: [], ckpt_file: 'c' }).expect(400);
    expect(bad.body).toEqual({
      status: 400,
      error: 'Bad Request',
      message: ['labeled must hold at least 1 index, got an empty array'],
    });
    model.behaviour.test = () => {
      throw new Error('boom');
    };
    const failed = await request(url).post('/test').send({ ckpt_file: 'c' }).expect(500);
    expect(failed.body.message).toBe('test failed in FixtureModel#test: boom');
    const health = await request(url).get('/health').expect(200);
    expect(health.body.status).toBe(200);
  });

  it('accepts 1,000,000 indices on /train while the host’s own routes keep Express’s 100 KiB limit', async () => {
    const labeled = range(1_000_000);
    const res = await request(url).post('/train').send({ labeled, ckpt_file: 'big' }).expect(200);
    expect(res.body).toEqual({ status: 200 });
    expect(model.received.train[0].labeled).toHaveLength(1_000_000);
    expect(model.received.train[0].labeled[999_999]).toBe(999_999);

    await request(url)
      .post('/v1/echo')
      .send({ a: 'x'.repeat(50_000) })
      .expect(201);
    const refused = await request(url)
      .post('/v1/echo')
      .send({ a: 'x'.repeat(200_000) });
    expect(refused.status).toBe(418); // the host's filter, holding the host's 413
  });

  it('finds a duplicate at the end of a 1,000,000-index list', async () => {
    const labeled = range(1_000_000);
    labeled.push(123_456);
    const res = await request(url).post('/train').send({ labeled, ckpt_file: 'big' }).expect(400);
    expect(res.body.message).toEqual([
      'labeled[1000000] repeats index 123456 (first at labeled[123456]): no index may appear twice',
    ]);
  });

  it('answers /infer on 200,000 indices with every output', async () => {
    const unlabeled = range(200_000, 5);
    model.behaviour.infer = ({ unlabeled: asked }: { unlabeled: number[] }) => ({
      outputs: asked.map((i) => Array.from({ length: 10 }, (_, c) => (i % 10 === c ? 1.5 : -0.25))),
    });
    const res = await request(url).post('/infer').send({ unlabeled, ckpt_file: 'c' }).expect(200);
    const outputs = res.body.outputs as Record<string, number[]>;
    expect(Object.keys(outputs)).toHaveLength(200_000);
    expect(outputs['5']).toEqual([-0.25, -0.25, -0.25, -0.25, -0.25, 1.5, -0.25, -0.25, -0.25, -0.25]);
    expect(outputs['200004'][4]).toBe(1.5);
  });
});

describe('a training run longer than the server’s own timeouts', () => {
  let app: INestApplication;
  let model: FixtureModel;
  let url: string;

  beforeAll(async () => {
    ({ app, model, url } = await startFixtureApp({ name: 'slow' }));
    const server = app.getHttpServer() as Server;
    // An idle-socket timeout far shorter than the run. (requestTimeout, 300 s by default, only
    // covers receiving the request, so a long run never meets it once the body is in.)
    server.timeout = 300;
  });
  afterAll(() => app.close());

  it('still gets its answer', async () => {
    model.behaviour.train = () => new Promise((resolve) => setTimeout(resolve, 1500));
    const res = await request(url)
      .post('/train')
      .send({ labeled: [1], ckpt_file: 'slow' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 200 });
  });
});

@Module({ imports: [FixtureModelModule, AlectioModule.forRoot({ prefix: 'al' })] })
class FactoryAppModule {}

describe('an app made by NestFactory.create, as main.ts makes it', () => {
  it.each([
    ['with the default body parser', {}],
    ['with bodyParser: false', { bodyParser: false }],
  ])('serves 1,000,000 indices %s', async (_label, options) => {
    const app = await NestFactory.create(FactoryAppModule, { logger: false, ...options });
    app.setGlobalPrefix('api');
    await app.listen(0, '127.0.0.1');
    try {
      const url = await app.getUrl();
      const res = await request(url)
        .post('/api/al/train')
        .send({ labeled: range(1_000_000), ckpt_file: 'x' });
      expect(res.status).toBe(200);
      await request(url).post('/api/al/train').send({ labeled: 'all', ckpt_file: 'x' }).expect(400);
    } finally {
      await app.close();
    }
  });
});
