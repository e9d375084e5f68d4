import {
  BadRequestException,
  Controller,
  Delete,
  Get,
  Inject,
  Req,
  Res,
  Type,
  UseFilters,
  UseGuards,
  VERSION_NEUTRAL,
} from '@nestjs/common';
import type { Request, Response } from 'express';

import { JobService } from '../jobs/job.service.js';
import { ALECTIO_METRICS, type AlectioMetrics } from '../metrics/alectio.metrics.js';
import { cancelAnswer, jobAnswerParts, jobListAnswer } from '../protocol/answer.js';
import { AlectioAuthGuard } from './alectio-auth.guard.js';
import { AlectioExceptionFilter } from './alectio-exception.filter.js';
import { sendJson, streamJson } from './send-json.js';

const MAX_PAGE = 100;

/** Job mode's routes: read a job, list them, cancel one. All need the token. */
@Controller({ version: VERSION_NEUTRAL })
@UseFilters(AlectioExceptionFilter)
@UseGuards(AlectioAuthGuard)
export class AlectioJobsController {
  constructor(
    private readonly jobs: JobService,
    @Inject(ALECTIO_METRICS) private readonly metrics: AlectioMetrics | null,
  ) {}

  /** `GET /jobs?limit=20&offset=0`: newest first, without results. */
  @Get('jobs')
  async list(@Req() req: Request, @Res() res: Response): Promise<void> {
    const started = performance.now();
    const problems: string[] = [];
    const limit = pageNumber(req.query.limit, 'limit', 20, 1, MAX_PAGE, problems);
    const offset = pageNumber(req.query.offset, 'offset', 0, 0, Number.MAX_SAFE_INTEGER, problems);
    if (problems.length > 0) throw new BadRequestException(problems);
    const { jobs, total } = await this.jobs.list(limit, offset);
    sendJson(res, 200, jobListAnswer(jobs, total, limit, offset));
    this.metrics?.called('GET /jobs', 200, started);
  }

  @Get('jobs/:id')
  async get(@Req() req: Request, @Res() res: Response): Promise<void> {
    const started = performance.now();
    const job = await this.jobs.get(String(req.params.id));
    // Streamed from the store: a large result is read a few parts at a time, as the client takes them.
    await streamJson(res, 200, jobAnswerParts(job));
    this.metrics?.called('GET /jobs/:id', 200, started);
  }

  /** Aborts the method's signal; the job ends `cancelled` once the method returns. */
  @Delete('jobs/:id')
  async cancel(@Req() req: Request, @Res() res: Response): Promise<void> {
    const started = performance.now();
    const job = await this.jobs.cancel(String(req.params.id));
    sendJson(res, 202, cancelAnswer(job));
    this.metrics?.called('DELETE /jobs/:id', 202, started);
  }
}

/** A fresh subclass per module import, as for the main controller. */
export function createJobsController(): Type<AlectioJobsController> {
  class AlectioJobRoutesController extends AlectioJobsController {}
  return AlectioJobRoutesController;
}

function pageNumber(raw: unknown, name: string, fallback: number, min: number, max: number, problems: string[]): number {
  if (raw === undefined) return fallback;
  const value = typeof raw === 'string' && /^\d{1,16}$/.test(raw) ? Number(raw) : NaN;
  if (!(value >= min && value <= max)) {
    problems.push(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}
