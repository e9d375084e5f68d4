import { describe, expect, it } from '@jest/globals';

import {
  badIndex,
  badName,
  calls,
  expect400,
  expectServing,
  guarded,
  outOfPool,
  POOL,
  post,
  small,
  useBadInputApps,
} from './bad-input.harness.js';

// Index lists (labeled, unlabeled) and checkpoint names (ckpt_file, resume_from): every field rule broken.
// Shared set-up and helpers: ./bad-input.harness.ts.

useBadInputApps();

describe('index lists (labeled, unlabeled)', () => {
  it('labeled missing', () => expect400(post(guarded, '/train').send({ ckpt_file: 'ckpt_1' }), 'labeled is required'));

  it('labeled null', () =>
    expect400(post(guarded, '/train').send({ labeled: null, ckpt_file: 'ckpt_1' }), 'labeled is required'));

  it('unlabeled missing', () => expect400(post(guarded, '/infer').send({ ckpt_file: 'ckpt_1' }), 'unlabeled is required'));

  it.each([
    ['a number', 5, 'a number'],
    ['a string', '1,2,3', 'a string'],
    ['an object', { 0: 1, 1: 2, length: 2 }, 'an object'],
    ['a boolean', true, 'a boolean'],
  ])('labeled is %s, not an array', (_, labeled, shown) =>
    expect400(
      post(guarded, '/train').send({ labeled, ckpt_file: 'ckpt_1' }),
      `labeled must be an array of indices, got ${shown}`,
    ),
  );

  it('unlabeled is a string, not an array', () =>
    expect400(
      post(guarded, '/infer').send({ unlabeled: '[1, 2]', ckpt_file: 'ckpt_1' }),
      'unlabeled must be an array of indices, got a string',
    ));

  it('labeled empty', () =>
    expect400(
      post(guarded, '/train').send({ labeled: [], ckpt_file: 'ckpt_1' }),
      'labeled must hold at least 1 index, got an empty array',
    ));

  it('unlabeled empty is allowed: outputs is {} and the method sees []', async () => {
    const res = await post(guarded, '/infer').send({ unlabeled: [], ckpt_file: 'ckpt_1' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 200, outputs: {} });
    expect(guarded.model.received.infer).toHaveLength(1);
    expect(guarded.model.received.infer[0].unlabeled).toEqual([]);
    await expectServing();
  });

  it.each([
    ['negative', [4, -1], 1, '-1'],
    ['fractional', [1, 2.5], 1, '2.5'],
    ['a string element', [1, '2'], 1, '"2"'],
    ['a null element', [0, null, 2], 1, 'null'],
    ['an array element', [[1], 2], 0, '[1]'],
    ['an object element', [1, { index: 2 }], 1, '{"index":2}'],
    ['a boolean element', [true], 0, 'true'],
    ['2^53, not a safe integer', [2 ** 53], 0, '9007199254740992'],
    ['1e300', [3, 1e300], 1, '1e+300'],
    ['"NaN"', [1, 'NaN'], 1, '"NaN"'],
    ['"Infinity"', ['Infinity'], 0, '"Infinity"'],
    ['"-0"', ['-0'], 0, '"-0"'],
  ])('labeled with %s', (_, labeled, at, shown) =>
    expect400(post(guarded, '/train').send({ labeled, ckpt_file: 'ckpt_1' }), badIndex('labeled', at, shown)),
  );

  it.each([
    ['1e400', '1e400'],
    ['-1e400', '-1e400'],
  ])('labeled with %s (JSON.parse makes it ±Infinity): the message shows the value, not "null"', async (_, literal) => {
    const res = await post(guarded, '/train')
      .set('Content-Type', 'application/json')
      .send(`{"labeled":[7,${literal}],"ckpt_file":"ckpt_1"}`);
    expect(res.status).toBe(400);
    expect(res.body.message).toHaveLength(1);
    expect(res.body.message[0]).toMatch(/^labeled\[1\] must be an index/);
    // PROTOCOL.md: the message names the offending value; the client sent a huge number, not null.
    expect(res.body.message[0]).not.toMatch(/got null$/);
    expect(res.body.message[0]).toMatch(/Infinity|1e400/);
    await expectServing();
  });

  it('the first offending position is named, not a later one', () =>
    expect400(
      post(guarded, '/infer').send({ unlabeled: [...Array.from({ length: 500 }, (_, i) => i), -3, 'x', 1.5], ckpt_file: 'c' }),
      badIndex('unlabeled', 500, '-3'),
    ));

  it('duplicates: the position of the second occurrence and of the first', () =>
    expect400(
      post(guarded, '/train').send({ labeled: [7, 3, 9, 3, 7], ckpt_file: 'ckpt_1' }),
      'labeled[3] repeats index 3 (first at labeled[1]): no index may appear twice',
    ));

  it('duplicates in unlabeled', () =>
    expect400(
      post(guarded, '/infer').send({ unlabeled: [0, 999, 999], ckpt_file: 'ckpt_1' }),
      'unlabeled[2] repeats index 999 (first at unlabeled[1]): no index may appear twice',
    ));

  it('index equal to the pool size', () =>
    expect400(post(guarded, '/train').send({ labeled: [0, 999, POOL], ckpt_file: 'ckpt_1' }), outOfPool('labeled', 2, POOL)));

  it('index above the pool size, in unlabeled', () =>
    expect400(post(guarded, '/infer').send({ unlabeled: [5, 123456], ckpt_file: 'ckpt_1' }), outOfPool('unlabeled', 1, 123456)));

  it('2^53-1 is outside a pool of 1000', () =>
    expect400(
      post(guarded, '/train').send({ labeled: [Number.MAX_SAFE_INTEGER], ckpt_file: 'ckpt_1' }),
      outOfPool('labeled', 0, Number.MAX_SAFE_INTEGER),
    ));

  it('without a pool size, 2^53-1 is an index (and the largest one)', async () => {
    const res = await post(small, '/infer').send({ unlabeled: [Number.MAX_SAFE_INTEGER, 0], ckpt_file: 'ckpt_1' });
    expect(res.status).toBe(200);
    expect(Object.keys(res.body.outputs).sort()).toEqual(['0', '9007199254740991']);
    expect(small.model.received.infer[0].unlabeled).toEqual([Number.MAX_SAFE_INTEGER, 0]);
    await expectServing(small);
  });

  it('the last index of the pool passes', async () => {
    const res = await post(guarded, '/train').send({ labeled: [POOL - 1, 0], ckpt_file: 'ckpt_1' });
    expect(res.status).toBe(200);
    expect(guarded.model.received.train[0].labeled).toEqual([POOL - 1, 0]);
  });

  it('one entry per broken rule: a bad element and a duplicate in the same list', async () => {
    const res = await post(guarded, '/train').send({ labeled: [1, 1, 'x'], ckpt_file: 'ckpt_1' });
    expect(res.status).toBe(400);
    expect(res.body.message).toHaveLength(2);
    expect(res.body.message).toEqual(
      expect.arrayContaining([
        badIndex('labeled', 2, '"x"'),
        'labeled[1] repeats index 1 (first at labeled[0]): no index may appear twice',
      ]),
    );
    expect(calls(guarded.model)).toBe(0);
    await expectServing();
  });

  it('one entry per broken rule across fields', async () => {
    const res = await post(guarded, '/train').send({ labeled: [-1], resume_from: 5, ckpt_file: '../x' });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ status: 400, error: 'Bad Request', message: expect.any(Array) });
    expect(res.body.message).toHaveLength(3);
    expect(res.body.message).toEqual(
      expect.arrayContaining([
        badIndex('labeled', 0, '-1'),
        'resume_from must be a checkpoint name (a string), got a number',
        badName('ckpt_file', '"../x"'),
      ]),
    );
    expect(calls(guarded.model)).toBe(0);
    await expectServing();
  });
});

describe('checkpoint names (ckpt_file, resume_from)', () => {
  it.each(['train', 'test', 'infer'])('ckpt_file missing on /%s', (kind) => {
    const body = { train: { labeled: [1] }, test: {}, infer: { unlabeled: [1] } }[kind];
    return expect400(post(guarded, `/${kind}`).send(body), 'ckpt_file is required');
  });

  it('ckpt_file null', () => expect400(post(guarded, '/test').send({ ckpt_file: null }), 'ckpt_file is required'));

  it.each([
    ['a number', 12],
    ['an array', ['ckpt_1']],
    ['an object', { name: 'ckpt_1' }],
    ['a boolean', false],
  ])('ckpt_file is %s', (shown, ckpt_file) =>
    expect400(post(guarded, '/test').send({ ckpt_file }), `ckpt_file must be a checkpoint name (a string), got ${shown}`),
  );

  const badNames: Array<[string, string]> = [
    ['../x', '"../x"'],
    ['/etc/passwd', '"/etc/passwd"'],
    ['a/b', '"a/b"'],
    ['a\\b', '"a\\\\b"'],
    ['.', '"."'],
    ['..', '".."'],
    ['.hidden', '".hidden"'],
    ['', '""'],
    ['ckpt\u0000.pt', '"ckpt\\u0000.pt"'],
    ['ckpt 1', '"ckpt 1"'],
    ['ckpt_\u00e9', '"ckpt_\u00e9"'],
    ['ckpt\u2215x', '"ckpt\u2215x"'],
    ['ckpt_1\n', '"ckpt_1\\n"'],
    ['C:ckpt', '"C:ckpt"'],
    ['a'.repeat(256), `"${'a'.repeat(56)}... (256 characters)`],
  ];

  it.each(badNames)('ckpt_file %j', (name, shown) =>
    expect400(post(guarded, '/infer').send({ unlabeled: [1], ckpt_file: name }), badName('ckpt_file', shown)),
  );

  it.each(badNames.filter(([name]) => name !== ''))('resume_from %j', (name, shown) =>
    expect400(
      post(guarded, '/train').send({ labeled: [1], resume_from: name, ckpt_file: 'ckpt_1' }),
      badName('resume_from', shown),
    ),
  );

  it.each([
    ['a number', 0],
    ['a boolean', false],
    ['an array', []],
  ])('resume_from is %s', (shown, resume_from) =>
    expect400(
      post(guarded, '/train').send({ labeled: [1], resume_from, ckpt_file: 'ckpt_1' }),
      `resume_from must be a checkpoint name (a string), got ${shown}`,
    ),
  );

  it('255 characters pass, for both names', async () => {
    const ckpt = 'c'.repeat(255);
    const resume = 'r'.repeat(255);
    const res = await post(guarded, '/train').send({ labeled: [1], resume_from: resume, ckpt_file: ckpt });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 200 });
    expect(guarded.model.received.train[0]).toMatchObject({ resume_from: resume, ckpt_file: ckpt });
  });

  it.each([
    ['null', { resume_from: null }],
    ['""', { resume_from: '' }],
    ['absent', {}],
  ])('resume_from %s is accepted and reaches the method as null', async (_, extra) => {
    const res = await post(guarded, '/train').send({ labeled: [4, 2], ckpt_file: 'ckpt_0', ...extra });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 200 });
    expect(guarded.model.received.train).toHaveLength(1);
    expect(guarded.model.received.train[0].resume_from).toBeNull();
    expect(guarded.model.received.train[0].ckpt_file).toBe('ckpt_0');
    expect(guarded.model.received.train[0].labeled).toEqual([4, 2]);
  });

  it('a real resume_from reaches the method as sent', async () => {
    const res = await post(guarded, '/train').send({ labeled: [1], resume_from: 'run-3_ckpt_4.pt', ckpt_file: 'ckpt_5' });
    expect(res.status).toBe(200);
    expect(guarded.model.received.train[0].resume_from).toBe('run-3_ckpt_4.pt');
  });
});
