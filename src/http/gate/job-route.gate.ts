import { HttpStatus } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';

import { UNAUTHORIZED, UNKNOWN_JOB } from '../../alectio.messages.js';
import type { CallLogger } from '../call.logger.js';
import type { TokenVerifier } from '../token.verifier.js';
import { normalizePath, refuse } from './refusal.js';

/**
 * GET and DELETE of the job routes before Nest sees them: the token first, and an id that is not
 * valid percent-encoding answered here, as the router would refuse it in Nest's own error shape
 * before any guard or filter runs.
 */
export class JobRouteGate {
  constructor(
    private readonly verifier: TokenVerifier,
    private readonly log: CallLogger,
  ) {}

  /** `jobsPath`: where the job routes are now (the app's global prefix may change until it listens). */
  handle(jobsPath: string, req: Request, res: Response, next: NextFunction): void {
    const jobs = normalizePath(jobsPath);
    const path = normalizePath(req.path);
    const rawId = path.startsWith(`${jobs}/`) ? req.path.replace(/\/+$/, '').split('/').pop()! : undefined;
    if (path !== jobs && rawId === undefined) return next();
    const started = performance.now();
    const reject = (status: number, message: string): void =>
      refuse(this.log, res, `${req.method} /jobs`, started, status, message);
    if (!this.verifier.authorize(req)) return reject(HttpStatus.UNAUTHORIZED, UNAUTHORIZED);
    if (rawId !== undefined) {
      try {
        decodeURIComponent(rawId);
      } catch {
        return reject(HttpStatus.NOT_FOUND, UNKNOWN_JOB(rawId));
      }
    }
    next();
  }
}
