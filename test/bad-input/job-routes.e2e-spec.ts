import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';

import { startFixtureApp } from '../fixtures/fixture.app.js';
import {
  type Answer,
  asyncPost,
  AUTH,
  ERROR_NAMES,
  expectAccepted,
  expectRejected,
  expectServing,
  guarded,
  holdTrainingJob,
  jobRoute,
  jobsTotal,
  parse,
  POOL,
  readJob,
  type Running,
  TEST_RESULT,
  TOKEN,
  UNAUTHORIZED,
  useBadInputApps,
  waitForJob,
} from './bad-input.harness.js';

// The job routes (issue 4): ids, paging, the token, cancelling what has ended; read back as a client
// would, through GET /jobs.
// Shared set-up and helpers: ./bad-input.harness.ts.

useBadInputApps();

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
