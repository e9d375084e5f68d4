import type { HandlerKind } from '../alectio.constants.js';

/** Where a job is. A job ends in exactly one of the last three. */
export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export const FINISHED_STATES: readonly JobState[] = ['succeeded', 'failed', 'cancelled'];

/** A job as the store keeps it. Times are ISO 8601 strings; `result` is JSON text. */
export interface JobRecord {
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
  /** JSON of the answer a synchronous call would have given, without `status`. */
  result: string | null;
  error: string | null;
}

/** The fields a job changes as it runs. */
export type JobUpdate = Partial<Omit<JobRecord, 'id' | 'kind' | 'created_at'>>;

/** The job as `GET /jobs/:id` shows it: `result` and `error` only where there is one. */
export function jobJson(job: JobRecord, withResult = true): string {
  const { result, error, ...fields } = job;
  const head = JSON.stringify(fields).slice(0, -1);
  const tail = [
    withResult && result !== null ? `,"result":${result}` : '',
    error !== null ? `,"error":${JSON.stringify(error)}` : '',
  ];
  return `${head}${tail.join('')}}`;
}
