import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';

import { AppProcess, buildSample, freePort } from './fixtures/app.process.js';

// The sample as a real process: killed, stopped and started again on the same job store.

const ALL = Array.from({ length: 7000 }, (_, i) => i);

async function call(url: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as any };
}

async function waitFor(url: string, path: string, until: (job: any) => boolean): Promise<any> {
  for (let i = 0; i < 300; i++) {
    const { body } = await call(url, 'GET', path);
    if (until(body.job)) return body.job;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${path} never reached the expected state`);
}

describe('jobs across a real process’s death and shutdown', () => {
  let dir: string;
  const processes: AppProcess[] = [];
  const start = async (env: Record<string, string>) => {
    const sample = new AppProcess('sample', 'alone', env, await freePort());
    processes.push(sample);
    return sample.ready();
  };

  beforeAll(() => {
    buildSample();
    dir = mkdtempSync(join(tmpdir(), 'alectio-process-'));
  }, 120_000);
  afterEach(() => {
    for (const sample of processes.splice(0)) sample.child.kill('SIGKILL');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('marks a job that was running when the process was SIGKILLed as failed, and keeps the finished ones', async () => {
    const env = { ALECTIO_CKPT_DIR: join(dir, 'killed') };
    const first = await start(env);
    await call(first.url, 'POST', '/train', { labeled: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], ckpt_file: 'ckpt_0' });
    const done = await call(first.url, 'POST', '/test', { ckpt_file: 'ckpt_0' }, { prefer: 'respond-async' });
    expect(done.status).toBe(202);
    const finished = await waitFor(first.url, done.body.status_url, (job) => job.state === 'succeeded');

    const long = await call(
      first.url,
      'POST',
      '/train',
      { labeled: ALL, resume_from: 'ckpt_0', ckpt_file: 'ckpt_1' },
      { prefer: 'respond-async' },
    );
    expect(long.status).toBe(202);
    await waitFor(first.url, long.body.status_url, (job) => job.state === 'running' && job.progress > 0);
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');

    const second = await start(env);
    const interrupted = (await call(second.url, 'GET', long.body.status_url)).body.job;
    expect(interrupted).toMatchObject({ state: 'failed', error: 'interrupted by restart', finished_at: expect.any(String) });
    const kept = (await call(second.url, 'GET', done.body.status_url)).body.job;
    expect(kept).toEqual(finished);
    expect(Object.keys(kept.result.predictions)).toHaveLength(1500);
    // The slot is free again: a new training runs.
    expect((await call(second.url, 'POST', '/train', { labeled: [0, 1, 2], ckpt_file: 'ckpt_2' })).status).toBe(200);
  });

  it('on SIGTERM, aborts the running training, records it cancelled, and exits within the grace period', async () => {
    const env = { ALECTIO_CKPT_DIR: join(dir, 'stopped'), ALECTIO_SHUTDOWN_GRACE_MS: '20000' };
    const first = await start(env);
    const long = await call(first.url, 'POST', '/train', { labeled: ALL, ckpt_file: 'ckpt_0' }, { prefer: 'respond-async' });
    await waitFor(first.url, long.body.status_url, (job) => job.state === 'running' && job.progress > 0);
    const stopping = Date.now();
    first.child.kill('SIGTERM');
    const exit = await first.exited;
    // Nest's shutdown hooks run app.close(), then raise the signal again to end the process.
    expect(exit).toEqual({ code: null, signal: 'SIGTERM' });
    // The sample's method stops at its next mini-batch: far inside the 20 s grace period.
    expect(Date.now() - stopping).toBeLessThan(20_000);
    expect(first.log()).not.toContain('did not return within');

    const second = await start(env);
    const job = (await call(second.url, 'GET', long.body.status_url)).body.job;
    expect(job).toMatchObject({ state: 'cancelled', message: 'cancelled: the server shut down' });
    expect(job.progress).toBeGreaterThan(0);
  });
});
