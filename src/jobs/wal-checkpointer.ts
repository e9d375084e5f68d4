import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

import { within } from '../util/timing.js';

/** How often the worker thread folds the WAL back into the database, besides when asked. */
const CHECKPOINT_INTERVAL_MS = 500;
/** Checkpoints failing in a row before the thread is given up (the server's connection checkpoints again). */
const FAILURES_TO_GIVE_UP = 3;

// The thread's code: its own connection to the file, and a PASSIVE checkpoint now and then and
// when asked, which never waits for the server's connection nor makes it wait (a TRUNCATE one
// would take the write lock). Once a checkpoint has caught up, the server's next write starts the
// WAL over, and journal_size_limit cuts the file back.
const THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
const checkpoint = () => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
    return '';
  } catch (error) {
    return String(error && error.message);
  }
};
const timer = setInterval(() => {
  const failed = checkpoint();
  if (failed) parentPort.postMessage({ failed });
}, ${CHECKPOINT_INTERVAL_MS});
parentPort.on('message', (message) => {
  if (message === 'now') return parentPort.postMessage({ done: true, failed: checkpoint() });
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

/**
 * Checkpoints of the job database's WAL, in a thread of their own. SQLite's automatic checkpoint
 * runs inside the commit that crosses 1,000 pages, copying 4 MB and syncing the file: 40 ms of the
 * server's event loop, once per 4 MB of results written. Here the server's connection does not
 * checkpoint (`wal_autocheckpoint = 0`) while this thread works; a large result's writer waits
 * (without holding the event loop) for a checkpoint every few MiB, so that the WAL stays small.
 * A thread that dies or keeps failing is given up, and `onGone` puts SQLite's own back.
 */
export class WalCheckpointer {
  private readonly waiting: (() => void)[] = [];
  private failures = 0;
  private gone = false;
  private stopping = false;

  private constructor(
    private readonly worker: Worker,
    private readonly onGone: (reason: string) => void,
  ) {
    worker.on('message', (message: { done?: boolean; failed?: string }) => {
      this.failures = message.failed ? this.failures + 1 : 0;
      if (message.done) this.waiting.shift()?.();
      if (this.failures >= FAILURES_TO_GIVE_UP) this.giveUp(`its checkpoints fail: ${message.failed}`);
    });
    worker.on('error', (error) => this.giveUp(error.message));
    worker.on('exit', () => this.giveUp('it stopped'));
  }

  /** Starts the thread, or returns undefined (the caller keeps SQLite's own checkpoints then). */
  static start(file: string, onGone: (reason: string) => void): WalCheckpointer | undefined {
    try {
      const driver = createRequire(import.meta.url).resolve('better-sqlite3');
      const worker = new Worker(THREAD, { eval: true, workerData: { file, driver } });
      const checkpointer = new WalCheckpointer(worker, onGone);
      worker.unref(); // never what keeps the process alive (after the listeners, which would ref it again)
      return checkpointer;
    } catch {
      return undefined;
    }
  }

  /** A checkpoint now; resolves once the thread has run it (at once, if the thread is gone). */
  checkpoint(): Promise<void> {
    if (this.gone) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.worker.postMessage('now');
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.release();
    if (this.gone) return;
    this.worker.postMessage('stop');
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    if (!(await within(1000, exited))) await this.worker.terminate();
  }

  private giveUp(reason: string): void {
    if (this.gone) return;
    this.gone = true;
    this.release();
    if (!this.stopping) {
      void this.worker.terminate();
      this.onGone(reason);
    }
  }

  private release(): void {
    for (const resolve of this.waiting.splice(0)) resolve();
  }
}
