import { createHmac } from 'node:crypto';

import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';

import { ALECTIO_LOGGER_CONTEXT } from '../alectio.constants.js';
import { MODULE_OPTIONS_TOKEN } from '../alectio.module-definition.js';
import type { AlectioModuleOptions } from '../interfaces/alectio-options.interface.js';

/** Header carrying `sha256=<hex HMAC-SHA256 of the raw body under the callback secret>`. */
export const SIGNATURE_HEADER = 'x-alectio-signature';

/** The signature a receiver recomputes to tell the callback came from this server. */
export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * POSTs each finished job to the configured callback URL, signed, retrying with exponential
 * backoff a bounded number of times. Delivery is the receiver's news: it never changes the job.
 */
@Injectable()
export class CallbackNotifier implements OnApplicationShutdown {
  private readonly logger = new Logger(ALECTIO_LOGGER_CONTEXT);
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly attempts = new Set<Promise<void>>();

  constructor(@Inject(MODULE_OPTIONS_TOKEN) private readonly options: AlectioModuleOptions) {}

  /** Starts delivery of `jobJson` (the job, as GET /jobs/:id shows it) and returns at once. */
  notify(jobId: string, jobJson: string): void {
    const callback = this.options.callback;
    if (!callback) return;
    const body = `{"job":${jobJson}}`;
    const attempts = callback.attempts ?? 5;
    const backoff = callback.backoffMs ?? 1000;
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
          signal: AbortSignal.timeout(callback.timeoutMs ?? 10_000),
        });
        await response.arrayBuffer();
        if (response.ok) {
          this.logger.log(`callback for job ${jobId}: attempt ${n}/${attempts} delivered (${response.status})`);
          return;
        }
        outcome = `answered ${response.status}`;
      } catch (error) {
        outcome = `failed: ${(error as { cause?: Error }).cause?.message ?? (error as Error).message}`;
      }
      if (n >= attempts) {
        this.logger.error(`callback for job ${jobId}: attempt ${n}/${attempts} ${outcome}; giving up`);
        return;
      }
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
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(this.attempts), new Promise((resolve) => (timer = setTimeout(resolve, Math.max(0, ms))))]);
    clearTimeout(timer);
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
