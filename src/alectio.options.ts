import { AlectioConfigurationError } from './alectio.errors.js';
import type { AlectioDistributedOptions, AlectioModuleOptions } from './interfaces/alectio-options.interface.js';

// What body-parser's `bytes` understands. Anything else it would read as a bare number:
// '64MiB' would become a 64-byte limit.
const BYTES = /^\s*\d+(\.\d+)?\s*(b|kb|mb|gb|tb)?\s*$/i;

/** Refuses options that would not do what they say, at start-up rather than at the first call. */
export function assertValidOptions(options: AlectioModuleOptions): void {
  const { prefix, token, bodyLimit, poolSize, checkpointName, jobsDatabase, callback, shutdownGraceMs, distributed } = options;
  const problems: string[] = [];
  if (prefix !== undefined && typeof prefix !== 'string') problems.push(`prefix must be a string, got ${typeof prefix}`);
  if (token !== undefined && token !== null && typeof token !== 'string')
    problems.push(`token must be a string, got ${typeof token}`);
  if (
    bodyLimit !== undefined &&
    !(typeof bodyLimit === 'number' && Number.isSafeInteger(bodyLimit) && bodyLimit > 0) &&
    !(typeof bodyLimit === 'string' && BYTES.test(bodyLimit))
  ) {
    problems.push(
      `bodyLimit must be a number of bytes or a string like '64mb' (b, kb, mb, gb), got ${JSON.stringify(bodyLimit)}`,
    );
  }
  if (poolSize !== undefined && poolSize !== null && !(Number.isSafeInteger(poolSize) && poolSize > 0)) {
    problems.push(`poolSize must be a positive integer, got ${JSON.stringify(poolSize)}`);
  }
  if (checkpointName !== undefined && !(checkpointName instanceof RegExp) && typeof checkpointName !== 'function') {
    problems.push('checkpointName must be a RegExp or a function (name) => boolean');
  }
  if (jobsDatabase !== undefined && (typeof jobsDatabase !== 'string' || jobsDatabase === '')) {
    problems.push('jobsDatabase must be the path of an SQLite file');
  }
  if (callback !== undefined) {
    if (typeof callback?.url !== 'string' || !/^https?:\/\//.test(callback.url))
      problems.push('callback.url must be an http(s) URL');
    if (typeof callback?.secret !== 'string' || callback.secret.length < 16) {
      problems.push('callback.secret must be a string of at least 16 characters (it keys the HMAC signature)');
    }
    for (const [name, min] of [
      ['attempts', 1],
      ['backoffMs', 0],
      ['timeoutMs', 1],
    ] as const) {
      const value = callback?.[name];
      if (value !== undefined && !(Number.isSafeInteger(value) && value >= min))
        problems.push(`callback.${name} must be an integer of at least ${min}`);
    }
  }
  if (shutdownGraceMs !== undefined && !(Number.isSafeInteger(shutdownGraceMs) && shutdownGraceMs >= 0)) {
    problems.push(`shutdownGraceMs must be a number of milliseconds, got ${JSON.stringify(shutdownGraceMs)}`);
  }
  if (distributed !== undefined) problems.push(...distributedProblems(distributed));
  if (problems.length > 0) throw new AlectioConfigurationError(`AlectioModule options: ${problems.join('; ')}`);
}

function distributedProblems(distributed: AlectioDistributedOptions): string[] {
  const problems: string[] = [];
  const { redis, role, queue } = distributed ?? {};
  const isUrl = typeof redis === 'string' && /^rediss?:\/\/./.test(redis);
  const isAddress = typeof redis === 'object' && redis !== null && typeof redis.host === 'string' && Number.isInteger(redis.port);
  if (!isUrl && !isAddress) problems.push('distributed.redis must be a redis:// (or rediss://) URL or { host, port }');
  if (role !== undefined && role !== 'api' && role !== 'worker')
    problems.push(`distributed.role must be 'api' or 'worker', got ${JSON.stringify(role)}`);
  if (queue !== undefined && !(typeof queue === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(queue))) {
    problems.push('distributed.queue must be 1 to 64 characters of A-Z a-z 0-9 _ -');
  }
  for (const [name, min] of [
    ['inferChunkSize', 1],
    ['attempts', 1],
    ['lockDurationMs', 100],
    ['concurrency', 1],
  ] as const) {
    const value = distributed?.[name];
    if (value !== undefined && !(Number.isSafeInteger(value) && value >= min))
      problems.push(`distributed.${name} must be an integer of at least ${min}`);
  }
  return problems;
}
