import type { HandlerKind } from '../alectio.constants.js';

/** A BullMQ job's data: what a worker needs to run one piece of a request. */
export interface PieceData {
  kind: HandlerKind;
  /** The validated payload (for infer, of this chunk): the wire fields only. */
  payload: object;
  /** For train: the value of the pool-wide training claim, which the worker renews while it trains. */
  trainingClaim?: string;
  /** The API process's span context (W3C `traceparent`...), so that the worker's span is its child. */
  trace?: Record<string, string>;
}

/** What a piece reports while it runs (BullMQ's job progress). */
export interface PieceProgress {
  fraction: number;
  message?: string;
}
