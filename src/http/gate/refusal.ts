import type { ServerResponse } from 'node:http';

import { errorAnswer } from '../../protocol/answer.js';
import { protocolError } from '../../protocol/protocol-error.js';
import type { CallLogger } from '../call.logger.js';
import { sendJson } from '../send-json.js';

/** Answers a request the gate refuses, in the protocol's shape, and logs it as a call. */
export function refuse(
  log: CallLogger,
  res: ServerResponse,
  endpoint: string,
  started: number,
  status: number,
  message: string,
): void {
  const error = protocolError(status, message);
  log.failed(endpoint, '', started, error);
  sendJson(res, status, errorAnswer(error));
}

// Express routes ignore case and a trailing slash; so must the gate, or it could be stepped around.
export function normalizePath(path: string): string {
  return `/${path.toLowerCase().replace(/^\/+|\/+$/g, '')}`;
}
