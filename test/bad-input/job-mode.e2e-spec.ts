import { describe, expect, it } from '@jest/globals';

import {
  type Answer,
  asyncJson,
  asyncPost,
  AUTH,
  badIndex,
  badName,
  expectAccepted,
  expectRejectedAsync,
  expectServing,
  guarded,
  head,
  holdTrainingJob,
  KIND_PATHS,
  outOfPool,
  parse,
  POOL,
  PREFER_ASYNC,
  rawHttp,
  rawSocket,
  RESULT_OF,
  small,
  TOKEN,
  UNAUTHORIZED,
  useBadInputApps,
  VALID_FOR_ALL,
  waitForJob,
} from './bad-input.harness.js';

// Job mode (issue 4): `Prefer: respond-async` changes when the answer comes, never which requests are
// refused; and which Prefer headers ask for it.
// Shared set-up and helpers: ./bad-input.harness.ts.

useBadInputApps();

describe('job mode: bad payloads are refused before the 202, exactly as without it', () => {
  const NOT_JSON_BODY = expect.stringMatching(/^body is not valid JSON: /);
  const TOO_NESTED = 'body holds more than 10000 arrays and objects; a protocol body holds a few';
  const wrongType = (shown: string): string => `body must be JSON sent with "Content-Type: application/json", got ${shown}`;

  const fieldCases: Array<[string, string, object, unknown[]]> = [
    [
      'wrong type: labeled a string',
      '/train',
      { labeled: '1,2,3', ckpt_file: 'ckpt_1' },
      ['labeled must be an array of indices, got a string'],
    ],
    [
      'wrong type: unlabeled an object',
      '/infer',
      { unlabeled: { 0: 1 }, ckpt_file: 'ckpt_1' },
      ['unlabeled must be an array of indices, got an object'],
    ],
    [
      'wrong type: ckpt_file a number',
      '/test',
      { ckpt_file: 12 },
      ['ckpt_file must be a checkpoint name (a string), got a number'],
    ],
    [
      'wrong type: resume_from a boolean',
      '/train',
      { labeled: [1], resume_from: false, ckpt_file: 'ckpt_1' },
      ['resume_from must be a checkpoint name (a string), got a boolean'],
    ],
    ['labeled missing', '/train', { ckpt_file: 'ckpt_1' }, ['labeled is required']],
    ['unlabeled missing', '/infer', { ckpt_file: 'ckpt_1' }, ['unlabeled is required']],
    ['ckpt_file missing', '/test', {}, ['ckpt_file is required']],
    ['labeled empty', '/train', { labeled: [], ckpt_file: 'ckpt_1' }, ['labeled must hold at least 1 index, got an empty array']],
    ['huge number: 2^53', '/train', { labeled: [2 ** 53], ckpt_file: 'ckpt_1' }, [badIndex('labeled', 0, '9007199254740992')]],
    ['huge number: 1e300', '/infer', { unlabeled: [3, 1e300], ckpt_file: 'ckpt_1' }, [badIndex('unlabeled', 1, '1e+300')]],
    ['negative index', '/train', { labeled: [4, -1], ckpt_file: 'ckpt_1' }, [badIndex('labeled', 1, '-1')]],
    ['negative index', '/infer', { unlabeled: [-5], ckpt_file: 'ckpt_1' }, [badIndex('unlabeled', 0, '-5')]],
    ['fractional index', '/train', { labeled: [1, 2.5], ckpt_file: 'ckpt_1' }, [badIndex('labeled', 1, '2.5')]],
    ['fractional index', '/infer', { unlabeled: [0.5], ckpt_file: 'ckpt_1' }, [badIndex('unlabeled', 0, '0.5')]],
    ['a string index', '/infer', { unlabeled: [1, '2'], ckpt_file: 'ckpt_1' }, [badIndex('unlabeled', 1, '"2"')]],
    ['"NaN" as an index', '/train', { labeled: ['NaN'], ckpt_file: 'ckpt_1' }, [badIndex('labeled', 0, '"NaN"')]],
    [
      'duplicates',
      '/train',
      { labeled: [7, 3, 9, 3, 7], ckpt_file: 'ckpt_1' },
      ['labeled[3] repeats index 3 (first at labeled[1]): no index may appear twice'],
    ],
    [
      'duplicates',
      '/infer',
      { unlabeled: [0, 999, 999], ckpt_file: 'ckpt_1' },
      ['unlabeled[2] repeats index 999 (first at unlabeled[1]): no index may appear twice'],
    ],
    ['out-of-pool index', '/train', { labeled: [0, 999, POOL], ckpt_file: 'ckpt_1' }, [outOfPool('labeled', 2, POOL)]],
    ['out-of-pool index', '/infer', { unlabeled: [5, 123456], ckpt_file: 'ckpt_1' }, [outOfPool('unlabeled', 1, 123456)]],
    [
      'out-of-pool index 2^53-1',
      '/train',
      { labeled: [Number.MAX_SAFE_INTEGER], ckpt_file: 'ckpt_1' },
      [outOfPool('labeled', 0, Number.MAX_SAFE_INTEGER)],
    ],
    ['path traversal: ckpt_file "../x"', '/train', { labeled: [1], ckpt_file: '../x' }, [badName('ckpt_file', '"../x"')]],
    ['path traversal: ckpt_file "/etc/passwd"', '/test', { ckpt_file: '/etc/passwd' }, [badName('ckpt_file', '"/etc/passwd"')]],
    ['path traversal: ckpt_file ".."', '/infer', { unlabeled: [1], ckpt_file: '..' }, [badName('ckpt_file', '".."')]],
    ['path traversal: ckpt_file "a\\\\b"', '/test', { ckpt_file: 'a\\b' }, [badName('ckpt_file', '"a\\\\b"')]],
    [
      'path traversal: ckpt_file with NUL',
      '/infer',
      { unlabeled: [1], ckpt_file: 'ckpt\u0000.pt' },
      [badName('ckpt_file', '"ckpt\\u0000.pt"')],
    ],
    [
      'path traversal: resume_from "../../etc/shadow"',
      '/train',
      { labeled: [1], resume_from: '../../etc/shadow', ckpt_file: 'ckpt_1' },
      [badName('resume_from', '"../../etc/shadow"')],
    ],
  ];

  it.each(fieldCases)('%s on %s', (_, path, body, messages) =>
    expectRejectedAsync(guarded, () => asyncPost(guarded, path).send(body), 400, messages),
  );

  it('huge number: 1e400 (±Infinity once parsed) shows the value, not null', () =>
    expectRejectedAsync(guarded, () => asyncJson(guarded, '/train', '{"labeled":[7,1e400],"ckpt_file":"ckpt_1"}'), 400, [
      expect.stringMatching(/^labeled\[1\] must be an index \(an integer from 0 to 2\^53-1\), got (Infinity|1e400)$/),
    ]));

  const emptyBody: Record<string, string[]> = {
    '/train': ['labeled is required', 'ckpt_file is required'],
    '/test': ['ckpt_file is required'],
    '/infer': ['unlabeled is required', 'ckpt_file is required'],
  };
  const valid = JSON.stringify(VALID_FOR_ALL);
  const bodyCases: Array<[string, (path: string) => PromiseLike<Answer>, (path: string) => unknown[]]> = [
    ['truncated JSON', (path) => asyncJson(guarded, path, '{"labeled":[1,2'), () => [NOT_JSON_BODY]],
    [
      'a NaN literal',
      (path) => asyncJson(guarded, path, '{"labeled":[NaN],"unlabeled":[NaN],"ckpt_file":"ckpt_1"}'),
      () => [NOT_JSON_BODY],
    ],
    [
      'an Infinity literal',
      (path) => asyncJson(guarded, path, '{"labeled":[Infinity],"unlabeled":[-Infinity],"ckpt_file":"c"}'),
      () => [NOT_JSON_BODY],
    ],
    [
      'a JSON array, not an object',
      (path) => asyncJson(guarded, path, `[${valid}]`),
      () => ['body must be a JSON object, got an array'],
    ],
    [
      'deep nesting (100,000 arrays)',
      (path) => asyncJson(guarded, path, `{"labeled":${'['.repeat(100_000)}${']'.repeat(100_000)},"ckpt_file":"c"}`),
      () => [TOO_NESTED],
    ],
    [
      'wrong content type: text/plain',
      (path) => asyncPost(guarded, path).set('Content-Type', 'text/plain').send(valid),
      () => [wrongType('"text/plain"')],
    ],
    [
      'wrong content type: a form',
      (path) => asyncPost(guarded, path).type('form').send({ labeled: '1', ckpt_file: 'ckpt_1' }),
      () => [wrongType('"application/x-www-form-urlencoded"')],
    ],
    [
      'wrong content type: none',
      (path) => rawHttp(guarded, path, { Authorization: AUTH, ...PREFER_ASYNC }, [valid]),
      () => [wrongType('no Content-Type')],
    ],
    [
      'wrong charset: latin1',
      (path) => asyncPost(guarded, path).set('Content-Type', 'application/json; charset=latin1').send(valid),
      () => ['body must be JSON in UTF-8 (RFC 8259), got charset "latin1"'],
    ],
    [
      'empty body (Content-Length: 0)',
      (path) =>
        rawHttp(guarded, path, { Authorization: AUTH, ...PREFER_ASYNC, 'Content-Type': 'application/json', 'Content-Length': 0 }),
      (path) => emptyBody[path],
    ],
    [
      'no body at all',
      (path) =>
        rawSocket(
          guarded,
          head(path, [`Authorization: ${AUTH}`, 'Prefer: respond-async', 'Content-Type: application/json', 'Connection: close']),
        ),
      () => ['body is empty: send a JSON object with "Content-Type: application/json"'],
    ],
  ];
  const bodyTable = bodyCases.flatMap(([name, send, messages]) =>
    KIND_PATHS.map((path) => [name, path, send, messages] as const),
  );

  it.each(bodyTable)('%s on %s', (_, path, send, messages) =>
    expectRejectedAsync(guarded, () => send(path), 400, messages(path)),
  );

  const authTable = KIND_PATHS.flatMap((path) =>
    [
      ['no token', undefined],
      ['a wrong token', 'Bearer nope'],
      ['the token in another case', `Bearer ${TOKEN.toUpperCase()}`],
      ['the Basic scheme', `Basic ${TOKEN}`],
    ].map(([name, header]) => [name, path, header] as const),
  );

  it.each(authTable)('401 for %s on %s', (_, path, header) =>
    expectRejectedAsync(
      guarded,
      () => {
        const req = asyncPost(guarded, path, false);
        return (header === undefined ? req : req.set('Authorization', header)).send(VALID_FOR_ALL);
      },
      401,
      UNAUTHORIZED,
    ),
  );

  it.each(KIND_PATHS)(
    '401 on %s before the body is read: 60 MiB announced, none sent',
    (path) =>
      expectRejectedAsync(
        guarded,
        () =>
          rawSocket(
            guarded,
            head(path, ['Prefer: respond-async', 'Content-Type: application/json', `Content-Length: ${60 * 1024 * 1024}`]),
          ),
        401,
        UNAUTHORIZED,
      ),
    15_000,
  ); // a server that waited for the body would never answer: fail instead of hanging

  const bigBody = JSON.stringify({ ...VALID_FOR_ALL, pad: 'x'.repeat(2000) });
  const tooLarge = expect.stringContaining('1024 bytes');

  it.each(KIND_PATHS)('413 on %s with a Content-Length over the limit', (path) =>
    expectRejectedAsync(small, () => asyncPost(small, path).set('Content-Type', 'application/json').send(bigBody), 413, tooLarge),
  );

  it.each(KIND_PATHS)('413 on %s, chunked over the limit', (path) =>
    expectRejectedAsync(
      small,
      () =>
        rawHttp(small, path, { ...PREFER_ASYNC, 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' }, [
          bigBody.slice(0, 700),
          bigBody.slice(700, 1400),
          bigBody.slice(1400),
        ]),
      413,
      tooLarge,
    ),
  );

  it('409 while a training job runs: a second training job, and test or infer of its checkpoint; none creates a job', async () => {
    const { id, release } = await holdTrainingJob(guarded, 'ckpt_hold');
    try {
      await expectRejectedAsync(
        guarded,
        () => asyncPost(guarded, '/train').send({ labeled: [2], ckpt_file: 'ckpt_other' }),
        409,
        'a training run is in progress, writing checkpoint "ckpt_hold"; one training at a time: retry when it ends',
      );
      for (const kind of ['test', 'infer']) {
        await expectRejectedAsync(
          guarded,
          () => asyncPost(guarded, `/${kind}`).send({ unlabeled: [1], ckpt_file: 'ckpt_hold' }),
          409,
          `cannot ${kind} on checkpoint "ckpt_hold": a training run is still writing it; retry when it ends`,
        );
      }
    } finally {
      release();
    }
    expect(await waitForJob(guarded, id)).toMatchObject({ state: 'succeeded' });
  });
});

describe('job mode: the Prefer header', () => {
  const bodies: Record<string, object> = {
    '/train': { labeled: [1, 2, 3], ckpt_file: 'ckpt_1' },
    '/test': { ckpt_file: 'ckpt_1' },
    '/infer': { unlabeled: [1, 2], ckpt_file: 'ckpt_1' },
  };
  const send = (path: string, prefer: string | string[]): Promise<Answer> =>
    rawHttp(guarded, path, { Authorization: AUTH, 'Content-Type': 'application/json', Prefer: prefer }, [
      JSON.stringify(bodies[path]),
    ]);

  const honoured: Array<[string, string | string[], string]> = [
    ['alone', 'respond-async', '/test'],
    ['among other preferences', 'return=minimal, respond-async, handling=lenient', '/infer'],
    ['first of several', 'respond-async, wait=5', '/test'],
    ['in upper case', 'RESPOND-ASYNC', '/train'],
    ['in mixed case', 'Respond-Async', '/test'],
    ['with a parameter: "respond-async; wait=5"', 'respond-async; wait=5', '/infer'],
    ['with a parameter, no spaces', 'respond-async;wait=5', '/train'],
    ['in the second of two Prefer headers', ['return=minimal', 'respond-async'], '/test'],
  ];

  it.each(honoured)(
    'respond-async %s: 202 at once, and the job ends with the synchronous answer (%j on %s)',
    async (_, prefer, path) => {
      const res = await send(path, prefer);
      const id = expectAccepted(res);
      expect(await waitForJob(guarded, id)).toMatchObject({
        id,
        kind: path.slice(1),
        state: 'succeeded',
        result: RESULT_OF[path],
      });
      await expectServing();
    },
  );

  const ignored: Array<[string, string, string]> = [
    ['a longer token: respond-asyncx', 'respond-asyncx', '/train'],
    ['a prefixed token: x-respond-async', 'x-respond-async', '/infer'],
    ['an underscore: respond_async', 'respond_async', '/test'],
    ['respond-async as a parameter of another preference', 'wait=5; respond-async', '/infer'],
    ['respond-async as the value of another preference', 'handling=respond-async', '/test'],
    ['only other preferences', 'return=representation, wait=10', '/train'],
    ['an empty Prefer header', '', '/test'],
  ];

  it.each(ignored)('%s stays synchronous: 200 with the answer (%j on %s)', async (_, prefer, path) => {
    const res = await send(path, prefer);
    let body: unknown = res.text;
    try {
      body = parse(res);
    } catch {
      // shown as text
    }
    expect({ status: res.status, body }).toEqual({ status: 200, body: { status: 200, ...RESULT_OF[path] } });
    expect(res.headers['preference-applied']).toBeUndefined();
    expect(res.headers.location).toBeUndefined();
    await expectServing();
  });
});
