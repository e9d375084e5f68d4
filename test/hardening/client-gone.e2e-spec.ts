import { request as httpRequest } from 'node:http';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { INestApplication, Logger, LoggerService } from '@nestjs/common';

import { startFixtureApp } from '../fixtures/fixture.app.js';
import type { FixtureModel } from '../fixtures/fixture.model.js';

const lines: string[] = [];
const recorder: LoggerService = {
  log: (message: string) => void lines.push(String(message)),
  warn: (message: string) => void lines.push(String(message)),
  error: (message: string) => void lines.push(String(message)),
};

/** POSTs `body` and drops the connection after `ms`, before any answer. */
function postAndLeave(url: string, path: string, body: object, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const req = httpRequest(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' } });
    req.on('error', () => resolve());
    req.on('close', () => resolve());
    req.end(JSON.stringify(body));
    setTimeout(() => req.destroy(), ms);
  });
}

describe('a synchronous call whose client went away', () => {
  let app: INestApplication;
  let model: FixtureModel;
  let url: string;
  beforeAll(async () => {
    ({ app, model, url } = await startFixtureApp({ name: 'client gone' }));
    Logger.overrideLogger(recorder);
  });
  afterAll(() => app.close());

  it('aborts the method, frees the training slot when it returns, and is logged abandoned, not 200', async () => {
    let abortedWith: unknown;
    let returned!: () => void;
    const methodReturned = new Promise<void>((resolve) => (returned = resolve));
    model.behaviour.train = (_payload, { signal }) =>
      new Promise<void>((resolve) => {
        signal.addEventListener('abort', () => {
          abortedWith = signal.reason;
          resolve();
          setImmediate(returned);
        });
      });
    await postAndLeave(url, '/train', { labeled: [1, 2], ckpt_file: 'ckpt_gone' }, 200);
    await methodReturned;
    expect((abortedWith as Error).message).toBe('the client closed the connection before the answer');
    delete model.behaviour.train;
    // The platform's retry is served, not answered 409 for the whole abandoned run.
    const retry = await fetch(`${url}/train`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ labeled: [1, 2], ckpt_file: 'ckpt_retry' }),
    });
    expect(retry.status).toBe(200);
    expect(
      lines.some((line) => /POST \/train labeled=2 ckpt_file=ckpt_gone -> abandoned in .* ms: the client closed/.test(line)),
    ).toBe(true);
    expect(lines.some((line) => /ckpt_file=ckpt_gone -> 200/.test(line))).toBe(false);
  });

  it('a job is not stopped when its client leaves after the 202', async () => {
    const hold = model.holdTraining();
    const res = await fetch(`${url}/train`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', prefer: 'respond-async' },
      body: JSON.stringify({ labeled: [3], ckpt_file: 'ckpt_job' }),
    });
    expect(res.status).toBe(202);
    const { job_id } = (await res.json()) as { job_id: string };
    await hold.started;
    hold.finish();
    for (let i = 0; i < 50; i++) {
      const job = (await (await fetch(`${url}/jobs/${job_id}`)).json()) as { job: { state: string } };
      if (job.job.state !== 'running' && job.job.state !== 'queued') {
        expect(job.job.state).toBe('succeeded');
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error('the job did not end');
  });
});
