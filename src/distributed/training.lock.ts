import { randomUUID } from 'node:crypto';

import { ConflictException } from '@nestjs/common';
import type { Redis } from 'ioredis';

import { HandlerKind } from '../alectio.constants.js';
import { CHECKPOINT_BEING_TRAINED, TRAINING_RUNNING } from '../alectio.messages.js';

// Only the holder (its value) may extend or free the claim: a claim that expired and was taken
// by another API process must not be freed by the first one's late release.
const EXTEND = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0`;
const FREE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0`;

/** What a training's claim holds: the checkpoint it writes, and a value unique to this claim. */
export interface TrainingClaim {
  value: string;
  /** Stops renewing and frees the claim (if Redis is away, it expires by itself). */
  release(): void;
  /** Stops renewing without freeing: the claim goes on with whoever {@link TrainingLock.adopt}s it. */
  handOver(): void;
}

/**
 * PROTOCOL.md's one training at a time, across every API process and worker of the pool: a
 * Redis key taken with SET NX. It expires unless renewed, so a pool whose holders all died
 * frees itself; the API process renews it while it waits, and the worker while it trains.
 */
export class TrainingLock {
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly ttlMs: number,
  ) {}

  /** Throws 409 on a conflict; for train, returns the claim (release it when the training ends). */
  async enter(kind: HandlerKind, ckptFile: string): Promise<TrainingClaim | undefined> {
    if (kind !== 'train') {
      const held = await this.redis.get(this.key);
      if (held !== null && checkpointOf(held) === ckptFile) throw new ConflictException(CHECKPOINT_BEING_TRAINED(kind, ckptFile));
      return undefined;
    }
    const value = JSON.stringify({ ckpt_file: ckptFile, claim: randomUUID() });
    // Twice: a claim that expired between the SET and the GET has freed the slot.
    for (let attempt = 0; ; attempt++) {
      if ((await this.redis.set(this.key, value, 'PX', this.ttlMs, 'NX')) === 'OK') break;
      const held = await this.redis.get(this.key);
      if (held !== null || attempt > 0)
        throw new ConflictException(TRAINING_RUNNING(held === null ? 'unknown' : checkpointOf(held)));
    }
    return this.adopt(value);
  }

  /** Holds a claim taken here or handed over with a job: renews it until it is released or handed on. */
  adopt(value: string): TrainingClaim {
    const stop = this.keepAlive(value);
    let released = false;
    return {
      value,
      release: () => {
        if (released) return;
        released = true;
        stop();
        void this.free(value);
      },
      handOver: () => {
        released = true;
        stop();
      },
    };
  }

  /** Frees a claim; false when Redis could not be told (it then expires within ttlMs, or is freed on retry). */
  async free(value: string): Promise<boolean> {
    return this.redis.eval(FREE, 1, this.key, value).then(
      () => true,
      () => false,
    );
  }

  /** Whether `value` still holds the claim, renewing it if so. */
  async renew(value: string): Promise<boolean> {
    return (await this.redis.eval(EXTEND, 1, this.key, value, String(this.ttlMs))) === 1;
  }

  /**
   * Renews a claim every third of its lifetime until the returned function is called. `lost` is
   * called once when the claim is found gone or taken (Redis restarted without its data, or the
   * claim expired), or could not be confirmed for a whole lifetime (Redis away or out of reach,
   * so the claim may have expired): whoever trains on it must stop, or two could run at once.
   */
  keepAlive(value: string, lost?: () => void): () => void {
    let confirmed = Date.now();
    let stopped = false;
    const stop = (): void => {
      stopped = true;
      clearInterval(timer);
    };
    const fail = (): void => {
      if (stopped || !lost) return;
      stop();
      lost();
    };
    const timer = setInterval(
      () => {
        if (Date.now() - confirmed > this.ttlMs) return fail();
        this.renew(value).then(
          (held) => (held ? (confirmed = Date.now()) : fail()),
          () => undefined, // Redis away: the lifetime check above decides
        );
      },
      Math.max(50, Math.floor(this.ttlMs / 3)),
    );
    timer.unref();
    return stop;
  }
}

function checkpointOf(held: string): string {
  try {
    return String((JSON.parse(held) as { ckpt_file: unknown }).ckpt_file);
  } catch {
    return held;
  }
}
