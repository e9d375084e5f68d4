import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { BadRequestException, INestApplication } from '@nestjs/common';

import { resolveOptions } from '../../src/options/resolve-options.js';
import { PayloadValidator } from '../../src/protocol/payload/payload.validator.js';
import { startFixtureApp } from '../fixtures/fixture.app.js';

const HUGE = 2 ** 53 - 1;
/** `n` distinct indices near 2^53, where the bitmap cannot go. */
const hugeIndices = (n: number): number[] => Array.from({ length: n }, (_, i) => HUGE - i * 3);

/** Counts the turns of the event loop while `work` runs. */
async function turnsDuring<T>(work: () => Promise<T>): Promise<{ turns: number; result: PromiseSettledResult<T> }> {
  let turns = 0;
  let running = true;
  const tick = (): void => {
    turns++;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  const [result] = await Promise.allSettled([work()]);
  running = false;
  return { turns, result };
}

describe('the duplicate check on huge indices', () => {
  const validator = new PayloadValidator(resolveOptions({}));

  it('searches 1,000,000 indices near 2^53 between turns of the event loop, and names the first repeat', async () => {
    const unlabeled = hugeIndices(1_000_000);
    unlabeled[700_001] = unlabeled[123_456];
    const { turns, result } = await turnsDuring(() => validator.validate('infer', { unlabeled, ckpt_file: 'c' }));
    // One synchronous pass would be 0 turns; the search yields at least once per bucket.
    expect(turns).toBeGreaterThanOrEqual(64);
    expect(result.status).toBe('rejected');
    const error = (result as PromiseRejectedResult).reason as BadRequestException;
    expect(error.getResponse()).toMatchObject({
      message: [`unlabeled[700001] repeats index ${unlabeled[123_456]} (first at unlabeled[123456]): no index may appear twice`],
    });
  });

  it('accepts the same list without a repeat', async () => {
    const unlabeled = hugeIndices(300_000);
    await expect(validator.validate('infer', { unlabeled, ckpt_file: 'c' })).resolves.toMatchObject({ ckpt_file: 'c' });
  });

  it('names the earliest repeat when several values repeat', async () => {
    const labeled = hugeIndices(10_000);
    labeled[9_000] = labeled[1];
    labeled[5_000] = labeled[4_000];
    await expect(validator.validate('train', { labeled, ckpt_file: 'c' })).rejects.toMatchObject({
      response: {
        message: [`labeled[5000] repeats index ${labeled[4_000]} (first at labeled[4000]): no index may appear twice`],
      },
    });
  });
});

describe('cheap rules first', () => {
  let app: INestApplication;
  let url: string;
  beforeAll(async () => ({ app, url } = await startFixtureApp({ name: 'pool', options: { poolSize: 1000 } })));
  afterAll(() => app.close());

  it('a list that poolSize refuses is not searched for duplicates: only the pool rule is named', async () => {
    const unlabeled = [...hugeIndices(200_000), HUGE];
    const res = await fetch(`${url}/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ unlabeled, ckpt_file: 'c' }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string[] }).message).toEqual([
      `unlabeled[0] is ${HUGE}, outside the training pool: indices must be below the pool size 1000`,
    ]);
  });

  it('small indices: the duplicate is still named at once', async () => {
    const res = await fetch(`${url}/train`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ labeled: [1, 2, 1], ckpt_file: 'c' }),
    });
    expect(((await res.json()) as { message: string[] }).message).toEqual([
      'labeled[2] repeats index 1 (first at labeled[0]): no index may appear twice',
    ]);
  });
});
