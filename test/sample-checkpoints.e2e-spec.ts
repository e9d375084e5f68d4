import { randomUUID } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  lutimesSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';

import { CheckpointStore } from '../sample/checkpoint.store.js';
import { SampleConfig } from '../sample/sample.config.js';
import { AppProcess, buildSample, freePort } from './fixtures/app.process.js';

// The sample's checkpoint folder under failure: what a failed save leaves behind, what a restart
// clears, and what a client learns of a server-side file error.

const TEN = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
const HOUR_AGO = new Date(Date.now() - 3_600_000);

async function call(url: string, path: string, body: unknown) {
  const response = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, text: await response.text() };
}

const temporaries = (dir: string) => readdirSync(dir).filter((name) => name.endsWith('.tmp'));

/** The server's log, once it holds `text` (the child's output arrives a little after the answer). */
async function logOnceItHolds(sample: AppProcess, text: string): Promise<string> {
  for (let i = 0; i < 50 && !sample.log().includes(text); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  return sample.log();
}

describe('the sample’s checkpoints, through a real process over HTTP', () => {
  let root: string;
  const processes: AppProcess[] = [];
  const start = async (checkpoints: string) => {
    const sample = new AppProcess('sample', 'alone', { ALECTIO_CKPT_DIR: checkpoints }, await freePort());
    processes.push(sample);
    return sample.ready();
  };

  beforeAll(() => {
    buildSample();
    root = mkdtempSync(join(tmpdir(), 'alectio-checkpoints-'));
  }, 120_000);
  afterEach(() => {
    for (const sample of processes.splice(0)) sample.child.kill('SIGKILL');
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('removes the temporary file of each failed save, and answers 500 with the cause and the name, no path', async () => {
    const checkpoints = join(root, 'failed-save');
    const sample = await start(checkpoints);
    // A non-empty directory where the checkpoint should go: the rename onto it fails.
    mkdirSync(join(checkpoints, 'ckpt_3'));
    writeFileSync(join(checkpoints, 'ckpt_3', 'keep'), 'not the sample’s');

    for (let attempt = 0; attempt < 3; attempt++) {
      const res = await call(sample.url, '/train', { labeled: TEN, ckpt_file: 'ckpt_3' });
      expect(res.status).toBe(500);
      expect(JSON.parse(res.text)).toEqual({
        status: 500,
        error: 'Internal Server Error',
        message: 'train failed in DigitsModel#train: could not save checkpoint "ckpt_3": a directory has that name (EISDIR)',
      });
      expect(res.text).not.toContain(root);
      expect(temporaries(checkpoints)).toEqual([]);
    }
    expect(readdirSync(join(checkpoints, 'ckpt_3'))).toEqual(['keep']);
    // The server's log keeps what the client is not told: the syscall and the paths.
    expect(await logOnceItHolds(sample, `rename '${checkpoints}/.`)).toContain(`-> '${checkpoints}/ckpt_3'`);

    // The server goes on, and a save that works leaves nothing aside either.
    expect((await call(sample.url, '/train', { labeled: TEN, ckpt_file: 'ckpt_4' })).status).toBe(200);
    expect(readdirSync(checkpoints).filter((name) => !name.startsWith('.jobs.sqlite'))).toEqual(['ckpt_3', 'ckpt_4']);
  });

  it('answers a load that fails for another reason than a missing file with the cause and the name, no path', async () => {
    const checkpoints = join(root, 'failed-load');
    const sample = await start(checkpoints);
    symlinkSync('loop', join(checkpoints, 'loop')); // open() follows it forever: ELOOP
    mkdirSync(join(checkpoints, 'a_dir'));
    writeFileSync(join(checkpoints, 'garbled'), '{"weights": [1, 2,');

    const cases = [
      [
        '/test',
        { ckpt_file: 'loop' },
        'test failed in DigitsModel#test: could not load checkpoint "loop": too many symbolic links encountered (ELOOP)',
      ],
      [
        '/infer',
        { unlabeled: [1], ckpt_file: 'a_dir' },
        'infer failed in DigitsModel#infer: could not load checkpoint "a_dir": a directory has that name (EISDIR)',
      ],
      [
        '/train',
        { labeled: TEN, resume_from: 'loop', ckpt_file: 'next' },
        'train failed in DigitsModel#train: could not load checkpoint "loop": too many symbolic links encountered (ELOOP)',
      ],
      [
        '/test',
        { ckpt_file: 'garbled' },
        'test failed in DigitsModel#test: could not load checkpoint "garbled": it is not a checkpoint of this sample (not valid JSON)',
      ],
    ] as const;
    for (const [path, body, message] of cases) {
      const res = await call(sample.url, path, body);
      expect({ path, status: res.status, body: JSON.parse(res.text) }).toEqual({
        path,
        status: 500,
        body: { status: 500, error: 'Internal Server Error', message },
      });
      expect(res.text).not.toContain(root);
    }
    expect(await logOnceItHolds(sample, `open '${checkpoints}/loop'`)).toContain(`open '${checkpoints}/loop'`);
    // "Does not exist" keeps its message.
    const missing = await call(sample.url, '/test', { ckpt_file: 'never_trained' });
    expect(JSON.parse(missing.text).message).toBe(
      'test failed in DigitsModel#test: checkpoint "never_trained" does not exist: train it first',
    );
  });

  // Root reads and writes through any permission bits.
  (process.getuid?.() === 0 ? it.skip : it)('answers EACCES as "permission denied", no path', async () => {
    const checkpoints = join(root, 'denied');
    const sample = await start(checkpoints);
    writeFileSync(join(checkpoints, 'locked'), '{}');
    chmodSync(join(checkpoints, 'locked'), 0o000);
    const load = await call(sample.url, '/test', { ckpt_file: 'locked' });
    expect(JSON.parse(load.text).message).toBe(
      'test failed in DigitsModel#test: could not load checkpoint "locked": permission denied (EACCES)',
    );
    chmodSync(checkpoints, 0o555);
    try {
      const save = await call(sample.url, '/train', { labeled: TEN, ckpt_file: 'ckpt_3' });
      expect(JSON.parse(save.text).message).toBe(
        'train failed in DigitsModel#train: could not save checkpoint "ckpt_3": permission denied (EACCES)',
      );
      expect(save.text).not.toContain(root);
    } finally {
      chmodSync(checkpoints, 0o755);
    }
  });

  it('at start-up, removes the stale temporary files of its own saves, and nothing else', async () => {
    const checkpoints = join(root, 'restart');
    const first = await start(checkpoints);
    expect((await call(first.url, '/train', { labeled: TEN, ckpt_file: 'ckpt_0' })).status).toBe(200);
    first.child.kill('SIGKILL'); // as a crash would
    await first.exited;

    const stale = `.${randomUUID()}.tmp`;
    writeFileSync(join(checkpoints, stale), '{"format": "softmax-regression/1", "weig');
    utimesSync(join(checkpoints, stale), HOUR_AGO, HOUR_AGO);
    // Not the store's, or not stale: all stay.
    const fresh = `.${randomUUID()}.tmp`; // another process on the same folder may be writing it now
    writeFileSync(join(checkpoints, fresh), '{');
    const foreign = [
      '.x.tmp',
      'notes.tmp',
      `${randomUUID()}.tmp`,
      `.${randomUUID()}.tmp.bak`,
      `.${randomUUID().toUpperCase()}.tmp`,
    ];
    for (const name of foreign) {
      writeFileSync(join(checkpoints, name), 'someone else’s');
      utimesSync(join(checkpoints, name), HOUR_AGO, HOUR_AGO);
    }
    const folder = `.${randomUUID()}.tmp`; // a directory of that name is not a file the store wrote
    mkdirSync(join(checkpoints, folder));
    utimesSync(join(checkpoints, folder), HOUR_AGO, HOUR_AGO);
    const outside = join(root, 'outside.tmp');
    writeFileSync(outside, 'outside the folder');
    utimesSync(outside, HOUR_AGO, HOUR_AGO);
    const link = `.${randomUUID()}.tmp`; // a link of that name: the store writes no links
    symlinkSync(outside, join(checkpoints, link));
    lutimesSync(join(checkpoints, link), HOUR_AGO, HOUR_AGO);
    mkdirSync(join(checkpoints, 'sub'));
    const nested = `.${randomUUID()}.tmp`; // only the folder itself is swept, not below it
    writeFileSync(join(checkpoints, 'sub', nested), '{');
    utimesSync(join(checkpoints, 'sub', nested), HOUR_AGO, HOUR_AGO);

    const names = () => readdirSync(checkpoints).filter((name) => !name.startsWith('.jobs.sqlite'));
    const before = names();
    expect(before).toContain(stale);

    const second = await start(checkpoints);
    expect(names().sort()).toEqual(before.filter((name) => name !== stale).sort());
    expect(existsSync(outside)).toBe(true);
    expect(readdirSync(join(checkpoints, 'sub'))).toEqual([nested]);
    expect(await logOnceItHolds(second, 'removed 1 temporary file')).toContain(
      'removed 1 temporary file left by an interrupted save',
    );
    expect((await call(second.url, '/test', { ckpt_file: 'ckpt_0' })).status).toBe(200);
  });
});

describe('CheckpointStore#save, through its own API', () => {
  let dir: string;
  let store: CheckpointStore;
  let handleMethods: FileHandle;
  const weights = Float64Array.from([0.5, -1, 2]);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'alectio-store-'));
    // FileHandle is not exported; its prototype is that of any open handle.
    const probe = await open(dir, 'r');
    handleMethods = Object.getPrototypeOf(probe);
    await probe.close();
  });
  beforeEach(() => {
    rmSync(dir, { recursive: true, force: true });
    store = new CheckpointStore(new SampleConfig({ ALECTIO_CKPT_DIR: dir }));
  });
  afterEach(() => {
    jest.restoreAllMocks();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('fsyncs the temporary file before the rename, and the folder after it', async () => {
    const seen: string[][] = [];
    const sync = handleMethods.sync;
    jest.spyOn(handleMethods, 'sync').mockImplementation(function (this: FileHandle) {
      seen.push(readdirSync(dir).map((name) => (name.endsWith('.tmp') ? '<temporary>' : name)));
      return sync.call(this);
    });
    await store.save('ckpt_0', weights, 3, 'softmax-regression/1');
    // First the file, while it is still aside; then the folder, holding the renamed checkpoint.
    expect(seen).toEqual([['<temporary>'], ['ckpt_0']]);
    expect(Array.from(await store.load('ckpt_0', 'softmax-regression/1'))).toEqual([0.5, -1, 2]);
  });

  it('removes the temporary file when the write fails, and names the cause, not the path', async () => {
    const full = Object.assign(new Error(`ENOSPC: no space left on device, write '${dir}/x'`), {
      code: 'ENOSPC',
      errno: -28,
      syscall: 'write',
    });
    jest.spyOn(handleMethods, 'writeFile').mockRejectedValue(full);
    const error = await store.save('ckpt_1', weights, 3, 'softmax-regression/1').catch((rejection: Error) => rejection);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe('could not save checkpoint "ckpt_1": no space left on device (ENOSPC)');
    // The cause, with its path, for the server's log.
    expect((error as Error).cause).toBe(full);
    expect((error as Error).stack).toContain(`caused by Error: ENOSPC: no space left on device, write '${dir}/x'`);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('removes the temporary file when the fsync fails', async () => {
    const io = Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO', errno: -5, syscall: 'fsync' });
    jest.spyOn(handleMethods, 'sync').mockRejectedValue(io);
    await expect(store.save('ckpt_2', weights, 3, 'softmax-regression/1')).rejects.toHaveProperty(
      'message',
      'could not save checkpoint "ckpt_2": i/o error (EIO)',
    );
    expect(readdirSync(dir)).toEqual([]);
  });
});
