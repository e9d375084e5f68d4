import { BeforeApplicationShutdown, Inject, Injectable, Logger, ServiceUnavailableException } from '@nestjs/common';

import { ALECTIO_LOGGER_CONTEXT, HandlerKind } from '../alectio.constants.js';
import { RunSupervisor } from '../execution/run.supervisor.js';
import { WORK_EXECUTOR, type WorkExecutor } from '../execution/work-executor.js';
import { JobService } from '../jobs/job.service.js';
import { ALECTIO_CONFIG, type ResolvedOptions } from '../options/resolve-options.js';
import type { PayloadOf } from '../protocol/payload/payload.validator.js';

const CLIENT_GONE = 'the client closed the connection before the answer';

/**
 * Synchronous calls, and the server's draining: once shutdown begins no new work is accepted,
 * running methods are aborted, and what still waits is answered within the grace period, so
 * that the HTTP server can close.
 */
@Injectable()
export class CallService implements BeforeApplicationShutdown {
  private readonly logger = new Logger(ALECTIO_LOGGER_CONTEXT);
  private calls = 0;
  /** The synchronous calls waiting for their method: answered 503 when the shutdown grace period ends. */
  private readonly waiting = new Set<(error: Error) => void>();

  constructor(
    @Inject(WORK_EXECUTOR) private readonly executor: WorkExecutor,
    @Inject(ALECTIO_CONFIG) private readonly config: ResolvedOptions,
    private readonly supervisor: RunSupervisor,
    private readonly jobs: JobService,
  ) {}

  /** Throws 503 once shutdown has begun. */
  assertAccepting(): void {
    if (this.supervisor.stopping) {
      throw new ServiceUnavailableException('the server is shutting down and accepts no new work; retry on its successor');
    }
  }

  /**
   * A synchronous call: the method's answer fields as JSON, in parts. Stopped by a shutdown, it
   * is a 503, and it is answered when the grace period ends even if the method never returns.
   * `onClientGone` is given the function that aborts the method's signal, for when nobody waits
   * for its answer any more (a listener, not an AbortSignal: EventTarget costs a small call ~3%).
   */
  async call<K extends HandlerKind>(
    kind: K,
    payload: PayloadOf<K>,
    onClientGone?: (stop: () => void) => void,
  ): Promise<string[]> {
    const id = `call-${++this.calls}`;
    const run = this.supervisor.run(id, `Alectio:${kind}`, (context) => this.executor.execute(kind, payload, context));
    onClientGone?.(() => this.supervisor.cancel(id, CLIENT_GONE));
    // Not a race against one shared never-settling promise: each race would leave a reaction
    // on it, one per call for the life of the server.
    let cut!: (error: Error) => void;
    const cutOff = new Promise<never>((_, reject) => (cut = reject));
    this.waiting.add(cut);
    try {
      return await Promise.race([run, cutOff]);
    } catch (error) {
      if (!this.supervisor.stopping) throw error;
      throw new ServiceUnavailableException(`the server shut down while ${kind} ran; retry on its successor`, { cause: error });
    } finally {
      this.waiting.delete(cut);
    }
  }

  /** Shutdown: refuse new work, abort what runs, wait for it up to the grace period, then answer the rest. */
  async beforeApplicationShutdown(signal?: string): Promise<void> {
    const grace = this.config.shutdownGraceMs;
    const deadline = Date.now() + grace;
    // In a pool, jobs are not stopped but handed on: another API process takes them over.
    this.jobs.handOver();
    const { unfinished } = await this.supervisor.stopAll(`the server is shutting down${signal ? ` (${signal})` : ''}`, grace);
    for (const cut of this.waiting) cut(new Error('the shutdown grace period ended'));
    if (unfinished > 0) this.logger.error(`${unfinished} methods did not return within ${grace} ms of being aborted`);
    await this.jobs.settleAtShutdown(unfinished, grace, deadline);
  }
}
