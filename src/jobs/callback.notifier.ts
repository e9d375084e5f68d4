import { Readable } from 'node:stream';

import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';

import { ALECTIO_LOGGER_CONTEXT } from '../alectio.constants.js';
import { ALECTIO_METRICS, type AlectioMetrics } from '../metrics/alectio.metrics.js';
import { ALECTIO_CONFIG, type ResolvedOptions } from '../options/resolve-options.js';
import { callbackParts } from '../protocol/answer.js';
import { within } from '../util/timing.js';
import { bodySigner, SIGNATURE_HEADER } from './callback.signature.js';
import type { StoredJob } from './job.model.js';

/**
 * POSTs each finished job to the configured callback URL, signed, retrying with exponential
 * backoff a bounded number of times. Delivery is the receiver's news: it never changes the job.
 */
@Injectable()
export class CallbackNotifier implements OnApplicationShutdown {
  private readonly logger = new Logger(ALECTIO_LOGGER_CONTEXT);
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly attempts = new Set<Promise<void>>();

  constructor(
    @Inject(ALECTIO_CONFIG) private readonly config: ResolvedOptions,
    @Inject(ALECTIO_METRICS) private readonly metrics: AlectioMetrics | null,
  ) {}

  /** Whether finished jobs are POSTed anywhere. */
  get enabled(): boolean {
    return this.config.callback !== undefined;
  }

  /**
   * Starts delivery of the finished job (as GET /jobs/:id shows it) and returns at once. `read`
   * gives the job afresh for each attempt, its result read from the store in parts: a body is
   * signed as it is read, then sent as it is read again, never held whole. `settled` is called
   * once the delivery has ended, delivered or given up.
   */
  notify(jobId: string, read: () => Promise<StoredJob>, settled?: (delivered: boolean) => void): void {
    const callback = this.config.callback;
    if (!callback) return settled?.(false);
    const { attempts, backoffMs: backoff } = callback;
    const attempt = async (n: number): Promise<void> => {
      let outcome: string;
      try {
        const { signature, body } = await signed(callbackParts(await read()), callback.secret);
        const response = await fetch(callback.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            [SIGNATURE_HEADER]: signature,
            'x-alectio-job-id': jobId,
          },
          // A large body is read from the store again as it is sent, never held whole.
          body:
            body ??
            (Readable.toWeb(Readable.from(encoded(callbackParts(await read()), callback.secret, signature))) as ReadableStream),
          duplex: 'half',
          signal: AbortSignal.timeout(callback.timeoutMs),
        } as RequestInit);
        await response.arrayBuffer();
        if (response.ok) {
          this.logger.log(`callback for job ${jobId}: attempt ${n}/${attempts} delivered (${response.status})`);
          this.metrics?.callbackAttempt('delivered');
          return settled?.(true);
        }
        outcome = `answered ${response.status}`;
      } catch (error) {
        outcome = `failed: ${(error as { cause?: Error }).cause?.message ?? (error as Error).message}`;
      }
      if (n >= attempts) {
        this.logger.error(`callback for job ${jobId}: attempt ${n}/${attempts} ${outcome}; giving up`);
        this.metrics?.callbackAttempt('gave_up');
        return settled?.(false);
      }
      this.metrics?.callbackAttempt('retried');
      const delay = backoff * 2 ** (n - 1);
      this.logger.warn(`callback for job ${jobId}: attempt ${n}/${attempts} ${outcome}; retrying in ${delay} ms`);
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.track(attempt(n + 1));
      }, delay);
      this.timers.add(timer);
    };
    this.track(attempt(1));
  }

  /** Waits, at most `ms`, for the deliveries in flight: at shutdown, the last jobs' first attempt. */
  async settle(ms: number): Promise<void> {
    await within(Math.max(0, ms), Promise.all(this.attempts));
  }

  private track(attempt: Promise<void>): void {
    const settled = attempt.catch(() => undefined).finally(() => this.attempts.delete(settled));
    this.attempts.add(settled);
  }

  /** Retries still waiting are dropped: delivery is best effort across a shutdown. */
  onApplicationShutdown(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}

/** A body up to this many characters is sent as one string, with its length; a larger one is streamed. */
const WHOLE_BODY_CHARS = 8 << 20;

/** The signature of the body read from `parts`, and the body itself when it is small. */
async function signed(parts: AsyncIterable<string>, secret: string): Promise<{ signature: string; body?: string }> {
  const signer = bodySigner(secret);
  const kept: string[] = [];
  let chars = 0;
  for await (const part of parts) {
    signer.update(part);
    chars += part.length;
    if (chars <= WHOLE_BODY_CHARS) kept.push(part);
  }
  return { signature: signer.signature(), body: chars <= WHOLE_BODY_CHARS ? kept.join('') : undefined };
}

/**
 * Parts as UTF-8 bytes, for a request body, signed again as they go: a body that came out other
 * than the one signed (its result dropped between the two reads) is cut before its end (the chunked
 * body never completes), so that the attempt fails rather than deliver a body its signature does not match.
 */
async function* encoded(parts: AsyncIterable<string>, secret: string, signature: string): AsyncGenerator<Buffer> {
  const signer = bodySigner(secret);
  for await (const part of parts) {
    const bytes = Buffer.from(part, 'utf8');
    signer.update(bytes);
    yield bytes;
  }
  if (signer.signature() !== signature) throw new Error('the job changed while its callback was being sent');
}
