import type * as BullMq from 'bullmq';
import type { Redis as RedisClient } from 'ioredis';

import { AlectioConfigurationError } from '../alectio.errors.js';
import type { AlectioDistributedOptions } from '../interfaces/alectio-options.interface.js';
import type { ResolvedDistributedOptions } from '../options/resolve-options.js';

/** Distributed mode's resolved options, with where its Redis is and the names it uses there. */
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

export function poolConfig(options: ResolvedDistributedOptions): PoolConfig {
  const { queue } = options;
  const base = `alectio:${queue}`;
  return {
    role: options.role,
    queue,
    inferChunkSize: options.inferChunkSize,
    attempts: options.attempts,
    lockDurationMs: options.lockDurationMs,
    concurrency: options.concurrency,
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
  /**
   * A connection this module owns (and closes). `failFast` (the API process's): commands fail at
   * once while Redis is away, and after 5 s when it does not answer (a frozen or unreachable host
   * keeps the socket open), so a request gets a 503 and never hangs. Otherwise (a worker's) they
   * wait for Redis to come back, and subscriptions are renewed after a reconnection.
   */
  connect(config: PoolConfig, purpose: string, failFast: boolean): RedisClient;
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
    connect: (config, purpose, failFast) =>
      new Redis({
        ...redisOptions(config, purpose),
        ...(failFast ? { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: COMMAND_TIMEOUT_MS } : {}),
      }),
  };
}

export const COMMAND_TIMEOUT_MS = 5000;

/**
 * Options of a connection, for BullMQ's blocking ones (a worker's, the events reader's): given as
 * options, not a client, so that BullMQ creates, owns and closes them; they retry forever, as
 * BullMQ requires.
 */
export function redisOptions(config: PoolConfig, purpose: string): BullMq.RedisOptions {
  const base: BullMq.RedisOptions = {
    connectionName: `alectio:${config.queue}:${purpose}`,
    maxRetriesPerRequest: null,
    connectTimeout: 5000,
  };
  if (typeof config.redis !== 'string') return { ...base, ...config.redis };
  const url = new URL(config.redis);
  return {
    ...base,
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: Number(url.port || 6379),
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    db: url.pathname.length > 1 ? Number(url.pathname.slice(1)) : undefined,
    tls: url.protocol === 'rediss:' ? {} : undefined,
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
