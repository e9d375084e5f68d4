import { afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { BadRequestException, Logger, ServiceUnavailableException } from '@nestjs/common';

import { CallService } from '../../src/calls/call.service.js';
import { RunSupervisor } from '../../src/execution/run.supervisor.js';
import type { JobService } from '../../src/jobs/job.service.js';
import { resolveOptions } from '../../src/options/resolve-options.js';
import { FakeExecutor, FakeJobService, RecordingLogger, stateOf } from './fakes.js';

const GRACE_MS = 5000;
const payload = { ckpt_file: 'ckpt.pt', unlabeled: [0, 1, 2] } as never;

function setup(stopsOnAbort = false) {
  const executor = new FakeExecutor(stopsOnAbort);
  const supervisor = new RunSupervisor();
  const jobs = new FakeJobService();
  const service = new CallService(
    executor,
    resolveOptions({ shutdownGraceMs: GRACE_MS }),
    supervisor,
    jobs as unknown as JobService,
  );
  return { executor, supervisor, jobs, service };
}

/** The error a promise rejects with. */
async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('it resolved');
    },
    (error: Error) => error,
  );
}

describe('CallService', () => {
  let log: RecordingLogger;
  beforeAll(() => {
    log = new RecordingLogger();
    Logger.overrideLogger(log);
  });
  afterEach(() => {
    jest.useRealTimers();
    log.lines.length = 0;
  });

  it("returns the executor's parts, having passed it the kind, the payload and a live context", async () => {
    const { executor, service } = setup();
    const answer = service.call('infer', payload);
    await Promise.resolve();
    expect(executor.calls).toHaveLength(1);
    const [call] = executor.calls;
    expect(call.kind).toBe('infer');
    expect(call.payload).toBe(payload);
    expect(call.context.signal.aborted).toBe(false);
    const parts = ['{"outputs":{', '"0":{"prediction":1}', '}}'];
    call.resolve(parts);
    await expect(answer).resolves.toBe(parts);
  });

  it('passes an error of the method on as it is while the server is not shutting down', async () => {
    const { executor, service } = setup();
    const answer = service.call('test', payload);
    await Promise.resolve();
    const refusal = new BadRequestException(['labels must be a list']);
    executor.calls[0].reject(refusal);
    await expect(answer).rejects.toBe(refusal);
  });

  it('accepts work until shutdown begins, then throws 503', async () => {
    const { service } = setup();
    expect(() => service.assertAccepting()).not.toThrow();
    await service.beforeApplicationShutdown('SIGTERM');
    let refusal: unknown;
    try {
      service.assertAccepting();
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(ServiceUnavailableException);
    expect((refusal as ServiceUnavailableException).getStatus()).toBe(503);
    expect((refusal as Error).message).toBe('the server is shutting down and accepts no new work; retry on its successor');
  });

  it("aborts a running call's signal at shutdown, naming the signal, and answers it 503 once its method stops", async () => {
    const { executor, jobs, service } = setup(true);
    const answer = service.call('train', payload);
    answer.catch(() => undefined);
    await Promise.resolve();
    await service.beforeApplicationShutdown('SIGINT');
    const { signal } = executor.calls[0].context;
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toEqual(new Error('the server is shutting down (SIGINT)'));
    const error = await rejectionOf(answer);
    expect(error).toBeInstanceOf(ServiceUnavailableException);
    expect(error.message).toBe('the server shut down while train ran; retry on its successor');
    expect(error.cause).toBe(signal.reason);
    expect(jobs.settled.map(({ unfinished, graceMs }) => ({ unfinished, graceMs }))).toEqual([
      { unfinished: 0, graceMs: GRACE_MS },
    ]);
  });

  it('answers 503 when the grace ends a call whose method never returns, and reports it unfinished', async () => {
    jest.useFakeTimers();
    const { jobs, service } = setup(false);
    const answer = service.call('infer', payload);
    answer.catch(() => undefined);
    await Promise.resolve();
    const startedAt = Date.now();
    const shutdown = service.beforeApplicationShutdown();
    await jest.advanceTimersByTimeAsync(GRACE_MS - 1);
    expect(await stateOf(answer)).toBe('pending');
    expect(jobs.settled).toEqual([]);
    await jest.advanceTimersByTimeAsync(1);
    await shutdown;
    const error = await rejectionOf(answer);
    expect(error).toBeInstanceOf(ServiceUnavailableException);
    expect(error.message).toBe('the server shut down while infer ran; retry on its successor');
    expect(jobs.settled).toEqual([{ unfinished: 1, graceMs: GRACE_MS, deadline: startedAt + GRACE_MS }]);
    expect(log.lines).toContainEqual({
      level: 'error',
      message: `1 methods did not return within ${GRACE_MS} ms of being aborted`,
      context: 'Alectio',
    });
  });

  it('tells settleAtShutdown how many of several calls did not return', async () => {
    jest.useFakeTimers();
    const { executor, jobs, service } = setup(false);
    const answers = [service.call('test', payload), service.call('infer', payload)];
    await Promise.resolve(); // the executor is called on the next microtask
    executor.stopsOnAbort = true;
    answers.push(service.call('infer', payload));
    for (const answer of answers) answer.catch(() => undefined);
    await Promise.resolve();
    expect(executor.calls).toHaveLength(3);
    const shutdown = service.beforeApplicationShutdown('SIGTERM');
    await jest.advanceTimersByTimeAsync(GRACE_MS);
    await shutdown;
    expect(jobs.settled.map(({ unfinished }) => unfinished)).toEqual([2]);
    for (const answer of answers) expect(await stateOf(answer)).toBe('rejected');
    expect(log.lines.filter((line) => line.level === 'error').map((line) => line.message)).toEqual([
      `2 methods did not return within ${GRACE_MS} ms of being aborted`,
    ]);
  });

  it('lets a call that ended before shutdown keep its answer', async () => {
    const { executor, jobs, service } = setup();
    const answer = service.call('test', payload);
    await Promise.resolve();
    executor.calls[0].resolve(['{"predictions":{},"labels":{}}']);
    await expect(answer).resolves.toEqual(['{"predictions":{},"labels":{}}']);
    await service.beforeApplicationShutdown();
    expect(jobs.settled.map(({ unfinished }) => unfinished)).toEqual([0]);
  });
});
