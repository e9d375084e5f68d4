import { describe, expect, it } from '@jest/globals';
import { ConflictException } from '@nestjs/common';

import { LocalTrainingSlot } from '../../src/execution/local-training.slot.js';

/** The 409 that `enter` throws, or a failure if it lets the work in. */
function conflictOf(enter: () => unknown): ConflictException {
  try {
    enter();
  } catch (error) {
    expect(error).toBeInstanceOf(ConflictException);
    return error as ConflictException;
  }
  throw new Error('enter() let the work in');
}

describe('LocalTrainingSlot', () => {
  it('lets a training in when nothing trains, and tests and infers beside each other', () => {
    const slot = new LocalTrainingSlot();
    expect(typeof slot.enter('test', 'a.pt')).toBe('function');
    expect(typeof slot.enter('infer', 'a.pt')).toBe('function');
    expect(typeof slot.enter('train', 'a.pt')).toBe('function');
  });

  it('answers a second training 409, naming the checkpoint being written', () => {
    const slot = new LocalTrainingSlot();
    slot.enter('train', 'round-1.pt');
    const conflict = conflictOf(() => slot.enter('train', 'round-2.pt'));
    expect(conflict.getStatus()).toBe(409);
    expect(conflict.message).toBe(
      'a training run is in progress, writing checkpoint "round-1.pt"; one training at a time: retry when it ends',
    );
    // The same checkpoint is no exception.
    expect(conflictOf(() => slot.enter('train', 'round-1.pt')).message).toBe(
      'a training run is in progress, writing checkpoint "round-1.pt"; one training at a time: retry when it ends',
    );
  });

  it.each(['test', 'infer'] as const)('answers %s on the checkpoint being trained 409', (kind) => {
    const slot = new LocalTrainingSlot();
    slot.enter('train', 'round-1.pt');
    const conflict = conflictOf(() => slot.enter(kind, 'round-1.pt'));
    expect(conflict.getStatus()).toBe(409);
    expect(conflict.message).toBe(
      `cannot ${kind} on checkpoint "round-1.pt": a training run is still writing it; retry when it ends`,
    );
  });

  it('lets test and infer of another checkpoint in while a training runs, and their release frees nothing', () => {
    const slot = new LocalTrainingSlot();
    slot.enter('train', 'round-2.pt');
    const releaseTest = slot.enter('test', 'round-1.pt') as () => void;
    const releaseInfer = slot.enter('infer', 'round-1.pt') as () => void;
    releaseTest();
    releaseInfer();
    expect(conflictOf(() => slot.enter('train', 'round-3.pt')).message).toContain('writing checkpoint "round-2.pt"');
  });

  it('frees the slot on release: the next training and a test of its checkpoint get in', () => {
    const slot = new LocalTrainingSlot();
    const release = slot.enter('train', 'round-1.pt') as () => void;
    release();
    expect(typeof slot.enter('test', 'round-1.pt')).toBe('function');
    expect(typeof slot.enter('train', 'round-2.pt')).toBe('function');
    expect(conflictOf(() => slot.enter('train', 'round-3.pt')).message).toContain('writing checkpoint "round-2.pt"');
  });

  it('does not free a newer training when the release of an older one is called again', () => {
    const slot = new LocalTrainingSlot();
    const releaseOld = slot.enter('train', 'round-1.pt') as () => void;
    releaseOld();
    slot.enter('train', 'round-2.pt');
    releaseOld();
    expect(conflictOf(() => slot.enter('train', 'round-3.pt')).message).toBe(
      'a training run is in progress, writing checkpoint "round-2.pt"; one training at a time: retry when it ends',
    );
    expect(conflictOf(() => slot.enter('infer', 'round-2.pt')).getStatus()).toBe(409);
  });

  it('keeps the slot taken after a refused training', () => {
    const slot = new LocalTrainingSlot();
    const release = slot.enter('train', 'round-1.pt') as () => void;
    conflictOf(() => slot.enter('train', 'round-2.pt'));
    expect(conflictOf(() => slot.enter('test', 'round-1.pt')).getStatus()).toBe(409);
    release();
    expect(typeof slot.enter('train', 'round-2.pt')).toBe('function');
  });
});
