import { afterEach, describe, expect, it, jest } from '@jest/globals';

import { RunSupervisor } from '../../src/execution/run.supervisor.js';
import type { AlectioContext } from '../../src/interfaces/alectio-context.interface.js';
import { deferred, stateOf } from './fakes.js';

/** A run that waits for the test, and hands out its context. */
function startRun(supervisor: RunSupervisor, id: string, stopsOnAbort = true) {
  const end = deferred<string>();
  let context!: AlectioContext;
  const result = supervisor.run(id, `Alectio:train:${id}`, (given) => {
    context = given;
    if (stopsOnAbort) given.signal.addEventListener('abort', () => end.reject(given.signal.reason), { once: true });
    return end.promise;
  });
  result.catch(() => undefined);
  return { end, result, context: () => context };
}

describe('RunSupervisor', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  describe('run', () => {
    it("returns the work's value, and rejects with its error", async () => {
      const supervisor = new RunSupervisor();
      await expect(supervisor.run('a', 'Alectio:test', async () => ['{"predictions":{}}'])).resolves.toEqual([
        '{"predictions":{}}',
      ]);
      const failure = new Error('out of memory');
      await expect(
        supervisor.run('b', 'Alectio:test', async () => {
          throw failure;
        }),
      ).rejects.toBe(failure);
    });

    it('tells the observer it started, and passes the progress on', async () => {
      const supervisor = new RunSupervisor();
      const seen: unknown[] = [];
      await supervisor.run(
        'a',
        'Alectio:train',
        async (context) => {
          context.progress(0.5, 'half');
          return [];
        },
        { started: () => seen.push('started'), progress: (update) => seen.push(update) },
      );
      expect(seen).toEqual(['started', { progress: 0.5, message: 'half' }]);
    });

    it('passes the progress still held back by the throttle when the work ends', async () => {
      const supervisor = new RunSupervisor();
      const seen: unknown[] = [];
      await supervisor.run(
        'a',
        'Alectio:train',
        async (context) => {
          context.progress(0.1);
          context.progress(0.9, 'last epoch');
          return [];
        },
        { progress: (update) => seen.push(update) },
      );
      expect(seen).toEqual([{ progress: 0.1 }, { progress: 0.9, message: 'last epoch' }]);
    });
  });

  describe('cancel', () => {
    it("aborts the signal of that run only, with the reason as an Error's message", async () => {
      const supervisor = new RunSupervisor();
      const a = startRun(supervisor, 'job-a');
      const b = startRun(supervisor, 'job-b');
      await Promise.resolve();
      supervisor.cancel('job-a', 'job job-a was cancelled');
      expect(a.context().signal.aborted).toBe(true);
      expect(a.context().signal.reason).toEqual(new Error('job job-a was cancelled'));
      expect(b.context().signal.aborted).toBe(false);
      await expect(a.result).rejects.toEqual(new Error('job job-a was cancelled'));
      expect(await stateOf(b.result)).toBe('pending');
      b.end.resolve('b done');
      await expect(b.result).resolves.toBe('b done');
    });

    it('does nothing for an id that does not run here, or no longer does', async () => {
      const supervisor = new RunSupervisor();
      const a = startRun(supervisor, 'job-a');
      await Promise.resolve();
      a.end.resolve('done');
      await a.result;
      expect(() => supervisor.cancel('job-a', 'too late')).not.toThrow();
      expect(() => supervisor.cancel('nobody', 'no such run')).not.toThrow();
      expect(a.context().signal.aborted).toBe(false);
    });
  });

  describe('stopAll', () => {
    it('sets stopping at once, and aborts every run with the reason', async () => {
      const supervisor = new RunSupervisor();
      const a = startRun(supervisor, 'call-1');
      const b = startRun(supervisor, 'job-b');
      await Promise.resolve();
      expect(supervisor.stopping).toBe(false);
      const stopped = supervisor.stopAll('the server is shutting down (SIGTERM)', 1000);
      expect(supervisor.stopping).toBe(true);
      for (const run of [a, b]) {
        expect(run.context().signal.aborted).toBe(true);
        expect(run.context().signal.reason).toEqual(new Error('the server is shutting down (SIGTERM)'));
      }
      await expect(stopped).resolves.toEqual({ unfinished: 0 });
    });

    it('resolves as soon as every run has returned, well before the grace ends', async () => {
      jest.useFakeTimers();
      const supervisor = new RunSupervisor();
      const a = startRun(supervisor, 'a', false);
      const b = startRun(supervisor, 'b', false);
      await Promise.resolve();
      const stopped = supervisor.stopAll('stop', 10_000);
      a.end.resolve('a');
      expect(await stateOf(stopped)).toBe('pending');
      b.end.reject(new Error('b stopped'));
      expect(await stateOf(stopped)).toBe('fulfilled');
      await expect(stopped).resolves.toEqual({ unfinished: 0 });
    });

    it('resolves when the grace ends with the number of runs that did not return', async () => {
      jest.useFakeTimers();
      const supervisor = new RunSupervisor();
      startRun(supervisor, 'stuck-1', false);
      startRun(supervisor, 'stuck-2', false);
      const polite = startRun(supervisor, 'polite', true);
      await Promise.resolve();
      const stopped = supervisor.stopAll('stop', 5000);
      await expect(polite.result).rejects.toEqual(new Error('stop'));
      await jest.advanceTimersByTimeAsync(4999);
      expect(await stateOf(stopped)).toBe('pending');
      await jest.advanceTimersByTimeAsync(1);
      await expect(stopped).resolves.toEqual({ unfinished: 2 });
    });

    it('resolves at once with nothing running', async () => {
      jest.useFakeTimers();
      const supervisor = new RunSupervisor();
      await expect(supervisor.stopAll('stop', 60_000)).resolves.toEqual({ unfinished: 0 });
      expect(supervisor.stopping).toBe(true);
    });
  });
});
