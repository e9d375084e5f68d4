import { ConflictException, Injectable } from '@nestjs/common';

import { HandlerKind } from '../alectio.constants.js';
import { CHECKPOINT_BEING_TRAINED, TRAINING_RUNNING } from '../alectio.messages.js';
import type { Release, TrainingSlot } from './training-slot.js';

const NOTHING_TO_RELEASE: Release = () => undefined;

/**
 * The training slot of this process. One per app, however many times the module is imported;
 * in a pool's API process, the pool-wide claim is taken on top of it.
 */
@Injectable()
export class LocalTrainingSlot implements TrainingSlot {
  private training?: string;

  /** Whether a training holds the slot now. */
  get running(): boolean {
    return this.training !== undefined;
  }

  enter(kind: HandlerKind, ckptFile: string): Release {
    if (this.training !== undefined) {
      if (kind === 'train') throw new ConflictException(TRAINING_RUNNING(this.training));
      if (ckptFile === this.training) throw new ConflictException(CHECKPOINT_BEING_TRAINED(kind, ckptFile));
    }
    if (kind !== 'train') return NOTHING_TO_RELEASE;
    this.training = ckptFile;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.training = undefined;
    };
  }
}
