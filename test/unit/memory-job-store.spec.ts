import { describe, expect, it } from '@jest/globals';

import type { NewJob } from '../../src/jobs/job.model.js';
import { JobResultTooLargeError } from '../../src/jobs/job-store.errors.js';
import { MemoryJobStore, RESULT_DROPPED_IN_MEMORY } from '../../src/jobs/memory.job-store.js';
import { flat } from './fakes.js';

const job = (id: string): NewJob => ({
  id,
  kind: 'infer',
  state: 'queued',
  progress: 0,
  message: null,
  created_at: '2026-12-01T00:00:00.000Z',
  started_at: null,
  finished_at: null,
  result: null,
  error: null,
});
const end = (result: string[]) => ({ state: 'succeeded' as const, finished_at: '2026-12-01T00:00:01.000Z', result });

describe('MemoryJobStore', () => {
  it('gives a result back in the parts it was given (long ones sliced at 1 MiB), never joined', async () => {
    const store = new MemoryJobStore();
    await store.create(job('a'));
    const long = 'x'.repeat((1 << 20) + 5);
    const given = ['{"outputs":{', `"1":"${long}"`, '}}'];
    expect(await store.finish('a', end(given))).toBe(true);
    const parts: string[] = [];
    for await (const part of (await store.get('a'))!.result!.parts()) parts.push(part);
    expect(parts.map((part) => part.length)).toEqual([12, 1 << 20, long.length + 6 - (1 << 20), 2]);
    expect(parts.join('')).toBe(given.join(''));
  });

  it('never cuts a part between the two halves of an emoji, which would not survive UTF-8', async () => {
    const store = new MemoryJobStore();
    await store.create(job('a'));
    const long = `${'x'.repeat((1 << 20) - 1)}😀${'y'.repeat(10)}`; // the emoji's first half is the 2^20th unit
    await store.finish('a', end([long]));
    const parts: string[] = [];
    for await (const part of (await store.get('a'))!.result!.parts()) parts.push(part);
    expect(parts.map((part) => part.length)).toEqual([(1 << 20) - 1, 12]);
    expect(Buffer.concat(parts.map((part) => Buffer.from(part, 'utf8'))).toString('utf8')).toBe(long);
  });

  it('writes an end once: a second is refused (false), and progress after it is ignored', async () => {
    const store = new MemoryJobStore();
    await store.create(job('a'));
    expect(await store.finish('a', end(['{}']))).toBe(true);
    expect(await store.finish('a', { state: 'failed', finished_at: '2026-12-01T00:00:02.000Z', error: 'late' })).toBe(false);
    await store.update('a', { progress: 0.5, message: 'late progress' });
    expect(await flat(store.get('a'))).toMatchObject({ state: 'succeeded', error: null, message: null, result: '{}' });
  });

  it('keeps its byte budget: the oldest results dropped first, one larger than the budget refused, naming it', async () => {
    const store = new MemoryJobStore(100);
    for (const id of ['a', 'b', 'c']) {
      await store.create(job(id));
      await store.finish(id, end([`"${'é'.repeat(20)}"`])); // 42 bytes in UTF-8, 22 characters
    }
    expect(await flat(store.get('a'))).toMatchObject({ result: null, message: RESULT_DROPPED_IN_MEMORY });
    expect((await flat(store.get('b'))).result).toBe(`"${'é'.repeat(20)}"`);
    expect((await flat(store.get('c'))).result).toBe(`"${'é'.repeat(20)}"`);
    await store.create(job('d'));
    const refused = store.finish('d', end(['x'.repeat(101)]));
    await expect(refused).rejects.toBeInstanceOf(JobResultTooLargeError);
    await expect(refused).rejects.toThrow(
      'the result is 101 bytes, more than the job store keeps (jobResultBytes, 100 bytes); ask for it synchronously, or raise jobResultBytes',
    );
    expect((await flat(store.get('c'))).result).toBe(`"${'é'.repeat(20)}"`);
  });
});
