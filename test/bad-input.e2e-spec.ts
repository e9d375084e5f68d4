import { mkdtempSync, rmSync } from 'node:fs';
import http, { type IncomingHttpHeaders } from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { BadRequestException, type INestApplication } from '@nestjs/common';
import request from 'supertest';

import { startFixtureApp } from './fixtures/fixture.app.js';
import type { FixtureModel } from './fixtures/fixture.model.js';

// An adversarial battery against PROTOCOL.md: every rule broken at least once, through real
// HTTP on 127.0.0.1. Each bad request is followed by a valid one, which must be answered 200.
// The end of the file does the same for job mode and the job routes of issue 4.

const TOKEN = 'secret-token';
const AUTH = `Bearer ${TOKEN}`;
const POOL = 1000;

const ERROR_NAMES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  500: 'Internal Server Error',
};
const UNAUTHORIZED = 'a valid token is required: send the header "Authorization: Bearer <token>"';
const NAME_RULE = 'a plain file name (1 to 255 characters from A-Z a-z 0-9 . _ -, not starting with ".")';
const INDEX_RULE = 'must be an index (an integer from 0 to 2^53-1)';
const badName = (field: string, shown: string): string => `${field} must be ${NAME_RULE}, got ${shown}`;
const badIndex = (field: string, at: number, shown: string): string => `${field}[${at}] ${INDEX_RULE}, got ${shown}`;
const outOfPool = (field: string, at: number, value: number): string =>
  `${field}[${at}] is ${value}, outside the training pool: indices must be below the pool size ${POOL}`;
const brokeContract = (kind: string, reason: string): string =>
  `${kind} in FixtureModel#${kind} returned a result that breaks the protocol: ${reason}`;

interface Running {
  app: INestApplication;
  model: FixtureModel;
  url: string;
  auth?: string;
}

/** What came back, whichever client sent the request. */
interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

let guarded: Running;
/** No token, no pool size, a 1 KiB body limit. */
let small: Running;

beforeAll(async () => {
  guarded = { ...(await startFixtureApp({ name: 'guarded', options: { token: TOKEN, poolSize: POOL } })), auth: AUTH };
  small = await startFixtureApp({ name: 'small', options: { bodyLimit: 1024 } });
});
afterAll(async () => {
  await guarded?.app.close();
  await small?.app.close();
});
afterEach(() => {
  guarded.model.reset();
  small.model.reset();
});

// ---------------------------------------------------------------------------------------------
// Helpers

function post(target: Running, path: string, withToken = true): request.Test {
  const req = request(target.url).post(path);
  return withToken && target.auth ? req.set('Authorization', target.auth) : req;
}

const calls = (model: FixtureModel): number =>
  model.received.train.length + model.received.test.length + model.received.infer.length;

/** A normal request is answered normally: the server kept serving. */
async function expectServing(target: Running = guarded): Promise<void> {
  target.model.reset();
  const res = await post(target, '/infer').send({ unlabeled: [1, 2], ckpt_file: 'ckpt_ok' });
  expect(res.status).toBe(200);
  expect(res.body).toEqual({ status: 200, outputs: { '1': [1, -1, 0.5], '2': [2, -2, 0.5] } });
  target.model.reset();
}

/**
 * The answer is the protocol's error `{status, error, message}` (HTTP status equal to `status`,
 * JSON), the method was not called unless the failure is the method's own (500), and the next
 * valid request is served.
 */
async function expectRejected(
  answer: Answer | PromiseLike<Answer>,
  status: number,
  message: unknown,
  target: Running = guarded,
): Promise<void> {
  const res = await answer;
  const methodCalls = calls(target.model);
  // The next request is served whatever this one got; then the answer itself is checked.
  await expectServing(target);
  let body: unknown;
  try {
    body = JSON.parse(res.text);
  } catch {
    body = res.text;
  }
  expect({ status: res.status, body }).toEqual({ status, body: { status, error: ERROR_NAMES[status], message } });
  expect(String(res.headers['content-type'])).toMatch(/^application\/json/);
  if (status === 400) expect(Array.isArray((body as { message: unknown }).message)).toBe(true);
  if (status < 500) expect(methodCalls).toBe(0);
}

/** One rule broken: a 400 with exactly that entry. */
const expect400 = (answer: Answer | PromiseLike<Answer>, ...messages: unknown[]) => expectRejected(answer, 400, messages);

/**
 * A request through node:http, for what supertest cannot send (no Content-Type, chunks,
 * encodings, a header twice, a path that WHATWG URL parsing would normalize such as /jobs/..).
 */
function rawHttp(
  target: Running,
  path: string,
  headers: Record<string, string | string[] | number>,
  chunks: Array<string | Buffer> = [],
  method = 'POST',
): Promise<Answer> {
  const { hostname, port } = new URL(target.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port, method, path, headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (chunk: Buffer) => parts.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(parts).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

/**
 * Bytes straight onto a socket; resolves with the first response as soon as it is complete,
 * whether or not the request's own body was ever sent.
 */
function rawSocket(target: Running, head: string, body?: string | Buffer): Promise<Answer> {
  const { hostname, port } = new URL(target.url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    let received = Buffer.alloc(0);
    let done = false;
    const finish = (answer?: Answer, error?: Error): void => {
      if (done) return;
      done = true;
      socket.destroy();
      if (answer) resolve(answer);
      else reject(error ?? new Error(`connection closed before a full response: ${received.toString()}`));
    };
    socket.on('connect', () => {
      socket.write(head);
      if (body !== undefined) socket.write(body);
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) return;
      const [statusLine, ...lines] = received.subarray(0, end).toString('latin1').split('\r\n');
      const headers: IncomingHttpHeaders = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const length = Number(headers['content-length'] ?? NaN);
      if (!Number.isFinite(length)) return finish(undefined, new Error(`no Content-Length in ${statusLine}`));
      if (received.length < end + 4 + length) return;
      const text = received.subarray(end + 4, end + 4 + length).toString();
      finish({ status: Number(statusLine.split(' ')[1]), headers, text });
    });
    socket.on('error', (error) => finish(undefined, error));
    socket.on('close', () => finish());
  });
}

const head = (path: string, headers: string[]): string =>
  [`POST ${path} HTTP/1.1`, 'Host: 127.0.0.1', ...headers, '', ''].join('\r\n');

const validTrain = { labeled: [1, 2, 3], ckpt_file: 'ckpt_1' };

// ---------------------------------------------------------------------------------------------

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

describe('extra and hostile fields', () => {
  it('extra fields are ignored and stripped before the method sees the payload', async () => {
    const train = await post(guarded, '/train').send({ ...validTrain, loop: 3, status: 'x', unlabeled: 'junk', resume: 1 });
    const test = await post(guarded, '/test').send({ ckpt_file: 'ckpt_1', labeled: 'not checked', split: 'test' });
    const infer = await post(guarded, '/infer').send({ unlabeled: [1], ckpt_file: 'ckpt_1', labeled: [-1], top_k: 5 });
    expect([train.status, test.status, infer.status]).toEqual([200, 200, 200]);
    expect(Reflect.ownKeys(guarded.model.received.train[0]).sort()).toEqual(['ckpt_file', 'labeled', 'resume_from']);
    expect(Reflect.ownKeys(guarded.model.received.test[0])).toEqual(['ckpt_file']);
    expect(Reflect.ownKeys(guarded.model.received.infer[0]).sort()).toEqual(['ckpt_file', 'unlabeled']);
    expect({ ...guarded.model.received.train[0] }).toEqual({ labeled: [1, 2, 3], resume_from: null, ckpt_file: 'ckpt_1' });
    await expectServing();
  });

  it('"__proto__" and "constructor" keys neither pollute prototypes nor reach the payload', async () => {
    const res = await post(guarded, '/train')
      .set('Content-Type', 'application/json')
      .send(
        '{"__proto__":{"polluted":true,"ckpt_file":"../evil"},"constructor":{"prototype":{"polluted":true}},' +
          '"hasOwnProperty":1,"labeled":[1],"ckpt_file":"ckpt_1"}',
      );
    expect(res.status).toBe(200);
    const received = guarded.model.received.train[0] as unknown as Record<string, unknown>;
    expect(received.ckpt_file).toBe('ckpt_1');
    expect(received.polluted).toBeUndefined();
    expect(Reflect.ownKeys(received).sort()).toEqual(['ckpt_file', 'labeled', 'resume_from']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).ckpt_file).toBeUndefined();
    await expectServing();
  });

  it('required fields hidden under "__proto__" do not count', () =>
    expect400(
      post(guarded, '/train').set('Content-Type', 'application/json').send('{"__proto__":{"labeled":[1],"ckpt_file":"ckpt_1"}}'),
      'labeled is required',
      'ckpt_file is required',
    ));

  const TOO_NESTED = 'body holds more than 10000 arrays and objects; a protocol body holds a few';

  it('deep nesting (100,000 arrays) as the value of labeled is a 400, not a crash', () => {
    const depth = 100_000;
    return expect400(
      post(guarded, '/train')
        .set('Content-Type', 'application/json')
        .send(`{"labeled":${'['.repeat(depth)}${']'.repeat(depth)},"ckpt_file":"ckpt_1"}`),
      TOO_NESTED,
    );
  });

  it('a flood of empty arrays (JSON.parse would build millions) is a 400 before parsing', () =>
    expect400(
      post(guarded, '/train')
        .set('Content-Type', 'application/json')
        .send(`{"x":[${Array(200_000).fill('[]').join(',')}],"labeled":[1],"ckpt_file":"c"}`),
      TOO_NESTED,
    ));

  it('brackets inside strings are not counted', async () => {
    const res = await post(guarded, '/train').send({ labeled: [1], ckpt_file: 'c', note: '[{'.repeat(20_000) });
    expect(res.status).toBe(200);
    await expectServing();
  });

  it('moderate nesting (1,000 arrays) as the value of labeled is a 400 showing the start of the value', () => {
    const depth = 1_000;
    return expect400(
      post(guarded, '/train')
        .set('Content-Type', 'application/json')
        .send(`{"labeled":${'['.repeat(depth)}${']'.repeat(depth)},"ckpt_file":"ckpt_1"}`),
      badIndex('labeled', 0, `${'['.repeat(57)}...`),
    );
  });

  it('deep nesting (100,000 arrays) as an element of unlabeled is a 400, not a crash', () => {
    const depth = 100_000;
    return expect400(
      post(guarded, '/infer')
        .set('Content-Type', 'application/json')
        .send(`{"unlabeled":[1,${'['.repeat(depth)}${']'.repeat(depth)}],"ckpt_file":"ckpt_1"}`),
      TOO_NESTED,
    );
  });

  it('deep nesting (100,000 objects) even in a field that would be ignored is a 400', () => {
    const depth = 100_000;
    return expect400(
      post(guarded, '/train')
        .set('Content-Type', 'application/json')
        .send(`{"labeled":[1],"ckpt_file":"ckpt_1","extra":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`),
      TOO_NESTED,
    );
  });

  it('nesting within the limit (5,000 objects) in an ignored field is ignored', async () => {
    const depth = 5_000;
    const res = await post(guarded, '/train')
      .set('Content-Type', 'application/json')
      .send(`{"labeled":[1],"ckpt_file":"ckpt_1","extra":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`);
    expect(res.status).toBe(200);
    expect(Object.keys(guarded.model.received.train[0]).sort()).toEqual(['ckpt_file', 'labeled', 'resume_from']);
    await expectServing();
  });
});

describe('the body itself', () => {
  const json = (target: Running, path: string, text: string) =>
    post(target, path).set('Content-Type', 'application/json').send(text);
  const notJson = expect.stringMatching(/^body is not valid JSON: /);

  it.each([
    ['truncated JSON', '{"labeled":[1,2'],
    ['a NaN literal', '{"labeled":[NaN],"ckpt_file":"ckpt_1"}'],
    ['an Infinity literal', '{"labeled":[Infinity],"ckpt_file":"ckpt_1"}'],
    ['trailing garbage', '{"labeled":[1],"ckpt_file":"ckpt_1"} {"x":1}'],
    ['single quotes', "{'labeled':[1],'ckpt_file':'ckpt_1'}"],
    ['a trailing comma', '{"labeled":[1],"ckpt_file":"ckpt_1",}'],
    ['not JSON at all', 'labeled=1&ckpt_file=ckpt_1'],
  ])('body is %s', (_, text) => expect400(json(guarded, '/train', text), notJson));

  it('empty body with Content-Length: 0', () =>
    expect400(
      rawHttp(guarded, '/train', { Authorization: AUTH, 'Content-Type': 'application/json', 'Content-Length': 0 }),
      'labeled is required',
      'ckpt_file is required',
    ));

  it('no body at all (no Content-Length, no Transfer-Encoding): the message must not say the Content-Type is wrong', async () => {
    const res = await rawSocket(
      guarded,
      head('/train', [`Authorization: ${AUTH}`, 'Content-Type: application/json', 'Connection: close']),
    );
    expect(res.status).toBe(400);
    const body = JSON.parse(res.text);
    expect(body).toEqual({ status: 400, error: 'Bad Request', message: [expect.any(String)] });
    // The request did say application/json: blaming the Content-Type sends the client the wrong way.
    expect(body.message[0]).not.toContain('got "application/json"');
    expect(body.message[0]).toMatch(/body/);
    expect(calls(guarded.model)).toBe(0);
    await expectServing();
  });

  it('body is a JSON array', () =>
    expect400(json(guarded, '/train', '[{"labeled":[1],"ckpt_file":"ckpt_1"}]'), 'body must be a JSON object, got an array'));

  it.each([
    ['a JSON string', '"ckpt_1"'],
    ['a JSON number', '42'],
    ['JSON null', 'null'],
  ])('body is %s: a 400 that says an object is needed, not that valid JSON is invalid', async (_, text) => {
    const res = await json(guarded, '/test', text);
    expect(res.status).toBe(400);
    expect(res.body.message).toHaveLength(1);
    expect(res.body.message[0]).toMatch(/^body /);
    // The body is valid JSON (RFC 8259); what is wrong is that it is not an object.
    expect(res.body.message[0]).not.toMatch(/not valid JSON/);
    expect(res.body.message[0]).toMatch(/object/);
    await expectServing();
  });

  it('Content-Type text/plain', () =>
    expect400(
      post(guarded, '/train').set('Content-Type', 'text/plain').send(JSON.stringify(validTrain)),
      'body must be JSON sent with "Content-Type: application/json", got "text/plain"',
    ));

  it('Content-Type application/x-www-form-urlencoded', () =>
    expect400(
      post(guarded, '/train').type('form').send({ labeled: '1', ckpt_file: 'ckpt_1' }),
      'body must be JSON sent with "Content-Type: application/json", got "application/x-www-form-urlencoded"',
    ));

  it('Content-Type multipart/form-data', () =>
    expect400(
      post(guarded, '/train').field('labeled', '1').field('ckpt_file', 'ckpt_1'),
      expect.stringMatching(
        /^body must be JSON sent with "Content-Type: application\/json", got "multipart\/form-data; boundary=/,
      ),
    ));

  it('no Content-Type, JSON body', () =>
    expect400(
      rawHttp(guarded, '/train', { Authorization: AUTH }, [JSON.stringify(validTrain)]),
      'body must be JSON sent with "Content-Type: application/json", got no Content-Type',
    ));

  it('application/json with charset=utf-8 (any case) is fine', async () => {
    for (const type of ['application/json; charset=utf-8', 'application/json; charset=UTF-8', 'Application/JSON']) {
      const res = await post(guarded, '/train').set('Content-Type', type).send(JSON.stringify(validTrain));
      expect([type, res.status]).toEqual([type, 200]);
    }
  });

  it.each(['latin1', 'iso-8859-1', 'utf-9', 'utf-16'])('a charset other than UTF-8 (%s)', (charset) =>
    expect400(
      post(guarded, '/train').set('Content-Type', `application/json; charset=${charset}`).send(JSON.stringify(validTrain)),
      `body must be JSON in UTF-8 (RFC 8259), got charset "${charset}"`,
    ),
  );

  it('unsupported Content-Encoding', () =>
    expect400(
      rawHttp(guarded, '/train', { Authorization: AUTH, 'Content-Type': 'application/json', 'Content-Encoding': 'compress' }, [
        'xyz',
      ]),
      'body could not be read: unsupported content encoding "compress"',
    ));

  it('Content-Encoding gzip with a broken stream', () =>
    expect400(
      rawHttp(guarded, '/train', { Authorization: AUTH, 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' }, [
        'not gzip at all',
      ]),
      expect.stringMatching(/^body could not be read: /),
    ));
});

describe('authentication', () => {
  it.each([
    ['no Authorization header', undefined],
    ['a wrong token of the same length', 'Bearer secret-tokeX'],
    ['a shorter token', 'Bearer secret'],
    ['a longer token', 'Bearer secret-token-and-more'],
    ['the token in another case', 'Bearer SECRET-TOKEN'],
    ['the Basic scheme', `Basic ${TOKEN}`],
    ['the Token scheme', `Token ${TOKEN}`],
    ['the token without a scheme', TOKEN],
    ['"Bearer" alone', 'Bearer'],
    ['"Bearer " and spaces', 'Bearer    '],
    ['the token followed by more', `Bearer ${TOKEN} ${TOKEN}`],
    ['an empty header', ''],
  ])('401 for %s', (_, header) => {
    let req = request(guarded.url).post('/train');
    if (header !== undefined) req = req.set('Authorization', header);
    return expectRejected(req.send(validTrain), 401, UNAUTHORIZED);
  });

  it.each(['/test', '/infer', '/TRAIN', '/train/', '/Infer/'])('401 on %s', (path) =>
    expectRejected(
      request(guarded.url)
        .post(path)
        .send({ unlabeled: [1], labeled: [1], ckpt_file: 'ckpt_1' }),
      401,
      UNAUTHORIZED,
    ),
  );

  it('401 for a token in the query string instead of the header', () =>
    expectRejected(request(guarded.url).post(`/train?token=${TOKEN}&access_token=${TOKEN}`).send(validTrain), 401, UNAUTHORIZED));

  it('401 whatever the body: invalid JSON, wrong Content-Type, broken rules', async () => {
    await expectRejected(
      request(guarded.url).post('/train').set('Content-Type', 'application/json').send('{"labeled":'),
      401,
      UNAUTHORIZED,
    );
    await expectRejected(request(guarded.url).post('/train').set('Content-Type', 'text/plain').send('hello'), 401, UNAUTHORIZED);
    await expectRejected(
      request(guarded.url)
        .post('/train')
        .send({ labeled: [-1], ckpt_file: '../x' }),
      401,
      UNAUTHORIZED,
    );
  });

  it.each([
    ['without a token', []],
    ['with a wrong token', ['Authorization: Bearer nope']],
  ])(
    '401 arrives before the body is read: 60 MiB announced, none sent (%s)',
    async (_, auth) => {
      const answer = rawSocket(
        guarded,
        head('/train', [...auth, 'Content-Type: application/json', `Content-Length: ${60 * 1024 * 1024}`]),
      );
      await expectRejected(answer, 401, UNAUTHORIZED);
    },
    15_000,
  ); // a server that waited for the body would never answer: fail instead of hanging

  it('401 arrives before the body is read, chunked and on another spelling of the path', async () => {
    const answer = rawSocket(
      guarded,
      head('/Train/', ['Content-Type: application/json', 'Transfer-Encoding: chunked']),
      '4\r\n{"la\r\n', // and then nothing more: the body never ends
    );
    await expectRejected(answer, 401, UNAUTHORIZED);
  }, 15_000);

  it('GET /health works without a token, and with a wrong one', async () => {
    const expected = { status: 200, handlers: { train: true, test: true, infer: true }, pool_size: POOL };
    const bare = await request(guarded.url).get('/health');
    expect(bare.status).toBe(200);
    expect(bare.body).toEqual(expected);
    const wrong = await request(guarded.url).get('/health').set('Authorization', 'Bearer nope');
    expect(wrong.status).toBe(200);
    expect(wrong.body).toEqual(expected);
    const open = await request(small.url).get('/health');
    expect(open.body).toEqual({ ...expected, pool_size: null });
  });

  it('without a configured token, no header is needed', async () => {
    const res = await request(small.url)
      .post('/train')
      .send({ labeled: [1], ckpt_file: 'ckpt_1' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 200 });
  });
});

describe('body limit (bodyLimit: 1024)', () => {
  const tooLarge = expect.stringContaining('1024 bytes');
  const bigBody = JSON.stringify({ labeled: [1], ckpt_file: 'ckpt_1', pad: 'x'.repeat(2000) });

  it('a body just under the limit passes', async () => {
    const body = JSON.stringify({ labeled: [1], ckpt_file: 'ckpt_1', pad: '' });
    const padded = JSON.stringify({ labeled: [1], ckpt_file: 'ckpt_1', pad: 'x'.repeat(1024 - body.length) });
    expect(Buffer.byteLength(padded)).toBe(1024);
    const res = await post(small, '/train').set('Content-Type', 'application/json').send(padded);
    expect(res.status).toBe(200);
  });

  it('413 with a Content-Length over the limit', () =>
    expectRejected(post(small, '/train').set('Content-Type', 'application/json').send(bigBody), 413, tooLarge, small));

  it('413 with chunked transfer-encoding over the limit', () =>
    expectRejected(
      rawHttp(small, '/train', { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' }, [
        bigBody.slice(0, 700),
        bigBody.slice(700, 1400),
        bigBody.slice(1400),
      ]),
      413,
      tooLarge,
      small,
    ));

  it('413 for a small gzip body that inflates over the limit', () => {
    const bomb = gzipSync(JSON.stringify({ labeled: [1], ckpt_file: 'ckpt_1', pad: ' '.repeat(100_000) }));
    expect(bomb.length).toBeLessThan(1024);
    return expectRejected(
      rawHttp(
        small,
        '/train',
        { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip', 'Content-Length': bomb.length },
        [bomb],
      ),
      413,
      tooLarge,
      small,
    );
  });

  it('the limit message names the limit and the option to raise it', async () => {
    const res = await post(small, '/infer').set('Content-Type', 'application/json').send(bigBody);
    expect(res.status).toBe(413);
    expect(res.body.message).toMatch(/limit of 1024 bytes/);
    expect(res.body.message).toMatch(/bodyLimit/);
    await expectServing(small);
  });
});

describe('results that break the contract', () => {
  const infer = (unlabeled: number[]) => post(guarded, '/infer').send({ unlabeled, ckpt_file: 'ckpt_1' });
  const test = () => post(guarded, '/test').send({ ckpt_file: 'ckpt_1' });
  const expect500 = (answer: Answer | PromiseLike<Answer>, message: unknown) => expectRejected(answer, 500, message);

  it('infer misses indices', () => {
    guarded.model.behaviour.infer = ({ unlabeled }: { unlabeled: number[] }) => ({
      outputs: Object.fromEntries(unlabeled.filter((i) => i % 2 === 0).map((i) => [i, [0.1]])),
    });
    return expect500(
      infer([2, 5, 4, 7, 9]),
      brokeContract('infer', 'infer returned no output for 3 of 5 requested indices, first 5'),
    );
  });

  it('infer misses indices (array shorter than unlabeled)', () => {
    guarded.model.behaviour.infer = () => ({ outputs: [[1]] });
    return expect500(
      infer([10, 11, 12]),
      brokeContract('infer', 'infer returned no output for 2 of 3 requested indices, first 11'),
    );
  });

  it('infer misses indices (Map keyed by other numbers)', () => {
    guarded.model.behaviour.infer = () => ({
      outputs: new Map([
        [10, [1]],
        [12, [2]],
      ]),
    });
    return expect500(infer([10, 11]), brokeContract('infer', 'infer returned no output for 1 of 2 requested indices, first 11'));
  });

  it('infer returns extra indices', () => {
    guarded.model.behaviour.infer = () => ({ outputs: { 1: [1], 2: [2], 999: [3] } });
    return expect500(
      infer([1, 2]),
      brokeContract('infer', 'infer returned outputs for indices that were not requested, first 999'),
    );
  });

  it('infer returns an array longer than unlabeled', () => {
    guarded.model.behaviour.infer = () => ({ outputs: [[1], [2], [3]] });
    return expect500(
      infer([1, 2]),
      brokeContract('infer', 'infer returned outputs for indices that were not requested, first position 2'),
    );
  });

  it('NaN inside infer outputs is a 500, never null on the wire', async () => {
    guarded.model.behaviour.infer = () => ({ outputs: { 1: [0.5, NaN], 2: [1, 2] } });
    const res = await infer([1, 2]);
    expect(res.text).not.toContain('null');
    await expect500(res, brokeContract('infer', 'infer output for index 1[1] is NaN, not a finite number'));
  });

  it('Infinity inside a Float32Array output', () => {
    guarded.model.behaviour.infer = () => ({ outputs: [new Float32Array([1, -Infinity])] });
    return expect500(infer([3]), brokeContract('infer', 'infer output for index 3[1] is -Infinity, not a finite number'));
  });

  it('NaN deep inside a detection output', () => {
    guarded.model.behaviour.infer = () => ({
      outputs: { 3: { boxes: [[0, 0, 1, 1]], pre_softmax: [[0.1, NaN]], scores: [0.9] } },
    });
    return expect500(
      infer([3]),
      brokeContract('infer', 'infer output for index 3.pre_softmax[0][1] is NaN, not a finite number'),
    );
  });

  it('Infinity in test predictions', () => {
    guarded.model.behaviour.test = () => ({ predictions: { 0: Infinity }, labels: { 0: 1 } });
    return expect500(test(), brokeContract('test', 'test prediction for index 0 is Infinity, not a finite number'));
  });

  it('infer returns undefined', () => {
    guarded.model.behaviour.infer = () => undefined;
    return expect500(infer([1]), brokeContract('infer', 'infer must return {outputs}, got undefined'));
  });

  it('infer returns {outputs: undefined}', () => {
    guarded.model.behaviour.infer = () => ({ outputs: undefined });
    return expect500(infer([1]), brokeContract('infer', 'infer must return {outputs}: outputs is missing'));
  });

  it('an undefined output value counts as missing', () => {
    guarded.model.behaviour.infer = () => ({ outputs: { 1: [1], 2: undefined } });
    return expect500(infer([1, 2]), brokeContract('infer', 'infer returned no output for 1 of 2 requested indices, first 2'));
  });

  it('undefined inside an output array', () => {
    guarded.model.behaviour.infer = () => ({ outputs: { 1: [1, undefined] } });
    return expect500(infer([1]), brokeContract('infer', 'infer output for index 1[1] is missing (undefined)'));
  });

  it('a bigint and a function inside outputs', async () => {
    guarded.model.behaviour.infer = () => ({ outputs: { 1: [1n] } });
    await expect500(infer([1]), brokeContract('infer', 'infer output for index 1[0] is the bigint 1, which JSON cannot carry'));
    guarded.model.behaviour.infer = () => ({ outputs: { 1: () => 1 } });
    await expect500(infer([1]), brokeContract('infer', 'infer output for index 1 is a function, which JSON cannot carry'));
  });

  it('a cyclic output', () => {
    const cyclic: Record<string, unknown> = { scores: [1] };
    cyclic.self = cyclic;
    guarded.model.behaviour.infer = () => ({ outputs: { 1: cyclic } });
    return expect500(
      infer([1]),
      expect.stringMatching(
        /^infer in FixtureModel#infer returned a result that breaks the protocol: infer output for index 1(\.self)+(\.scores)? is nested deeper than 64 levels \(a cycle\?\)$/,
      ),
    );
  });

  it('an output whose toJSON throws: 500 naming the method and the error, not an "internal error"', () => {
    guarded.model.behaviour.infer = () => ({
      outputs: {
        1: {
          toJSON() {
            throw new Error('tensor was disposed');
          },
        },
      },
    });
    return expect500(infer([1]), expect.stringMatching(/FixtureModel#infer.*tensor was disposed/));
  });

  it('a result whose getter throws: 500 naming the method and the error, not an "internal error"', () => {
    guarded.model.behaviour.infer = () => ({
      get outputs(): unknown {
        throw new Error('lazy tensor could not be read');
      },
    });
    return expect500(infer([1]), expect.stringMatching(/FixtureModel#infer.*lazy tensor could not be read/));
  });

  it('test predictions and labels on different indices', () => {
    guarded.model.behaviour.test = () => ({ predictions: { 0: 1, 1: 0, 3: 2 }, labels: { 0: 1, 1: 1, 2: 2 } });
    return expect500(
      test(),
      brokeContract(
        'test',
        'test returned predictions and labels for different indices: 1 prediction without a label, first index 3; 1 label without a prediction, first index 2',
      ),
    );
  });

  it('test labels cover more indices than predictions (array vs object)', () => {
    guarded.model.behaviour.test = () => ({ predictions: [1, 0], labels: { 0: 1, 1: 1, 2: 2 } });
    return expect500(
      test(),
      brokeContract(
        'test',
        'test returned predictions and labels for different indices: 1 label without a prediction, first index 2',
      ),
    );
  });

  it('test predictions keyed by something that is not an index', () => {
    guarded.model.behaviour.test = () => ({ predictions: { '-1': 0, 0: 1 }, labels: { '-1': 0, 0: 1 } });
    return expect500(test(), brokeContract('test', 'test predictions has the key "-1", which is not an index'));
  });

  it('test without labels', () => {
    guarded.model.behaviour.test = () => ({ predictions: { 0: 1 } });
    return expect500(test(), brokeContract('test', 'test must return {predictions, labels}: labels is missing'));
  });

  it.each([
    ['a number', 42, 'a number'],
    ['a string', 'done', 'a string'],
    ['null', null, 'null'],
    ['a boolean', true, 'a boolean'],
  ])('infer returns %s', (_, value, shown) => {
    guarded.model.behaviour.infer = () => value;
    return expect500(infer([1]), brokeContract('infer', `infer must return {outputs}, got ${shown}`));
  });

  it('test returns a non-object', () => {
    guarded.model.behaviour.test = () => 'accuracy: 0.9';
    return expect500(test(), brokeContract('test', 'test must return {predictions, labels}, got a string'));
  });

  it('infer returns outputs of the wrong kind', () => {
    guarded.model.behaviour.infer = () => ({ outputs: 'logits' });
    return expect500(infer([1]), brokeContract('infer', 'infer returned outputs as a string, not an object, Map or array'));
  });

  it('train returning anything is ignored', async () => {
    guarded.model.behaviour.train = () => ({ outputs: NaN, status: 500 });
    const res = await post(guarded, '/train').send(validTrain);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 200 });
  });

  describe('a method that throws', () => {
    const noStack = (text: string): void => {
      expect(text).not.toMatch(/\bat .+:\d+:\d+/);
      expect(text).not.toMatch(/stack/i);
      expect(text).not.toContain('fixture.model');
    };

    it('train throws an Error', async () => {
      guarded.model.behaviour.train = () => {
        throw new Error('checkpoint "ckpt_0" not found');
      };
      const res = await post(guarded, '/train').send({ labeled: [1], resume_from: 'ckpt_0', ckpt_file: 'ckpt_1' });
      noStack(res.text);
      await expectRejected(
        Promise.resolve({ status: res.status, headers: res.headers, text: res.text }),
        500,
        'train failed in FixtureModel#train: checkpoint "ckpt_0" not found',
      );
    });

    it('test rejects asynchronously', async () => {
      guarded.model.behaviour.test = async () => {
        await new Promise((resolve) => setImmediate(resolve));
        throw new TypeError('Cannot read properties of undefined (reading "shape")');
      };
      const res = await test();
      noStack(res.text);
      await expectRejected(
        Promise.resolve({ status: res.status, headers: res.headers, text: res.text }),
        500,
        'test failed in FixtureModel#test: Cannot read properties of undefined (reading "shape")',
      );
    });

    it('infer throws a string', () => {
      guarded.model.behaviour.infer = () => {
        throw 'out of memory';
      };
      return expect500(infer([1]), 'infer failed in FixtureModel#infer: out of memory');
    });

    it('infer throws an HttpException: still a 500 of the method, not its 400', () => {
      guarded.model.behaviour.infer = () => {
        throw new BadRequestException('bad tensor');
      };
      return expect500(infer([1]), 'infer failed in FixtureModel#infer: bad tensor');
    });

    it('infer throws an Error without a message', () => {
      guarded.model.behaviour.infer = () => {
        throw new RangeError();
      };
      return expect500(infer([1]), 'infer failed in FixtureModel#infer: RangeError');
    });
  });
});

// =============================================================================================
// Job mode (issue 4). `Prefer: respond-async` changes when the answer comes, never which
// requests are refused: validation, the token, the body limit and the training slot all answer
// before any job exists. The job routes have bad inputs of their own: ids, paging, the token,
// cancelling what has ended. Everything is read back as a client would, through GET /jobs.

const PREFER_ASYNC = { Prefer: 'respond-async' };
const FINISHED = ['succeeded', 'failed', 'cancelled'];
const TEST_RESULT = { predictions: { '0': 1, '1': 0, '2': 2 }, labels: { '0': 1, '1': 1, '2': 2 } };
const INFER_RESULT = { outputs: { '1': [1, -1, 0.5], '2': [2, -2, 0.5] } };
/** A body every endpoint accepts (each ignores the others' fields), and what each answers. */
const VALID_FOR_ALL = { labeled: [1, 2], unlabeled: [1, 2], ckpt_file: 'ckpt_1' };
const RESULT_OF: Record<string, object> = { '/train': {}, '/test': TEST_RESULT, '/infer': INFER_RESULT };
const KIND_PATHS = ['/train', '/test', '/infer'];

interface JobView {
  id: string;
  kind: string;
  state: string;
  progress: number;
  message: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  result?: unknown;
  error?: string;
}

const parse = (answer: Answer): any => JSON.parse(answer.text);

/** GET or DELETE on a job route, the path sent byte for byte (no URL normalization of `..`). */
function jobRoute(
  target: Running,
  method: 'GET' | 'DELETE',
  path: string,
  withToken = true,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const auth: Record<string, string> = withToken && target.auth ? { Authorization: target.auth } : {};
  return rawHttp(target, path, { ...auth, ...headers }, [], method);
}

/** How many jobs GET /jobs reports. */
async function jobsTotal(target: Running): Promise<number> {
  const res = await jobRoute(target, 'GET', '/jobs?limit=1');
  expect(res.status).toBe(200);
  return parse(res).total;
}

async function readJob(target: Running, id: string): Promise<JobView> {
  const res = await jobRoute(target, 'GET', `/jobs/${encodeURIComponent(id)}`);
  expect({ status: res.status, id }).toEqual({ status: 200, id });
  return parse(res).job;
}

/** Polls GET /jobs/:id until the job is in one of `states`; bounded, and no duration is asserted. */
async function waitForJob(target: Running, id: string, states = FINISHED): Promise<JobView> {
  for (let i = 0; i < 500; i++) {
    const job = await readJob(target, id);
    if (states.includes(job.state)) return job;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`job ${id} never reached ${states.join(' or ')}`);
}

/** The 202 of job mode, headers included; returns the job's id. */
function expectAccepted(res: Answer): string {
  let body: unknown = res.text;
  try {
    body = parse(res);
  } catch {
    // shown as text by the assertion below
  }
  const id = (body as { job_id?: unknown } | null)?.job_id;
  expect({ status: res.status, body }).toEqual({
    status: 202,
    body: { status: 202, job_id: expect.any(String), status_url: `/jobs/${id}` },
  });
  expect(res.headers.location).toBe(`/jobs/${id}`);
  expect(res.headers['preference-applied']).toBe('respond-async');
  return id as string;
}

/** Job mode keeps working: a valid job is accepted at once and ends succeeded with the right result. */
async function expectJobsServing(target: Running = guarded): Promise<void> {
  target.model.reset();
  const before = await jobsTotal(target);
  const id = expectAccepted(
    await post(target, '/infer')
      .set(PREFER_ASYNC)
      .send({ unlabeled: [1, 2], ckpt_file: 'ckpt_ok' }),
  );
  // The count that the refusals leave unchanged does move for an accepted job.
  expect(await jobsTotal(target)).toBe(before + 1);
  expect(await waitForJob(target, id)).toMatchObject({
    id,
    kind: 'infer',
    state: 'succeeded',
    progress: 1,
    result: INFER_RESULT,
  });
  target.model.reset();
}

/**
 * A request sent in job mode is refused at once, exactly as the synchronous one would be
 * (expectRejected: status, body, the method not called, a normal request served next); no job
 * was created and nothing in the answer claims one was; and job mode still serves.
 */
async function expectRejectedAsync(
  target: Running,
  send: () => PromiseLike<Answer>,
  status: number,
  message: unknown,
): Promise<void> {
  const before = await jobsTotal(target);
  const res = await send();
  const after = await jobsTotal(target);
  await expectRejected(res, status, message, target);
  expect({ jobsCreated: after - before, location: res.headers.location, applied: res.headers['preference-applied'] }).toEqual({
    jobsCreated: 0,
    location: undefined,
    applied: undefined,
  });
  await expectJobsServing(target);
}

const asyncPost = (target: Running, path: string, withToken = true): request.Test =>
  post(target, path, withToken).set(PREFER_ASYNC);
const asyncJson = (target: Running, path: string, text: string): request.Test =>
  asyncPost(target, path).set('Content-Type', 'application/json').send(text);

/** A job held running until `release()`; the model's record of it is cleared, so later calls count alone. */
async function holdTrainingJob(target: Running, ckpt_file: string): Promise<{ id: string; release: () => void }> {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  target.model.behaviour.train = () => held;
  const id = expectAccepted(await asyncPost(target, '/train').send({ labeled: [1], ckpt_file }));
  try {
    await waitForJob(target, id, ['running']);
  } catch (error) {
    release();
    throw error;
  }
  target.model.reset();
  return { id, release };
}

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

describe('job routes: ids, paging, the token, cancelling what has ended', () => {
  let dir: string;
  /** Like guarded, with jobs in SQLite: odd ids and paging reach real SQL. */
  let stored: Running;
  /** A finished (succeeded) job on each app, read back after every bad request. */
  const known = new Map<Running, string>();
  const stores: Array<[string, () => Running]> = [
    ['memory store', () => guarded],
    ['SQLite store', () => stored],
  ];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'alectio-bad-input-'));
    stored = {
      ...(await startFixtureApp({
        name: 'stored',
        options: { token: TOKEN, poolSize: POOL, jobsDatabase: join(dir, 'jobs.sqlite') },
      })),
      auth: AUTH,
    };
    for (const target of [guarded, stored]) {
      const id = expectAccepted(await asyncPost(target, '/test').send({ ckpt_file: 'ckpt_known' }));
      await waitForJob(target, id);
      known.set(target, id);
      target.model.reset();
    }
  });
  afterAll(async () => {
    await stored?.app.close();
    rmSync(dir, { recursive: true, force: true });
  });
  afterEach(() => stored.model.reset());

  /** After a bad request to a job route: a normal call is served, the known job reads back intact, the list answers. */
  async function expectRouteRejected(target: Running, answer: Answer, status: number, message: unknown): Promise<void> {
    await expectRejected(answer, status, message, target);
    const id = known.get(target)!;
    expect(await readJob(target, id)).toMatchObject({ id, kind: 'test', state: 'succeeded', result: TEST_RESULT });
    expect((await jobRoute(target, 'GET', '/jobs')).status).toBe(200);
  }

  describe('unknown and odd ids: 404 naming the id', () => {
    // [what, the segment as sent, the id it decodes to]
    const ids: Array<[string, string, string]> = [
      ['a plain unknown id', 'no-such-job', 'no-such-job'],
      ['a well-formed UUID nobody issued', '00000000-0000-4000-8000-000000000000', '00000000-0000-4000-8000-000000000000'],
      ['unicode', encodeURIComponent('ジョブ✓'), 'ジョブ✓'],
      ['an emoji outside the BMP', encodeURIComponent('🚀'), '🚀'],
      ['percent-encoded slashes', '..%2F..%2Fetc%2Fpasswd', '../../etc/passwd'],
      ['one encoded slash', 'a%2Fb', 'a/b'],
      ['".."', '..', '..'],
      ['"."', '.', '.'],
      ['".." percent-encoded', '%2E%2E', '..'],
      ['SQL-ish: quote OR', "1'%20OR%20'1'%3D'1", "1' OR '1'='1"],
      ['SQL-ish: DROP TABLE', "x'%3B%20DROP%20TABLE%20alectio_jobs%3B%20--", "x'; DROP TABLE alectio_jobs; --"],
      ['SQL-ish: a LIKE wildcard', '%25', '%'],
      ['SQL-ish: an underscore wildcard', '_', '_'],
    ];
    const table = stores.flatMap(([store, target]) => ids.map(([what, sent, id]) => [what, store, target, sent, id] as const));

    it.each(table)('%s (%s): GET and DELETE are 404 naming it, nothing changes', async (_, __, target, sent, id) => {
      const app = target();
      const total = await jobsTotal(app);
      const message = `no job with id "${id}"`;
      await expectRouteRejected(app, await jobRoute(app, 'GET', `/jobs/${sent}`), 404, message);
      await expectRouteRejected(app, await jobRoute(app, 'DELETE', `/jobs/${sent}`), 404, message);
      expect(await jobsTotal(app)).toBe(total);
    });

    it.each(stores)('a known id with a quote appended is not that job (%s)', async (_, target) => {
      const app = target();
      const id = `${known.get(app)}'`;
      await expectRouteRejected(
        app,
        await jobRoute(app, 'GET', `/jobs/${encodeURIComponent(id)}`),
        404,
        `no job with id "${id}"`,
      );
      await expectRouteRejected(
        app,
        await jobRoute(app, 'DELETE', `/jobs/${encodeURIComponent(id)}`),
        404,
        `no job with id "${id}"`,
      );
    });

    it.each(stores)('a very long id (8,000 characters) is a 404 whose message names it (%s)', async (_, target) => {
      const app = target();
      const id = 'j'.repeat(8000);
      const naming = expect.stringMatching(new RegExp(`^no job with id "${'j'.repeat(50)}`));
      await expectRouteRejected(app, await jobRoute(app, 'GET', `/jobs/${id}`), 404, naming);
      await expectRouteRejected(app, await jobRoute(app, 'DELETE', `/jobs/${id}`), 404, naming);
    });

    it('the SQL-ish ids left the SQLite store intact: the known job and the list still read back', async () => {
      expect(await jobsTotal(stored)).toBeGreaterThanOrEqual(1);
      expect(await readJob(stored, known.get(stored)!)).toMatchObject({ state: 'succeeded', result: TEST_RESULT });
    });

    it('an id with quotes, a backslash or control characters is shown unambiguously, as the 400s show values (JSON-quoted)', async () => {
      const odd = ['a"b', 'a\\b', 'a\nb', '\u0000', '\u001b[31mred'];
      const messages: string[] = [];
      for (const id of odd) {
        const res = await jobRoute(guarded, 'GET', `/jobs/${encodeURIComponent(id)}`);
        expect(res.status).toBe(404);
        messages.push(parse(res).message);
      }
      // A raw `"` ends the quoted id early and a raw newline splits the server's log line
      // (the message is logged): the reader cannot tell where the id ends.
      expect(messages).toEqual(odd.map((id) => `no job with id ${JSON.stringify(id)}`));
      await expectServing();
    });

    it.each(['GET', 'DELETE'] as const)(
      '%s with a malformed percent-encoding (%%ZZ, %%E0%%A4%%A, a lone %%): the protocol’s error shape',
      async (method) => {
        const raws = ['%ZZ', '%E0%A4%A', '%'];
        const answers: unknown[] = [];
        for (const raw of raws) {
          const res = await jobRoute(guarded, method, `/jobs/${raw}`);
          let body: unknown = res.text;
          try {
            body = parse(res);
          } catch {
            // shown as text
          }
          answers.push({ raw, status: res.status, body });
          await expectServing();
        }
        // 404 (no such id) or 400 (not a valid id) are both fine; the body must be the protocol's,
        // and name what was sent.
        expect(answers).toEqual(
          raws.map((raw) => {
            const seen = answers.find((answer) => (answer as { raw: string }).raw === raw) as { status: number };
            const status = seen.status === 400 ? 400 : 404;
            const message = expect.stringContaining(raw);
            return { raw, status, body: { status, error: ERROR_NAMES[status], message: status === 400 ? [message] : message } };
          }),
        );
      },
    );

    it('GET /jobs/ (empty id) is the list; DELETE /jobs/ and DELETE /jobs are refused and change nothing', async () => {
      const list = await jobRoute(guarded, 'GET', '/jobs');
      const slash = await jobRoute(guarded, 'GET', '/jobs/');
      expect({ status: slash.status, body: parse(slash) }).toEqual({ status: 200, body: parse(list) });
      const total = await jobsTotal(guarded);
      for (const path of ['/jobs/', '/jobs']) {
        const res = await jobRoute(guarded, 'DELETE', path);
        expect({ path, refused: [404, 405].includes(res.status) }).toEqual({ path, refused: true });
        expect(String(res.headers['content-type'])).toMatch(/^application\/json/);
      }
      expect(await jobsTotal(guarded)).toBe(total);
      expect(await readJob(guarded, known.get(guarded)!)).toMatchObject({ state: 'succeeded' });
      await expectServing();
    });
  });

  describe('GET /jobs paging: 400 naming the parameter', () => {
    const limitRule = (shown: unknown): string => `limit must be an integer from 1 to 100, got ${JSON.stringify(shown)}`;
    const offsetRule = (shown: unknown): string =>
      `offset must be an integer from 0 to 9007199254740991, got ${JSON.stringify(shown)}`;
    // [query string as sent, the message]
    const bad: Array<[string, string]> = [
      ['limit=0', limitRule('0')],
      ['limit=-1', limitRule('-1')],
      ['limit=1.5', limitRule('1.5')],
      ['limit=101', limitRule('101')],
      ['limit=1e3', limitRule('1e3')],
      ['limit=1e1', limitRule('1e1')],
      ['limit=abc', limitRule('abc')],
      ['limit=', limitRule('')],
      ['limit=0x10', limitRule('0x10')],
      ['limit=%201', limitRule(' 1')],
      ['limit=Infinity', limitRule('Infinity')],
      ['limit=NaN', limitRule('NaN')],
      ['limit=1&limit=2', limitRule(['1', '2'])],
      ['limit=99999999999999999999', limitRule('99999999999999999999')],
      ['limit=9007199254740993', limitRule('9007199254740993')],
      ['offset=-1', offsetRule('-1')],
      ['offset=1.5', offsetRule('1.5')],
      ['offset=1e3', offsetRule('1e3')],
      ['offset=abc', offsetRule('abc')],
      ['offset=', offsetRule('')],
      ['offset=0&offset=1', offsetRule(['0', '1'])],
      ['offset=9007199254740992', offsetRule('9007199254740992')],
      ['offset=99999999999999999999', offsetRule('99999999999999999999')],
      ['limit=5&offset=-1', offsetRule('-1')],
    ];
    const table = stores.flatMap(([store, target]) => bad.map(([query, message]) => [query, store, target, message] as const));

    it.each(table)('?%s (%s)', async (query, _, target, message) => {
      const app = target();
      await expectRouteRejected(app, await jobRoute(app, 'GET', `/jobs?${query}`), 400, [message]);
    });

    it.each(stores)('both parameters wrong: one entry per broken rule (%s)', async (_, target) => {
      const app = target();
      const res = await jobRoute(app, 'GET', '/jobs?limit=0&offset=-1');
      await expectRouteRejected(app, res, 400, expect.arrayContaining([limitRule('0'), offsetRule('-1')]));
      expect(parse(res).message).toHaveLength(2);
    });

    it.each(stores)('the edges pass: limit 1 and 100, offset 0 and 2^53-1 (%s)', async (_, target) => {
      const app = target();
      const total = await jobsTotal(app);
      for (const [query, limit, offset] of [
        ['limit=1', 1, 0],
        ['limit=100&offset=0', 100, 0],
        ['offset=9007199254740991', 20, Number.MAX_SAFE_INTEGER],
      ] as const) {
        const res = await jobRoute(app, 'GET', `/jobs?${query}`);
        const body = parse(res);
        expect({ query, status: res.status, limit: body.limit, offset: body.offset, total: body.total }).toEqual({
          query,
          status: 200,
          limit,
          offset,
          total,
        });
        expect(body.jobs.length).toBe(Math.min(limit, Math.max(0, total - offset)));
      }
    });
  });

  describe('the token on every job route', () => {
    const routes = (app: Running): Array<['GET' | 'DELETE', string]> => [
      ['GET', '/jobs'],
      ['GET', '/jobs/'],
      ['GET', '/JOBS'],
      ['GET', '/jobs?limit=abc'],
      ['GET', `/jobs/${known.get(app)}`],
      ['GET', '/jobs/no-such-job'],
      ['DELETE', `/jobs/${known.get(app)}`],
      ['DELETE', '/jobs/no-such-job'],
    ];
    const credentials: Array<[string, string | undefined]> = [
      ['no Authorization header', undefined],
      ['a wrong token', 'Bearer nope'],
      ['the Basic scheme', `Basic ${TOKEN}`],
      ['the token without a scheme', TOKEN],
    ];
    const table = stores.flatMap(([store, target]) =>
      credentials.map(([what, header]) => [what, store, target, header] as const),
    );

    it.each(table)('401 for %s (%s), the same answer whether the job exists or not', async (_, __, target, header) => {
      const app = target();
      const texts = new Set<string>();
      for (const [method, path] of routes(app)) {
        const res = await jobRoute(app, method, path, false, header === undefined ? {} : { Authorization: header });
        texts.add(res.text);
        await expectRejected({ ...res, text: res.text }, 401, UNAUTHORIZED, app).catch((error: Error) => {
          throw new Error(`${method} ${path}: ${error.message}`);
        });
      }
      expect(texts.size).toBe(1);
      expect(await readJob(app, known.get(app)!)).toMatchObject({ state: 'succeeded' });
    });

    it.each(['GET', 'DELETE'] as const)(
      '%s /jobs/%%ZZ (an id that does not decode) without the token: 401, checked before the id',
      async (method) => {
        await expectRouteRejected(guarded, await jobRoute(guarded, method, '/jobs/%ZZ', false), 401, UNAUTHORIZED);
      },
    );

    it('DELETE without the token does not cancel a running job', async () => {
      const { id, release } = await holdTrainingJob(guarded, 'ckpt_guarded');
      try {
        await expectRejected(await jobRoute(guarded, 'DELETE', `/jobs/${id}`, false), 401, UNAUTHORIZED);
        await expectRejected(
          await jobRoute(guarded, 'DELETE', `/jobs/${id}`, false, { Authorization: 'Bearer nope' }),
          401,
          UNAUTHORIZED,
        );
        expect(await readJob(guarded, id)).toMatchObject({ state: 'running', message: null });
      } finally {
        release();
      }
      expect(await waitForJob(guarded, id)).toMatchObject({ state: 'succeeded' });
    });
  });

  describe('DELETE of a job that has ended: 409 naming its state', () => {
    async function endedJob(state: string): Promise<string> {
      const model = guarded.model;
      if (state === 'succeeded') {
        const id = expectAccepted(await asyncPost(guarded, '/test').send({ ckpt_file: 'ckpt_1' }));
        await waitForJob(guarded, id);
        return id;
      }
      if (state === 'failed') {
        model.behaviour.infer = () => {
          throw new Error('GPU out of memory');
        };
        const id = expectAccepted(await asyncPost(guarded, '/infer').send({ unlabeled: [1], ckpt_file: 'ckpt_1' }));
        await waitForJob(guarded, id);
        return id;
      }
      const { id, release } = await holdTrainingJob(guarded, 'ckpt_cancel');
      const cancelling = await jobRoute(guarded, 'DELETE', `/jobs/${id}`);
      release();
      expect(cancelling.status).toBe(202);
      await waitForJob(guarded, id);
      return id;
    }

    it.each(['succeeded', 'failed', 'cancelled'])('a job that %s: 409, and the job is unchanged', async (state) => {
      const id = await endedJob(state);
      guarded.model.reset();
      const before = await readJob(guarded, id);
      expect(before.state).toBe(state);
      const res = await jobRoute(guarded, 'DELETE', `/jobs/${id}`);
      await expectRejected(res, 409, expect.stringMatching(new RegExp(`"${id}".*\\b${state}\\b`)));
      expect(await readJob(guarded, id)).toEqual(before);
      // Asking again gets the same answer: nothing was changed by the first refusal.
      expect((await jobRoute(guarded, 'DELETE', `/jobs/${id}`)).text).toBe(res.text);
    });

    it('a job that succeeded, in the SQLite store: 409, and the job is unchanged', async () => {
      const id = known.get(stored)!;
      const before = await readJob(stored, id);
      await expectRouteRejected(
        stored,
        await jobRoute(stored, 'DELETE', `/jobs/${id}`),
        409,
        expect.stringMatching(new RegExp(`"${id}".*\\bsucceeded\\b`)),
      );
      expect(await readJob(stored, id)).toEqual(before);
    });
  });
});
