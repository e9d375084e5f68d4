import { join, resolve } from 'node:path';

/** The samples: digit classification (the default), digit detection in scenes, and mail classification. */
export type SampleName = 'digits' | 'detection' | 'text';

const SAMPLE_NAMES: readonly SampleName[] = ['digits', 'detection', 'text'];

/** The sample's settings, read from the environment. */
export class SampleConfig {
  /** `ALECTIO_SAMPLE`: which sample to serve, `digits` (the default), `detection` or `text`. */
  readonly sample: SampleName;
  /** `PORT`, 5000 by default. */
  readonly port: number;
  /** `ALECTIO_TOKEN`: the bearer token the platform must send; unset turns authentication off. */
  readonly token?: string;
  /**
   * `HOST`: the address to listen on. Without a token, 127.0.0.1 only, so that an open training
   * endpoint is not offered to the network by default; with one, every interface.
   */
  readonly host: string;
  /** `ALECTIO_CKPT_DIR`: the folder checkpoints are written to (`./checkpoints`), created when missing. */
  readonly checkpointDir: string;
  /** `ALECTIO_JOBS_DB`: the SQLite file of job mode; `.jobs.sqlite` in the checkpoint folder by default. */
  readonly jobsDatabase: string;
  /** `ALECTIO_SHUTDOWN_GRACE_MS`: how long running methods get to stop on SIGTERM (10 s). */
  readonly shutdownGraceMs: number;
  /**
   * `ALECTIO_REDIS_URL`: a `redis://` URL turns on distributed mode: the methods run on worker
   * processes (this app with `ALECTIO_ROLE=worker`) that share this Redis. Unset: in-process.
   */
  readonly redisUrl?: string;
  /** `ALECTIO_ROLE`: `api` (the default: serves HTTP) or `worker` (runs the methods, no HTTP). */
  readonly role: 'api' | 'worker';
  /** `ALECTIO_INFER_CHUNK`: indices per /infer chunk in distributed mode (the library's default, 10,000). */
  readonly inferChunkSize?: number;
  /** `ALECTIO_METRICS`: Prometheus metrics at `GET /metrics`, on unless `0` or `false`. */
  readonly metrics: boolean;
  /**
   * `ALECTIO_CALLBACK_URL` and `ALECTIO_CALLBACK_SECRET`: job mode's completion callback, POSTed
   * signed (HMAC-SHA256 keyed by the secret) to the URL; both or neither. Unset: no callback.
   */
  readonly callback?: { url: string; secret: string };

  constructor(env: NodeJS.ProcessEnv = process.env) {
    const sample = env.ALECTIO_SAMPLE || 'digits';
    if (!SAMPLE_NAMES.includes(sample as SampleName)) {
      throw new Error(`ALECTIO_SAMPLE must be "digits", "detection" or "text", got "${sample}"`);
    }
    this.sample = sample as SampleName;
    this.port = Number(env.PORT || 5000);
    if (!Number.isInteger(this.port) || this.port < 0 || this.port > 65535) {
      throw new Error(`PORT must be a port number, got "${env.PORT}"`);
    }
    this.token = env.ALECTIO_TOKEN || undefined;
    this.host = env.HOST || (this.token ? '0.0.0.0' : '127.0.0.1');
    this.checkpointDir = resolve(env.ALECTIO_CKPT_DIR || 'checkpoints');
    // A name starting with "." is never a checkpoint name: no checkpoint can overwrite it.
    this.jobsDatabase = resolve(env.ALECTIO_JOBS_DB || join(this.checkpointDir, '.jobs.sqlite'));
    this.shutdownGraceMs = Number(env.ALECTIO_SHUTDOWN_GRACE_MS || 10_000);
    if (!Number.isSafeInteger(this.shutdownGraceMs) || this.shutdownGraceMs < 0) {
      throw new Error(`ALECTIO_SHUTDOWN_GRACE_MS must be a number of milliseconds, got "${env.ALECTIO_SHUTDOWN_GRACE_MS}"`);
    }
    this.redisUrl = env.ALECTIO_REDIS_URL || undefined;
    const role = env.ALECTIO_ROLE || 'api';
    if (role !== 'api' && role !== 'worker') throw new Error(`ALECTIO_ROLE must be "api" or "worker", got "${role}"`);
    if (role === 'worker' && !this.redisUrl)
      throw new Error('ALECTIO_ROLE=worker needs ALECTIO_REDIS_URL: the Redis its API process hands work to');
    this.role = role;
    this.inferChunkSize = env.ALECTIO_INFER_CHUNK ? Number(env.ALECTIO_INFER_CHUNK) : undefined;
    const metrics = (env.ALECTIO_METRICS ?? '').toLowerCase();
    if (!['', '1', 'true', '0', 'false'].includes(metrics)) {
      throw new Error(`ALECTIO_METRICS must be "1", "true", "0" or "false", got "${env.ALECTIO_METRICS}"`);
    }
    this.metrics = metrics !== '0' && metrics !== 'false';
    const { ALECTIO_CALLBACK_URL: callbackUrl, ALECTIO_CALLBACK_SECRET: callbackSecret } = env;
    if (Boolean(callbackUrl) !== Boolean(callbackSecret)) {
      throw new Error('ALECTIO_CALLBACK_URL and ALECTIO_CALLBACK_SECRET go together: set both for a callback, or neither');
    }
    // The module checks the URL and the secret's length at start-up, naming what is wrong.
    this.callback = callbackUrl && callbackSecret ? { url: callbackUrl, secret: callbackSecret } : undefined;
  }
}
