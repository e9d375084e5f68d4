import { notReadyMessage, type Readiness } from '../health/readiness.service.js';
import type { StoredJob } from '../jobs/job.model.js';
import type { ProtocolError } from './protocol-error.js';

/**
 * The answers of PROTOCOL.md as JSON text. Large answers travel as parts (strings whose
 * concatenation is the JSON), never as one string, which may exceed what V8 can hold.
 */

/** How an infer result opens and closes; the serializer writes them, the pool's merge reads them. */
export const OUTPUTS_OPEN = '{"outputs":{';
export const OUTPUTS_CLOSE = '}}';

/** A method's answer fields (`{}`, `{predictions, labels}`, `{outputs}`) with `"status"` first, in place. */
export function withStatus(parts: string[], status: number): string[] {
  parts[0] = parts[0] === '{}' ? `{"status":${status}}` : `{"status":${status},${parts[0].slice(1)}`;
  return parts;
}

/** The `{"outputs":{...}}` answers of consecutive infer chunks as the parts of one, in request order. */
export function mergeInferChunks(chunks: string[]): string[] {
  const parts = [OUTPUTS_OPEN];
  for (const chunk of chunks) {
    const inner = chunk.slice(OUTPUTS_OPEN.length, -OUTPUTS_CLOSE.length);
    if (inner === '') continue;
    if (parts.length > 1) parts.push(',');
    parts.push(inner);
  }
  parts.push(OUTPUTS_CLOSE);
  return parts;
}

/** A job as `GET /jobs` and `DELETE /jobs/:id` show it: without `result`, `error` only where there is one. */
export function jobJson(job: StoredJob): string {
  const { result: _result, error, ...fields } = job;
  const head = JSON.stringify(fields).slice(0, -1);
  return `${head}${error !== null ? `,"error":${JSON.stringify(error)}` : ''}}`;
}

/**
 * A job with its result, as parts: `{"status":200,"job":{...}}` for `GET /jobs/:id`, `{"job":{...}}`
 * for the callback. The result's parts come from the store as they are read, never joined.
 */
export async function* jobWithResultParts(job: StoredJob, open: string): AsyncGenerator<string> {
  const { result, error, ...fields } = job;
  const head = JSON.stringify(fields).slice(0, -1);
  if (!result) {
    yield `${open}${head}${error !== null ? `,"error":${JSON.stringify(error)}` : ''}}}`;
    return;
  }
  yield `${open}${head},"result":`;
  yield* result.parts();
  yield `${error !== null ? `,"error":${JSON.stringify(error)}` : ''}}}`;
}

/** `GET /jobs/:id`: the job with its result. */
export function jobAnswerParts(job: StoredJob): AsyncGenerator<string> {
  return jobWithResultParts(job, '{"status":200,"job":');
}

/** `DELETE /jobs/:id` (202): the job without its result. */
export function cancelAnswer(job: StoredJob): string {
  return `{"status":202,"job":${jobJson(job)}}`;
}

/** `GET /jobs`: newest first, without results. */
export function jobListAnswer(jobs: StoredJob[], total: number, limit: number, offset: number): string {
  const list = jobs.map((job) => jobJson(job)).join(',');
  return `{"status":200,"jobs":[${list}],"total":${total},"limit":${limit},"offset":${offset}}`;
}

/** The callback's body, as parts: the job as `GET /jobs/:id` shows it. */
export function callbackParts(job: StoredJob): AsyncGenerator<string> {
  return jobWithResultParts(job, '{"job":');
}

/** A call answered in job mode. */
export function acceptedAnswer(jobId: string, statusUrl: string): string {
  return JSON.stringify({ status: 202, job_id: jobId, status_url: statusUrl });
}

/**
 * `GET /health`: which methods are registered, the pool size where one is configured, and the
 * task where one is set (no `task` field otherwise: without one, the answer is PROTOCOL.md's).
 */
export function healthAnswer(handlers: Record<string, boolean>, poolSize: number | null, task: string | null): string {
  return JSON.stringify(
    task ? { status: 200, handlers, pool_size: poolSize, task } : { status: 200, handlers, pool_size: poolSize },
  );
}

/** `GET /health/live`: the process answers. */
export function liveAnswer(): string {
  return '{"status":200,"live":true}';
}

/**
 * `GET /health/ready`: 200 with every check, or 503 with the protocol's error body, whose message
 * names the checks that fail, and the checks beside it. Not `detailed` (a server with a token,
 * asked without it): which checks hold, not what was seen (Redis's address, its errors).
 */
export function readinessAnswer(full: Readiness, detailed = true): { status: 200 | 503; body: string } {
  const readiness = detailed ? full : withoutDetails(full);
  if (readiness.ready) return { status: 200, body: JSON.stringify({ status: 200, ready: true, checks: readiness.checks }) };
  const message = notReadyMessage(readiness);
  return {
    status: 503,
    body: JSON.stringify({ status: 503, error: 'Service Unavailable', message, ready: false, checks: readiness.checks }),
  };
}

function withoutDetails({ ready, checks }: Readiness): Readiness {
  const bare = Object.entries(checks).map(([name, { ok }]) => [name, { ok, detail: ok ? 'ok' : 'failing' }]);
  return { ready, checks: Object.fromEntries(bare) };
}

/** An error answer: `{status, error, message}`. */
export function errorAnswer(error: ProtocolError): string {
  return JSON.stringify(error);
}
