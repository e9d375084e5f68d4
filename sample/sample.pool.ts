import type { AlectioTask } from 'nestjs-alectio';

/** Injection token of the {@link SamplePool} of the sample that runs. */
export const SAMPLE_POOL = Symbol('sample:pool');

/** What the module needs from a sample's data: the training pool's size, and the task it serves. */
export interface SamplePool {
  size: number;
  task: AlectioTask;
}
