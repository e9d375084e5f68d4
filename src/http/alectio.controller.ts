import {
  Controller,
  Get,
  Inject,
  Post,
  Req,
  Res,
  Type,
  UnauthorizedException,
  UseFilters,
  VERSION_NEUTRAL,
} from '@nestjs/common';
import { ApplicationConfig } from '@nestjs/core';
import type { Span } from '@opentelemetry/api';
import type { Request, Response } from 'express';

import { HandlerKind } from '../alectio.constants.js';
import { UNAUTHORIZED } from '../alectio.messages.js';
import { CallService } from '../calls/call.service.js';
import { AlectioRegistry } from '../discovery/alectio.registry.js';
import { TRAINING_SLOT, type TrainingSlot } from '../execution/training-slot.js';
import { ReadinessService } from '../health/readiness.service.js';
import { JobService } from '../jobs/job.service.js';
import { ALECTIO_METRICS, type AlectioMetrics } from '../metrics/alectio.metrics.js';
import { ALECTIO_CONFIG, type ResolvedOptions } from '../options/resolve-options.js';
import { acceptedAnswer, errorAnswer, healthAnswer, liveAnswer, readinessAnswer, withStatus } from '../protocol/answer.js';
import { type PayloadOf, PayloadValidator } from '../protocol/payload/payload.validator.js';
import { toProtocolError } from '../protocol/protocol-error.js';
import { ALECTIO_TRACER, type AlectioTracer } from '../tracing/alectio.tracer.js';
import { AlectioExceptionFilter } from './alectio-exception.filter.js';
import { CallLogger } from './call.logger.js';
import { endpointPath } from './route-path.js';
import { sendJson, sendJsonParts } from './send-json.js';
import { TokenVerifier } from './token.verifier.js';

/**
 * The endpoints of PROTOCOL.md. Its routes are fixed; each call asks the registry for the
 * method to run. Answers are written to the response directly, so the host app's global
 * pipes, interceptors and filters cannot reshape the wire protocol.
 */
@Controller({ version: VERSION_NEUTRAL })
@UseFilters(AlectioExceptionFilter)
export class AlectioController {
  constructor(
    private readonly registry: AlectioRegistry,
    private readonly validator: PayloadValidator,
    @Inject(TRAINING_SLOT) private readonly slot: TrainingSlot,
    private readonly calls: CallService,
    private readonly jobs: JobService,
    private readonly log: CallLogger,
    private readonly verifier: TokenVerifier,
    private readonly appConfig: ApplicationConfig,
    @Inject(ALECTIO_CONFIG) private readonly config: ResolvedOptions,
    private readonly readiness: ReadinessService,
    @Inject(ALECTIO_METRICS) private readonly metrics: AlectioMetrics | null,
    @Inject(ALECTIO_TRACER) private readonly tracer: AlectioTracer | null,
  ) {}

  @Get('health')
  health(@Res() res: Response): void {
    const handlers = { train: this.registry.has('train'), test: this.registry.has('test'), infer: this.registry.has('infer') };
    sendJson(res, 200, healthAnswer(handlers, this.config.poolSize, this.config.task));
  }

  /** Liveness: the process and its event loop answer, draining or not (a probe that restarts it would cut the drain short). */
  @Get('health/live')
  live(@Res() res: Response): void {
    sendJson(res, 200, liveAnswer());
  }

  /**
   * Readiness: 503 while the server drains, or in distributed mode while Redis or every worker is
   * gone. Open like /health (an orchestrator probes without credentials); with a token set, what
   * each check saw is told only to a request that carries it.
   */
  @Get('health/ready')
  async ready(@Req() req: Request, @Res() res: Response): Promise<void> {
    const { status, body } = readinessAnswer(await this.readiness.check(), this.verifier.authorize(req));
    sendJson(res, status, body);
  }

  @Post('train')
  train(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.run('train', req, res);
  }

  @Post('test')
  test(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.run('test', req, res);
  }

  @Post('infer')
  infer(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.run('infer', req, res);
  }

  // The body is read from the request, not through @Body(): a global ValidationPipe of the
  // host app would walk every index again, or refuse the fields the protocol says to ignore.
  private run(kind: HandlerKind, req: Request, res: Response): Promise<void> {
    if (!this.tracer) return this.handle(kind, req, res);
    return this.tracer.inSpan(`alectio.${kind}`, { 'alectio.endpoint': kind }, (span) => this.handle(kind, req, res, span));
  }

  private async handle(kind: HandlerKind, req: Request, res: Response, span?: Span): Promise<void> {
    const started = performance.now();
    const endpoint = `POST /${kind}`;
    let details = '';
    let status: number | 'client_closed' = 500;
    this.metrics?.handling(kind, 1);
    try {
      // The request gate admitted the request before its body was read (one check per request);
      // this holds the line for one that reached the route without the gate.
      if (!this.verifier.authorize(req)) throw new UnauthorizedException(UNAUTHORIZED);
      const payload = await this.validator.validate(kind, req.body);
      details = callDetails(kind, payload);
      if (kind !== 'test') {
        const list = kind === 'train' ? (payload as PayloadOf<'train'>).labeled : (payload as PayloadOf<'infer'>).unlabeled;
        this.metrics?.listSize(kind, list.length);
        span?.setAttribute(kind === 'train' ? 'alectio.labeled.count' : 'alectio.unlabeled.count', list.length);
      }
      // Bounded: a checkpointName function of the app's own may admit names of any length.
      span?.setAttribute('alectio.ckpt_file', payload.ckpt_file.slice(0, 255));
      const resumeFrom = (payload as PayloadOf<'train'>).resume_from;
      if (resumeFrom) span?.setAttribute('alectio.resume_from', resumeFrom.slice(0, 255));
      this.calls.assertAccepting();
      const release = await this.slot.enter(kind, payload.ckpt_file);
      if (prefersAsync(req)) {
        const job = await this.jobs.submit(kind, payload, release);
        const statusUrl = endpointPath(this.appConfig, this.config, 'jobs', job.id);
        res.setHeader('Preference-Applied', 'respond-async');
        res.setHeader('Location', statusUrl);
        sendJson(res, 202, acceptedAnswer(job.id, statusUrl));
        this.log.accepted(endpoint, details, started, job.id);
        status = 202;
        span?.setAttribute('alectio.job.id', job.id);
        return;
      }
      // A client that leaves stops the method (its signal), and the slot is freed when it returns.
      const onClientGone = (stop: () => void) => res.once('close', () => res.writableFinished || stop());
      let parts: string[];
      try {
        parts = await this.calls.call(kind, payload, onClientGone);
      } finally {
        release();
      }
      await sendJsonParts(res, 200, withStatus(parts, 200));
      status = res.writableFinished ? 200 : 'client_closed';
      if (res.writableFinished) this.log.succeeded(endpoint, details, started);
      else this.log.abandoned(endpoint, details, started);
    } catch (exception) {
      if (res.destroyed && !res.writableFinished) {
        status = 'client_closed';
        return this.log.abandoned(endpoint, details, started);
      }
      const error = toProtocolError(exception);
      status = error.status;
      this.log.failed(endpoint, details, started, error, exception);
      sendJson(res, error.status, errorAnswer(error));
      if (span && error.status >= 500) this.tracer!.failed(span, String(error.message));
    } finally {
      this.metrics?.handling(kind, -1);
      span?.setAttribute('alectio.outcome', String(status));
      if (typeof status === 'number') span?.setAttribute('http.response.status_code', status);
    }
  }
}

/** A fresh subclass per module import, so that each import can have its own path. */
export function createAlectioController(): Type<AlectioController> {
  class AlectioRoutesController extends AlectioController {}
  return AlectioRoutesController;
}

/** RFC 7240: `Prefer: respond-async`, possibly among other preferences. */
function prefersAsync(req: Request): boolean {
  const prefer = req.headers.prefer;
  if (!prefer) return false;
  return (Array.isArray(prefer) ? prefer.join(',') : prefer)
    .split(',')
    .some((preference) => preference.split(/[;=]/)[0].trim().toLowerCase() === 'respond-async');
}

/** The list sizes and checkpoint of a call, for its log line. */
function callDetails(kind: HandlerKind, payload: PayloadOf<HandlerKind>): string {
  const sizes =
    kind === 'train'
      ? ` labeled=${(payload as PayloadOf<'train'>).labeled.length}`
      : kind === 'infer'
        ? ` unlabeled=${(payload as PayloadOf<'infer'>).unlabeled.length}`
        : '';
  return `${sizes} ckpt_file=${payload.ckpt_file}`;
}
