import { randomUUID } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, unlinkSync } from 'node:fs';
import { type FileHandle, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { getSystemErrorMap } from 'node:util';

import { Injectable, Logger } from '@nestjs/common';

import { SampleConfig } from './sample.config.js';

/** The name a save writes aside before its rename: starts with "." (no checkpoint name can), short enough for any folder. */
const TEMPORARY = /^\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.tmp$/;
/**
 * Start-up removes a temporary file only once it is this old: API and worker processes can share
 * the folder, and one starting must not take the file another is writing this instant.
 */
const STALE_AFTER_MS = 10 * 60_000;

/** Model weights on disk, one JSON file per checkpoint name. */
@Injectable()
export class CheckpointStore {
  readonly dir: string;
  private readonly logger = new Logger(CheckpointStore.name);

  constructor(config: SampleConfig) {
    this.dir = config.checkpointDir;
    mkdirSync(this.dir, { recursive: true });
    this.removeStaleTemporaries();
  }

  /** Saves `weights` under `name`, tagged with the model's `format` (`softmax-regression/1`, `grid-detector/1`). */
  async save(name: string, weights: Float64Array, labeledCount: number, format: string): Promise<void> {
    const file = this.pathOf(name);
    const json = JSON.stringify({ format, labeled_count: labeledCount, weights: Array.from(weights) });
    // Written aside, flushed, then renamed: a test or infer never reads half a checkpoint, and a
    // crash leaves the old checkpoint or the new one, not an empty file under the name.
    const temporary = join(this.dir, `.${randomUUID()}.tmp`);
    try {
      await writeDurably(temporary, json);
      await rename(temporary, file);
    } catch (error) {
      await unlink(temporary).catch(() => undefined); // gone already, or start-up takes it later
      throw withCause(`could not save checkpoint "${name}": ${reasonOf(error)}`, error);
    }
    try {
      await syncFolder(this.dir);
    } catch (error) {
      throw withCause(`could not save checkpoint "${name}": ${reasonOf(error)}`, error);
    }
  }

  /** The weights saved under `name`, which must be a checkpoint of the model `format`. */
  async load(name: string, format: string): Promise<Float64Array> {
    const file = this.pathOf(name);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        // The folder stays in the server's log; the client learns only the name.
        throw withCause(`checkpoint "${name}" does not exist: train it first`, error);
      }
      throw withCause(`could not load checkpoint "${name}": ${reasonOf(error)}`, error);
    }
    let saved: { weights?: unknown; format?: unknown } | null;
    try {
      saved = JSON.parse(text) as typeof saved;
    } catch (error) {
      throw withCause(`could not load checkpoint "${name}": it is not a checkpoint of this sample (not valid JSON)`, error);
    }
    const weights = saved?.weights;
    // Checkpoints of the digits sample written before the format was checked carry it too.
    if (saved?.format !== undefined && saved.format !== format) {
      throw new Error(`could not load checkpoint "${name}": it is a ${String(saved.format)} checkpoint, not ${format}`);
    }
    if (!Array.isArray(weights) || !weights.every((w) => typeof w === 'number')) {
      throw new Error(`could not load checkpoint "${name}": it is not a checkpoint of this sample (no list of weights)`);
    }
    return Float64Array.from(weights);
  }

  // The module already refuses names that could leave the folder; this holds even if that
  // rule is loosened.
  private pathOf(name: string): string {
    const file = resolve(join(this.dir, name));
    if (dirname(file) !== resolve(this.dir)) throw new Error(`checkpoint name "${name}" leaves the checkpoint folder`);
    return file;
  }

  /**
   * The temporary files of saves cut short (a crash, a kill): regular files of this folder (not
   * below it, not links) named as save() names them, and stale. Anything else stays.
   */
  private removeStaleTemporaries(): void {
    let removed = 0;
    try {
      for (const entry of readdirSync(this.dir, { withFileTypes: true })) {
        if (!entry.isFile() || !TEMPORARY.test(entry.name)) continue;
        const file = join(this.dir, entry.name);
        try {
          const stats = lstatSync(file);
          if (!stats.isFile() || Date.now() - stats.mtimeMs < STALE_AFTER_MS) continue;
          unlinkSync(file);
          removed++;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
            this.logger.warn(`could not remove the temporary file ${file}: ${(error as Error).message}`);
          }
        }
      }
    } catch (error) {
      this.logger.warn(`could not look for temporary files in ${this.dir}: ${(error as Error).message}`);
    }
    if (removed) this.logger.log(`removed ${removed} temporary file${removed === 1 ? '' : 's'} left by an interrupted save`);
  }
}

/** Writes `text` to a new file and flushes it to the disk before returning. */
async function writeDurably(file: string, text: string): Promise<void> {
  const handle = await open(file, 'wx');
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Flushes the folder's entries (the rename), where the platform can: not Windows, not every file system. */
async function syncFolder(dir: string): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(dir, 'r');
  } catch (error) {
    if (cannotSyncFolders(error)) return;
    throw error;
  }
  try {
    await handle.sync();
  } catch (error) {
    if (!cannotSyncFolders(error)) throw error;
  } finally {
    await handle.close();
  }
}

function cannotSyncFolders(error: unknown): boolean {
  return ['EISDIR', 'EPERM', 'EINVAL', 'ENOTSUP', 'EOPNOTSUPP'].includes((error as NodeJS.ErrnoException).code ?? '');
}

/** `message` for the client; `error` kept as its cause, and in its stack, which the server logs. */
function withCause(message: string, error: unknown): Error {
  const wrapped = new Error(message, { cause: error });
  Error.captureStackTrace(wrapped, withCause);
  if (error instanceof Error) wrapped.stack = `${wrapped.stack}\ncaused by ${error.stack ?? error.message}`;
  return wrapped;
}

let descriptions: Map<string, string> | undefined;

/**
 * The cause of a file error and its code, e.g. "permission denied (EACCES)": never its message,
 * which holds the absolute path.
 */
function reasonOf(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (typeof code !== 'string' || !/^E[A-Z0-9]+$/.test(code)) return 'an unexpected error (see the server log)';
  if (code === 'EISDIR') return 'a directory has that name (EISDIR)';
  descriptions ??= new Map(getSystemErrorMap().values());
  return `${descriptions.get(code) ?? 'a file system error'} (${code})`;
}
