import type { Attributes, Span } from '@opentelemetry/api';

/** Injection token of the module's {@link AlectioTracer}, or `null` without `@opentelemetry/api`. */
export const ALECTIO_TRACER = Symbol('alectio:tracer');

type OtelApi = typeof import('@opentelemetry/api');

/** The carrier of a span's context from the API process to a worker: W3C `traceparent` and the like. */
export type TraceCarrier = Record<string, string>;

/** The instrumentation's name, as a tracer is named after its library. */
const TRACER_NAME = 'nestjs-alectio';

/**
 * Spans through `@opentelemetry/api` (an optional peer): a span per call, per job and per piece
 * of distributed mode, the worker's a child of the API process's (the context travels with the
 * piece). Without an SDK registered by the app, the API's tracer is a no-op and so is this.
 */
export class AlectioTracer {
  private constructor(private readonly api: OtelApi) {}

  /** The tracer when `@opentelemetry/api` is installed, else `null` (nothing is traced, nothing loaded). */
  static async create(): Promise<AlectioTracer | null> {
    const api = (await import('@opentelemetry/api').catch(() => null)) as OtelApi | null;
    return api ? new AlectioTracer(api) : null;
  }

  /**
   * Runs `work` in a new span, active while it runs (so spans and carriers made inside are its
   * children); `parent` is a carrier from another process. The span ends when `work` settles,
   * with an error status when it throws; `work` may set more attributes and its own outcome.
   */
  async inSpan<T>(name: string, attributes: Attributes, work: (span: Span) => Promise<T>, parent?: TraceCarrier): Promise<T> {
    const { context, propagation, trace, SpanStatusCode } = this.api;
    const base = parent ? propagation.extract(context.active(), parent) : context.active();
    const tracer = trace.getTracer(TRACER_NAME);
    return tracer.startActiveSpan(name, { attributes }, base, async (span) => {
      try {
        return await work(span);
      } catch (error) {
        span.recordException(error as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message });
        throw error;
      } finally {
        span.end();
      }
    });
  }

  /** Marks a span failed, for an outcome that is not a thrown error (a 500 answered). */
  failed(span: Span, message: string): void {
    span.setStatus({ code: this.api.SpanStatusCode.ERROR, message });
  }

  /** The active context as a carrier, for a piece on its way to a worker; empty without a span. */
  carrier(): TraceCarrier | undefined {
    const carrier: TraceCarrier = {};
    this.api.propagation.inject(this.api.context.active(), carrier);
    return Object.keys(carrier).length > 0 ? carrier : undefined;
  }
}
