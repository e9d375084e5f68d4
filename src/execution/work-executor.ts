import type { HandlerKind } from '../alectio.constants.js';
import type { AlectioContext } from '../interfaces/alectio-context.interface.js';
import type { PayloadOf } from '../protocol/payload/payload.validator.js';

/** Injection token of the {@link WorkExecutor}: where the methods run, chosen once from the options. */
export const WORK_EXECUTOR = Symbol('alectio:work_executor');

/**
 * Runs a validated call and checks its result: in this process ({@link LocalExecutor}) or on a
 * pool's workers (`PoolExecutor`). Returns the answer's fields as JSON parts, to be concatenated:
 * `{}` for train, `{predictions, labels}` for test, `{outputs}` for infer. The context's signal
 * stops the work wherever it runs.
 */
export interface WorkExecutor {
  execute<K extends HandlerKind>(kind: K, payload: PayloadOf<K>, context: AlectioContext): Promise<string[]>;
}
