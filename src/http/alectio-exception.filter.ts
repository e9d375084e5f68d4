import { ArgumentsHost, Catch, ExceptionFilter, Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';

import { errorAnswer } from '../protocol/answer.js';
import { toProtocolError } from '../protocol/protocol-error.js';
import { CallLogger } from './call.logger.js';
import { sendJson } from './send-json.js';

/**
 * Answers whatever the routes did not answer themselves (a guard's 401, a surprise) in the
 * protocol's shape, whatever global filter the host app has.
 */
@Catch()
@Injectable()
export class AlectioExceptionFilter implements ExceptionFilter {
  constructor(private readonly calls: CallLogger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const request = host.switchToHttp().getRequest<Request>();
    const error = toProtocolError(exception);
    this.calls.failed(`${request.method} ${request.path}`, '', performance.now(), error, exception);
    sendJson(host.switchToHttp().getResponse<Response>(), error.status, errorAnswer(error));
  }
}
