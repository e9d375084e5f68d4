import {
  Controller,
  Get,
  Inject,
  Next,
  Req,
  Res,
  Type,
  UnauthorizedException,
  UseFilters,
  VERSION_NEUTRAL,
} from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';

import { UNAUTHORIZED } from '../alectio.messages.js';
import { ALECTIO_METRICS, type AlectioMetrics } from '../metrics/alectio.metrics.js';
import { ALECTIO_CONFIG, type ResolvedOptions } from '../options/resolve-options.js';
import { AlectioExceptionFilter } from './alectio-exception.filter.js';
import { TokenVerifier } from './token.verifier.js';

/**
 * `GET /metrics`, in Prometheus's text format, behind the token when one is set. The route always
 * exists (the options may come from a factory, after the routes are declared): with the endpoint
 * off it passes the request on, to the app's own `/metrics` or to the 404.
 */
@Controller({ version: VERSION_NEUTRAL })
@UseFilters(AlectioExceptionFilter)
export class AlectioMetricsController {
  constructor(
    @Inject(ALECTIO_METRICS) private readonly metrics: AlectioMetrics | null,
    @Inject(ALECTIO_CONFIG) private readonly config: ResolvedOptions,
    private readonly verifier: TokenVerifier,
  ) {}

  @Get('metrics')
  async scrape(@Req() req: Request, @Res() res: Response, @Next() next: NextFunction): Promise<void> {
    if (!this.metrics || !this.config.metrics?.endpoint) return next();
    if (!this.verifier.authorize(req)) throw new UnauthorizedException(UNAUTHORIZED);
    const text = await this.metrics.registry.metrics();
    res.status(200).setHeader('Content-Type', this.metrics.registry.contentType).end(text);
  }
}

/** A fresh subclass per module import, as for the other controllers. */
export function createMetricsController(): Type<AlectioMetricsController> {
  class AlectioMetricsRoutesController extends AlectioMetricsController {}
  return AlectioMetricsRoutesController;
}
