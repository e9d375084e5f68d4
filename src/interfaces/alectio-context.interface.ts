import type { LoggerService } from '@nestjs/common';

/**
 * The second argument of every `@Train()`, `@Test()` and `@Infer()` method.
 */
export interface AlectioContext {
  /** Aborted when the job is cancelled (`DELETE /jobs/:id`) or the server shuts down: stop soon. */
  signal: AbortSignal;
  /**
   * Reports how far the method is, from 0 to 1, with an optional message; `GET /jobs/:id` shows
   * it. Harmless in a synchronous call.
   */
  progress(fraction: number, message?: string): void;
  /** A logger whose lines name the endpoint and, in job mode, the job. */
  logger: LoggerService;
}
