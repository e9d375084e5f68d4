import type { HandlerKind } from '../alectio.constants.js';
import type { LocalTrainingSlot } from '../execution/local-training.slot.js';
import type { Release, TrainingSlot } from '../execution/training-slot.js';
import type { PoolLink } from './pool.link.js';
import { type TrainingClaim, TrainingLock } from './training.lock.js';

/**
 * The one-training rule across the whole pool: this process's own slot first, then the
 * pool-wide claim in Redis (409 if a training runs anywhere, or writes this checkpoint).
 */
export class PoolTrainingSlot implements TrainingSlot {
  private trainingLock?: TrainingLock;
  /** The claim of the training this process runs; its value goes to the worker, which renews it. */
  private claim?: TrainingClaim;
  /** Claims released while Redis was away: freed once it is back (else they expire by themselves). */
  private readonly unfreed = new Set<string>();

  constructor(
    private readonly link: PoolLink,
    private readonly local: LocalTrainingSlot,
  ) {}

  /** On first use: the link's connection is opened in the module's init, after this is built. */
  private get lock(): TrainingLock {
    const { keys, lockDurationMs } = this.link.config;
    return (this.trainingLock ??= new TrainingLock(this.link.redis, keys.training, lockDurationMs));
  }

  /** The value of the training claim this process holds, for the worker that runs the training. */
  get trainingClaim(): string | undefined {
    return this.claim?.value;
  }

  handOver(): string | undefined {
    const claim = this.claim;
    this.claim = undefined;
    claim?.handOver();
    return claim?.value;
  }

  adopt(value: string): Release & { keep(): void } {
    const claim = this.lock.adopt(value);
    const release = (): void => {
      claim.release();
      if (this.link.redis.status !== 'ready') this.unfreed.add(value);
    };
    return Object.assign(release, { keep: () => claim.handOver() });
  }

  async enter(kind: HandlerKind, ckptFile: string): Promise<Release> {
    const local = this.local.enter(kind, ckptFile);
    try {
      this.link.assertReachable();
      const claim = await this.lock.enter(kind, ckptFile).catch((error: unknown) => {
        throw this.link.asServiceError(error);
      });
      if (!claim) return local;
      this.claim = claim;
      return () => {
        // Not once handed over with a job: whoever runs the job frees it.
        if (this.claim === claim) {
          this.claim = undefined;
          claim.release();
          if (this.link.redis.status !== 'ready') this.unfreed.add(claim.value);
        }
        local();
      };
    } catch (error) {
      local();
      throw error;
    }
  }

  async reconnected(): Promise<void> {
    for (const value of [...this.unfreed]) {
      if (await this.lock.free(value)) this.unfreed.delete(value);
    }
  }
}
