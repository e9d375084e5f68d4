import type { Counter, Gauge, Histogram } from 'prom-client';

import { AlectioConfigurationError } from '../alectio.errors.js';
import type { AlectioMetricsRegistry } from '../interfaces/alectio-options.interface.js';
import type { ResolvedMetricsOptions } from '../options/resolve-options.js';

/** Injection token of the module's {@link AlectioMetrics}, or `null` when metrics are off. */
export const ALECTIO_METRICS = Symbol('alectio:metrics');

type PromClient = typeof import('prom-client');

/** The endpoint label: one of a fixed few, whatever path a client sends (an unbounded label would be an attack). */
export type EndpointLabel = 'train' | 'test' | 'infer' | 'jobs' | 'other';

/** A call that lasts seconds or hours: from a refused header (ms) to a training run (hours). */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14_400];
/** Lists of 1 to 1,000,000 indices and more. */
const SIZE_BUCKETS = [1, 10, 100, 1000, 10_000, 100_000, 1_000_000, 10_000_000];

/**
 * The module's Prometheus metrics, through prom-client (loaded only when metrics are on). Every
 * name starts with the prefix (`alectio_`); in a registry that already holds one of them (the
 * module imported twice, or an app started again in the same process) that one is used.
 */
export class AlectioMetrics {
  readonly registry: AlectioMetricsRegistry;
  private readonly calls: Counter<'endpoint' | 'status'>;
  private readonly durations: Histogram<'endpoint'>;
  private readonly inProgress: Gauge<'endpoint'>;
  private readonly listSizes: Histogram<'endpoint'>;
  private readonly jobs: Gauge<'state'>;
  private readonly jobsFinished: Counter<'kind' | 'state'>;
  private readonly callbacks: Counter<'outcome'>;
  private readonly pieces?: Counter<'kind' | 'outcome'>;
  private readonly retries?: Counter<'kind'>;
  private trainingRunning: () => boolean = () => false;
  private workers?: () => Promise<number | undefined>;

  /** Loads prom-client and registers the metrics; a missing package fails start-up, naming it. */
  static async create(options: ResolvedMetricsOptions, pool: boolean): Promise<AlectioMetrics> {
    let client: PromClient;
    try {
      client = (await import('prom-client')) as PromClient;
    } catch (error) {
      throw new AlectioConfigurationError(
        `the metrics option needs the package prom-client (npm install prom-client@15): ${(error as Error).message}`,
      );
    }
    return new AlectioMetrics(client, options, pool);
  }

  /** `pool`: this is distributed mode's API process, and also counts pieces, retries and workers. */
  private constructor(client: PromClient, { registry, prefix }: ResolvedMetricsOptions, pool: boolean) {
    this.registry = registry ?? (new client.Registry() as unknown as AlectioMetricsRegistry);
    const registers = [this.registry as never];
    // A metric of this name in the registry is this module's from an earlier import or app only if
    // it is of the same type with the same labels; anything else is the app's, and a clash.
    const existing = (name: string, type: string, labelNames: string[] = []): unknown => {
      const found = this.registry.getSingleMetric(prefix + name) as { constructor: { name: string }; labelNames?: string[] };
      if (!found) return undefined;
      const labels = [...(found.labelNames ?? [])].sort().join(',');
      if (found.constructor.name !== type || labels !== [...labelNames].sort().join(',')) {
        throw new AlectioConfigurationError(
          `metrics: the registry already holds a metric named ${prefix + name} (a ${found.constructor.name} ` +
            `with the labels [${labels}]); give metrics.prefix another value`,
        );
      }
      return found;
    };
    const counter = <L extends string>(name: string, help: string, labelNames: L[]) =>
      (existing(name, 'Counter', labelNames) as Counter<L>) ??
      new client.Counter({ name: prefix + name, help, labelNames, registers });
    const gauge = <L extends string>(name: string, help: string, labelNames: L[]) =>
      (existing(name, 'Gauge', labelNames) as Gauge<L>) ?? new client.Gauge({ name: prefix + name, help, labelNames, registers });
    const histogram = <L extends string>(name: string, help: string, labelNames: L[], buckets: number[]) =>
      (existing(name, 'Histogram', labelNames) as Histogram<L>) ??
      new client.Histogram({ name: prefix + name, help, labelNames, buckets, registers });
    // Gauges read at scrape time are registered afresh, so that they read this module's state.
    const collected = (name: string, help: string, collect: (this: Gauge) => void | Promise<void>): void => {
      if (existing(name, 'Gauge')) this.registry.removeSingleMetric(prefix + name);
      new client.Gauge({ name: prefix + name, help, registers, collect });
    };

    this.calls = counter(
      'calls_total',
      'Calls answered, by endpoint and HTTP status (client_closed: the client left before the answer).',
      ['endpoint', 'status'],
    );
    this.durations = histogram(
      'call_duration_seconds',
      'Time from a call arriving to its answer, by endpoint (a 202 of job mode ends the call).',
      ['endpoint'],
      DURATION_BUCKETS,
    );
    this.inProgress = gauge('calls_in_progress', 'POST /train, /test and /infer calls being handled now, by endpoint.', [
      'endpoint',
    ]);
    this.listSizes = histogram(
      'list_size',
      'Indices per call: labeled for train, unlabeled for infer.',
      ['endpoint'],
      SIZE_BUCKETS,
    );
    this.jobs = gauge('jobs', 'Jobs of job mode in progress in this process, by state (queued, running).', ['state']);
    this.jobsFinished = counter(
      'jobs_finished_total',
      'Jobs of job mode that ended, by kind and end state (succeeded, failed, cancelled).',
      ['kind', 'state'],
    );
    this.callbacks = counter(
      'callback_deliveries_total',
      'Attempts to deliver a job callback, by outcome: delivered, retried (failed, tried again later), gave_up (failed, the last).',
      ['outcome'],
    );
    // The collect callbacks run with `this` bound to their gauge: they read the state through these.
    const training = (): boolean => this.trainingRunning();
    const workers = async (): Promise<number | undefined> => this.workers?.();
    collected(
      'training_running',
      'Whether a training runs now (1) or not (0), on this server or, in distributed mode, started by it.',
      function () {
        this.set(training() ? 1 : 0);
      },
    );
    if (!pool) return;
    this.pieces = counter(
      'pool_pieces_total',
      'Distributed mode: pieces of work this API process waited for, by kind and outcome.',
      ['kind', 'outcome'],
    );
    this.retries = counter(
      'pool_piece_retries_total',
      'Distributed mode: pieces started again after a failed or abandoned attempt, by kind.',
      ['kind'],
    );
    collected(
      'pool_workers',
      'Distributed mode: workers connected to the queue (NaN while Redis is away or refuses CLIENT LIST).',
      async function () {
        this.set((await workers()) ?? NaN);
      },
    );
  }

  /** Where the training gauge reads whether a training runs. */
  watchTraining(running: () => boolean): void {
    this.trainingRunning = running;
  }

  /** Where the workers gauge reads the pool's worker count (distributed mode's API process). */
  watchWorkers(count: () => Promise<number | undefined>): void {
    this.workers = count;
  }

  /** A call answered: `status` is the HTTP status, or `client_closed`. */
  called(endpoint: string, status: number | 'client_closed', startedMs: number): void {
    const label = endpointLabel(endpoint);
    const key = `${label} ${status}`;
    let count = this.callChildren.get(key);
    if (!count) this.callChildren.set(key, (count = this.calls.labels(label, String(status))));
    count.inc();
    this.child(this.durations, label).observe((performance.now() - startedMs) / 1000);
  }

  /** A POST call began (`+1`) or ended (`-1`). */
  handling(kind: EndpointLabel, change: 1 | -1): void {
    this.child(this.inProgress, kind).inc(change);
  }

  listSize(kind: 'train' | 'infer', size: number): void {
    this.child(this.listSizes, kind).observe(size);
  }

  // The series of one endpoint, looked up once: prom-client hashes the labels on every call otherwise.
  private readonly callChildren = new Map<string, { inc(): void }>();
  private readonly children = new Map<object, Map<string, unknown>>();

  private child<T extends { labels(...values: string[]): unknown }>(metric: T, endpoint: string): ReturnType<T['labels']> {
    let byEndpoint = this.children.get(metric);
    if (!byEndpoint) this.children.set(metric, (byEndpoint = new Map()));
    let series = byEndpoint.get(endpoint);
    if (!series) byEndpoint.set(endpoint, (series = metric.labels(endpoint)));
    return series as ReturnType<T['labels']>;
  }

  /** A job moved: queued, from queued to running, or to its end state (from the state it was in). */
  jobQueued(): void {
    this.jobs.inc({ state: 'queued' });
  }

  jobStarted(): void {
    this.jobs.dec({ state: 'queued' });
    this.jobs.inc({ state: 'running' });
  }

  jobEnded(kind: string, from: 'queued' | 'running', state: string): void {
    this.jobs.dec({ state: from });
    this.jobsFinished.inc({ kind, state });
  }

  callbackAttempt(outcome: 'delivered' | 'retried' | 'gave_up'): void {
    this.callbacks.inc({ outcome });
  }

  piece(kind: string, outcome: 'completed' | 'failed' | 'cancelled' | 'lost'): void {
    this.pieces?.inc({ kind, outcome });
  }

  pieceRetried(kind: string): void {
    this.retries?.inc({ kind });
  }
}

/** The endpoint label of a call's endpoint as the log names it (`POST /train`, `GET /api/jobs/…`), whatever the prefixes. */
export function endpointLabel(endpoint: string): EndpointLabel {
  const path = endpoint.slice(endpoint.indexOf(' ') + 1).replace(/\/+$/, '');
  const call = /\/(train|test|infer)$/.exec(path);
  if (call) return call[1] as EndpointLabel;
  return /\/jobs(\/[^/]+)?$/.test(path) ? 'jobs' : 'other';
}
