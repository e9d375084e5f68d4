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
  /** Where each finished job is POSTed, signed; see README, "Job mode". */
  callback?: AlectioCallbackOptions;
  /** On shutdown, how long running methods get to return after their signal is aborted. Default 10 s. */
  shutdownGraceMs?: number;
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
