import type { HandlerKind } from '../alectio.constants.js';

/** Injection token of the {@link TrainingSlot}: this server's, or the whole pool's. */
export const TRAINING_SLOT = Symbol('alectio:training_slot');

/** Frees what {@link TrainingSlot.enter} took; safe to call more than once. */
export type Release = () => void;

/**
 * PROTOCOL.md's concurrency rule: one training at a time, and no test or infer of the checkpoint
 * a running training is still writing. Held in this process ({@link LocalTrainingSlot}) or across
 * a pool (`PoolTrainingSlot`).
 */
export interface TrainingSlot {
  /** Claims the right to run, or throws 409 on a conflict. Call the release when the work ends. */
  enter(kind: HandlerKind, ckptFile: string): Release | Promise<Release>;
  /**
   * A pool's: the training claim this process just took (for a training job) stops being its
   * own: no longer renewed nor freed by the release, it goes with the job to whoever runs it.
   */
  handOver?(): string | undefined;
  /**
   * A pool's: holds a claim handed over with a job (renews it) until the release frees it, or
   * `keep()` stops holding it without freeing it (the job went on to another process).
   */
  adopt?(claim: string): Release & { keep(): void };
}
