import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';

import { ALECTIO_LOGGER_CONTEXT } from '../alectio.constants.js';
import { ALECTIO_METRICS, type AlectioMetrics } from '../metrics/alectio.metrics.js';
import { ALECTIO_CONFIG, type ResolvedOptions } from '../options/resolve-options.js';
import { callbackBody } from '../protocol/answer.js';
import { within } from '../util/timing.js';
import { SIGNATURE_HEADER, signBody } from './callback.signature.js';
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

  /** Starts delivery of the finished job (as GET /jobs/:id shows it) and returns at once. */
  notify(job: StoredJob): void {
    const callback = this.config.callback;
    if (!callback) return;
    const jobId = job.id;
    const body = callbackBody(job);
    const { attempts, backoffMs: backoff } = callback;
    const attempt = async (n: number): Promise<void> => {
      let outcome: string;
      try {
        const response = await fetch(callback.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            [SIGNATURE_HEADER]: signBody(body, callback.secret),
            'x-alectio-job-id': jobId,
          },
          body,
          signal: AbortSignal.timeout(callback.timeoutMs),
        });
        await response.arrayBuffer();
        if (response.ok) {
          this.logger.log(`callback for job ${jobId}: attempt ${n}/${attempts} delivered (${response.status})`);
          this.metrics?.callbackAttempt('delivered');
          return;
        }
        outcome = `answered ${response.status}`;
      } catch (error) {
        outcome = `failed: ${(error as { cause?: Error }).cause?.message ?? (error as Error).message}`;
      }
      if (n >= attempts) {
        this.logger.error(`callback for job ${jobId}: attempt ${n}/${attempts} ${outcome}; giving up`);
        this.metrics?.callbackAttempt('gave_up');
        return;
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
