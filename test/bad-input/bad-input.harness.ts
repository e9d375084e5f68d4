import http, { type IncomingHttpHeaders } from 'node:http';
import net from 'node:net';

import { afterAll, afterEach, beforeAll, expect } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';

import { startFixtureApp } from '../fixtures/fixture.app.js';
import type { FixtureModel } from '../fixtures/fixture.model.js';

// What the bad-input specs (test/bad-input/*.e2e-spec.ts) share: an adversarial battery against
// PROTOCOL.md, every rule broken at least once, through real HTTP on 127.0.0.1. Each bad request
// is followed by a valid one, which must be answered 200. The job-mode and job-route specs do the
// same for job mode and the job routes of issue 4.

export const TOKEN = 'secret-token';
export const AUTH = `Bearer ${TOKEN}`;
export const POOL = 1000;

export const ERROR_NAMES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  500: 'Internal Server Error',
};
export const UNAUTHORIZED = 'a valid token is required: send the header "Authorization: Bearer <token>"';
const NAME_RULE = 'a plain file name (1 to 255 characters from A-Z a-z 0-9 . _ -, not starting with ".")';
const INDEX_RULE = 'must be an index (an integer from 0 to 2^53-1)';
export const badName = (field: string, shown: string): string => `${field} must be ${NAME_RULE}, got ${shown}`;
export const badIndex = (field: string, at: number, shown: string): string => `${field}[${at}] ${INDEX_RULE}, got ${shown}`;
export const outOfPool = (field: string, at: number, value: number): string =>
  `${field}[${at}] is ${value}, outside the training pool: indices must be below the pool size ${POOL}`;
export const brokeContract = (kind: string, reason: string): string =>
  `${kind} in FixtureModel#${kind} returned a result that breaks the protocol: ${reason}`;

export interface Running {
  app: INestApplication;
  model: FixtureModel;
  url: string;
  auth?: string;
}

/** What came back, whichever client sent the request. */
export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

export let guarded: Running;
/** No token, no pool size, a 1 KiB body limit. */
export let small: Running;

/** Starts `guarded` and `small` before the spec's tests, closes them after, resets their models after each test. */
export function useBadInputApps(): void {
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
}

// ---------------------------------------------------------------------------------------------
// Helpers

export function post(target: Running, path: string, withToken = true): request.Test {
  const req = request(target.url).post(path);
  return withToken && target.auth ? req.set('Authorization', target.auth) : req;
}

export const calls = (model: FixtureModel): number =>
  model.received.train.length + model.received.test.length + model.received.infer.length;

/** A normal request is answered normally: the server kept serving. */
export async function expectServing(target: Running = guarded): Promise<void> {
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
export async function expectRejected(
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
export const expect400 = (answer: Answer | PromiseLike<Answer>, ...messages: unknown[]) => expectRejected(answer, 400, messages);

/**
 * A request through node:http, for what supertest cannot send (no Content-Type, chunks,
 * encodings, a header twice, a path that WHATWG URL parsing would normalize such as /jobs/..).
 */
export function rawHttp(
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
export function rawSocket(target: Running, head: string, body?: string | Buffer): Promise<Answer> {
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

export const head = (path: string, headers: string[]): string =>
  [`POST ${path} HTTP/1.1`, 'Host: 127.0.0.1', ...headers, '', ''].join('\r\n');

export const validTrain = { labeled: [1, 2, 3], ckpt_file: 'ckpt_1' };

// =============================================================================================
// Job mode (issue 4). `Prefer: respond-async` changes when the answer comes, never which
// requests are refused: validation, the token, the body limit and the training slot all answer
// before any job exists. The job routes have bad inputs of their own: ids, paging, the token,
// cancelling what has ended. Everything is read back as a client would, through GET /jobs.

export const PREFER_ASYNC = { Prefer: 'respond-async' };
const FINISHED = ['succeeded', 'failed', 'cancelled'];
export const TEST_RESULT = { predictions: { '0': 1, '1': 0, '2': 2 }, labels: { '0': 1, '1': 1, '2': 2 } };
const INFER_RESULT = { outputs: { '1': [1, -1, 0.5], '2': [2, -2, 0.5] } };
/** A body every endpoint accepts (each ignores the others' fields), and what each answers. */
export const VALID_FOR_ALL = { labeled: [1, 2], unlabeled: [1, 2], ckpt_file: 'ckpt_1' };
export const RESULT_OF: Record<string, object> = { '/train': {}, '/test': TEST_RESULT, '/infer': INFER_RESULT };
export const KIND_PATHS = ['/train', '/test', '/infer'];

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

export const parse = (answer: Answer): any => JSON.parse(answer.text);

/** GET or DELETE on a job route, the path sent byte for byte (no URL normalization of `..`). */
export function jobRoute(
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
export async function jobsTotal(target: Running): Promise<number> {
  const res = await jobRoute(target, 'GET', '/jobs?limit=1');
  expect(res.status).toBe(200);
  return parse(res).total;
}

export async function readJob(target: Running, id: string): Promise<JobView> {
  const res = await jobRoute(target, 'GET', `/jobs/${encodeURIComponent(id)}`);
  expect({ status: res.status, id }).toEqual({ status: 200, id });
  return parse(res).job;
}

/** Polls GET /jobs/:id until the job is in one of `states`; bounded, and no duration is asserted. */
export async function waitForJob(target: Running, id: string, states = FINISHED): Promise<JobView> {
  for (let i = 0; i < 500; i++) {
    const job = await readJob(target, id);
    if (states.includes(job.state)) return job;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`job ${id} never reached ${states.join(' or ')}`);
}

/** The 202 of job mode, headers included; returns the job's id. */
export function expectAccepted(res: Answer): string {
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
export async function expectRejectedAsync(
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

export const asyncPost = (target: Running, path: string, withToken = true): request.Test =>
  post(target, path, withToken).set(PREFER_ASYNC);
export const asyncJson = (target: Running, path: string, text: string): request.Test =>
  asyncPost(target, path).set('Content-Type', 'application/json').send(text);

/** A job held running until `release()`; the model's record of it is cleared, so later calls count alone. */
export async function holdTrainingJob(target: Running, ckpt_file: string): Promise<{ id: string; release: () => void }> {
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
