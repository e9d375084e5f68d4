import type * as BullMq from 'bullmq';
import type { Redis as RedisClient, RedisOptions } from 'ioredis';
import { AlectioConfigurationError } from '../alectio.errors.js';
import type { AlectioDistributedOptions } from '../interfaces/alectio-options.interface.js';

/** Distributed mode's options with their defaults filled in, and the names it uses in Redis. */
export interface PoolConfig {
  role: 'api' | 'worker';
  queue: string;
  inferChunkSize: number;
  attempts: number;
  lockDurationMs: number;
  concurrency: number;
  /** `host:port` of the Redis, for messages (never its password). */
  where: string;
  keys: PoolKeys;
  redis: AlectioDistributedOptions['redis'];
}

/** Our own keys, beside (not inside) BullMQ's `bull:<queue>:*`, where a job id could collide. */
export interface PoolKeys {
  training: string;
  result(jobId: string): string;
  cancelled(jobId: string): string;
  cancelChannel: string;
}

export function poolConfig(options: AlectioDistributedOptions): PoolConfig {
  const queue = options.queue ?? 'alectio';
  const base = `alectio:${queue}`;
  return {
    role: options.role ?? 'api',
    queue,
    inferChunkSize: options.inferChunkSize ?? 10_000,
    attempts: options.attempts ?? 3,
    lockDurationMs: options.lockDurationMs ?? 30_000,
    concurrency: options.concurrency ?? 1,
    where: whereOf(options.redis),
    redis: options.redis,
    keys: {
      training: `${base}:training`,
      result: (jobId) => `${base}:result:${jobId}`,
      cancelled: (jobId) => `${base}:cancelled:${jobId}`,
      cancelChannel: `${base}:cancel`,
    },
  };
}

export interface PoolLibraries {
  bullmq: typeof BullMq;
  /** A new connection; `blocking` ones (workers, event readers) must retry forever, as BullMQ requires. */
  connect(config: PoolConfig, purpose: string, blocking: boolean): RedisClient;
}

/**
 * bullmq and ioredis are optional peers, loaded only in distributed mode, so that an app
 * without Redis installs neither.
 */
export async function loadPoolLibraries(): Promise<PoolLibraries> {
  let bullmq: typeof BullMq;
  let Redis: typeof RedisClient;
  try {
    bullmq = await import('bullmq');
    Redis = (await import('ioredis')).Redis;
  } catch (error) {
    throw new AlectioConfigurationError(
      `the distributed option needs the packages bullmq and ioredis (npm install bullmq@6 ioredis@5): ${(error as Error).message}`,
    );
  }
  return {
    bullmq,
    connect(config, purpose, blocking) {
      const extra: RedisOptions = {
        connectionName: `alectio:${config.queue}:${purpose}`,
        // Commands of a request fail at once while Redis is away (503), instead of queueing
        // until it comes back: the platform should hear about it, not hang.
        ...(blocking ? { maxRetriesPerRequest: null } : { enableOfflineQueue: false, maxRetriesPerRequest: 1 }),
      };
      return typeof config.redis === 'string' ? new Redis(config.redis, extra) : new Redis({ ...config.redis, ...extra });
    },
  };
}

function whereOf(redis: AlectioDistributedOptions['redis']): string {
  if (typeof redis !== 'string') return `${redis?.host}:${redis?.port}`;
  try {
    const url = new URL(redis);
    return `${url.hostname}:${url.port || 6379}`;
  } catch {
    return 'the configured Redis';
  }
}
