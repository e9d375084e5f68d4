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
import type { Request, Response } from 'express';

import { HandlerKind } from './alectio.constants.js';
import { UNAUTHORIZED } from './alectio.messages.js';
import { MODULE_OPTIONS_TOKEN } from './alectio.module-definition.js';
import { AlectioRegistry } from './alectio.registry.js';
import { RunTracker } from './alectio.run-tracker.js';
import { WorkDispatcher } from './distributed/work.dispatcher.js';
import { AlectioExceptionFilter } from './http/alectio-exception.filter.js';
import { CallLogger } from './http/call.logger.js';
import { sendJson, sendJsonParts, toProtocolError } from './http/protocol-response.js';
import { endpointPath } from './http/route-path.js';
import { TokenVerifier } from './http/token.verifier.js';
import type { AlectioModuleOptions } from './interfaces/alectio-options.interface.js';
import { AlectioJobs } from './jobs/alectio-jobs.service.js';
import { type PayloadOf, PayloadValidator } from './validation/payload.validator.js';

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
    private readonly tracker: RunTracker,
    private readonly jobs: AlectioJobs,
    private readonly calls: CallLogger,
    private readonly verifier: TokenVerifier,
    private readonly appConfig: ApplicationConfig,
    private readonly dispatcher: WorkDispatcher,
    @Inject(MODULE_OPTIONS_TOKEN) private readonly options: AlectioModuleOptions,
  ) {}

  @Get('health')
  health(@Res() res: Response): void {
    const handlers = { train: this.registry.has('train'), test: this.registry.has('test'), infer: this.registry.has('infer') };
    sendJson(res, 200, JSON.stringify({ status: 200, handlers, pool_size: this.options.poolSize ?? null }));
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
  private async run(kind: HandlerKind, req: Request, res: Response): Promise<void> {
    const started = performance.now();
    const endpoint = `POST /${kind}`;
    let details = '';
    try {
      // The request gate answered 401 before the body was read; this holds the line for any
      // path spelling that reached the route without it (AlectioAuthGuard's check, inlined:
      // Nest's guard pipeline costs a few percent of a 10-index call).
      if (!this.verifier.isAuthorized(req.headers.authorization)) throw new UnauthorizedException(UNAUTHORIZED);
      const payload = this.validator.validate(kind, req.body);
      details = describe(kind, payload);
      this.jobs.assertAccepting();
      let release = this.tracker.enter(kind, payload.ckpt_file);
      // Distributed: the one-training rule holds across the whole pool, checked in Redis.
      if (this.dispatcher.active) release = await this.dispatcher.claim(kind, payload.ckpt_file, release);
      if (prefersAsync(req)) {
        const job = await this.jobs.submit(kind, payload, release);
        const statusUrl = endpointPath(this.appConfig, this.options, 'jobs', job.id);
        res.setHeader('Preference-Applied', 'respond-async');
        res.setHeader('Location', statusUrl);
        sendJson(res, 202, JSON.stringify({ status: 202, job_id: job.id, status_url: statusUrl }));
        this.calls.accepted(endpoint, details, started, job.id);
        return;
      }
      let parts: string[];
      try {
        parts = await this.jobs.call(kind, payload);
      } finally {
        release();
      }
      // The answer is the method's fields after "status": {"status":200,"outputs":{...}}.
      parts[0] = parts[0] === '{}' ? '{"status":200}' : `{"status":200,${parts[0].slice(1)}`;
      await sendJsonParts(res, 200, parts);
      this.calls.succeeded(endpoint, details, started);
    } catch (exception) {
      const error = toProtocolError(exception);
      this.calls.failed(endpoint, details, started, error, exception);
      sendJson(res, error.status, JSON.stringify(error));
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

function describe(kind: HandlerKind, payload: PayloadOf<HandlerKind>): string {
  const sizes =
    kind === 'train'
      ? ` labeled=${(payload as PayloadOf<'train'>).labeled.length}`
      : kind === 'infer'
        ? ` unlabeled=${(payload as PayloadOf<'infer'>).unlabeled.length}`
        : '';
  return `${sizes} ckpt_file=${payload.ckpt_file}`;
}
