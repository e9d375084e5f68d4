import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { INestApplication, Injectable, Module } from '@nestjs/common';
import { Test as NestTest } from '@nestjs/testing';
import { AlectioModule, AlectioModuleOptions } from 'nestjs-alectio';

import { resolveOptions } from '../src/options/resolve-options.js';
import { FixtureModel } from './fixtures/fixture.model.js';
import { RedisServer } from './fixtures/redis.server.js';

// Start-up, options and roles, as a review of the refactor 1bb37fb ("One seam for where work
// runs") found them broken: each asserts what the code did before it, and does again.

const repo = fileURLToPath(new URL('..', import.meta.url));

@Module({ providers: [FixtureModel], exports: [FixtureModel] })
class ModelModule {}

async function startApp(alectio: ReturnType<typeof AlectioModule.forRoot>): Promise<{ app: INestApplication; url: string }> {
  const moduleRef = await NestTest.createTestingModule({ imports: [ModelModule, alectio] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  return { app, url: await app.getUrl() };
}

/**
 * The library built into a folder of its own (not the shared dist/, which others may be running),
 * for scripts that must run in a process of their own.
 */
function buildPrivately(): string {
  const out = mkdtempSync(join(tmpdir(), 'alectio-review-'));
  symlinkSync(join(repo, 'node_modules'), join(out, 'node_modules'));
  writeFileSync(join(out, 'package.json'), '{"type":"module"}');
  const tsc = join(repo, 'node_modules/typescript/bin/tsc');
  spawnSync(process.execPath, [tsc, '-p', join(repo, 'tsconfig.build.json'), '--outDir', join(out, 'dist')], { cwd: repo });
  if (!existsSync(join(out, 'dist/src/index.js'))) throw new Error('the private build failed');
  return out;
}

/** Runs an ES module script in its own process (in `dir`); resolves with whether it exited by itself within `ms`. */
function runScript(dir: string, script: string, ms: number): Promise<{ exitedByItself: boolean; output: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ['--input-type=module', '-e', script],
      { cwd: dir, timeout: ms },
      (error, stdout, stderr) => resolve({ exitedByItself: !error || !child.killed, output: `${stdout}${stderr}` }),
    );
  });
}

describe('start-up, options and roles', () => {
  let redis: { url: string; stop(): Promise<void> };
  beforeAll(async () => {
    redis = await RedisServer.shared();
  }, 60_000);
  afterAll(async () => {
    await redis?.stop();
  });

  describe('the pool connects to Redis while providers are built (PoolApi.start in a factory)', () => {
    let built: string;
    beforeAll(() => {
      built = buildPrivately();
    }, 120_000);
    afterAll(() => {
      if (built) rmSync(built, { recursive: true, force: true });
    });

    const preamble = (queue: string) => `
      import 'reflect-metadata';
      import { Module } from '@nestjs/common';
      import { NestFactory } from '@nestjs/core';
      import { Test } from '@nestjs/testing';
      import { AlectioModule } from './dist/src/index.js';
      const distributed = { redis: ${JSON.stringify(redis.url)}, queue: ${JSON.stringify(queue)} };
      const app = (options) => { class App {} Module({ imports: [AlectioModule.forRoot({ distributed, ...options })] })(App); return App; };
    `;

    // Nothing connects while providers are built (1bb37fb: connections no one could close); an init
    // that fails after the pool connected leaves an app whose close() closes every connection.
    it("lets the process exit once the app is closed after its init failed with the pool connected (the app's own provider)", async () => {
      const { exitedByItself, output } = await runScript(
        built,
        `${preamble('review-fail')}
        const { Injectable } = await import('@nestjs/common');
        const { Train, Test: TestMethod, Infer } = await import('./dist/src/index.js');
        class Model { train() {} test() { return { predictions: {}, labels: {} }; } infer() { return { outputs: {} }; } }
        Injectable()(Model);
        for (const [tag, name] of [[Train, 'train'], [TestMethod, 'test'], [Infer, 'infer']])
          tag()(Model.prototype, name, Object.getOwnPropertyDescriptor(Model.prototype, name));
        // The app's own module is initialized after the library's: its failing provider comes once the pool is connected.
        class Failing { onModuleInit() { throw new Error('the model file is missing'); } }
        class Failed {}
        Module({ imports: [AlectioModule.forRoot({ distributed })], providers: [Model, Failing] })(Failed);
        const failed = await NestFactory.create(Failed, { logger: false, abortOnError: false });
        await failed.init().catch((error) => console.log('start-up failed:', error.message));
        await failed.close();`,
        8000,
      );
      expect(output).toMatch(/start-up failed: the model file is missing/);
      expect(exitedByItself).toBe(true); // 1bb37fb: the Redis connections it opened keep the process alive, and no one can close them
    }, 20_000);

    it('opens no Redis connection when a test only compiles the module', async () => {
      const { exitedByItself, output } = await runScript(
        built,
        `${preamble('review-compile')}
        await Test.createTestingModule({ imports: [app({})] }).compile();
        console.log('compiled');`,
        8000,
      );
      expect(output).toContain('compiled');
      expect(exitedByItself).toBe(true); // 1bb37fb: compile() connects, and the test process never exits
    }, 20_000);
  });

  describe('resolveOptions()', () => {
    let receiver: Server;
    const received: string[] = [];
    beforeAll(async () => {
      receiver = createServer((req, res) => {
        received.push(req.url!);
        req.resume();
        res.end();
      });
      await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    });
    afterAll(() => {
      receiver.close();
    });

    it('reads nested options given as an instance with getters (callback)', async () => {
      const port = (receiver.address() as { port: number }).port;
      class CallbackConfig {
        get url() {
          return `http://127.0.0.1:${port}/hook`;
        }
        get secret() {
          return 'a-secret-of-sixteen-chars';
        }
      }
      const { app, url } = await startApp(AlectioModule.forRoot({ callback: new CallbackConfig() }));
      try {
        const res = await fetch(`${url}/train`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', prefer: 'respond-async' },
          body: JSON.stringify({ labeled: [0], ckpt_file: 'c' }),
        });
        expect(res.status).toBe(202);
        for (let i = 0; i < 40 && received.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
        expect(received).toEqual(['/hook']); // 1bb37fb: url and secret are dropped, every delivery fails
      } finally {
        await app.close();
      }
    });

    it('reads nested options given as an instance with getters (distributed: the Redis and the role)', () => {
      // Checked on resolveOptions() itself: an app built from these options on 1bb37fb would start as
      // an API process (not the worker it was told to be) on 127.0.0.1:6379 (not the Redis it was given).
      class PoolSettings {
        get redis() {
          return 'redis://10.1.2.3:6380';
        }
        get role() {
          return 'worker' as const;
        }
        get queue() {
          return 'review-getters';
        }
      }
      const resolved = resolveOptions({ distributed: new PoolSettings() });
      expect(resolved.role).toBe('worker');
      expect(resolved.distributed).toMatchObject({ redis: 'redis://10.1.2.3:6380', role: 'worker', queue: 'review-getters' });
    });

    it('starts with an options object whose create() returns the factory itself (useClass)', async () => {
      @Injectable()
      class AlectioOptions {
        private readonly env = { TOKEN: 'secret-token' } as Record<string, string>;
        get token(): string {
          return this.env.TOKEN;
        }
        create(): AlectioModuleOptions {
          return this;
        }
      }
      // 1bb37fb: "env is not an option"
      const { app, url } = await startApp(AlectioModule.forRootAsync({ useClass: AlectioOptions }));
      try {
        const res = await fetch(`${url}/train`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ labeled: [0], ckpt_file: 'c' }),
        });
        expect(res.status).toBe(401);
      } finally {
        await app.close();
      }
    });

    it('does not serve, unauthenticated, when an options factory returns nothing', async () => {
      // e.g. useFactory: (config) => config.get('alectio') with the section missing
      const started = await startApp(AlectioModule.forRootAsync({ useFactory: () => undefined as never })).then(
        async ({ app, url }) => {
          // 1bb37fb: serves with every default, authentication off
          const res = await fetch(`${url}/train`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ labeled: [0], ckpt_file: 'c' }),
          });
          await app.close();
          return `served: POST /train without a token -> ${res.status}`;
        },
        () => 'refused',
      );
      expect(started).toBe('refused');
    });
  });

  it('keeps the request gate on a worker that serves HTTP (401 before the body, 64 MiB limit)', async () => {
    const { app, url } = await startApp(
      AlectioModule.forRoot({ token: 'tok', distributed: { redis: redis.url, role: 'worker', queue: 'review-worker-http' } }),
    );
    try {
      const body = JSON.stringify({ labeled: Array.from({ length: 30_000 }, (_, i) => i), ckpt_file: 'c' });
      const res = await fetch(`${url}/train`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect(res.status).toBe(401); // 1bb37fb: 413 {"statusCode":413,"message":"request entity too large"} from Nest's parser
    } finally {
      await app.close();
    }
  }, 20_000);
});
