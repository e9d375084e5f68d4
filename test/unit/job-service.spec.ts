import { beforeAll, describe, expect, it } from '@jest/globals';
import { ConflictException, Logger, NotFoundException, ServiceUnavailableException } from '@nestjs/common';

import { RunSupervisor } from '../../src/execution/run.supervisor.js';
import type { CallbackNotifier } from '../../src/jobs/callback.notifier.js';
import type { JobEnd, JobUpdate, StoredJob } from '../../src/jobs/job.model.js';
import { JobService } from '../../src/jobs/job.service.js';
import { MemoryJobStore } from '../../src/jobs/memory.job-store.js';
import { FakeCallbackNotifier, FakeExecutor, flat, RecordingLogger, turn, until } from './fakes.js';

const payload = { ckpt_file: 'ckpt.pt', labeled: [0, 1], unlabeled: [2, 3] } as never;
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** A memory store whose updates fail when `refuses(update)` says so, as a full disk would. */
class FailingStore extends MemoryJobStore {
  constructor(private readonly refuses: (update: JobUpdate | JobEnd) => boolean) {
    super();
  }
  override async update(id: string, update: JobUpdate): Promise<void> {
    if (this.refuses(update)) throw new Error('SQLITE_FULL: database or disk is full');
    return super.update(id, update);
  }
  override async finish(id: string, end: JobEnd): Promise<boolean> {
    if (this.refuses(end)) throw new Error('SQLITE_FULL: database or disk is full');
    return super.finish(id, end);
  }
}

function setup(store = new MemoryJobStore(), stopsOnAbort = true) {
  const executor = new FakeExecutor(stopsOnAbort);
  const supervisor = new RunSupervisor();
  const callback = new FakeCallbackNotifier();
  const service = new JobService(store, executor, supervisor, callback as unknown as CallbackNotifier, null);
  return { store, executor, supervisor, callback, service };
}

/** A release that counts its calls. */
function counted() {
  const release = Object.assign(() => void release.calls++, { calls: 0 });
  return release;
}

describe('JobService', () => {
  let log: RecordingLogger;
  beforeAll(() => {
    log = new RecordingLogger();
    Logger.overrideLogger(log);
  });

  it('records a job queued, then running, then succeeded with the result text', async () => {
    const { executor, callback, service } = setup();
    const release = counted();
    const job = await service.submit('test', payload, release);
    expect(job).toMatchObject({
      kind: 'test',
      state: 'queued',
      progress: 0,
      message: null,
      started_at: null,
      finished_at: null,
      result: null,
      error: null,
    });
    expect(job.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(job.created_at).toMatch(ISO);

    await until(() => executor.calls.length === 1);
    expect(executor.calls[0].kind).toBe('test');
    expect(executor.calls[0].payload).toBe(payload);
    const running = await flat(service.get(job.id));
    expect(running.state).toBe('running');
    expect(running.started_at).toMatch(ISO);

    executor.calls[0].context.progress(0.5, 'half the test set');
    await turn();
    expect(await flat(service.get(job.id))).toMatchObject({ state: 'running', progress: 0.5, message: 'half the test set' });
    expect(release.calls).toBe(0);

    executor.calls[0].resolve(['{"predictions":{"2":1},', '"labels":{"2":0}}']);
    await until(() => callback.notified.length === 1);
    const done = await flat(service.get(job.id));
    expect(done).toMatchObject({
      id: job.id,
      state: 'succeeded',
      progress: 1,
      result: '{"predictions":{"2":1},"labels":{"2":0}}',
      error: null,
    });
    expect(done.finished_at).toMatch(ISO);
    expect(release.calls).toBe(1);
  });

  it('notifies the callback once, with the job as get() shows it at its end', async () => {
    const { executor, callback, service } = setup();
    const job = await service.submit('infer', payload, counted());
    await until(() => executor.calls.length === 1);
    executor.calls[0].resolve(['{"outputs":{}}']);
    await until(() => callback.notified.length === 1);
    for (let i = 0; i < 20; i++) await turn();
    expect(callback.notified).toHaveLength(1);
    expect(callback.notified[0]).toEqual(await flat(service.get(job.id)));
    expect(callback.notified[0].state).toBe('succeeded');
  });

  it('records a thrown HttpException as failed, with its message', async () => {
    const { executor, callback, service } = setup();
    const release = counted();
    const job = await service.submit('train', payload, release);
    await until(() => executor.calls.length === 1);
    executor.calls[0].reject(new ConflictException('checkpoint "ckpt.pt" is locked by another process'));
    await until(() => callback.notified.length === 1);
    expect(await flat(service.get(job.id))).toMatchObject({
      state: 'failed',
      error: 'checkpoint "ckpt.pt" is locked by another process',
      result: null,
    });
    expect(callback.notified[0].error).toBe('checkpoint "ckpt.pt" is locked by another process');
    expect(release.calls).toBe(1);
  });

  it('records any other error as failed without its details', async () => {
    const { executor, callback, service } = setup();
    const job = await service.submit('train', payload, counted());
    await until(() => executor.calls.length === 1);
    executor.calls[0].reject(new Error('ENOENT: /secret/path/weights.bin'));
    await until(() => callback.notified.length === 1);
    expect((await flat(service.get(job.id))).error).toBe('internal error in nestjs-alectio (the server log has the details)');
  });

  it('cancels a job: its signal aborted, the cancel recorded, then cancelled once the method returns', async () => {
    const { executor, callback, service } = setup();
    const release = counted();
    const job = await service.submit('train', payload, release);
    await until(() => executor.calls.length === 1);
    const { signal } = executor.calls[0].context;

    const answer = await service.cancel(job.id);
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toEqual(new Error(`job ${job.id} was cancelled`));
    expect(answer).toMatchObject({ id: job.id, message: 'cancelling: the method was asked to stop' });

    await until(() => callback.notified.length === 1);
    expect(await flat(service.get(job.id))).toMatchObject({ state: 'cancelled', message: 'cancelled', error: null });
    expect(callback.notified[0].state).toBe('cancelled');
    expect(release.calls).toBe(1);
  });

  it('records a cancelled job whose method still returned its answer as cancelled', async () => {
    const { executor, callback, service } = setup(undefined, false);
    const job = await service.submit('train', payload, counted());
    await until(() => executor.calls.length === 1);
    await service.cancel(job.id);
    executor.calls[0].resolve(['{}']);
    await until(() => callback.notified.length === 1);
    expect(await flat(service.get(job.id))).toMatchObject({
      state: 'cancelled',
      message: 'cancelled; the method returned',
      result: null,
    });
  });

  it('answers the cancel of a finished job 409 and of an unknown one 404', async () => {
    const { executor, callback, service } = setup();
    const job = await service.submit('test', payload, counted());
    await until(() => executor.calls.length === 1);
    executor.calls[0].resolve(['{"predictions":{},"labels":{}}']);
    await until(() => callback.notified.length === 1);
    await expect(service.cancel(job.id)).rejects.toEqual(new ConflictException(`job "${job.id}" has already succeeded`));
    await expect(service.cancel('no-such-job')).rejects.toEqual(new NotFoundException('no job with id "no-such-job"'));
    await expect(service.get('no-such-job')).rejects.toBeInstanceOf(NotFoundException);
  });

  it('answers the 33rd job in progress 503 and calls its release; one ending makes room', async () => {
    const { executor, callback, service } = setup();
    const jobs: StoredJob[] = [];
    for (let i = 0; i < 32; i++) jobs.push(await service.submit('infer', payload, counted()));
    const release = counted();
    await expect(service.submit('infer', payload, release)).rejects.toEqual(
      new ServiceUnavailableException('32 jobs are in progress; retry when one has ended'),
    );
    expect(release.calls).toBe(1);
    expect((await service.list(100, 0)).total).toBe(32);

    await until(() => executor.calls.length === 32);
    executor.calls[0].resolve(['{"outputs":{}}']);
    await until(() => callback.notified.length === 1);
    await turn();
    const next = counted();
    const accepted = await service.submit('infer', payload, next);
    expect(accepted.state).toBe('queued');
    expect(next.calls).toBe(0);
  });

  it('keeps the end state readable through get() when the store takes no update at all', async () => {
    const { executor, callback, service } = setup(new FailingStore(() => true));
    const release = counted();
    const job = await service.submit('infer', payload, release);
    await until(() => executor.calls.length === 1);
    executor.calls[0].resolve(['{"outputs":{"2":{"prediction":1}}}']);
    await until(() => callback.notified.length === 1);
    const end = await flat(service.get(job.id));
    expect(end).toMatchObject({
      id: job.id,
      kind: 'infer',
      state: 'failed',
      error: 'the result could not be recorded (see the server log)',
      result: null,
    });
    expect(end.finished_at).toMatch(ISO);
    expect(callback.notified[0]).toEqual(end);
    expect(release.calls).toBe(1);
    expect(log.lines.some((line) => line.level === 'error' && String(line.message).includes('SQLITE_FULL'))).toBe(true);
  });

  it('keeps the failure of a job readable when the store takes no update at all', async () => {
    const { executor, callback, service } = setup(new FailingStore(() => true));
    const job = await service.submit('test', payload, counted());
    await until(() => executor.calls.length === 1);
    executor.calls[0].reject(new ConflictException('the model is not loaded'));
    await until(() => callback.notified.length === 1);
    expect(await flat(service.get(job.id))).toMatchObject({ state: 'failed', error: 'the model is not loaded' });
  });

  it('records the end without its result when only the result does not fit', async () => {
    const store = new FailingStore((update) => Array.isArray((update as JobEnd).result));
    const { executor, callback, service } = setup(store);
    const job = await service.submit('infer', payload, counted());
    await until(() => executor.calls.length === 1);
    executor.calls[0].resolve(['{"outputs":{}}']);
    await until(() => callback.notified.length === 1);
    expect(await flat(store.get(job.id))).toMatchObject({
      state: 'failed',
      error: 'the result could not be recorded (see the server log)',
      result: null,
    });
    expect(await flat(service.get(job.id))).toEqual(await flat(store.get(job.id)));
  });

  it('records the jobs still running at shutdown as failed, and waits for the callbacks', async () => {
    const { executor, callback, service, supervisor } = setup(undefined, false);
    const job = await service.submit('train', payload, counted());
    await until(() => executor.calls.length === 1);
    const { unfinished } = await supervisor.stopAll('the server is shutting down', 0);
    expect(unfinished).toBe(1);
    await service.settleAtShutdown(unfinished, 0, Date.now());
    expect(await flat(service.get(job.id))).toMatchObject({
      state: 'failed',
      error: 'still running when the shutdown grace period of 0 ms ended',
    });
    expect(callback.settles).toHaveLength(1);
  });
});
