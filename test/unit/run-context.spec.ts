import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';

import { createRunContext, PROGRESS_INTERVAL_MS, type ProgressUpdate } from '../../src/execution/run-context.js';
import { RecordingLogger } from './fakes.js';

describe('createRunContext', () => {
  describe('signal', () => {
    const RealAbortController = globalThis.AbortController;
    let made: number;

    beforeEach(() => {
      made = 0;
      globalThis.AbortController = class extends RealAbortController {
        constructor() {
          super();
          made++;
        }
      };
    });
    afterEach(() => {
      globalThis.AbortController = RealAbortController;
    });

    it('is made on first use only, then stays the same', () => {
      const { context } = createRunContext({ name: 'Alectio:train', onProgress: () => undefined });
      context.progress(0.5);
      expect(made).toBe(0);
      const signal = context.signal;
      expect(made).toBe(1);
      expect(context.signal).toBe(signal);
      expect(made).toBe(1);
      expect(signal.aborted).toBe(false);
    });

    it('is the caller’s own when one is given, and none is made', () => {
      const given = new RealAbortController().signal;
      const { context } = createRunContext({ name: 'Alectio:infer:piece-1', signal: given });
      expect(context.signal).toBe(given);
      expect(made).toBe(0);
    });

    it('aborted before it is read: read later, it is already aborted with the reason', () => {
      const run = createRunContext({ name: 'Alectio:test' });
      const reason = new Error('the server is shutting down');
      run.abort(reason);
      expect(made).toBe(0);
      expect(run.context.signal.aborted).toBe(true);
      expect(run.context.signal.reason).toBe(reason);
    });

    it('aborted after it is read: it aborts then, once, with the first reason', () => {
      const run = createRunContext({ name: 'Alectio:test' });
      const signal = run.context.signal;
      const heard: unknown[] = [];
      signal.addEventListener('abort', () => heard.push(signal.reason));
      const first = new Error('job j1 was cancelled');
      run.abort(first);
      run.abort(new Error('the server is shutting down'));
      expect(signal.aborted).toBe(true);
      expect(heard).toEqual([first]);
      expect(signal.reason).toBe(first);
    });

    it('keeps the first reason when aborted twice before it is read', () => {
      const run = createRunContext({ name: 'Alectio:test' });
      run.abort('first');
      run.abort('second');
      expect(run.context.signal.reason).toBe('first');
    });
  });

  describe('progress', () => {
    let passed: ProgressUpdate[];
    const onProgress = (update: ProgressUpdate) => passed.push(update);

    beforeEach(() => {
      passed = [];
      jest.useFakeTimers();
    });
    afterEach(() => {
      jest.useRealTimers();
    });

    it('passes the first report at once', () => {
      createRunContext({ name: 'Alectio:train', onProgress }).context.progress(0.25, 'epoch 1 of 4');
      expect(passed).toEqual([{ progress: 0.25, message: 'epoch 1 of 4' }]);
    });

    it('clamps the fraction to 0..1 and makes the message a string', () => {
      const run = createRunContext({ name: 'Alectio:train', onProgress });
      run.context.progress(1.5);
      jest.advanceTimersByTime(PROGRESS_INTERVAL_MS);
      run.context.progress(-3, 42 as unknown as string);
      expect(passed).toEqual([{ progress: 1 }, { progress: 0, message: '42' }]);
    });

    it.each([NaN, Infinity, -Infinity, '0.5', undefined])('ignores the fraction %p', (fraction) => {
      const run = createRunContext({ name: 'Alectio:train', onProgress });
      run.context.progress(fraction as number, 'ignored');
      run.flush();
      expect(passed).toEqual([]);
    });

    it('passes one report per 200 ms, the latest merged with those held back', () => {
      const run = createRunContext({ name: 'Alectio:train', onProgress });
      run.context.progress(0.1, 'epoch 1');
      run.context.progress(0.2, 'epoch 2');
      jest.advanceTimersByTime(100);
      run.context.progress(0.3);
      expect(passed).toEqual([{ progress: 0.1, message: 'epoch 1' }]);
      jest.advanceTimersByTime(PROGRESS_INTERVAL_MS - 100 - 1);
      expect(passed).toHaveLength(1);
      jest.advanceTimersByTime(1);
      // 0.3 came without a message: the one held back with 0.2 goes with it.
      expect(passed).toEqual([
        { progress: 0.1, message: 'epoch 1' },
        { progress: 0.3, message: 'epoch 2' },
      ]);
    });

    it('passes nothing at the end of an interval in which nothing was reported', () => {
      const run = createRunContext({ name: 'Alectio:train', onProgress });
      run.context.progress(0.5);
      jest.advanceTimersByTime(PROGRESS_INTERVAL_MS * 3);
      expect(passed).toEqual([{ progress: 0.5 }]);
    });

    it('flush() passes the report held back at once, and nothing after', () => {
      const run = createRunContext({ name: 'Alectio:infer', onProgress });
      run.context.progress(0.4);
      run.context.progress(0.9, 'almost');
      run.flush();
      expect(passed).toEqual([{ progress: 0.4 }, { progress: 0.9, message: 'almost' }]);
      jest.advanceTimersByTime(PROGRESS_INTERVAL_MS * 2);
      run.flush();
      expect(passed).toHaveLength(2);
    });

    it('is harmless without onProgress', () => {
      const run = createRunContext({ name: 'Alectio:train' });
      expect(() => {
        run.context.progress(0.5, 'x');
        run.flush();
      }).not.toThrow();
    });
  });

  describe('logger', () => {
    afterEach(() => Logger.overrideLogger(false));

    it('names its lines after the run', () => {
      const lines = new RecordingLogger();
      Logger.overrideLogger(lines);
      const { context } = createRunContext({ name: 'Alectio:infer:job-7' });
      context.logger.log('loading the checkpoint');
      context.logger.warn('slow disk');
      expect(context.logger).toBe(context.logger);
      expect(lines.lines).toEqual([
        { level: 'log', message: 'loading the checkpoint', context: 'Alectio:infer:job-7' },
        { level: 'warn', message: 'slow disk', context: 'Alectio:infer:job-7' },
      ]);
    });
  });
});
