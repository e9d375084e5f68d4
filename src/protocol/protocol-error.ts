import { STATUS_CODES } from 'node:http';

import { HttpException, HttpStatus } from '@nestjs/common';

/** An error answer of PROTOCOL.md: `{status, error, message}`, with `status` equal to the HTTP status. */
export interface ProtocolError {
  status: number;
  error: string;
  message: string | string[];
}

export function protocolError(status: number, message: string | string[]): ProtocolError {
  // PROTOCOL.md: a 400's message is always a list, one entry per broken rule.
  const text = status === HttpStatus.BAD_REQUEST && !Array.isArray(message) ? [message] : message;
  return { status, error: STATUS_CODES[status] ?? 'Error', message: text };
}

/** The protocol's error for anything thrown on the way to an answer; 500 unless it is an HttpException. */
export function toProtocolError(exception: unknown): ProtocolError {
  if (exception instanceof HttpException) {
    const response = exception.getResponse();
    const message =
      typeof response === 'object' && response !== null && 'message' in response
        ? (response.message as string | string[])
        : exception.message;
    return protocolError(exception.getStatus(), message);
  }
  return protocolError(HttpStatus.INTERNAL_SERVER_ERROR, 'internal error in nestjs-alectio (the server log has the details)');
}

/** The error's message as one line, for a log or a job's `error` field. */
export function errorText(error: ProtocolError): string {
  return Array.isArray(error.message) ? error.message.join('; ') : error.message;
}
