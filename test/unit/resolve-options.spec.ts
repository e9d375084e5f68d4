import { describe, expect, it } from '@jest/globals';

import { AlectioConfigurationError } from '../../src/alectio.errors.js';
import type { AlectioModuleOptions } from '../../src/interfaces/alectio-options.interface.js';
import { resolveOptions } from '../../src/options/resolve-options.js';

const KNOWN_OPTIONS =
  'prefix, token, bodyLimit, poolSize, task, checkpointName, jobsDatabase, jobResultBytes, callback, shutdownGraceMs, distributed, metrics, tracing';
const KNOWN_CALLBACK = 'url, secret, attempts, backoffMs, timeoutMs';
const KNOWN_DISTRIBUTED = 'redis, role, queue, inferChunkSize, attempts, lockDurationMs, concurrency';
const SECRET = 'a-secret-of-32-characters-long!!';

/** The message resolveOptions throws for these (deliberately wrong) options. */
function problemOf(options: unknown): string {
  try {
    resolveOptions(options as AlectioModuleOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(AlectioConfigurationError);
    return (error as Error).message;
  }
  throw new Error('resolveOptions accepted the options');
}

describe('resolveOptions', () => {
  describe('defaults (as alectio-options.interface.ts, README and docs/distributed.md document them)', () => {
    it('fills every option of forRoot() without options', () => {
      const resolved = resolveOptions({});
      expect(resolved).toEqual({
        role: 'standalone',
        prefix: '',
        token: undefined,
        bodyLimit: 64 * 1024 * 1024,
        poolSize: null,
        task: null,
        checkpointName: /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}$/,
        jobsDatabase: undefined,
        jobResultBytes: 256 * 1024 * 1024,
        callback: undefined,
        shutdownGraceMs: 10_000,
        distributed: undefined,
        metrics: undefined,
        tracing: true,
      });
      expect(resolveOptions({})).toEqual(resolved);
    });

    it("gives checkpointName PROTOCOL.md's plain file name rule", () => {
      const rule = resolveOptions({}).checkpointName as RegExp;
      expect(['model.pt', 'a', 'ckpt_01-final.bin', 'x'.repeat(255)].map((name) => rule.test(name))).toEqual([
        true,
        true,
        true,
        true,
      ]);
      expect(['', '.hidden', '../up', 'a/b', 'a\\b', 'x'.repeat(256), 'é.pt'].map((name) => rule.test(name))).toEqual([
        false,
        false,
        false,
        false,
        false,
        false,
        false,
      ]);
    });

    it('fills the callback: 5 attempts, 1000 ms backoff, 10 s timeout', () => {
      expect(resolveOptions({ callback: { url: 'https://platform.test/done', secret: SECRET } }).callback).toEqual({
        url: 'https://platform.test/done',
        secret: SECRET,
        attempts: 5,
        backoffMs: 1000,
        timeoutMs: 10_000,
      });
    });

    it("fills distributed: role 'api', queue 'alectio', chunks of 10,000, 3 attempts, 30 s lock, concurrency 1", () => {
      const resolved = resolveOptions({ distributed: { redis: 'redis://localhost:6379' } });
      expect(resolved.distributed).toEqual({
        redis: 'redis://localhost:6379',
        role: 'api',
        queue: 'alectio',
        inferChunkSize: 10_000,
        attempts: 3,
        lockDurationMs: 30_000,
        concurrency: 1,
      });
    });

    it('refuses jobsDatabase with distributed (jobs are in Redis then) and a jobResultBytes that is no positive integer', () => {
      expect(() => resolveOptions({ jobsDatabase: '/tmp/jobs.db', distributed: { redis: 'redis://r:6379' } })).toThrow(
        "AlectioModule options: jobsDatabase and distributed cannot be combined: in distributed mode jobs are kept in the pool's Redis",
      );
      for (const jobResultBytes of [0, -1, 1.5, '1mb'])
        expect(() => resolveOptions({ jobResultBytes } as never)).toThrow(
          `AlectioModule options: jobResultBytes must be a positive number of bytes, got ${JSON.stringify(jobResultBytes)}`,
        );
    });

    it('keeps what is given over the defaults', () => {
      const checkpointName = (name: string) => name.endsWith('.pt');
      const resolved = resolveOptions({
        prefix: 'alectio',
        token: 't0ken',
        bodyLimit: '8mb',
        poolSize: 7000,
        task: 'detection',
        checkpointName,
        jobResultBytes: 1024,
        callback: { url: 'http://platform.test', secret: SECRET, attempts: 2, backoffMs: 0, timeoutMs: 500 },
        shutdownGraceMs: 0,
        distributed: { redis: { host: 'r', port: 6380 }, role: 'worker', queue: 'exp_1', inferChunkSize: 5, attempts: 1 },
      });
      expect(resolved).toEqual({
        role: 'worker',
        prefix: 'alectio',
        token: 't0ken',
        bodyLimit: 8 * 1024 * 1024,
        poolSize: 7000,
        task: 'detection',
        checkpointName,
        jobsDatabase: undefined,
        jobResultBytes: 1024,
        callback: { url: 'http://platform.test', secret: SECRET, attempts: 2, backoffMs: 0, timeoutMs: 500 },
        shutdownGraceMs: 0,
        distributed: {
          redis: { host: 'r', port: 6380 },
          role: 'worker',
          queue: 'exp_1',
          inferChunkSize: 5,
          attempts: 1,
          lockDurationMs: 30_000,
          concurrency: 1,
        },
        metrics: undefined,
        tracing: true,
      });
    });
  });

  describe('role', () => {
    it.each([
      [{}, 'standalone'],
      [{ distributed: { redis: 'redis://r:6379' } }, 'api'],
      [{ distributed: { redis: 'redis://r:6379', role: 'api' } }, 'api'],
      [{ distributed: { redis: 'rediss://r:6379', role: 'worker' } }, 'worker'],
    ] as [AlectioModuleOptions, string][])('%j is %s', (options, role) => {
      expect(resolveOptions(options).role).toBe(role);
    });
  });

  describe('token', () => {
    it("turns authentication off for '' as for unset", () => {
      expect(resolveOptions({ token: '' }).token).toBeUndefined();
      expect(resolveOptions({ token: undefined }).token).toBeUndefined();
    });

    it('keeps a token as given', () => {
      expect(resolveOptions({ token: ' s3cret ' }).token).toBe(' s3cret ');
    });

    it('refuses a token that is not a string', () => {
      expect(problemOf({ token: 42 })).toBe('AlectioModule options: token must be a string, got number');
    });
  });

  describe('unknown option names', () => {
    it('refuses poolsize, suggesting poolSize', () => {
      expect(problemOf({ poolsize: 100 })).toBe(
        `AlectioModule options: poolsize is not an option: did you mean poolSize? (known: ${KNOWN_OPTIONS})`,
      );
    });

    it('refuses distributed.inferChunksize, suggesting distributed.inferChunkSize', () => {
      expect(problemOf({ distributed: { redis: 'redis://r:6379', inferChunksize: 10 } })).toBe(
        'AlectioModule options: distributed.inferChunksize is not an option: did you mean distributed.inferChunkSize? ' +
          `(known: ${KNOWN_DISTRIBUTED})`,
      );
    });

    it('refuses callback.secrt, suggesting callback.secret (and says the secret is missing)', () => {
      expect(problemOf({ callback: { url: 'https://platform.test', secrt: SECRET } })).toBe(
        'AlectioModule options: ' +
          `callback.secrt is not an option: did you mean callback.secret? (known: ${KNOWN_CALLBACK}); ` +
          'callback.secret must be a string of at least 16 characters (it keys the HMAC signature)',
      );
    });

    it('suggests nothing for a name far from every known one', () => {
      expect(problemOf({ colour: 'red' })).toBe(`AlectioModule options: colour is not an option (known: ${KNOWN_OPTIONS})`);
      expect(problemOf({ distributed: { redis: 'redis://r:6379', workers: 4 } })).toBe(
        `AlectioModule options: distributed.workers is not an option (known: ${KNOWN_DISTRIBUTED})`,
      );
    });

    it('refuses a name that differs only in case, suggesting the right case', () => {
      expect(problemOf({ ShutdownGraceMS: 5 })).toBe(
        `AlectioModule options: ShutdownGraceMS is not an option: did you mean shutdownGraceMs? (known: ${KNOWN_OPTIONS})`,
      );
    });
  });

  it('lists every problem in one error, in the order of the options', () => {
    expect(
      problemOf({
        prefx: 'a',
        prefix: 3,
        bodyLimit: '64MiB',
        poolSize: 1.5,
        checkpointName: 'ckpt',
        jobsDatabase: '',
        shutdownGraceMs: -1,
      }),
    ).toBe(
      'AlectioModule options: ' +
        [
          `prefx is not an option: did you mean prefix? (known: ${KNOWN_OPTIONS})`,
          'prefix must be a string, got number',
          `bodyLimit must be a number of bytes or a string like '64mb' (b, kb, mb, gb), got "64MiB"`,
          'poolSize must be a positive integer, got 1.5',
          'checkpointName must be a RegExp or a function (name) => boolean',
          'jobsDatabase must be the path of an SQLite file',
          'shutdownGraceMs must be a number of milliseconds, got -1',
        ].join('; '),
    );
  });

  it('lists the problems inside callback and distributed with their paths', () => {
    expect(
      problemOf({
        callback: { url: 'ftp://platform.test', secret: 'short', attempts: 0, backoffMs: -1, timeoutMs: 0.5 },
        distributed: {
          redis: 'localhost:6379',
          role: 'boss',
          queue: 'a b',
          inferChunkSize: 0,
          lockDurationMs: 99,
          concurrency: 0,
        },
      }),
    ).toBe(
      'AlectioModule options: ' +
        [
          'callback.url must be an http(s) URL',
          'callback.secret must be a string of at least 16 characters (it keys the HMAC signature)',
          'callback.attempts must be an integer of at least 1',
          'callback.backoffMs must be an integer of at least 0',
          'callback.timeoutMs must be an integer of at least 1',
          'distributed.redis must be a redis:// (or rediss://) URL or { host, port }',
          `distributed.role must be 'api' or 'worker', got "boss"`,
          'distributed.queue must be 1 to 64 characters of A-Z a-z 0-9 _ -',
          'distributed.inferChunkSize must be an integer of at least 1',
          'distributed.lockDurationMs must be an integer of at least 100',
          'distributed.concurrency must be an integer of at least 1',
        ].join('; '),
    );
  });

  it("resolves the metrics option: off by default, the module serving its own registry, or the app's registry unserved", () => {
    expect(resolveOptions({}).metrics).toBeUndefined();
    expect(resolveOptions({ metrics: false }).metrics).toBeUndefined();
    expect(resolveOptions({ metrics: true }).metrics).toEqual({ registry: undefined, prefix: 'alectio_', endpoint: true });
    const registry = {
      registerMetric() {},
      getSingleMetric() {},
      removeSingleMetric() {},
      metrics: async () => '',
      contentType: '',
    };
    expect(resolveOptions({ metrics: { registry, prefix: 'ml:' } }).metrics).toEqual({
      registry,
      prefix: 'ml:',
      endpoint: false,
    });
    expect(resolveOptions({ metrics: { registry, endpoint: true } }).metrics).toMatchObject({ endpoint: true });
    expect(
      problemOf({ metrics: { registry: {} as never, prefix: '9lives', endpoint: 'yes' as never, registy: 1 } as never }),
    ).toBe(
      'AlectioModule options: ' +
        [
          'metrics.registy is not an option: did you mean metrics.registry? (known: registry, prefix, endpoint)',
          'metrics.registry must be a prom-client Registry',
          'metrics.prefix must be letters, digits, _ and : (not starting with a digit or __, not empty), got "9lives"',
          'metrics.endpoint must be true or false',
        ].join('; '),
    );
    expect(problemOf({ metrics: 'on' as never })).toBe(
      'AlectioModule options: metrics must be true, false or { registry, prefix, endpoint }',
    );
    expect(resolveOptions({}).tracing).toBe(true);
    expect(resolveOptions({ tracing: false }).tracing).toBe(false);
    expect(problemOf({ tracing: 'off' as never })).toBe('AlectioModule options: tracing must be true or false, got "off"');
  });

  it('accepts undefined for every option, and fills the defaults behind it', () => {
    const resolved = resolveOptions({
      prefix: undefined,
      token: undefined,
      bodyLimit: undefined,
      poolSize: undefined,
      checkpointName: undefined,
      jobsDatabase: undefined,
      jobResultBytes: 256 * 1024 * 1024,
      callback: { url: 'https://platform.test', secret: SECRET, attempts: undefined, backoffMs: undefined, timeoutMs: undefined },
      shutdownGraceMs: undefined,
      distributed: {
        redis: 'redis://r:6379',
        role: undefined,
        queue: undefined,
        inferChunkSize: undefined,
        attempts: undefined,
        lockDurationMs: undefined,
        concurrency: undefined,
      },
    });
    expect(resolved).toEqual({
      role: 'api',
      prefix: '',
      token: undefined,
      bodyLimit: 64 * 1024 * 1024,
      poolSize: null,
      task: null,
      checkpointName: /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}$/,
      jobsDatabase: undefined,
      jobResultBytes: 256 * 1024 * 1024,
      callback: { url: 'https://platform.test', secret: SECRET, attempts: 5, backoffMs: 1000, timeoutMs: 10_000 },
      shutdownGraceMs: 10_000,
      distributed: {
        redis: 'redis://r:6379',
        role: 'api',
        queue: 'alectio',
        inferChunkSize: 10_000,
        attempts: 3,
        lockDurationMs: 30_000,
        concurrency: 1,
      },
      metrics: undefined,
      tracing: true,
    });
  });

  it('refuses options that are not an object', () => {
    expect(problemOf(null)).toBe('AlectioModule options must be an object, got null');
    expect(problemOf('prefix')).toBe('AlectioModule options must be an object, got string');
  });

  it.each([
    [1024, 1024],
    ['64mb', 64 * 1024 * 1024],
    ['1.5 MB', 1.5 * 1024 * 1024],
    ['100kb', 100 * 1024],
    ['512', 512],
  ])('accepts the body limit %p, resolved to %p bytes', (bodyLimit, bytes) => {
    expect(resolveOptions({ bodyLimit }).bodyLimit).toBe(bytes);
  });
});
