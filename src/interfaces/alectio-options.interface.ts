/**
 * Options of `AlectioModule.forRoot()` / `forRootAsync()`. Every field is optional:
 * `AlectioModule.forRoot()` serves the protocol with its safe defaults.
 */
export interface AlectioModuleOptions {
  /**
   * Path under which the endpoints are served, after the app's global prefix:
   * `'alectio'` serves `POST /alectio/train`, ... Default: none (`POST /train`).
   */
  prefix?: string;
  /**
   * Bearer token the platform must send (`Authorization: Bearer <token>`) on every endpoint
   * but `GET /health`. Unset or empty: authentication is off.
   */
  token?: string;
  /**
   * Largest request body accepted on the module's endpoints, in bytes or as a string
   * such as `'64mb'`. Default 64 MiB, enough for 1,000,000 indices. The app's other
   * routes keep their own limit.
   */
  bodyLimit?: number | string;
  /**
   * Size of the training pool. When set, every index of `labeled` and `unlabeled` must be
   * below it, and `GET /health` reports it.
   */
  poolSize?: number;
  /**
   * The ML task the methods serve, reported by `GET /health` (`"task"`). With a task set, every
   * result value is checked against its shape before it is sent (a 500 naming the index and the
   * rule otherwise): `'classification'` wants integer class ids and output lists of one length,
   * `'detection'` PROTOCOL.md's `{boxes, objects, scores}` and `{boxes, pre_softmax, scores}`.
   * Unset (the default): nothing is checked beyond PROTOCOL.md's general rules.
   */
  task?: AlectioTask;
  /**
   * Rule a checkpoint name (`ckpt_file`, `resume_from`) must follow. Default: PROTOCOL.md's
   * plain file name (1 to 255 characters of `A-Z a-z 0-9 . _ -`, not starting with `.`).
   * A function returns `true` to accept. Loosen it only if your methods confine the path
   * themselves.
   */
  checkpointName?: RegExp | ((name: string) => boolean);
  /**
   * SQLite file where jobs are recorded (needs the package `better-sqlite3` 12), so finished
   * results survive a restart. Unset: jobs are kept in memory.
   */
  jobsDatabase?: string;
  /**
   * Bytes of job results the job store keeps (UTF-8, as stored: in memory, in the SQLite file, or in
   * distributed mode in the pool's Redis). Past it the oldest results are dropped (their jobs stay,
   * marked so); a single result larger than it fails its job, with a message that says so.
   * Default 256 MiB.
   */
  jobResultBytes?: number;
  /** Where each finished job is POSTed, signed; see README, "Job mode". */
  callback?: AlectioCallbackOptions;
  /** On shutdown, how long running methods get to return after their signal is aborted. Default 10 s. */
  shutdownGraceMs?: number;
  /**
   * Runs the methods on a pool of worker processes through BullMQ on Redis (needs the packages
   * `bullmq` 6 and `ioredis` 5). Unset: they run in this process. See README, "Many machines".
   */
  distributed?: AlectioDistributedOptions;
  /**
   * Prometheus metrics through `prom-client` 15 (an optional peer): `true` serves them at
   * `GET /metrics` beside the module's routes (behind the token when one is set), from a registry
   * of the module's own; an object picks the registry and the names. Unset (the default): no
   * metric is recorded and `prom-client` is never loaded. See README, "Metrics".
   */
  metrics?: boolean | AlectioMetricsOptions;
  /**
   * OpenTelemetry spans through `@opentelemetry/api` (an optional peer): on by default when it is
   * installed (no-ops until the app registers an SDK); `false` turns them off, so that no call
   * opens one at all. See README, "Traces".
   */
  tracing?: boolean;
}

/** Prometheus metrics: where they are registered, how they are named, whether the module serves them. */
export interface AlectioMetricsOptions {
  /**
   * The `prom-client` Registry to register the metrics in: the app's (`register` of prom-client,
   * or the one `@willsoto/nestjs-prometheus` serves), used as it is. Default: one of the module's own.
   */
  registry?: AlectioMetricsRegistry;
  /** The start of every metric's name, so none clashes with the app's. Default `'alectio_'`. */
  prefix?: string;
  /** Serve `GET /metrics` beside the module's routes. Default: `true` with the module's own registry, `false` with the app's. */
  endpoint?: boolean;
}

/** What the module needs of a `prom-client` Registry (`new Registry()`, or prom-client's global `register`). */
export interface AlectioMetricsRegistry {
  registerMetric(metric: never): void;
  getSingleMetric(name: string): unknown;
  removeSingleMetric(name: string): void;
  metrics(): Promise<string>;
  readonly contentType: string;
}

/** Distributed mode: the same app as the HTTP side (`role: 'api'`) and as workers (`role: 'worker'`). */
export interface AlectioDistributedOptions {
  /** The Redis every API process and worker shares: a `redis://` URL, or host and port. */
  redis: string | { host: string; port: number; username?: string; password?: string; db?: number };
  /**
   * `'api'` (default): serves HTTP and hands the work to the pool. `'worker'`: takes work from
   * the pool and runs the methods; start it without `app.listen()`.
   */
  role?: 'api' | 'worker';
  /** Name of the queue (and of its Redis keys): API processes and workers of one pool share it. Default `'alectio'`. */
  queue?: string;
  /** `/infer` is split into chunks of this many indices, spread over the workers. Default 10,000. */
  inferChunkSize?: number;
  /** Attempts at a piece of work (a chunk, a training, a test) before the request fails. Default 3. */
  attempts?: number;
  /**
   * How long a worker's claim on its work lasts without renewal: a worker that dies has its work
   * taken over by another within about twice this. Default 30 s.
   */
  lockDurationMs?: number;
  /** Pieces of work one worker runs at once. Default 1 (one GPU, one method at a time). */
  concurrency?: number;
}

/** The completion callback of job mode. */
export interface AlectioCallbackOptions {
  url: string;
  /** Key of the HMAC-SHA256 signature sent in the `X-Alectio-Signature` header. */
  secret: string;
  /** Deliveries tried before giving up. Default 5. */
  attempts?: number;
  /** Wait before the second attempt; it doubles after each failure. Default 1000 ms. */
  backoffMs?: number;
  /** How long one attempt may take. Default 10 s. */
  timeoutMs?: number;
}

/** The ML tasks whose result shapes the module can check. */
export type AlectioTask = 'classification' | 'detection';
