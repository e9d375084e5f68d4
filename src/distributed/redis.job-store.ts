import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

import { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';

import { ALECTIO_LOGGER_CONTEXT } from '../alectio.constants.js';
import {
  bytesOf,
  type JobEnd,
  type JobResult,
  type JobUpdate,
  type NewJob,
  type StoredJob,
  storedParts,
} from '../jobs/job.model.js';
import { JobResultTooLargeError, JobStoreAwayError } from '../jobs/job-store.errors.js';
import type { JobWork, SharedJobStore, TakenJob } from '../jobs/job-store.interface.js';
import type { PoolLink } from './pool.link.js';

/**
 * Retention, for every API process of the pool at once: the latest 10,000 jobs, finished jobs for
 * 7 days, and `jobResultBytes` of results (256 MiB unless set). Past the count or the age the
 * oldest finished jobs go, whole; past the bytes the oldest results go, their jobs kept and marked so.
 */
const MAX_JOBS = 10_000;
const MAX_AGE_MS = 7 * 24 * 3600_000;
export const RESULT_DROPPED_IN_REDIS = "result dropped to keep the pool's Redis within its budget";
/** A job taken over this many times (every process that ran it died) is given up. */
const MAX_TAKEOVERS = 5;
/** Parts pushed per command, at most this many characters: a few ms of the event loop each. */
const CHARACTERS_PER_WRITE = 1 << 20;
const PARTS_PER_READ = 8;
/** A result being written expires if its writer dies before it ends the job. */
const PENDING_RESULT_TTL_MS = 3600_000;
const RESULT_GONE = 'the result was dropped while it was being read (the job store keeps its byte budget)';
/** The record's fields, each stored as JSON so that null, numbers and strings come back as they went. */
const FIELDS = ['id', 'kind', 'state', 'progress', 'message', 'created_at', 'started_at', 'finished_at', 'error'] as const;

// Every script runs whole, so that no two API processes interleave within one job's change. The
// keys of other jobs (retention) are built from the prefix: a Redis Cluster is not supported.
const DROP = `
local function drop(prefix, id)
  local job = prefix .. ':job:' .. id
  local bytes = tonumber(redis.call('HGET', job, 'result_bytes') or '')
  if bytes then redis.call('DECRBY', prefix .. ':jobs:result-bytes', bytes) end
  redis.call('DEL', job, job .. ':result', job .. ':work')
  redis.call('ZREM', prefix .. ':jobs', id)
  redis.call('ZREM', prefix .. ':jobs:finished', id)
  redis.call('ZREM', prefix .. ':jobs:results', id)
  redis.call('SREM', prefix .. ':jobs:owned', id)
end
`;

/** KEYS: job; ARGV: prefix, id, owner, work, now, maxAge, maxJobs, then field/value pairs. */
const CREATE = `${DROP}
local prefix, id = ARGV[1], ARGV[2]
for _, old in ipairs(redis.call('ZRANGEBYSCORE', prefix .. ':jobs:finished', '-inf', tonumber(ARGV[5]) - tonumber(ARGV[6]), 'LIMIT', 0, 100)) do
  drop(prefix, old)
end
local excess = redis.call('ZCARD', prefix .. ':jobs') + 1 - tonumber(ARGV[7])
if excess > 0 then
  for _, old in ipairs(redis.call('ZRANGE', prefix .. ':jobs:finished', 0, excess - 1)) do drop(prefix, old) end
end
local seq = redis.call('INCR', prefix .. ':jobs:seq')
redis.call('HSET', KEYS[1], 'seq', seq, 'owner', ARGV[3], 'takeovers', 0, unpack(ARGV, 8))
redis.call('SET', KEYS[1] .. ':work', ARGV[4])
redis.call('ZADD', prefix .. ':jobs', seq, id)
redis.call('SADD', prefix .. ':jobs:owned', id)
return seq
`;

/** KEYS: job; ARGV: owner, then field/value pairs. Only the owner's, and only before the end. */
const UPDATE = `
if redis.call('HGET', KEYS[1], 'finished_at') ~= 'null' or redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 1
`;

/**
 * KEYS: job, the result written (a list of parts, or a key that does not exist); ARGV: prefix, id,
 * owner, now, bytes (-1: no result), parts, budget, callback due ('1' or ''), dropped message, the
 * end's token, then field/value pairs. Returns 1 if this end ended the job (again 1 when the same
 * end is written twice, its first reply lost), 0 if another end did, -2 if the job is no longer
 * this process's (another took it over, or this one handed it over), -1 if the parts written are
 * not the result's (to be written again).
 */
const FINISH = `
local prefix, id = ARGV[1], ARGV[2]
local mine = redis.call('HGET', KEYS[1], 'owner') == ARGV[3] and redis.call('HGET', KEYS[1], 'handed') ~= '1'
if redis.call('HGET', KEYS[1], 'finished_at') ~= 'null' then
  redis.call('DEL', KEYS[2])
  if redis.call('HGET', KEYS[1], 'end_token') == ARGV[10] and mine then return 1 end
  return 0
end
if not mine then
  redis.call('DEL', KEYS[2])
  return -2
end
local bytes = tonumber(ARGV[5])
if bytes >= 0 then
  -- Every part there, once each (a push sent again after a reconnection would double one).
  if redis.call('LLEN', KEYS[2]) ~= tonumber(ARGV[6]) then
    redis.call('DEL', KEYS[2])
    return -1
  end
  local counter = prefix .. ':jobs:result-bytes'
  local total = tonumber(redis.call('GET', counter) or '0') + bytes
  while total > tonumber(ARGV[7]) do
    local oldest = redis.call('ZRANGE', prefix .. ':jobs:results', 0, 0)[1]
    if not oldest then break end
    local job = prefix .. ':job:' .. oldest
    local held = tonumber(redis.call('HGET', job, 'result_bytes') or '') or 0
    redis.call('DEL', job .. ':result')
    redis.call('HSET', job, 'result_bytes', 'null', 'result_parts', 'null', 'message', ARGV[9])
    redis.call('ZREM', prefix .. ':jobs:results', oldest)
    redis.call('DECRBY', counter, held)
    total = total - held
  end
  redis.call('RENAME', KEYS[2], KEYS[1] .. ':result')
  redis.call('ZADD', prefix .. ':jobs:results', redis.call('HGET', KEYS[1], 'seq'), id)
  redis.call('INCRBY', counter, bytes)
  redis.call('HSET', KEYS[1], 'result_bytes', bytes, 'result_parts', ARGV[6])
end
redis.call('HSET', KEYS[1], 'end_token', ARGV[10], unpack(ARGV, 11))
redis.call('ZADD', prefix .. ':jobs:finished', ARGV[4], id)
redis.call('DEL', KEYS[1] .. ':work')
if ARGV[8] == '1' then redis.call('HSET', KEYS[1], 'callback', 'due') else redis.call('SREM', prefix .. ':jobs:owned', id) end
return 1
`;

/**
 * ARGV: prefix, owner, limit, this claim's nonce, then the nonces of earlier claims whose reply
 * was lost (their jobs are this process's already, and are given again). The jobs whose owner's
 * lease has lapsed (it died, or lost Redis for longer than its lease) become this process's, if
 * its own lease holds; returns for each its id, its hash and its work (read here, so that a
 * claimed job cannot be left unread). A job its owner handed over (a graceful stop) is not
 * counted as taken over after a death.
 */
const CLAIM = `
local prefix, me = ARGV[1], ARGV[2]
local taken = {}
if redis.call('EXISTS', prefix .. ':jobs:owner:' .. me) == 0 then return taken end
local unconfirmed = {}
for i = 5, #ARGV do unconfirmed[ARGV[i]] = true end
for _, id in ipairs(redis.call('SMEMBERS', prefix .. ':jobs:owned')) do
  if #taken >= tonumber(ARGV[3]) then break end
  local job = prefix .. ':job:' .. id
  local owner = redis.call('HGET', job, 'owner')
  if not owner then
    redis.call('SREM', prefix .. ':jobs:owned', id)
  elseif owner == me and unconfirmed[redis.call('HGET', job, 'claim') or ''] then
    -- Claimed by a call whose reply was lost: given again.
    redis.call('HSET', job, 'claim', ARGV[4])
    table.insert(taken, { id, redis.call('HGETALL', job), redis.call('GET', job .. ':work') or '' })
  elseif owner ~= me and redis.call('EXISTS', prefix .. ':jobs:owner:' .. owner) == 0 then
    redis.call('HSET', job, 'owner', me, 'claim', ARGV[4])
    if redis.call('HGET', job, 'handed') == '1' then redis.call('HDEL', job, 'handed')
    else redis.call('HINCRBY', job, 'takeovers', 1) end
    table.insert(taken, { id, redis.call('HGETALL', job), redis.call('GET', job .. ':work') or '' })
  end
end
return taken
`;

/** KEYS: job; ARGV: prefix, id, owner. The callback of a job this process owns has been delivered or given up. */
const CALLBACK_SETTLED = `
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[3] then return 0 end
redis.call('HDEL', KEYS[1], 'callback')
redis.call('SREM', ARGV[1] .. ':jobs:owned', ARGV[2])
return 1
`;

/** ARGV: prefix, owner. This process stops: its jobs are marked handed over, and its lease goes. */
const HAND_OVER = `
for _, id in ipairs(redis.call('SMEMBERS', ARGV[1] .. ':jobs:owned')) do
  local job = ARGV[1] .. ':job:' .. id
  if redis.call('HGET', job, 'owner') == ARGV[2] then redis.call('HSET', job, 'handed', '1') end
end
redis.call('DEL', ARGV[1] .. ':jobs:owner:' .. ARGV[2])
return 1
`;

/** KEYS: job. A cancel asked of a job still running; 0 once it has ended. */
const REQUEST_CANCEL = `
if redis.call('HGET', KEYS[1], 'finished_at') ~= 'null' then return 0 end
redis.call('HSET', KEYS[1], 'cancel', '1')
return 1
`;

type Hash = Record<string, string>;

/** Errors of a Redis that will answer again soon (or of no answer at all). */
const AWAY = /timed out|connection is closed|^(READONLY|BUSY|MASTERDOWN|LOADING|TRYAGAIN)\b/i;

/** The ids this store makes (randomUUID). */
const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Distributed mode's jobs, in the pool's Redis, shared by every API process: any of them answers
 * `GET /jobs/:id` and `DELETE /jobs/:id` for any job. Each job has an owner, the process running
 * it, whose lease (a key renewed every third of `lockDurationMs`) says it is alive; once a lease
 * lapses, another process claims the owner's jobs and finishes them. Only the owner writes a
 * job's progress and end, and the end is written once: of two processes ending one job, one alone
 * gets `true` and delivers its callback.
 */
export class RedisJobStore implements SharedJobStore {
  private readonly logger = new Logger(ALECTIO_LOGGER_CONTEXT);
  /** This process, as the owner of its jobs: its host and pid, for the operator, and a nonce. */
  readonly instance = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly prefix: string;
  private leaseTimer?: NodeJS.Timeout;
  /** Since when Redis has answered this process without a break (claims wait a lease's lifetime after). */
  private readySince = Date.now();
  /** Nonces of claims whose reply did not come back. */
  private readonly unconfirmedClaims = new Set<string>();
  /** Each end's writes found incomplete, so that they are not tried for ever. */
  private readonly incomplete = new WeakMap<JobEnd, number>();
  /** Each end's token, the same for its retries. */
  private readonly endTokens = new WeakMap<JobEnd, string>();
  private subscriber?: Redis;
  private cancelListener?: (id: string) => void;

  constructor(
    private readonly link: PoolLink,
    private readonly budget: number,
  ) {
    this.prefix = `alectio:${link.config.queue}`;
  }

  private get redis(): Redis {
    return this.link.redis;
  }

  /**
   * Takes this process's lease and keeps it (every third of its lifetime), and listens for
   * cancels asked through any process. Called once the pool's link is open.
   */
  open(subscriber: Redis): void {
    this.readySince = Date.now();
    // Not once handed over: a reconnection then must not bring the lease back. A renewal that
    // fails may have let the lease lapse: claims wait a lease's lifetime again.
    const renew = (): void => void (this.leaseTimer && this.renewLease().catch(() => void (this.readySince = Date.now())));
    this.leaseTimer = setInterval(renew, Math.max(50, Math.floor(this.link.config.lockDurationMs / 3)));
    this.leaseTimer.unref();
    renew();
    // Back from an outage longer than the lease: take it again at once, before claiming anything.
    this.redis.on('ready', () => {
      this.readySince = Date.now();
      renew();
    });
    this.subscriber = subscriber;
    subscriber.on('message', (_channel: string, id: string) => this.cancelListener?.(id));
    subscriber.subscribe(this.cancelChannel).catch((error: Error) => this.logger.error(`cancels: ${error.message}`));
  }

  async create(job: NewJob, work?: JobWork): Promise<void> {
    await this.run(() =>
      this.redis.eval(
        CREATE,
        1,
        this.jobKey(job.id),
        this.prefix,
        job.id,
        this.instance,
        JSON.stringify(work ?? null),
        Date.now(),
        MAX_AGE_MS,
        MAX_JOBS,
        ...pairs(job),
      ),
    );
  }

  async update(id: string, update: JobUpdate): Promise<void> {
    const fields = pairs(update);
    if (fields.length > 0) await this.run(() => this.redis.eval(UPDATE, 1, this.jobKey(id), this.instance, ...fields));
  }

  async finish(id: string, end: JobEnd, callbackDue = false): Promise<boolean> {
    const { result, ...fields } = end;
    // The same end written again (its first reply lost) is told apart from another process's.
    let token = this.endTokens.get(end);
    if (!token) this.endTokens.set(end, (token = randomUUID()));
    const parts = result ? storedParts(result) : [];
    const bytes = result ? await bytesOf(parts) : -1;
    if (bytes > this.budget) throw new JobResultTooLargeError(bytes, this.budget);
    // The parts go to a list of this write's own, a few MiB per command, the event loop free
    // between them; the end renames it into place, or drops it if the job had ended meanwhile.
    const pending = `${this.jobKey(id)}:result:${token}`;
    try {
      // What an earlier attempt of this end left (its push cut short by an outage).
      await this.run(() => this.redis.del(pending));
      for (let n = 0; n < parts.length;) {
        if (n > 0) await yieldToEventLoop();
        const from = n;
        let chars = 0;
        while (n < parts.length && (n === from || chars + parts[n].length <= CHARACTERS_PER_WRITE)) chars += parts[n++].length;
        const batch = parts.slice(from, n);
        // With its lifetime from the first push: a writer that dies leaves nothing for ever.
        await this.run<unknown>(() =>
          from === 0
            ? this.redis
                .multi()
                .rpush(pending, ...batch)
                .pexpire(pending, PENDING_RESULT_TTL_MS)
                .exec()
            : this.redis.rpush(pending, ...batch),
        );
      }
      if (result && parts.length === 0) {
        await this.run<unknown>(() => this.redis.multi().rpush(pending, '').pexpire(pending, PENDING_RESULT_TTL_MS).exec());
      }
      const ended = await this.run(() =>
        this.redis.eval(
          FINISH,
          2,
          this.jobKey(id),
          pending,
          this.prefix,
          id,
          this.instance,
          Date.parse(end.finished_at),
          bytes,
          Math.max(parts.length, result ? 1 : 0),
          this.budget,
          callbackDue ? '1' : '',
          JSON.stringify(RESULT_DROPPED_IN_REDIS),
          token,
          ...pairs(fields),
        ),
      );
      // Written again from the start by the job's writes, as after an outage; not for ever (a
      // Redis that evicts keys may evict it again each time).
      if (ended === -1) {
        const tries = (this.incomplete.get(end) ?? 0) + 1;
        this.incomplete.set(end, tries);
        const message = 'the result being recorded was incomplete in Redis (evicted, or a push sent twice)';
        if (tries >= 3) throw new Error(`${message}, ${tries} times`);
        throw new JobStoreAwayError(`${message}; writing it again`);
      }
      return ended === 1;
    } catch (error) {
      void this.redis.del(pending).catch(() => undefined);
      throw error;
    }
  }

  async get(id: string): Promise<StoredJob | undefined> {
    // Only an id this store made: nothing else reaches a key (`<id>:result` is another job's list).
    if (!JOB_ID.test(id)) return undefined;
    const hash = (await this.run(() => this.redis.hgetall(this.jobKey(id)))) as Hash;
    if (!hash.id) return undefined;
    return { ...recordOf(hash), result: this.resultOf(id, hash) };
  }

  async list({ limit, offset }: { limit: number; offset: number }): Promise<{ jobs: StoredJob[]; total: number }> {
    const [ids, total] = await this.run(() =>
      Promise.all([
        this.redis.zrevrange(`${this.prefix}:jobs`, offset, offset + limit - 1),
        this.redis.zcard(`${this.prefix}:jobs`),
      ]),
    );
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hmget(this.jobKey(id), ...FIELDS);
    const rows = ((await this.run(() => pipeline.exec())) ?? []).map(([, row]) => row as (string | null)[]);
    const jobs = rows
      .filter((row) => row[0] !== null)
      .map((row) => ({ ...recordOf(Object.fromEntries(FIELDS.map((field, i) => [field, row[i]!]))), result: null }));
    return { jobs, total };
  }

  /** Nothing to do: in a pool, the jobs of a process that stopped are taken over, not failed. */
  async failUnfinished(): Promise<number> {
    return 0;
  }

  async claimOrphans(limit: number): Promise<TakenJob[]> {
    // Back from an outage, every lease has lapsed, the live processes' too: none is claimed
    // before they have had a lease's lifetime to take theirs again.
    const sinceReady = Date.now() - this.readySince;
    if (limit <= 0 || this.redis.status !== 'ready' || !this.leaseTimer || sinceReady < this.link.config.lockDurationMs)
      return [];
    await this.renewLease();
    // A claim whose reply is lost has still made its jobs this process's: the next one asks for
    // them again by its nonce, so that none is owned here and run nowhere.
    const nonce = randomUUID();
    const unconfirmed = [...this.unconfirmedClaims];
    this.unconfirmedClaims.add(nonce);
    // Bounded: after 20 failed calls in a row (Redis away, when the script hardly ever ran) the oldest goes.
    if (this.unconfirmedClaims.size > 20) this.unconfirmedClaims.delete(unconfirmed[0]);
    const claimed = (await this.run(() =>
      this.redis.eval(CLAIM, 0, this.prefix, this.instance, limit, nonce, ...unconfirmed),
    )) as [string, string[], string][];
    this.unconfirmedClaims.clear();
    return claimed.map(([id, flat, work]) => {
      const hash: Hash = {};
      for (let i = 0; i < flat.length; i += 2) hash[flat[i]] = flat[i + 1];
      return {
        job: { ...recordOf(hash), result: this.resultOf(id, hash) },
        work: workOf(work),
        cancelRequested: hash.cancel === '1',
        callbackDue: hash.callback === 'due',
        takeovers: Number(hash.takeovers),
        tooOften: Number(hash.takeovers) > MAX_TAKEOVERS,
      };
    });
  }

  async callbackSettled(id: string): Promise<void> {
    await this.run(() => this.redis.eval(CALLBACK_SETTLED, 1, this.jobKey(id), this.prefix, id, this.instance));
  }

  async cancelsOf(ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const flags = await this.run(() => Promise.all(ids.map((id) => this.redis.hget(this.jobKey(id), 'cancel'))));
    return ids.filter((_, i) => flags[i] === '1');
  }

  async requestCancel(id: string): Promise<void> {
    if (!JOB_ID.test(id)) return;
    if ((await this.run(() => this.redis.eval(REQUEST_CANCEL, 1, this.jobKey(id)))) === 1) {
      await this.run(() => this.redis.publish(this.cancelChannel, id));
    }
  }

  onCancel(listener: (id: string) => void): void {
    this.cancelListener = listener;
  }

  /**
   * This process stops: its lease goes at once, so that another process takes its unfinished
   * jobs (and undelivered callbacks) over within a second, not a lease's lifetime later.
   */
  async handOver(): Promise<void> {
    clearInterval(this.leaseTimer);
    this.leaseTimer = undefined;
    await this.redis.eval(HAND_OVER, 0, this.prefix, this.instance).catch(() => undefined);
  }

  async close(): Promise<void> {
    clearInterval(this.leaseTimer);
    this.subscriber?.disconnect();
  }

  private resultOf(id: string, hash: Hash): JobResult | null {
    const count = Number(hash.result_parts);
    if (!hash.result_parts || hash.result_parts === 'null') return null;
    const key = `${this.jobKey(id)}:result`;
    const read = (from: number): Promise<string[]> => this.run(() => this.redis.lrange(key, from, from + PARTS_PER_READ - 1));
    return {
      async *parts() {
        for (let n = 0; n < count; n += PARTS_PER_READ) {
          const rows = await read(n);
          if (rows.length !== Math.min(PARTS_PER_READ, count - n)) throw new Error(RESULT_GONE);
          yield* rows;
        }
      },
    };
  }

  private renewLease(): Promise<unknown> {
    return this.redis.set(this.leaseKey, '1', 'PX', this.link.config.lockDurationMs);
  }

  /**
   * A Redis command; its failure is the 503 that names Redis: a {@link JobStoreAwayError} while
   * Redis cannot be reached (a job's writes wait for it), as it is when Redis refuses.
   */
  private async run<T>(command: () => Promise<T>): Promise<T> {
    try {
      this.link.assertReachable();
      return await command();
    } catch (error) {
      const answer = this.link.asServiceError(error);
      // Out of reach, or refusing for now (a replica read-only after a failover, a busy script,
      // loading its data): a passing state. Out of memory is a refusal: the result may be why.
      const away = this.redis.status !== 'ready' || AWAY.test((error as Error).message);
      throw away ? new JobStoreAwayError(answer.message, { cause: error }) : answer;
    }
  }

  private jobKey(id: string): string {
    return `${this.prefix}:job:${id}`;
  }

  private get leaseKey(): string {
    return `${this.prefix}:jobs:owner:${this.instance}`;
  }

  private get cancelChannel(): string {
    return `${this.prefix}:jobs:cancel`;
  }
}

/** What a job runs, as its work key holds it; null when Redis no longer has it (or it is not JSON). */
function workOf(text: string): JobWork | null {
  try {
    return text === '' ? null : (JSON.parse(text) as JobWork | null);
  } catch {
    return null;
  }
}

/** The record's fields as the hash's field/value pairs, each value as JSON. */
function pairs(fields: object): string[] {
  const out: string[] = [];
  for (const [field, value] of Object.entries(fields)) {
    if (value !== undefined && field !== 'result') out.push(field, JSON.stringify(value));
  }
  return out;
}

/** The record, in its fields' order on the wire, from the hash. */
function recordOf(hash: Hash): Omit<StoredJob, 'result'> {
  const record = Object.fromEntries(FIELDS.map((field) => [field, hash[field] === undefined ? null : JSON.parse(hash[field])]));
  return record as Omit<StoredJob, 'result'>;
}
