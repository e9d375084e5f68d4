import { HANDLER_KINDS, type HandlerKind } from '../alectio.constants.js';
import { SIGNATURE_HEADER } from '../jobs/callback.signature.js';
import type { ResolvedOptions } from '../options/resolve-options.js';
import { InferPayload } from '../protocol/payload/infer.dto.js';
import { TestPayload } from '../protocol/payload/test.dto.js';
import { TrainPayload } from '../protocol/payload/train.dto.js';
import { payloadSchema, type Schema } from './payload.schema.js';

/** An OpenAPI 3.0 operation object, as `@ApiOperation()` takes it whole. */
export type Operation = Record<string, unknown>;

/** The security scheme the operations name when a token is set: `DocumentBuilder().addBearerAuth()`'s default. */
export const BEARER_SCHEME = 'bearer';

const PAYLOADS: Record<HandlerKind, Function> = { train: TrainPayload, test: TestPayload, infer: InferPayload };

const EXAMPLES: Record<HandlerKind, unknown> = {
  train: { labeled: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], resume_from: null, ckpt_file: 'ckpt_0' },
  test: { ckpt_file: 'ckpt_0' },
  infer: { unlabeled: [10, 11, 12], ckpt_file: 'ckpt_0' },
};

const SUMMARIES: Record<HandlerKind, string> = {
  train: 'Train on the labeled indices, writing the checkpoint ckpt_file (the @Train() method)',
  test: 'Test the checkpoint on the test split (the @Test() method)',
  infer: 'Infer on the unlabeled indices with the checkpoint (the @Infer() method)',
};

const json = (schema: Schema, example?: unknown) => ({
  'application/json': { schema, ...(example === undefined ? {} : { example }) },
});

/** PROTOCOL.md's error body. */
const ERROR: Schema = {
  type: 'object',
  required: ['status', 'error', 'message'],
  properties: {
    status: { type: 'integer' },
    error: { type: 'string' },
    message: { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
  },
};

const error = (status: number, description: string, example: unknown) => ({
  [status]: { description, content: json(ERROR, example) },
});

const ERRORS = {
  400: (example: string | string[]) =>
    error(400, 'The payload breaks a rule: every broken rule is listed', {
      status: 400,
      error: 'Bad Request',
      message: example,
    }),
  401: error(401, 'No token, or a wrong one (answered before the body is read)', {
    status: 401,
    error: 'Unauthorized',
    message: 'a valid token is required: send the header "Authorization: Bearer <token>"',
  }),
  404: error(404, 'No such job', { status: 404, error: 'Not Found', message: 'no job with id "x"' }),
  409: error(409, 'A training runs: one at a time, and no test or infer of the checkpoint it writes', {
    status: 409,
    error: 'Conflict',
    message: 'a training run is in progress, writing checkpoint "ckpt_3"; one training at a time: retry when it ends',
  }),
  413: error(413, 'The body is larger than bodyLimit (answered before it is read)', {
    status: 413,
    error: 'Payload Too Large',
    message: 'request body is larger than the limit of 67108864 bytes (64 MiB)',
  }),
  500: error(500, 'The method threw, or returned a result that breaks the protocol', {
    status: 500,
    error: 'Internal Server Error',
    message: 'train failed in Model#train: out of memory',
  }),
  503: error(503, 'The server is shutting down, or in distributed mode the pool cannot take the work', {
    status: 503,
    error: 'Service Unavailable',
    message: 'the server is shutting down and accepts no new work; retry on its successor',
  }),
};

const JOB: Schema = {
  type: 'object',
  required: ['id', 'kind', 'state', 'progress', 'message', 'created_at', 'started_at', 'finished_at'],
  properties: {
    id: { type: 'string' },
    kind: { type: 'string', enum: [...HANDLER_KINDS] },
    state: { type: 'string', enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled'] },
    progress: { type: 'number', minimum: 0, maximum: 1 },
    message: { type: 'string', nullable: true },
    created_at: { type: 'string', format: 'date-time' },
    started_at: { type: 'string', format: 'date-time', nullable: true },
    finished_at: { type: 'string', format: 'date-time', nullable: true },
    result: { type: 'object', description: 'Once succeeded: the answer a synchronous call would have given, without status' },
    error: { type: 'string', description: 'Once failed: why' },
  },
};

const JOB_EXAMPLE = {
  id: '3f1c2a9e-5b7d-4c1e-9a2b-6d8e0f4a1b2c',
  kind: 'train',
  state: 'running',
  progress: 0.4,
  message: 'epoch 4 of 10',
  created_at: '2026-12-01T12:00:00.000Z',
  started_at: '2026-12-01T12:00:00.012Z',
  finished_at: null,
};

const ANSWERS: Record<HandlerKind, { schema: Schema; example: unknown }> = {
  train: {
    schema: { type: 'object', required: ['status'], properties: { status: { type: 'integer', enum: [200] } } },
    example: { status: 200 },
  },
  test: {
    schema: {
      type: 'object',
      required: ['status', 'predictions', 'labels'],
      properties: {
        status: { type: 'integer', enum: [200] },
        predictions: { type: 'object', description: 'keyed by test index', additionalProperties: {} },
        labels: { type: 'object', description: 'keyed by test index: the same indices as predictions', additionalProperties: {} },
      },
    },
    example: { status: 200, predictions: { 0: 1, 1: 0, 2: 2 }, labels: { 0: 1, 1: 1, 2: 2 } },
  },
  infer: {
    schema: {
      type: 'object',
      required: ['status', 'outputs'],
      properties: {
        status: { type: 'integer', enum: [200] },
        outputs: {
          type: 'object',
          description: 'keyed by each index of unlabeled and no other: the pre-softmax scores, or the task’s values',
          additionalProperties: {},
        },
      },
    },
    example: { status: 200, outputs: { 10: [2.1, -0.3, 0.5], 11: [0.2, 1.7, -1.1], 12: [-0.4, 0.1, 3.2] } },
  },
};

const PREFER = {
  name: 'Prefer',
  in: 'header',
  required: false,
  description: 'respond-async: answer 202 at once and run the call as a job (RFC 7240)',
  schema: { type: 'string', enum: ['respond-async'] },
};

/** What the module documents, per controller method: `{ AlectioController: { train: {...} }, ... }`. */
export interface Operations {
  protocol: Record<'health' | 'live' | 'ready' | HandlerKind, Operation>;
  jobs: Record<'list' | 'get' | 'cancel', Operation>;
}

/** Every operation of the module, as its options make it (the token, the pool size, the callback). */
export function operations(config: ResolvedOptions): Operations {
  // Unique across the app's document when the module is imported twice, under two prefixes.
  const scope = config.prefix.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_+|_+$/g, '');
  const id = (name: string): string => (scope ? `alectio_${scope}_${name}` : `alectio_${name}`);
  const secured = config.token ? { security: [{ [BEARER_SCHEME]: [] }] } : {};
  const unauthorized = config.token ? ERRORS[401] : {};
  const call = (kind: HandlerKind): Operation => ({
    operationId: id(kind),
    summary: SUMMARIES[kind],
    tags: ['alectio'],
    ...secured,
    parameters: [PREFER],
    requestBody: { required: true, content: json(payloadSchema(PAYLOADS[kind], config), EXAMPLES[kind]) },
    responses: {
      200: { description: 'The method returned', content: json(ANSWERS[kind].schema, ANSWERS[kind].example) },
      202: {
        description: 'With Prefer: respond-async: the job, to poll at status_url',
        headers: {
          Location: { schema: { type: 'string' }, description: 'status_url' },
          'Preference-Applied': { schema: { type: 'string', enum: ['respond-async'] } },
        },
        content: json(
          {
            type: 'object',
            required: ['status', 'job_id', 'status_url'],
            properties: { status: { type: 'integer', enum: [202] }, job_id: { type: 'string' }, status_url: { type: 'string' } },
          },
          { status: 202, job_id: JOB_EXAMPLE.id, status_url: `/jobs/${JOB_EXAMPLE.id}` },
        ),
      },
      ...ERRORS[400](kind === 'test' ? ['ckpt_file is required'] : [`${kind === 'train' ? 'labeled' : 'unlabeled'} is required`]),
      ...unauthorized,
      ...ERRORS[409],
      ...ERRORS[413],
      ...ERRORS[500],
      ...ERRORS[503],
    },
    ...(config.callback ? { callbacks: callbackOf(config.callback.url) } : {}),
  });
  const jobResponse = (status: 200 | 202, description: string) => ({
    [status]: {
      description,
      content: json(
        { type: 'object', required: ['status', 'job'], properties: { status: { type: 'integer', enum: [status] }, job: JOB } },
        { status, job: JOB_EXAMPLE },
      ),
    },
  });
  return {
    protocol: {
      health: {
        operationId: id('health'),
        summary: 'Which methods are served, the pool size, and the task when one is set (never needs the token)',
        tags: ['alectio'],
        responses: {
          200: {
            description: 'PROTOCOL.md’s health answer',
            content: json(
              {
                type: 'object',
                required: ['status', 'handlers', 'pool_size'],
                properties: {
                  status: { type: 'integer', enum: [200] },
                  handlers: {
                    type: 'object',
                    required: [...HANDLER_KINDS],
                    properties: Object.fromEntries(HANDLER_KINDS.map((kind) => [kind, { type: 'boolean' }])),
                  },
                  pool_size: { type: 'integer', nullable: true },
                  task: { type: 'string', enum: ['classification', 'detection'] },
                },
              },
              {
                status: 200,
                handlers: { train: true, test: true, infer: true },
                pool_size: config.poolSize,
                ...(config.task ? { task: config.task } : {}),
              },
            ),
          },
        },
      },
      live: {
        operationId: id('live'),
        summary: 'Liveness: the process answers, draining or not (never needs the token)',
        tags: ['alectio'],
        responses: {
          200: {
            description: 'Alive',
            content: json(
              {
                type: 'object',
                required: ['status', 'live'],
                properties: { status: { type: 'integer', enum: [200] }, live: { type: 'boolean', enum: [true] } },
              },
              { status: 200, live: true },
            ),
          },
        },
      },
      ready: {
        operationId: id('ready'),
        summary: 'Readiness: methods discovered, not draining, and in distributed mode Redis and a worker there',
        tags: ['alectio'],
        responses: {
          200: {
            description: 'Ready: every check holds',
            content: json(
              {
                type: 'object',
                required: ['status', 'ready', 'checks'],
                properties: { status: { type: 'integer', enum: [200] }, ready: { type: 'boolean' }, checks: CHECKS },
              },
              {
                status: 200,
                ready: true,
                checks: {
                  methods: { ok: true, detail: 'train, test and infer are discovered' },
                  accepting: { ok: true, detail: 'accepting work' },
                },
              },
            ),
          },
          503: {
            description: 'Not ready: the message names what fails',
            content: json(
              { ...ERROR, properties: { ...(ERROR.properties as Schema), ready: { type: 'boolean' }, checks: CHECKS } },
              {
                status: 503,
                error: 'Service Unavailable',
                message: 'not ready: accepting: the server is shutting down and accepts no new work',
                ready: false,
                checks: {
                  methods: { ok: true, detail: 'train, test and infer are discovered' },
                  accepting: { ok: false, detail: 'the server is shutting down and accepts no new work' },
                },
              },
            ),
          },
        },
      },
      train: call('train'),
      test: call('test'),
      infer: call('infer'),
    },
    jobs: {
      list: {
        operationId: id('jobs_list'),
        summary: 'Jobs, newest first, without their results',
        tags: ['alectio jobs'],
        ...secured,
        parameters: [
          { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } },
          { name: 'offset', in: 'query', required: false, schema: { type: 'integer', minimum: 0, default: 0 } },
        ],
        responses: {
          200: {
            description: 'A page of jobs',
            content: json(
              {
                type: 'object',
                required: ['status', 'jobs', 'total', 'limit', 'offset'],
                properties: {
                  status: { type: 'integer', enum: [200] },
                  jobs: { type: 'array', items: JOB },
                  total: { type: 'integer' },
                  limit: { type: 'integer' },
                  offset: { type: 'integer' },
                },
              },
              { status: 200, jobs: [JOB_EXAMPLE], total: 1, limit: 20, offset: 0 },
            ),
          },
          ...ERRORS[400](['limit must be an integer from 1 to 100, got "0"']),
          ...unauthorized,
        },
      },
      get: {
        operationId: id('jobs_get'),
        summary: 'A job: its state, progress, and once it has ended its result or error',
        tags: ['alectio jobs'],
        ...secured,
        parameters: [JOB_ID],
        responses: { ...jobResponse(200, 'The job'), ...ERRORS[404], ...unauthorized },
      },
      cancel: {
        operationId: id('jobs_cancel'),
        summary: "Cancel a job: its method's signal is aborted; it ends cancelled once the method returns",
        tags: ['alectio jobs'],
        ...secured,
        parameters: [JOB_ID],
        responses: {
          ...jobResponse(202, 'Cancelling'),
          ...ERRORS[404],
          ...error(409, 'The job has ended already', {
            status: 409,
            error: 'Conflict',
            message: 'job "x" has already succeeded',
          }),
          ...unauthorized,
        },
      },
    },
  };
}

const CHECKS: Schema = {
  type: 'object',
  additionalProperties: {
    type: 'object',
    required: ['ok', 'detail'],
    properties: { ok: { type: 'boolean' }, detail: { type: 'string' } },
  },
};

const JOB_ID = { name: 'id', in: 'path', required: true, schema: { type: 'string' }, example: JOB_EXAMPLE.id };

/**
 * Job mode's completion callback: the job POSTed, signed, to the configured URL, documented
 * without its credentials or query (a webhook's URL often carries a secret there).
 */
function callbackOf(configured: string): Record<string, unknown> {
  const parsed = new URL(configured);
  const url = `${parsed.origin}${parsed.pathname}`;
  return {
    jobFinished: {
      [url]: {
        post: {
          summary: 'A job has ended: the job as GET /jobs/:id shows it, signed with HMAC-SHA256 of the body',
          parameters: [
            {
              name: SIGNATURE_HEADER,
              in: 'header',
              required: true,
              description: 'sha256=<hex HMAC-SHA256 of the body, keyed by the callback secret>',
              schema: { type: 'string' },
            },
            { name: 'x-alectio-job-id', in: 'header', required: true, schema: { type: 'string' } },
          ],
          requestBody: {
            required: true,
            content: json(
              { type: 'object', required: ['job'], properties: { job: JOB } },
              { job: { ...JOB_EXAMPLE, state: 'succeeded', progress: 1, finished_at: '2026-12-01T12:05:00.000Z' } },
            ),
          },
          responses: { '2XX': { description: 'Delivered; any other answer is retried with backoff' } },
        },
      },
    },
  };
}
