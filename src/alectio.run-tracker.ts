import { ConflictException, Injectable } from '@nestjs/common';

import { HandlerKind } from './alectio.constants.js';
import { CHECKPOINT_BEING_TRAINED, TRAINING_RUNNING } from './alectio.messages.js';

/**
 * PROTOCOL.md's concurrency: one training at a time, and no test or infer of the checkpoint
 * a running training is still writing. Everything else runs side by side.
 */
@Injectable()
export class RunTracker {
  private training?: string;

  /** Claims the right to run; throws 409 on a conflict. Call the returned function when done. */
  enter(kind: HandlerKind, ckptFile: string): () => void {
    if (this.training !== undefined) {
      if (kind === 'train') throw new ConflictException(TRAINING_RUNNING(this.training));
      if (ckptFile === this.training) throw new ConflictException(CHECKPOINT_BEING_TRAINED(kind, ckptFile));
    }
    if (kind !== 'train') return () => undefined;
    this.training = ckptFile;
    return () => {
      this.training = undefined;
    };
  }
}
