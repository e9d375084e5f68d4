import { CanActivate, ExecutionContext, Injectable, UnauthorizedException } from '@nestjs/common';
import type { Request } from 'express';

import { UNAUTHORIZED } from '../alectio.messages.js';
import { TokenVerifier } from './token.verifier.js';

/**
 * The token check inside Nest. The request gate already answered 401 before reading the body;
 * this guard holds the line for any path spelling that reaches the routes without the gate.
 */
@Injectable()
export class AlectioAuthGuard implements CanActivate {
  constructor(private readonly verifier: TokenVerifier) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<Request>();
    if (!this.verifier.authorize(request)) throw new UnauthorizedException(UNAUTHORIZED);
    return true;
  }
}
