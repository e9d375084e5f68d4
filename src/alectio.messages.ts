import { HandlerKind } from './alectio.constants.js';
import { show } from './protocol/value-display.js';

const decorator = (kind: HandlerKind): string => ({ train: '@Train()', test: '@Test()', infer: '@Infer()' })[kind];

export const MISSING_HANDLER = (kind: HandlerKind): string =>
  `No method is decorated with ${decorator(kind)}. nestjs-alectio serves POST /${kind} by calling it: ` +
  `decorate one method of a provider (an @Injectable() listed in some module's providers).`;

export const DUPLICATE_HANDLER = (kind: HandlerKind, methods: string[]): string =>
  `${methods.length} methods are decorated with ${decorator(kind)}: ${methods.join(' and ')}. ` +
  `POST /${kind} must call exactly one; remove the decorator from the others.`;

export const NON_STATIC_HANDLER = (kind: HandlerKind, method: string, className: string): string =>
  `${decorator(kind)} is on ${method}, but ${className} is request-scoped or transient (itself or through ` +
  `a dependency), so there is no single instance to call. Make ${className} a default-scoped (singleton) provider.`;

export const METHOD_FAILED = (kind: HandlerKind, method: string, reason: string): string =>
  `${kind} failed in ${method}: ${reason}`;

export const BAD_RESULT = (kind: HandlerKind, method: string, reason: string): string =>
  `${kind} in ${method} returned a result that breaks the protocol: ${reason}`;

export const TRAINING_RUNNING = (ckpt: string): string =>
  `a training run is in progress, writing checkpoint "${ckpt}"; one training at a time: retry when it ends`;

export const CHECKPOINT_BEING_TRAINED = (kind: HandlerKind, ckpt: string): string =>
  `cannot ${kind} on checkpoint "${ckpt}": a training run is still writing it; retry when it ends`;

export const UNAUTHORIZED = 'a valid token is required: send the header "Authorization: Bearer <token>"';

export const NOT_JSON = (contentType: string | undefined): string =>
  `body must be JSON sent with "Content-Type: application/json", got ${contentType ? `"${contentType}"` : 'no Content-Type'}`;

export const EMPTY_BODY = 'body is empty: send a JSON object with "Content-Type: application/json"';

export const TOO_LARGE = (limit: number): string =>
  `request body is larger than the limit of ${limit} bytes (${readableBytes(limit)}); ` +
  `raise bodyLimit in AlectioModule.forRoot() if this is a real payload`;

function readableBytes(bytes: number): string {
  if (bytes >= 1048576) return `${+(bytes / 1048576).toFixed(1)} MiB`;
  return bytes >= 1024 ? `${+(bytes / 1024).toFixed(1)} KiB` : `${bytes} B`;
}

export const NOT_UTF8 = (charset: string): string => `body must be JSON in UTF-8 (RFC 8259), got charset "${charset}"`;

export const TOO_NESTED = (limit: number): string =>
  `body holds more than ${limit} arrays and objects; a protocol body holds a few`;

export const NO_TOKEN =
  'no token is configured: anyone who can reach this port can start training runs. ' +
  'Set the token option of AlectioModule.forRoot() (and let the platform send it), or keep the port private.';

export const ROUTE_MOVED = (kind: HandlerKind, path: string): string =>
  `nestjs-alectio checks the token and reads the body of POST ${path} before Nest's router, but Nest ` +
  `routed the ${kind} endpoint elsewhere (a RouterModule path, or a global-prefix exclude?). ` +
  `Give the path with AlectioModule.forRoot({ prefix }) instead.`;

export const UNKNOWN_JOB = (id: string): string => `no job with id ${show(id)}`;

export const JOB_FINISHED = (id: string, state: string): string =>
  `job ${show(id)} has already ${state === 'cancelled' ? 'been cancelled' : state}`;

export const REDIS_UNREACHABLE = (where: string, state: string): string =>
  `the work queue's Redis at ${where} cannot be reached (connection ${state}); retry when it is back`;

export const REDIS_LOST = (where: string): string =>
  `lost the connection to the work queue's Redis at ${where} while the workers ran this request; ` +
  `its answer cannot be collected: retry when Redis is back`;

export const NO_WORKERS = (queue: string, where: string): string =>
  `no worker is taking work from the queue "${queue}" on ${where}: start one (the same app in the worker role)`;

export const PIECE_FAILED = (piece: string, attempts: number, reason: string): string =>
  `${piece} failed after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${reason}`;

export const REDIS_FAILED = (where: string, reason: string): string =>
  `the work queue's Redis at ${where} refused the request: ${reason}`;

export const NO_WORKERS_LEFT = (queue: string, where: string, seconds: number): string =>
  `no worker has been taking work from the queue "${queue}" on ${where} for ${seconds} s while this request waited: start one`;

export const PIECE_ABANDONED = (piece: string, times: number): string =>
  `${piece} was left unfinished ${times} time${times === 1 ? '' : 's'} by the worker running it (stopped, killed, or its event loop blocked longer than lockDurationMs)`;

export const REDIS_DATA_LOST = (where: string, piece: string): string =>
  `the work queue's Redis at ${where} came back without this request's work (${piece}): restarted without its data? Retry`;

export const METHOD_NOT_ALLOWED = (method: string, path: string, allow: string[]): string =>
  `${method} is not served at ${path}: it answers ${allow.join(', ')}`;

export const NO_ENDPOINT = (path: string, base: string): string =>
  `no endpoint at ${path}: under ${base} the module serves POST /train, /test and /infer, GET /health, /health/live and /health/ready, GET /jobs, GET and DELETE /jobs/:id, and GET /metrics when its metrics are on`;
