import { describe, expect, it } from '@jest/globals';
import { Inject, Injectable, Module, Scope, Type } from '@nestjs/common';
import { REQUEST } from '@nestjs/core';
import { Test as NestTest } from '@nestjs/testing';
import { AlectioDiscoveryError, AlectioModule, AlectioTest, Infer, Train } from 'nestjs-alectio';
import request from 'supertest';

@Injectable()
class Trainer {
  @Train() train() {}
}

@Injectable()
class Tester {
  @AlectioTest() evaluate() {
    return { predictions: [1], labels: [1] };
  }
}

@Injectable()
class Inferrer {
  private readonly bias = 0.25;
  @Infer() score({ unlabeled }: { unlabeled: number[] }) {
    return { outputs: unlabeled.map(() => [this.bias]) };
  }
}

@Injectable()
class SecondTrainer {
  @Train() fit() {}
}

@Injectable({ scope: Scope.REQUEST })
class RequestScopedInferrer {
  @Infer() score() {}
}

@Injectable({ scope: Scope.TRANSIENT })
class TransientInferrer {
  @Infer() score() {}
}

@Injectable()
class InferrerNeedingTheRequest {
  constructor(@Inject(REQUEST) readonly req: unknown) {}
  @Infer() score() {}
}

/** A model split over modules, as a customer's app would be. */
@Module({ providers: [Inferrer], exports: [Inferrer] })
class InferenceModule {}

async function init(providers: Type[], imports: Type[] = []) {
  const moduleRef = await NestTest.createTestingModule({
    imports: [AlectioModule.forRoot(), ...imports],
    providers,
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  return { app, ready: app.init() };
}

async function initError(providers: Type[]): Promise<Error> {
  const { app, ready } = await init(providers);
  try {
    await ready;
  } catch (error) {
    return error as Error;
  } finally {
    await app.close().catch(() => undefined);
  }
  throw new Error('app.init() succeeded');
}

describe('discovery of @Train(), @Test() and @Infer()', () => {
  it('finds the three methods on providers of any module and binds them to their instance', async () => {
    const { app, ready } = await init([Trainer, Tester], [InferenceModule]);
    await ready;
    await app.listen(0, '127.0.0.1');
    const url = await app.getUrl();
    const res = await request(url)
      .post('/infer')
      .send({ unlabeled: [4], ckpt_file: 'c' })
      .expect(200);
    expect(res.body.outputs).toEqual({ 4: [0.25] });
    await request(url).post('/test').send({ ckpt_file: 'c' }).expect(200);
    await app.close();
  });

  it.each([
    ['@Train()', [Tester, Inferrer]],
    ['@Test()', [Trainer, Inferrer]],
    ['@Infer()', [Trainer, Tester]],
  ])('fails app.init() when no method has %s', async (decorator, providers) => {
    const error = await initError(providers as Type[]);
    expect(error).toBeInstanceOf(AlectioDiscoveryError);
    expect(error.message).toContain(`No method is decorated with ${decorator}`);
  });

  it('fails app.init() naming both methods when two have the same decorator', async () => {
    const error = await initError([Trainer, SecondTrainer, Tester, Inferrer]);
    expect(error.message).toContain('2 methods are decorated with @Train(): Trainer#train and SecondTrainer#fit');
  });

  it.each([
    ['request-scoped', RequestScopedInferrer],
    ['transient', TransientInferrer],
    ['request-scoped through a dependency', InferrerNeedingTheRequest],
  ])('fails app.init() for a method on a %s provider', async (_kind, provider) => {
    const error = await initError([Trainer, Tester, provider]);
    expect(error).toBeInstanceOf(AlectioDiscoveryError);
    expect(error.message).toContain(`@Infer() is on ${provider.name}#score`);
    expect(error.message).toContain('request-scoped or transient');
  });
});
