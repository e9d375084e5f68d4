import type { ValidationArguments } from 'class-validator';

/**
 * What a payload's rules need beyond the payload itself. class-validator has no per-call
 * context, so the validator keys this by the DTO instance while it runs.
 */
export interface PayloadContext {
  poolSize?: number;
  isCheckpointName: (name: string) => boolean;
  /** The checkpoint-name rule in words, for messages. */
  checkpointRule: string;
  /** A constraint's message for this call, naming the first bad position and value. */
  notes: Map<string, string>;
  /** Lists of huge indices whose duplicate search is left to the validator, off the synchronous pass. */
  deferred: Array<{ property: string; list: number[] }>;
}

/**
 * Each payload's context while it is validated. Kept beside the payload rather than on it: an
 * added and deleted property would change the object's shape for the customer's method.
 */
export const PAYLOAD_CONTEXTS = new WeakMap<object, PayloadContext>();

export function contextOf(args: ValidationArguments): PayloadContext {
  return PAYLOAD_CONTEXTS.get(args.object)!;
}

/** Records why `rule` failed on this property, for the constraint's `defaultMessage`. */
export function fail(args: ValidationArguments, rule: string, message: string): false {
  contextOf(args).notes.set(`${rule}:${args.property}`, message);
  return false;
}

export function noteOf(args: ValidationArguments, rule: string): string {
  return contextOf(args).notes.get(`${rule}:${args.property}`) ?? `${args.property} is invalid`;
}
