import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { InternalServerErrorException, ServiceUnavailableException } from '@nestjs/common';

import { PiecesInFlight } from '../../src/distributed/pieces-in-flight.js';
import type { PoolLink } from '../../src/distributed/pool.link.js';
import { FakePoolLink, POOL_CONFIG, stateOf } from './fakes.js';

const LABEL = 'infer chunk 2 of 5 (positions 10000 to 19999)';
const REDIS_LOST =
  "lost the connection to the work queue's Redis at redis.test:6379 while the workers ran this request; " +
  'its answer cannot be collected: retry when Redis is back';

function setup(config = POOL_CONFIG) {
  const link = new FakePoolLink(config);
  const inFlight = new PiecesInFlight(link as unknown as PoolLink);
  const reports: (string | undefined)[] = [];
  const track = (id: string, label = LABEL, attempts = 3) => {
    const piece = inFlight.track(id, 'infer', label, attempts, (message?: string) => reports.push(message));
    piece.queued = true;
    link.queued.add(id);
    return piece;
  };
  return { link, inFlight, reports, track };
}

/** The error a piece's answer rejected with. */
async function rejectionOf(done: Promise<string>): Promise<Error> {
  return done.then(
    (json) => {
      throw new Error(`it resolved with ${json}`);
    },
    (error: Error) => error,
  );
}

describe('PiecesInFlight', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  describe('completed', () => {
    it("resolves the piece with the worker's answer taken from the store, its progress 1", async () => {
      const { link, inFlight, reports, track } = setup();
      const piece = track('req-1-0');
      link.results.set('req-1-0', '{"outputs":{"10000":{"prediction":3}}}');
      await inFlight.completed('req-1-0');
      await expect(piece.done).resolves.toBe('{"outputs":{"10000":{"prediction":3}}}');
      expect(piece.settled).toBe(true);
      expect(piece.progress).toBe(1);
      expect(reports).toEqual([undefined]);
      expect(link.taken).toEqual(['req-1-0']);
    });

    it("leaves the answer of a piece it does not wait for (another API process's) where it is", async () => {
      const { link, inFlight } = setup();
      link.results.set('elsewhere-0', '{"outputs":{}}');
      await inFlight.completed('elsewhere-0');
      expect(link.taken).toEqual([]);
      expect(link.results.get('elsewhere-0')).toBe('{"outputs":{}}');
    });

    it('rejects 500 when the answer is not in the store', async () => {
      const { inFlight, track } = setup();
      const piece = track('req-1-0');
      await inFlight.completed('req-1-0');
      const error = await rejectionOf(piece.done);
      expect(error).toBeInstanceOf(InternalServerErrorException);
      expect(error.message).toBe(`${LABEL}: the worker's answer was not found in Redis`);
    });

    it("rejects with the link's service error when taking the answer fails", async () => {
      const { link, inFlight, track } = setup();
      const piece = track('req-1-0');
      link.readResult = async () => {
        throw new Error('Connection is closed.');
      };
      await inFlight.completed('req-1-0');
      const error = await rejectionOf(piece.done);
      expect(error).toBeInstanceOf(ServiceUnavailableException);
      expect(error.message).toBe('redis failed: Connection is closed.');
    });
  });

  describe('failed', () => {
    it("turns BullMQ's stalled reason into PIECE_ABANDONED, counting the attempts the workers allow plus one", async () => {
      const { inFlight, track } = setup();
      const piece = track('req-1-1');
      inFlight.failed('req-1-1', 'job stalled more than allowable limit');
      const error = await rejectionOf(piece.done);
      expect(error).toBeInstanceOf(InternalServerErrorException);
      expect(error.message).toBe(
        `${LABEL} was left unfinished 4 times by the worker running it ` +
          '(stopped, killed, or its event loop blocked longer than lockDurationMs)',
      );
    });

    it('says "1 time" when the workers allow no stall', async () => {
      const { inFlight, track } = setup({ ...POOL_CONFIG, attempts: 0 });
      const piece = track('train-1-0', 'train of round-1.pt', 1);
      inFlight.failed('train-1-0', 'job stalled more than allowable limit');
      expect((await rejectionOf(piece.done)).message).toBe(
        'train of round-1.pt was left unfinished 1 time by the worker running it ' +
          '(stopped, killed, or its event loop blocked longer than lockDurationMs)',
      );
    });

    it("passes any other reason on as PIECE_FAILED with the piece's attempts", async () => {
      const { inFlight, track } = setup();
      const three = track('req-1-2');
      const one = track('train-1-0', 'train of round-1.pt', 1);
      inFlight.failed('req-1-2', 'infer failed in Model#infer: CUDA out of memory');
      inFlight.failed('train-1-0', 'checkpoint folder is read-only');
      expect((await rejectionOf(three.done)).message).toBe(
        `${LABEL} failed after 3 attempts: infer failed in Model#infer: CUDA out of memory`,
      );
      expect((await rejectionOf(one.done)).message).toBe(
        'train of round-1.pt failed after 1 attempt: checkpoint folder is read-only',
      );
    });

    it('keeps the first end of a piece', async () => {
      const { link, inFlight, track } = setup();
      const piece = track('req-1-0');
      link.results.set('req-1-0', '{"outputs":{}}');
      await inFlight.completed('req-1-0');
      inFlight.failed('req-1-0', 'late failure');
      await expect(piece.done).resolves.toBe('{"outputs":{}}');
    });
  });

  describe('progress', () => {
    it('records the fraction and reports the message while the piece runs, not after', async () => {
      const { link, inFlight, reports, track } = setup();
      const piece = track('req-1-0');
      inFlight.progress('req-1-0', { fraction: 0.25, message: 'batch 1 of 4' });
      inFlight.progress('req-1-0', { fraction: 0.5, message: 7 });
      inFlight.progress('req-1-0', 'not an object');
      expect(piece.progress).toBe(0.5);
      expect(reports).toEqual(['batch 1 of 4', undefined]);
      link.results.set('req-1-0', '{"outputs":{}}');
      await inFlight.completed('req-1-0');
      inFlight.progress('req-1-0', { fraction: 0.75 });
      expect(piece.progress).toBe(1);
    });
  });

  describe('lost and reconnected', () => {
    it('answers every unsettled piece 503, and leaves the settled ones as they were', async () => {
      const { link, inFlight, track } = setup();
      const done = track('req-1-0');
      const waiting = track('req-1-1');
      const other = track('req-2-0');
      link.results.set('req-1-0', '{"outputs":{}}');
      await inFlight.completed('req-1-0');
      inFlight.lost();
      await expect(done.done).resolves.toBe('{"outputs":{}}');
      for (const piece of [waiting, other]) {
        const error = await rejectionOf(piece.done);
        expect(error).toBeInstanceOf(ServiceUnavailableException);
        expect(error.message).toBe(REDIS_LOST);
      }
      expect(link.cancels).toEqual([]);
    });

    it('cancels the pieces answered 503 once Redis is back, once', async () => {
      jest.useFakeTimers();
      const { link, inFlight, track } = setup();
      const done = track('req-1-0');
      track('req-1-1');
      track('req-2-0');
      link.results.set('req-1-0', '{"outputs":{}}');
      await inFlight.completed('req-1-0');
      inFlight.lost();

      const back = inFlight.reconnected();
      await jest.advanceTimersByTimeAsync(1000);
      await back;
      expect(link.cancels[0]).toEqual({
        ids: ['req-1-1', 'req-2-0'],
        reason: 'its request was answered 503 while Redis was away',
      });
      expect(link.cancels.filter(({ ids }) => ids.length > 0)).toHaveLength(1);
      expect(done.settled).toBe(true);

      const again = inFlight.reconnected();
      await jest.advanceTimersByTimeAsync(1000);
      await again;
      expect(link.cancels.filter(({ ids }) => ids.length > 0)).toHaveLength(1);
    });

    it('after reconnecting, answers 503 the queued pieces Redis lost, and collects those that finished meanwhile', async () => {
      jest.useFakeTimers();
      const { link, inFlight, track } = setup();
      const vanished = track('req-1-0');
      const finished = track('req-1-1');
      const stillQueued = track('req-1-2');
      link.queued.delete('req-1-0');
      link.queued.delete('req-1-1');
      link.results.set('req-1-1', '{"outputs":{"1":{"prediction":0}}}');

      const back = inFlight.reconnected();
      await jest.advanceTimersByTimeAsync(1000);
      await back;
      const error = await rejectionOf(vanished.done);
      expect(error).toBeInstanceOf(ServiceUnavailableException);
      expect(error.message).toBe(
        `the work queue's Redis at redis.test:6379 came back without this request's work (${LABEL}): restarted without its data? Retry`,
      );
      await expect(finished.done).resolves.toBe('{"outputs":{"1":{"prediction":0}}}');
      expect(await stateOf(stillQueued.done)).toBe('pending');
      expect(link.cancels).toEqual([{ ids: ['req-1-0'], reason: 'its request was answered 503: Redis lost it' }]);
    });
  });

  describe('tick', () => {
    // With lockDurationMs 30 s, the wait is the longer of 10 s and twice that: 60 s.
    const WAIT_MS = 60_000;

    it('answers 503 NO_WORKERS_LEFT and cancels the unsettled pieces once no worker was seen for the wait', async () => {
      jest.useFakeTimers();
      const { link, inFlight, track } = setup();
      const settled = track('req-1-0');
      const waiting = track('req-1-1');
      link.results.set('req-1-0', '{"outputs":{}}');
      await inFlight.completed('req-1-0');
      link.workers = 0;

      await inFlight.tick();
      jest.advanceTimersByTime(WAIT_MS - 1);
      await inFlight.tick();
      expect(await stateOf(waiting.done)).toBe('pending');
      expect(link.cancels).toEqual([]);

      jest.advanceTimersByTime(1);
      await inFlight.tick();
      const error = await rejectionOf(waiting.done);
      expect(error).toBeInstanceOf(ServiceUnavailableException);
      expect(error.message).toBe(
        'no worker has been taking work from the queue "alectio" on redis.test:6379 for 60 s while this request waited: start one',
      );
      expect(link.cancels).toEqual([{ ids: ['req-1-1'], reason: 'no worker was left to run it' }]);
      await expect(settled.done).resolves.toBe('{"outputs":{}}');
    });

    it('waits at least 10 s however short the lock', async () => {
      jest.useFakeTimers();
      const { link, inFlight, track } = setup({ ...POOL_CONFIG, lockDurationMs: 1000 });
      const waiting = track('req-1-0');
      link.workers = 0;
      await inFlight.tick();
      jest.advanceTimersByTime(9999);
      await inFlight.tick();
      expect(await stateOf(waiting.done)).toBe('pending');
      jest.advanceTimersByTime(1);
      await inFlight.tick();
      expect((await rejectionOf(waiting.done)).message).toContain('for 10 s while this request waited');
    });

    it('starts the wait again when a worker comes back', async () => {
      jest.useFakeTimers();
      const { link, inFlight, track } = setup();
      const waiting = track('req-1-0');
      link.workers = 0;
      await inFlight.tick();
      jest.advanceTimersByTime(WAIT_MS - 1000);
      link.workers = 1;
      await inFlight.tick();
      link.workers = 0;
      jest.advanceTimersByTime(1000);
      await inFlight.tick();
      jest.advanceTimersByTime(WAIT_MS - 1);
      await inFlight.tick();
      expect(await stateOf(waiting.done)).toBe('pending');
      expect(link.cancels).toEqual([]);
    });

    it('does not count the workers while nothing waits', async () => {
      jest.useFakeTimers();
      const { link, inFlight } = setup();
      let counted = 0;
      link.workerCount = async () => (counted++, 0);
      await inFlight.tick();
      jest.advanceTimersByTime(WAIT_MS * 2);
      await inFlight.tick();
      expect(counted).toBe(0);
      expect(link.cancels).toEqual([]);
    });
  });

  it('forget() ends a piece never queued, and its later events are ignored', async () => {
    const { link, inFlight } = setup();
    const piece = inFlight.track('req-9-0', 'infer', LABEL, 3, () => undefined);
    inFlight.forget(piece);
    expect((await rejectionOf(piece.done)).message).toBe('the request has ended');
    link.results.set('req-9-0', '{"outputs":{}}');
    await inFlight.completed('req-9-0');
    expect(link.taken).toEqual([]);
  });
});
