import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

import { within } from '../util/timing.js';

/** How often the worker thread folds the WAL back into the database. */
const CHECKPOINT_INTERVAL_MS = 500;

// The thread's code: its own connection to the file, and now and then a PASSIVE checkpoint, which
// never waits for the server's connection nor makes it wait (a TRUNCATE one would take the write
// lock). Once a checkpoint is complete, the server's next write starts the WAL over, and
// journal_size_limit cuts the file back.
const THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
const timer = setInterval(() => { try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {} }, ${CHECKPOINT_INTERVAL_MS});
parentPort.once('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

/**
 * Checkpoints of the job database's WAL, in a thread of their own. SQLite's automatic checkpoint
 * runs inside the commit that crosses 1,000 pages, copying 4 MB and syncing the file: 40 ms of the
 * server's event loop, once per 4 MB of results written. Here the server's connection never
 * checkpoints (`wal_autocheckpoint = 0`), and this thread does it beside it.
 */
export class WalCheckpointer {
  private constructor(private readonly worker: Worker) {}

  /** Starts the thread, or returns undefined (the caller keeps SQLite's own checkpoints then). */
  static start(file: string): WalCheckpointer | undefined {
    try {
      const driver = createRequire(import.meta.url).resolve('better-sqlite3');
      const worker = new Worker(THREAD, { eval: true, workerData: { file, driver } });
      worker.unref(); // never what keeps the process alive
      worker.on('error', () => undefined);
      return new WalCheckpointer(worker);
    } catch {
      return undefined;
    }
  }

  async stop(): Promise<void> {
    this.worker.postMessage('stop');
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    if (!(await within(1000, exited))) await this.worker.terminate();
  }
}
