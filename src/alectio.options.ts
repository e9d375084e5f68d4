import { AlectioConfigurationError } from './alectio.errors.js';
import type { AlectioModuleOptions } from './interfaces/alectio-options.interface.js';

// What body-parser's `bytes` understands. Anything else it would read as a bare number:
// '64MiB' would become a 64-byte limit.
const BYTES = /^\s*\d+(\.\d+)?\s*(b|kb|mb|gb|tb)?\s*$/i;

/** Refuses options that would not do what they say, at start-up rather than at the first call. */
export function assertValidOptions(options: AlectioModuleOptions): void {
  const { prefix, token, bodyLimit, poolSize, checkpointName } = options;
  const problems: string[] = [];
  if (prefix !== undefined && typeof prefix !== 'string') problems.push(`prefix must be a string, got ${typeof prefix}`);
  if (token !== undefined && token !== null && typeof token !== 'string') problems.push(`token must be a string, got ${typeof token}`);
  if (
    bodyLimit !== undefined &&
    !(typeof bodyLimit === 'number' && Number.isSafeInteger(bodyLimit) && bodyLimit > 0) &&
    !(typeof bodyLimit === 'string' && BYTES.test(bodyLimit))
  ) {
    problems.push(`bodyLimit must be a number of bytes or a string like '64mb' (b, kb, mb, gb), got ${JSON.stringify(bodyLimit)}`);
  }
  if (poolSize !== undefined && poolSize !== null && !(Number.isSafeInteger(poolSize) && poolSize > 0)) {
    problems.push(`poolSize must be a positive integer, got ${JSON.stringify(poolSize)}`);
  }
  if (checkpointName !== undefined && !(checkpointName instanceof RegExp) && typeof checkpointName !== 'function') {
    problems.push('checkpointName must be a RegExp or a function (name) => boolean');
  }
  if (problems.length > 0) throw new AlectioConfigurationError(`AlectioModule options: ${problems.join('; ')}`);
}
