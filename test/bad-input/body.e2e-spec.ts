import { gzipSync } from 'node:zlib';

import { describe, expect, it } from '@jest/globals';

import {
  AUTH,
  badIndex,
  calls,
  expect400,
  expectRejected,
  expectServing,
  guarded,
  head,
  post,
  rawHttp,
  rawSocket,
  type Running,
  small,
  useBadInputApps,
  validTrain,
} from './bad-input.harness.js';

// The body itself: extra and hostile fields, nesting, JSON, Content-Type, charset, encodings, the size limit.
// Shared set-up and helpers: ./bad-input.harness.ts.

useBadInputApps();

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
