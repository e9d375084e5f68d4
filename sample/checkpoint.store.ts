import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

import { Injectable } from '@nestjs/common';

import { SampleConfig } from './sample.config.js';

/** Model weights on disk, one JSON file per checkpoint name. */
@Injectable()
export class CheckpointStore {
  readonly dir: string;

  constructor(config: SampleConfig) {
    this.dir = config.checkpointDir;
    mkdirSync(this.dir, { recursive: true });
  }

  async save(name: string, weights: Float64Array, labeledCount: number): Promise<void> {
    const file = this.pathOf(name);
    const json = JSON.stringify({ format: 'softmax-regression/1', labeled_count: labeledCount, weights: Array.from(weights) });
    // Written aside, then renamed: a test or infer never reads half a checkpoint. The temporary
    // name starts with "." (no checkpoint name can) and is short, so any valid name fits.
    const temporary = join(this.dir, `.${randomUUID()}.tmp`);
    await writeFile(temporary, json);
    await rename(temporary, file);
  }

  async load(name: string): Promise<Float64Array> {
    let text: string;
    try {
      text = await readFile(this.pathOf(name), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        // The folder stays in the server's log; the client learns only the name.
        throw new Error(`checkpoint "${name}" does not exist: train it first`, { cause: error });
      }
      throw error;
    }
    return Float64Array.from((JSON.parse(text) as { weights: number[] }).weights);
  }

  // The module already refuses names that could leave the folder; this holds even if that
  // rule is loosened.
  private pathOf(name: string): string {
    const file = resolve(join(this.dir, name));
    if (dirname(file) !== resolve(this.dir)) throw new Error(`checkpoint name "${name}" leaves the checkpoint folder`);
    return file;
  }
}
