import bytes from 'bytes';

import { DEFAULT_BODY_LIMIT, DEFAULT_CHECKPOINT_NAME } from '../alectio.constants.js';
import { AlectioConfigurationError } from '../alectio.errors.js';
import type {
  AlectioCallbackOptions,
  AlectioDistributedOptions,
  AlectioMetricsOptions,
  AlectioMetricsRegistry,
  AlectioModuleOptions,
  AlectioTask,
} from '../interfaces/alectio-options.interface.js';
import { DEFAULT_RESULT_BUDGET_BYTES } from '../jobs/job-store.interface.js';
import { closest } from './closest-name.js';

/** Injection token of the {@link ResolvedOptions}: every service reads its settings here, never the raw options. */
export const ALECTIO_CONFIG = Symbol('alectio:config');

/** Where this process stands: alone, the HTTP side of a pool, or one of the pool's workers. */
export type AlectioRole = 'standalone' | 'api' | 'worker';

/** The module's options, checked, with every default filled in: the one place defaults live. */
export interface ResolvedOptions {
  role: AlectioRole;
  /** The module's path under the app's global prefix; `''` for none. */
  prefix: string;
  /** The bearer token; `undefined` when authentication is off (unset or empty). */
  token: string | undefined;
  /** In bytes (a string such as `'64mb'` is converted). */
  bodyLimit: number;
  poolSize: number | null;
  task: AlectioTask | null;
  checkpointName: RegExp | ((name: string) => boolean);
  jobsDatabase: string | undefined;
  /** The job store's budget of result bytes. */
  jobResultBytes: number;
  callback: Required<AlectioCallbackOptions> | undefined;
  shutdownGraceMs: number;
  distributed: ResolvedDistributedOptions | undefined;
  /** Prometheus metrics, or `undefined` when they are off. */
  metrics: ResolvedMetricsOptions | undefined;
  /** Spans through @opentelemetry/api, where it is installed. */
  tracing: boolean;
}

/** The metrics' settings: the app's registry or none yet (the module makes its own), the prefix, the endpoint. */
export interface ResolvedMetricsOptions {
  registry: AlectioMetricsRegistry | undefined;
  prefix: string;
  endpoint: boolean;
}

export type ResolvedDistributedOptions = Required<AlectioDistributedOptions>;

const DEFAULTS = {
  bodyLimit: DEFAULT_BODY_LIMIT,
  checkpointName: DEFAULT_CHECKPOINT_NAME,
  shutdownGraceMs: 10_000,
  callback: { attempts: 5, backoffMs: 1000, timeoutMs: 10_000 },
  distributed: { role: 'api', queue: 'alectio', inferChunkSize: 10_000, attempts: 3, lockDurationMs: 30_000, concurrency: 1 },
} as const;

/** The option names, so that a misspelt one (`poolsize`) fails start-up instead of being ignored. */
const KNOWN: Record<'options' | 'callback' | 'distributed' | 'metrics', readonly string[]> = {
  options: [
    'prefix',
    'token',
    'bodyLimit',
    'poolSize',
    'task',
    'checkpointName',
    'jobsDatabase',
    'jobResultBytes',
    'callback',
    'shutdownGraceMs',
    'distributed',
    'metrics',
    'tracing',
  ] satisfies (keyof AlectioModuleOptions)[],
  callback: ['url', 'secret', 'attempts', 'backoffMs', 'timeoutMs'] satisfies (keyof AlectioCallbackOptions)[],
  distributed: [
    'redis',
    'role',
    'queue',
    'inferChunkSize',
    'attempts',
    'lockDurationMs',
    'concurrency',
  ] satisfies (keyof AlectioDistributedOptions)[],
  metrics: ['registry', 'prefix', 'endpoint'] satisfies (keyof AlectioMetricsOptions)[],
};

const TASKS = ['classification', 'detection'] as const satisfies readonly AlectioTask[];

// What the `bytes` package understands. Anything else it would read as a bare number:
// '64MiB' would become a 64-byte limit.
const BYTES = /^\s*\d+(\.\d+)?\s*(b|kb|mb|gb|tb)?\s*$/i;

/**
 * Checks the options and fills every default, at start-up rather than at the first call. Throws
 * an {@link AlectioConfigurationError} listing every option that would not do what it says.
 */
export function resolveOptions(options: AlectioModuleOptions): ResolvedOptions {
  const problems: string[] = [];
  if (options === null || typeof options !== 'object') {
    throw new AlectioConfigurationError(
      `AlectioModule options must be an object, got ${options === null ? 'null' : typeof options}`,
    );
  }
  unknownNames(options, KNOWN.options, '', problems);
  const {
    prefix,
    token,
    bodyLimit,
    poolSize,
    task,
    checkpointName,
    jobsDatabase,
    jobResultBytes,
    callback,
    shutdownGraceMs,
    distributed,
    metrics,
    tracing,
  } = options;
  if (prefix !== undefined && typeof prefix !== 'string') problems.push(`prefix must be a string, got ${typeof prefix}`);
  if (token !== undefined && token !== null && typeof token !== 'string')
    problems.push(`token must be a string, got ${typeof token}`);
  if (
    bodyLimit !== undefined &&
    !(typeof bodyLimit === 'number' && Number.isSafeInteger(bodyLimit) && bodyLimit > 0) &&
    !(typeof bodyLimit === 'string' && BYTES.test(bodyLimit) && parseFloat(bodyLimit) > 0)
  ) {
    problems.push(
      `bodyLimit must be a number of bytes or a string like '64mb' (b, kb, mb, gb), got ${JSON.stringify(bodyLimit)}`,
    );
  }
  if (poolSize !== undefined && poolSize !== null && !(Number.isSafeInteger(poolSize) && poolSize > 0)) {
    problems.push(`poolSize must be a positive integer, got ${JSON.stringify(poolSize)}`);
  }
  if (task !== undefined && task !== null && !(TASKS as readonly unknown[]).includes(task)) {
    problems.push(`task must be ${TASKS.map((name) => `'${name}'`).join(' or ')}, got ${JSON.stringify(task)}`);
  }
  if (checkpointName !== undefined && !(checkpointName instanceof RegExp) && typeof checkpointName !== 'function') {
    problems.push('checkpointName must be a RegExp or a function (name) => boolean');
  }
  if (jobsDatabase !== undefined && (typeof jobsDatabase !== 'string' || jobsDatabase === '')) {
    problems.push('jobsDatabase must be the path of an SQLite file');
  }
  if (jobsDatabase !== undefined && distributed !== undefined) {
    problems.push(
      'jobsDatabase and distributed cannot be combined: in distributed mode jobs are kept in the pool\'s Redis, shared by every API process (see README, "Many machines")',
    );
  }
  if (jobResultBytes !== undefined && !(Number.isSafeInteger(jobResultBytes) && jobResultBytes > 0)) {
    problems.push(`jobResultBytes must be a positive number of bytes, got ${JSON.stringify(jobResultBytes)}`);
  }
  if (callback !== undefined) problems.push(...callbackProblems(callback));
  if (shutdownGraceMs !== undefined && !(Number.isSafeInteger(shutdownGraceMs) && shutdownGraceMs >= 0)) {
    problems.push(`shutdownGraceMs must be a number of milliseconds, got ${JSON.stringify(shutdownGraceMs)}`);
  }
  if (distributed !== undefined) problems.push(...distributedProblems(distributed));
  if (metrics !== undefined) problems.push(...metricsProblems(metrics));
  if (tracing !== undefined && typeof tracing !== 'boolean')
    problems.push(`tracing must be true or false, got ${JSON.stringify(tracing)}`);
  if (problems.length > 0) throw new AlectioConfigurationError(`AlectioModule options: ${problems.join('; ')}`);

  const pool =
    distributed && ({ ...DEFAULTS.distributed, ...definedFields(distributed, KNOWN.distributed) } as ResolvedDistributedOptions);
  return {
    role: pool ? pool.role : 'standalone',
    prefix: prefix ?? '',
    token: token || undefined,
    bodyLimit: typeof bodyLimit === 'string' ? Math.floor(bytes.parse(bodyLimit) ?? 0) : (bodyLimit ?? DEFAULTS.bodyLimit),
    poolSize: poolSize ?? null,
    task: task ?? null,
    checkpointName: checkpointName ?? DEFAULTS.checkpointName,
    jobsDatabase,
    jobResultBytes: jobResultBytes ?? DEFAULT_RESULT_BUDGET_BYTES,
    callback:
      callback && ({ ...DEFAULTS.callback, ...definedFields(callback, KNOWN.callback) } as Required<AlectioCallbackOptions>),
    shutdownGraceMs: shutdownGraceMs ?? DEFAULTS.shutdownGraceMs,
    distributed: pool,
    metrics: metricsOf(metrics),
    tracing: tracing ?? true,
  };
}

function metricsOf(metrics: AlectioModuleOptions['metrics']): ResolvedMetricsOptions | undefined {
  if (!metrics) return undefined;
  const given = metrics === true ? {} : metrics;
  return {
    registry: given.registry,
    prefix: given.prefix ?? 'alectio_',
    endpoint: given.endpoint ?? given.registry === undefined,
  };
}

function metricsProblems(metrics: unknown): string[] {
  if (typeof metrics === 'boolean') return [];
  if (metrics === null || typeof metrics !== 'object') return ['metrics must be true, false or { registry, prefix, endpoint }'];
  const problems: string[] = [];
  unknownNames(metrics, KNOWN.metrics, 'metrics.', problems);
  const { registry, prefix, endpoint } = metrics as AlectioMetricsOptions;
  if (registry !== undefined && (typeof registry?.registerMetric !== 'function' || typeof registry?.metrics !== 'function')) {
    problems.push('metrics.registry must be a prom-client Registry');
  }
  // Prometheus's rule for a metric name, which the prefix starts; "__" is Prometheus's own.
  if (
    prefix !== undefined &&
    !(typeof prefix === 'string' && /^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix) && !prefix.startsWith('__'))
  ) {
    problems.push(
      `metrics.prefix must be letters, digits, _ and : (not starting with a digit or __, not empty), got ${JSON.stringify(prefix)}`,
    );
  }
  if (endpoint !== undefined && typeof endpoint !== 'boolean') problems.push('metrics.endpoint must be true or false');
  return problems;
}

function callbackProblems(callback: AlectioCallbackOptions): string[] {
  const problems: string[] = [];
  if (callback !== null && typeof callback === 'object') unknownNames(callback, KNOWN.callback, 'callback.', problems);
  if (typeof callback?.url !== 'string' || !/^https?:\/\//.test(callback.url))
    problems.push('callback.url must be an http(s) URL');
  if (typeof callback?.secret !== 'string' || callback.secret.length < 16) {
    problems.push('callback.secret must be a string of at least 16 characters (it keys the HMAC signature)');
  }
  integersAtLeast(callback, { attempts: 1, backoffMs: 0, timeoutMs: 1 }, 'callback.', problems);
  return problems;
}

function distributedProblems(distributed: AlectioDistributedOptions): string[] {
  const problems: string[] = [];
  if (distributed !== null && typeof distributed === 'object')
    unknownNames(distributed, KNOWN.distributed, 'distributed.', problems);
  const { redis, role, queue } = distributed ?? {};
  const isUrl = typeof redis === 'string' && /^rediss?:\/\/./.test(redis);
  const isAddress = typeof redis === 'object' && redis !== null && typeof redis.host === 'string' && Number.isInteger(redis.port);
  if (!isUrl && !isAddress) problems.push('distributed.redis must be a redis:// (or rediss://) URL or { host, port }');
  if (role !== undefined && role !== 'api' && role !== 'worker') {
    problems.push(`distributed.role must be 'api' or 'worker', got ${JSON.stringify(role)}`);
  }
  if (queue !== undefined && !(typeof queue === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(queue))) {
    problems.push('distributed.queue must be 1 to 64 characters of A-Z a-z 0-9 _ -');
  }
  integersAtLeast(distributed, { inferChunkSize: 1, attempts: 1, lockDurationMs: 100, concurrency: 1 }, 'distributed.', problems);
  return problems;
}

/** Each of these fields, where set, must be an integer of at least its minimum. */
function integersAtLeast(
  given: object | null | undefined,
  minimums: Record<string, number>,
  path: string,
  problems: string[],
): void {
  for (const [name, min] of Object.entries(minimums)) {
    const value = (given as Record<string, unknown> | null | undefined)?.[name];
    if (value !== undefined && !(Number.isSafeInteger(value) && (value as number) >= min)) {
      problems.push(`${path}${name} must be an integer of at least ${min}`);
    }
  }
}

/**
 * The names of a plain object that are not options. Only a plain object's: an instance of the
 * app's own class (an options factory that returns itself) holds its own fields beside the options.
 * A name set to `undefined` sets nothing, and is let be.
 */
function unknownNames(given: object, known: readonly string[], path: string, problems: string[]): void {
  const prototype = Object.getPrototypeOf(given);
  if (prototype !== Object.prototype && prototype !== null) return;
  for (const name of Object.keys(given)) {
    if (known.includes(name) || (given as Record<string, unknown>)[name] === undefined) continue;
    const near = closest(name, known);
    problems.push(`${path}${name} is not an option${near ? `: did you mean ${path}${near}?` : ''} (known: ${known.join(', ')})`);
  }
}

/**
 * The known fields that are set, read one by one (getters and inherited fields count, as they do
 * for the checks above): `{ attempts: undefined }` must not hide the default.
 */
function definedFields<T extends object>(value: T, known: readonly string[]): Partial<T> {
  const fields: Record<string, unknown> = {};
  for (const name of known) {
    const field = (value as Record<string, unknown>)[name];
    if (field !== undefined) fields[name] = field;
  }
  return fields as Partial<T>;
}
