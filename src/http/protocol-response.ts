import type { ServerResponse } from 'node:http';
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

/**
 * Writes a JSON answer given in parts, with backpressure: a large answer goes out a part at a
 * time as the socket drains, and its parts never have to be one string. Chunked, without a
 * Content-Length: measuring 40 MB of parts up front would itself hold the event loop ~20 ms.
 */
export async function sendJsonParts(res: ServerResponse, status: number, parts: string[]): Promise<void> {
  // One part, the usual small answer: one write of headers and body together.
  if (parts.length === 1) return sendJson(res, status, parts[0]);
  if (res.headersSent || res.destroyed) return;
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  for (let i = 0; i < parts.length; i++) {
    if (res.destroyed) return;
    const part = parts[i];
    parts[i] = ''; // written: the collector may take it while the rest goes out
    if (!res.write(part)) await drainedOrClosed(res);
  }
  res.end();
}

/** Writes a JSON answer straight to the socket, past any interceptor of the host app. */
export function sendJson(res: ServerResponse, status: number, json: string): void {
  if (res.headersSent || res.destroyed) return;
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(json));
  res.end(json);
}

function drainedOrClosed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
