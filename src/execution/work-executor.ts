import type { HandlerKind } from '../alectio.constants.js';
import type { AlectioContext } from '../interfaces/alectio-context.interface.js';
import type { PayloadOf } from '../protocol/payload/payload.validator.js';

/** Injection token of the {@link WorkExecutor}: where the methods run, chosen once from the options. */
export const WORK_EXECUTOR = Symbol('alectio:work_executor');

/** What a job tells the executor about its work, so that another process can take the job over. */
export interface WorkOptions {
  /** A stable id for the work (a job's): its pieces on a pool are named after it. */
  id?: string;
  /** Taking over a job whose process died: pieces queued or done already are waited for or read, not queued again. */
  resume?: boolean;
  /** The pool's training claim this work runs under (a job's, handed on with it). */
  trainingClaim?: string;
}

/**
 * The reason of a signal aborted because this process stops waiting for work that another
 * process takes over (a job, in distributed mode, at shutdown): the work itself must go on.
 */
export class HandedOver extends Error {
  constructor() {
    super('this server stopped; another takes its jobs over');
  }
}

/**
 * Runs a validated call and checks its result: in this process ({@link LocalExecutor}) or on a
 * pool's workers (`PoolExecutor`). Returns the answer's fields as JSON parts, to be concatenated:
 * `{}` for train, `{predictions, labels}` for test, `{outputs}` for infer. The context's signal
 * stops the work wherever it runs.
 */
export interface WorkExecutor {
  execute<K extends HandlerKind>(
    kind: K,
    payload: PayloadOf<K>,
    context: AlectioContext,
    options?: WorkOptions,
  ): Promise<string[]>;
  /** A job's end is recorded: what the executor kept of its work for a process taking it over can go. */
  settled?(id: string): void;
  /** A job given up (its work lost) by a process that took it over: whatever of it still runs is stopped. */
  abandon?<K extends HandlerKind>(id: string, kind: K, payload: PayloadOf<K>): void;
}
