import type { HandlerKind } from '../alectio.constants.js';

/** Where a job is. A job ends in exactly one of `succeeded`, `failed` and `cancelled`. */
export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/**
 * A job as `GET /jobs/:id` and the completion callback carry it (`{"job": ...}`); `GET /jobs`
 * lists them without `result`. Times are ISO 8601 strings.
 */
export interface JobRecord<R = unknown> {
  id: string;
  kind: HandlerKind;
  state: JobState;
  /** 0 to 1, as the method last reported it. */
  progress: number;
  /** The method's last progress message, or what ended the job. */
  message: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  /** Once `succeeded`: the answer a synchronous call would have given, without `status`. */
  result?: R;
  /** Once `failed`: why. */
  error?: string;
}
