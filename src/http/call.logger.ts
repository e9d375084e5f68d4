import { Inject, Injectable, Logger, Optional } from '@nestjs/common';

import { ALECTIO_LOGGER_CONTEXT } from '../alectio.constants.js';
import { ALECTIO_METRICS, type AlectioMetrics } from '../metrics/alectio.metrics.js';
import { errorText, type ProtocolError } from '../protocol/protocol-error.js';

/**
 * One line per call: endpoint, list sizes, duration, outcome; a failure's stack goes here, not to
 * the client. Every call's end passes here, answered or refused: so it is counted here too.
 */
@Injectable()
export class CallLogger {
  private readonly logger = new Logger(ALECTIO_LOGGER_CONTEXT);

  constructor(@Optional() @Inject(ALECTIO_METRICS) private readonly metrics: AlectioMetrics | null = null) {}

  succeeded(endpoint: string, details: string, started: number): void {
    this.logger.log(`${endpoint}${details} -> 200 in ${elapsed(started)}`);
    this.metrics?.called(endpoint, 200, started);
  }

  accepted(endpoint: string, details: string, started: number, jobId: string): void {
    this.logger.log(`${endpoint}${details} -> 202 job ${jobId} in ${elapsed(started)}`);
    this.metrics?.called(endpoint, 202, started);
  }

  /** The client closed the connection before the answer: the method was asked to stop, nothing was delivered. */
  abandoned(endpoint: string, details: string, started: number): void {
    this.logger.warn(
      `${endpoint}${details} -> abandoned in ${elapsed(started)}: the client closed the connection before the answer`,
    );
    this.metrics?.called(endpoint, 'client_closed', started);
  }

  failed(endpoint: string, details: string, started: number, error: ProtocolError, cause?: unknown): void {
    const line = `${endpoint}${details} -> ${error.status} in ${elapsed(started)}: ${errorText(error)}`;
    // 503 is the server draining, not a failure: no stack.
    if (error.status >= 500 && error.status !== 503) this.logger.error(line, stackOf(cause));
    else this.logger.warn(line);
    this.metrics?.called(endpoint, error.status, started);
  }
}

function elapsed(started: number): string {
  return `${(performance.now() - started).toFixed(1)} ms`;
}

function stackOf(cause: unknown): string | undefined {
  const inner = cause instanceof Error && cause.cause instanceof Error ? cause.cause : cause;
  return inner instanceof Error ? inner.stack : undefined;
}
