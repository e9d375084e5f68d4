import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { Test as NestTest } from '@nestjs/testing';
import Database from 'better-sqlite3';
import { type AlectioContext, AlectioModule } from 'nestjs-alectio';
import request from 'supertest';

import { JOB_STORE } from '../src/jobs/job-store.interface.js';
import { RESULT_DROPPED_ON_DISK, SqliteJobStore, type SqliteJobStoreTuning } from '../src/jobs/sqlite.job-store.js';
import { FixtureModelModule, startFixtureApp } from './fixtures/fixture.app.js';
import { FixtureModel } from './fixtures/fixture.model.js';

// The SQLite job store through the real app over real HTTP: its byte budget and the space it
// gives back, another process holding its lock, a full disk, a file that is not a database.

const repo = fileURLToPath(new URL('..', import.meta.url));
const ASYNC = { Prefer: 'respond-async' };
const LOCKED = 'the job database is locked by another process; retry';
const FULL = "the job database's disk is full; retry once space has been freed";
/** How long the second process holds the lock: the checks made meanwhile take a few ms each. */
const HOLD_MS = 2500;

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

async function waitForJob(url: string, statusUrl: string, until: (job: any) => boolean): Promise<any> {
  for (let i = 0; i < 300; i++) {
    const res = await request(url).get(statusUrl);
    if (res.status === 200 && until(res.body.job)) return res.body.job;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`job at ${statusUrl} never reached the expected state`);
}
const finished = (job: any) => ['succeeded', 'failed', 'cancelled'].includes(job.state);

/** The real app, its job store opened by the test with `tuning` (what the module's provider never passes). */
async function appWithStore(file: string, tuning: SqliteJobStoreTuning) {
  const moduleRef = await NestTest.createTestingModule({
    imports: [FixtureModelModule, AlectioModule.forRoot({ jobsDatabase: file })],
  })
    .overrideProvider(JOB_STORE)
    .useFactory({ factory: () => SqliteJobStore.open(file, tuning) })
    .compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  return { app, model: app.get(FixtureModel), url: await app.getUrl() };
}

/** Reads the file as another process would (a connection of its own), then lets it go. */
function inFile<T>(file: string, read: (db: Database.Database) => T): T {
  const db = new Database(file, { fileMustExist: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

/** The database's bytes on disk, its WAL included. */
function onDisk(file: string): number {
  return statSync(file).size + (statSync(`${file}-wal`, { throwIfNoEntry: false })?.size ?? 0);
}

/** Waits until no free page is left in the file: the store has given them back (bounded: 4 s). */
async function settled(file: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (inFile(file, (db) => db.pragma('freelist_count', { simple: true })) === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`${file} still has free pages`);
}

const children: ChildProcess[] = [];

/**
 * A second process (`node -e` with better-sqlite3) that takes `BEGIN EXCLUSIVE` on `file` and
 * holds it for HOLD_MS. `until` is the wall-clock time before which the lock is surely held.
 */
async function lockFromAnotherProcess(file: string): Promise<{ until: number; released: Promise<void> }> {
  const code = `
    const Database = require('better-sqlite3');
    const db = new Database(${JSON.stringify(file)});
    db.exec('BEGIN EXCLUSIVE');
    const lockedAt = Date.now();
    console.log(JSON.stringify({ lockedAt }));
    setTimeout(() => { db.exec('COMMIT'); db.close(); }, ${HOLD_MS});`;
  const child = spawn(process.execPath, ['-e', code], { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const released = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const lockedAt = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (chunk) => resolve(JSON.parse(String(chunk)).lockedAt));
    child.once('exit', (exitCode) => reject(new Error(`the locking process exited (${exitCode}) before it took the lock`)));
  });
  return { until: lockedAt + HOLD_MS, released };
}

/** Whether GET /health answers, and when (wall clock). */
async function health(url: string): Promise<number> {
  const res = await fetch(`${url}/health`);
  expect(res.status).toBe(200);
  return Date.now();
}

describe('the SQLite job store', () => {
  let dir: string;
  let app: INestApplication | undefined;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'alectio-sqlite-'));
  });
  afterEach(async () => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
    await app?.close();
    app = undefined;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('serves the results of a file written before results were kept in parts, and records new ones beside them', async () => {
    const file = join(dir, 'older.sqlite');
    const old = new Database(file);
    // The schema and a finished job as the previous version wrote them: the result one text.
    old.exec(`CREATE TABLE alectio_jobs (
      seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, state TEXT NOT NULL,
      progress REAL NOT NULL, message TEXT, created_at TEXT NOT NULL, started_at TEXT, finished_at TEXT,
      result TEXT, error TEXT)`);
    old
      .prepare(
        `INSERT INTO alectio_jobs (id, kind, state, progress, message, created_at, started_at, finished_at, result, error)
         VALUES ('old-job', 'infer', 'succeeded', 1, NULL, '2026-11-01T10:00:00.000Z', '2026-11-01T10:00:01.000Z',
                 '2026-11-01T10:00:02.000Z', '{"outputs":{"3":[0.5,0.5]}}', NULL)`,
      )
      .run();
    old.close();
    const started = await appWithStore(file, {});
    app = started.app;
    const read = await request(started.url).get('/jobs/old-job').expect(200);
    expect(read.text).toBe(
      '{"status":200,"job":{"id":"old-job","kind":"infer","state":"succeeded","progress":1,"message":null,' +
        '"created_at":"2026-11-01T10:00:00.000Z","started_at":"2026-11-01T10:00:01.000Z","finished_at":"2026-11-01T10:00:02.000Z",' +
        '"result":{"outputs":{"3":[0.5,0.5]}}}}',
    );
    const accepted = await request(started.url)
      .post('/infer')
      .set(ASYNC)
      .send({ unlabeled: [1, 2], ckpt_file: 'c' })
      .expect(202);
    const job = await waitForJob(started.url, accepted.body.status_url, finished);
    expect(Object.keys(job.result.outputs)).toEqual(['1', '2']);
    expect((await request(started.url).get('/jobs').expect(200)).body.total).toBe(2);
  });

  describe('its size', () => {
    it('keeps results within its byte budget, dropping the oldest first, and gives their space back to the file system', async () => {
      const file = join(dir, 'budget.sqlite');
      const budget = 1024 * 1024;
      const started = await appWithStore(file, { maxResultBytes: budget });
      app = started.app;
      const unlabeled = Array.from({ length: 10_000 }, (_, i) => i);
      const ids: string[] = [];
      for (let i = 0; i < 15; i++) {
        const accepted = await request(started.url).post('/infer').set(ASYNC).send({ unlabeled, ckpt_file: 'c' }).expect(202);
        ids.push(accepted.body.status_url);
        await waitForJob(started.url, accepted.body.status_url, finished);
      }
      const jobs = [];
      for (const statusUrl of ids) jobs.push((await request(started.url).get(statusUrl).expect(200)).body.job);
      // 15 results of the same size (about 190 KB): the newest that fit in 1 MiB are kept, whole;
      // the older ones are dropped, their jobs kept.
      const one = (
        inFile(file, (db) => db.prepare('SELECT result_bytes AS bytes FROM alectio_jobs WHERE seq = 15').get()) as {
          bytes: number;
        }
      ).bytes;
      expect(one).toBeGreaterThan(150_000);
      const kept = Math.floor(budget / one);
      for (const job of jobs.slice(-kept)) {
        expect(job).toMatchObject({ state: 'succeeded', message: null });
        expect(Object.keys(job.result.outputs)).toHaveLength(10_000);
      }
      for (const job of jobs.slice(0, -kept)) {
        expect(job).toMatchObject({ state: 'succeeded', message: RESULT_DROPPED_ON_DISK });
        expect(job.result).toBeUndefined();
      }
      const resultsOnFile = () =>
        inFile(file, (db) => ({
          bytes: (db.prepare('SELECT SUM(result_bytes) AS bytes FROM alectio_jobs').get() as { bytes: number }).bytes,
          parts: (db.prepare('SELECT SUM(octet_length(part)) AS bytes FROM alectio_job_parts').get() as { bytes: number }).bytes,
        }));
      // The rows of parts hold exactly the bytes the jobs say they hold: a dropped result's parts went with it.
      expect(resultsOnFile().parts).toBe(resultsOnFile().bytes);
      expect(resultsOnFile().bytes).toBeLessThanOrEqual(budget);
      // The file and its WAL: the results, and what the checkpoint thread has not folded back yet
      // (written since its last look, or not yet cut back to journal_size_limit's 4 MiB).
      const WAL_SLACK = 8 * 1024 * 1024;
      expect(onDisk(file)).toBeLessThan(budget + WAL_SLACK);
      expect(statSync(file).size).toBeLessThan(budget + 512 * 1024);

      // One result larger than the whole budget fails its job, saying so; the others stay.
      const large = await request(started.url)
        .post('/infer')
        .set(ASYNC)
        .send({ unlabeled: Array.from({ length: 70_000 }, (_, i) => i), ckpt_file: 'c' })
        .expect(202);
      const refused = await waitForJob(started.url, large.body.status_url, finished);
      expect(refused.state).toBe('failed');
      expect(refused.error).toMatch(
        new RegExp(
          `^the result is \\d+ bytes, more than the job store keeps \\(jobResultBytes, ${budget} bytes\\); ask for it synchronously, or raise jobResultBytes$`,
        ),
      );
      expect(refused.result).toBeUndefined();
      const last = (await request(started.url).get(ids[14]).expect(200)).body.job;
      expect(Object.keys(last.result.outputs)).toHaveLength(10_000);
      await settled(file);
      expect(inFile(file, (db) => db.pragma('auto_vacuum', { simple: true }))).toBe(2); // INCREMENTAL
      expect(onDisk(file)).toBeLessThan(budget + WAL_SLACK);
    });

    it('creates a new jobsDatabase file that can shrink (auto_vacuum = INCREMENTAL)', async () => {
      const file = join(dir, 'new.sqlite');
      ({ app } = await startFixtureApp({ name: 'new-file', options: { jobsDatabase: file } }));
      expect(inFile(file, (db) => db.pragma('auto_vacuum', { simple: true }))).toBe(2);
    });
  });

  describe('another process holding its lock', () => {
    it('answers a job it cannot record with 503 at once, keeps serving, and records the running job’s progress and end once the lock is gone', async () => {
      const file = join(dir, 'locked.sqlite');
      const started = await startFixtureApp({ name: 'locked', options: { jobsDatabase: file } });
      app = started.app;
      const { model, url } = started;
      const step = deferred();
      const end = deferred();
      model.behaviour.train = (async (_payload: unknown, context: AlectioContext) => {
        context.progress(0.25, 'epoch 1 of 4');
        await step.promise;
        context.progress(0.5, 'epoch 2 of 4');
        await end.promise;
      }) as never;
      const training = await request(url)
        .post('/train')
        .set(ASYNC)
        .send({ labeled: [1], ckpt_file: 'ckpt_l' })
        .expect(202);
      await waitForJob(url, training.body.status_url, (job) => job.progress === 0.25);

      const lock = await lockFromAnotherProcess(file);
      const refused = await request(url).post('/test').set(ASYNC).send({ ckpt_file: 'c' });
      expect({ status: refused.status, body: refused.body }).toEqual({
        status: 503,
        body: { status: 503, error: 'Service Unavailable', message: LOCKED },
      });
      const answered = [await health(url)];

      // The running job's writes wait behind the lock, in order; the job shows them meanwhile.
      step.resolve();
      await waitForJob(url, training.body.status_url, (job) => job.progress === 0.5);
      end.resolve();
      const shown = await waitForJob(url, training.body.status_url, finished);
      expect(shown).toMatchObject({ state: 'succeeded', progress: 1, message: 'epoch 2 of 4', result: {} });
      const listed = await request(url).get('/jobs').expect(200);
      expect(listed.body.jobs.find((job: any) => job.id === training.body.job_id)).toMatchObject({ state: 'succeeded' });
      answered.push(await health(url));
      // All of that while the other process held the lock: the event loop never waited for it.
      for (const at of answered) expect(at).toBeLessThan(lock.until);
      expect(inFile(file, (db) => db.prepare('SELECT state FROM alectio_jobs WHERE id = ?').get(training.body.job_id))).toEqual({
        state: 'running',
      });

      await lock.released;
      let row: any;
      for (let i = 0; i < 200 && row?.state !== 'succeeded'; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        row = inFile(file, (db) =>
          db.prepare('SELECT state, progress, message, finished_at FROM alectio_jobs WHERE id = ?').get(training.body.job_id),
        );
      }
      // Both writes reached the file, the progress before the end (or progress would be 0.5).
      expect(row).toEqual({ state: 'succeeded', progress: 1, message: 'epoch 2 of 4', finished_at: expect.any(String) });
      await request(url).post('/test').set(ASYNC).send({ ckpt_file: 'c' }).expect(202);
    });

    it('answers GET /jobs/:id and GET /jobs with the same 503 when the lock blocks reading too (a rollback journal)', async () => {
      const file = join(dir, 'rollback.sqlite');
      const started = await appWithStore(file, { journalMode: 'delete' });
      app = started.app;
      const accepted = await request(started.url).post('/test').set(ASYNC).send({ ckpt_file: 'c' }).expect(202);
      await waitForJob(started.url, accepted.body.status_url, finished);

      const lock = await lockFromAnotherProcess(file);
      const answered: number[] = [];
      for (const path of [accepted.body.status_url, '/jobs']) {
        const res = await request(started.url).get(path);
        expect({ path, status: res.status, body: res.body }).toEqual({
          path,
          status: 503,
          body: { status: 503, error: 'Service Unavailable', message: LOCKED },
        });
        answered.push(await health(started.url));
      }
      for (const at of answered) expect(at).toBeLessThan(lock.until);
      await lock.released;
      await request(started.url).get(accepted.body.status_url).expect(200);
    });
  });

  describe('its failures, named', () => {
    it('answers a job submitted on a full disk with a 503 naming the cause, not a path', async () => {
      const file = join(dir, 'full.sqlite');
      // SQLite's max_page_count on the store's connection: "full" after a few pages.
      const started = await appWithStore(file, { maxPageCount: 12 });
      app = started.app;
      // A result that does not fit: the job ends failed, without it.
      const big = await request(started.url)
        .post('/infer')
        .set(ASYNC)
        .send({ unlabeled: Array.from({ length: 10_000 }, (_, i) => i), ckpt_file: 'c' })
        .expect(202);
      expect(await waitForJob(started.url, big.body.status_url, finished)).toMatchObject({
        state: 'failed',
        error: 'the result could not be recorded (see the server log)',
      });
      // Then jobs until not even a new record fits.
      let refused: request.Response | undefined;
      for (let i = 0; i < 500 && !refused; i++) {
        const res = await request(started.url)
          .post('/test')
          .set(ASYNC)
          .send({ ckpt_file: `c${i}` });
        if (res.status !== 202) refused = res;
      }
      expect(refused?.body).toEqual({ status: 503, error: 'Service Unavailable', message: FULL });
      expect(JSON.stringify(refused?.body)).not.toContain(dir);
      await health(started.url);
    });

    it('fails start-up on a file that is not an SQLite database, naming the option and the file', async () => {
      const file = join(dir, 'x.sqlite');
      writeFileSync(file, 'these are not the pages of an SQLite database\n'.repeat(100));
      const starting = startFixtureApp({ name: 'corrupt', options: { jobsDatabase: file } });
      await expect(starting).rejects.toThrow(
        `jobsDatabase ${JSON.stringify(file)} is not an SQLite database (file is not a database)`,
      );
      await expect(starting).rejects.toMatchObject({ name: 'AlectioConfigurationError' });
    });
  });
});
