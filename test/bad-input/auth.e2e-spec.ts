import { describe, expect, it } from '@jest/globals';
import request from 'supertest';

import {
  expectRejected,
  guarded,
  head,
  POOL,
  rawSocket,
  small,
  TOKEN,
  UNAUTHORIZED,
  useBadInputApps,
  validTrain,
} from './bad-input.harness.js';

// Authentication: the token on the three endpoints, checked before the body is read.
// Shared set-up and helpers: ./bad-input.harness.ts.

useBadInputApps();

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
